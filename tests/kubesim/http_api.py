"""The HTTP face of the emulator: routing, verbs, content types, watch streams.

One handler instance serves one connection (HTTP/1.1 keep-alive); the cluster
object it reaches through ``self.server.cluster`` owns the state.
"""

import json
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import yaml

from kubesim import (admission, authentication, authorization, discovery, escalation, errors, managed_fields, openapi, patch, protobuf,
                     reviews, selectors, server_side_apply, tables, tls, watch)
from kubesim.store import to_json_bytes

JSON = "application/json"
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
# kube-apiserver's default MaxRequestBodyBytes.
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024


class Request:
    """What a resource path names: the type, namespace, name and subresource."""

    def __init__(self, rtype, namespace=None, name=None, subresource=None):
        self.rtype = rtype
        self.namespace = namespace
        self.name = name
        self.subresource = subresource

    @property
    def resource(self):
        return self.rtype.plural if self.rtype else ""


def parse_resource_path(registry, segments):
    """Resolve ``/api/v1/...`` or ``/apis/g/v/...`` segments; raises a 404 ApiError when nothing is served there."""
    if segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    else:
        group, version, rest = segments[1], segments[2], segments[3:]
    namespace = None
    core_namespace_subresource = group == "" and len(rest) == 3 and rest[0] == "namespaces" and rest[2] in ("status", "finalize")
    if len(rest) >= 3 and rest[0] == "namespaces" and not core_namespace_subresource:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise errors.resource_not_found()
    rtype = registry.lookup(group, version, rest[0])
    if rtype is None or (namespace and not rtype.namespaced):
        raise errors.resource_not_found()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource and subresource not in rtype.subresources:
        raise errors.resource_not_found()
    return Request(rtype, namespace, name, subresource)


def kube_verb(method, request, query):
    if method == "GET":
        if request.name is None:
            return "watch" if query.get("watch") in ("true", "1") else "list"
        return "get"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if request.name else "deletecollection"}.get(method, method.lower())


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    # Small responses on kept-alive connections would otherwise wait ~40 ms for delayed ACKs.
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        # The client certificate's CN names the user and its O the groups, as kube-apiserver's x509 authenticator does.
        self.client_subject = tls.client_subject(self.connection)
        self.user = None
        self._audited, self._answer_seq = False, None
        self._body, self._body_abandoned = None, False

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Quiet: the audit log is the record of requests."""

    # ------------------------------------------------------------ plumbing

    @property
    def cluster(self):
        return self.server.cluster

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def read_body(self, limit=MAX_REQUEST_BODY_BYTES):
        """The request body, read once; 413 above ``limit``, the connection then closed unread."""
        if self._body is None:
            if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
                self._body = self._read_chunked_body(limit)
            else:
                length = int(self.headers.get("Content-Length") or 0)
                if limit is not None and length > limit:
                    raise self._body_too_large(unread=length)
                self._body = self.rfile.read(length) if length else b""
        return self._body

    def _read_chunked_body(self, limit):
        chunks, total = [], 0
        while True:
            size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if limit is not None and total > limit:
                raise self._body_too_large()
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _body_too_large(self, unread=None):
        """413; a body of known, moderate size is drained so the client reads the answer, any other closes the connection."""
        if unread is not None and unread <= 4 * MAX_REQUEST_BODY_BYTES:
            while unread > 0:
                chunk = self.rfile.read(min(unread, 1 << 20))
                if not chunk:
                    break
                unread -= len(chunk)
            self._body = b""
        else:
            self.close_connection = self._body_abandoned = True  # the rest must not be read as the next request
        return errors.ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is %d" % MAX_REQUEST_BODY_BYTES, {})

    def _discard_body(self):
        """Consume a body the request was refused before reading: on a kept-alive connection it would be read
        as the next request, and closing a socket with unread data resets it under the answer."""
        if self._body is None and not self._body_abandoned:
            try:
                self.read_body()
            except errors.ApiError:
                pass

    def decoded_body(self):
        """The request body as an object, whether sent as JSON or protobuf; None when empty."""
        return self._json_body(self.read_body())

    def _json_body(self, raw):
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(raw)
            except protobuf.ProtobufError as exc:
                raise errors.unsupported_media_type(content_type, (JSON,)) from exc
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            content_type = (self.headers.get("Content-Type") or "").split(";")[0]
            if content_type in ("application/yaml", "application/apply-patch+yaml"):
                raise errors.unsupported_media_type(content_type, (JSON,)) from exc
            raise errors.bad_request("couldn't get version/kind; json parse error: %s" % exc) from exc

    def send_json(self, code, payload, content_type=JSON, headers=None):
        body = payload if isinstance(payload, bytes) else to_json_bytes(payload)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return code

    def _send_error(self, error):
        self._discard_body()
        headers = dict(error.headers, Connection="close") if self.close_connection else error.headers
        return self.send_json(error.code, error.to_status(), headers=headers)

    def _authenticate(self):
        """(the authenticated user, the user the request acts as): they differ when Impersonate-* headers are honoured."""
        authorizer = self.cluster.authorizer
        user = authentication.authenticate(self.cluster, self.headers, self.client_subject, strict=authorizer.enabled)
        return user, authentication.impersonate(self.headers, user, authorizer.check)

    def send_response(self, code, message=None):
        self.stamp_answer()
        super().send_response(code, message)

    def stamp_answer(self, awaited=True):
        """Give the request its audit "seq" once it commits to an answer, before the client can see that answer.

        ``awaited``: readers of the audit log wait for its record (not for a WebSocket session, recorded when it ends).
        """
        if self._audited and self._answer_seq is None:
            self._answer_seq = self.cluster.audit.answering() if awaited else self.cluster.sequence.next()

    def _dispatch(self, method):
        started = time.monotonic()
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        segments = [segment for segment in url.path.split("/") if segment]
        self._audited, self._answer_seq = segments[:1] != ["_kubesim"], None
        self._body, self._body_abandoned = None, False
        verb, resource, namespace, user, code = method.lower(), "", "", authentication.anonymous(), 500
        self.user = None
        try:
            if segments[:1] == ["_kubesim"]:
                # Test controls (seeding a whole cluster) are not API requests: no body limit.
                code = self.cluster.control.handle(self, method, segments[1:], query, self.read_body(limit=None))
                return
            user, self.user = self._authenticate()
            attributes = authorization.request_attributes(self.user, method, url.path, segments, query)
            if attributes.is_resource_request:
                # The audit record of a refused request names what was asked for.
                verb, resource = attributes.verb, attributes.resource
                namespace = "" if attributes.resource == "namespaces" else attributes.namespace
            self.cluster.authorizer.check(attributes)
            request = None
            if (segments[:1] == ["api"] and len(segments) > 2) or (segments[:1] == ["apis"] and len(segments) > 3):
                request = parse_resource_path(self.cluster.registry, segments)
                verb = kube_verb(method, request, query)
                resource, namespace = request.resource, request.namespace or ""
            code = self._apply_fault(verb, resource, namespace, bool(query.get("continue")))
            if code:
                return
            if request is None:
                code = self._serve_non_resource(method, url.path, segments)
            elif reviews.is_review(request.rtype) and verb == "create" and not request.subresource:
                code = self.send_json(201, reviews.answer(self.cluster, request, self._json_body(self.read_body()), reviews.user_info(self.user)))
            else:
                code = self._serve_resource(method, verb, request, query)
        except errors.ApiError as error:
            code = self._send_error(error)
        except _ConnectionDropped:
            code = 0
        except (BrokenPipeError, ConnectionResetError):
            code = 0
            self.close_connection = True
        finally:
            if self._audited:
                impersonated = self.user.name if self.user is not None and self.user is not user else None
                self.cluster.audit.record(verb, method, self.path, user.name, code, resource, namespace, time.monotonic() - started, seq=self._answer_seq,
                                          impersonated_user=impersonated)

    def _apply_fault(self, verb, resource, namespace, continued=False):
        rule = self.cluster.faults.pick(verb, resource, namespace, continued)
        if rule is None:
            return 0
        if rule.action == "compact":
            self.cluster.store.compact()
            return 0
        if rule.action != "latency":
            # Consume the body: on a kept-alive connection it would be read as the next request.
            self.read_body()
        if rule.action == "latency":
            time.sleep(rule.seconds)
            return 0
        if rule.action == "drop":
            self.close_connection = True
            self.connection.close()
            raise _ConnectionDropped()
        if rule.status == 429:
            return self._send_error(errors.too_many_requests(rule.retry_after))
        if rule.status == 503:
            return self._send_error(errors.service_unavailable())
        return self._send_error(errors.ApiError(rule.status, "InternalError", "Internal error occurred: injected fault", {}))

    # --------------------------------------------------------- non-resource

    def _serve_non_resource(self, method, path, segments):
        if method != "GET":
            raise errors.method_not_allowed()
        registry = self.cluster.registry
        accept = self.headers.get("Accept") or ""
        if path == "/version":
            return self.send_json(200, self.cluster.version_info)
        if path in _HEALTH_PATHS or path.startswith(tuple(p + "/" for p in _HEALTH_PATHS)):
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return 200
        if segments in (["api"], ["apis"]):
            core = segments == ["api"]
            for media, api_version in ((discovery.AGGREGATED_V2, "apidiscovery.k8s.io/v2"), (discovery.AGGREGATED_V2BETA1, "apidiscovery.k8s.io/v2beta1")):
                marker = media.split(";as=", 1)[0].replace("application/json;", "")
                if marker in accept.replace(" ", ""):
                    return self.send_json(200, discovery.aggregated(registry, core, api_version), content_type=media)
            if core:
                return self.send_json(200, discovery.api_versions(self.headers.get("Host") or "127.0.0.1"))
            return self.send_json(200, discovery.api_group_list(registry))
        if segments == ["openapi", "v2"]:
            wants_protobuf = "protobuf" in accept and "json" not in accept.split("protobuf")[0]
            return self.send_json(200, openapi.v2_bytes(self.cluster.store, wants_protobuf), content_type=openapi.V2_PROTOBUF if wants_protobuf else JSON)
        if segments == ["openapi", "v3"]:
            return self.send_json(200, openapi.index(registry))
        if segments[:2] == ["openapi", "v3"]:
            document = openapi.group_version_document(self.cluster.store, "/".join(segments[2:]))
            if document:
                return self.send_json(200, document)
        if segments == ["api", "v1"]:
            return self.send_json(200, discovery.api_resource_list(registry, "", "v1"))
        if segments[:1] == ["apis"] and len(segments) == 2:
            document = discovery.api_group(registry, segments[1])
            if document:
                return self.send_json(200, document)
        if segments[:1] == ["apis"] and len(segments) == 3:
            document = discovery.api_resource_list(registry, segments[1], segments[2])
            if document:
                return self.send_json(200, document)
        raise errors.resource_not_found()

    # ------------------------------------------------------------- resources

    def _serve_resource(self, method, verb, request, query):
        rtype = request.rtype
        if request.subresource and request.subresource not in ("status", "scale"):
            return self.cluster.serve_subresource(self, method, request, query)
        if request.subresource == "scale":
            return self._serve_scale(method, request, query)
        needed = "list" if verb == "watch" and "watch" not in rtype.verbs else verb
        if needed not in rtype.verbs and not (request.subresource == "status" and verb in ("get", "update", "patch")):
            raise errors.method_not_allowed()
        dry_run = query.get("dryRun") == "All"
        store = self.cluster.store
        if verb == "list":
            return self._list(request, query)
        if verb == "watch":
            return watch.serve(self, store, request, query, *self._selectors(rtype, query))
        if verb == "get":
            entry = store.get_entry(rtype, request.namespace, request.name)
            if tables.wants_table(self.headers.get("Accept")):
                return self.send_json(200, tables.table(rtype, [entry.obj], {"resourceVersion": entry.obj["metadata"]["resourceVersion"]}, query))
            return self.send_json(200, store.render(rtype, entry))
        if verb == "create":
            body = self._json_body(self.read_body())
            if body is None:
                raise errors.bad_request("the body of the request was empty")
            if rtype.group == "" and rtype.plural == "pods" and isinstance(body, dict):
                body = admission.admit_pod_service_account(store, request.namespace, body)
            escalation.check(self.cluster.authorizer, store, self.user, rtype, request.namespace, body)
            created = store.create(rtype, request.namespace, body, dry_run=dry_run, manager=self._field_manager(query))
            return self.send_json(201, store.view(rtype, created))
        if verb == "update":
            body = self._json_body(self.read_body())
            if body is None:
                raise errors.bad_request("the body of the request was empty")
            if not request.subresource:
                escalation.check(self.cluster.authorizer, store, self.user, rtype, request.namespace, body)
            return self.send_json(200, store.replace(rtype, request.namespace, request.name, body, request.subresource, dry_run=dry_run,
                                                     manager=self._field_manager(query)))
        if verb == "patch" and (self.headers.get("Content-Type") or "").split(";")[0].strip() == "application/apply-patch+yaml":
            return self._server_side_apply(request, query, dry_run)
        if verb == "patch":
            return self._patch(request, dry_run, self._field_manager(query))
        if verb == "delete":
            options = self._json_body(self.read_body()) or {}
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
            dry_run = dry_run or options.get("dryRun") == ["All"]
            deleted = store.delete(rtype, request.namespace, request.name, propagation=propagation,
                                   preconditions=options.get("preconditions"), dry_run=dry_run)
            return self.send_json(200, deleted)
        if verb == "deletecollection":
            return self._delete_collection(request, query, dry_run)
        raise errors.method_not_allowed()

    def _selectors(self, rtype, query):
        try:
            label_selector = selectors.parse_label_selector(query["labelSelector"]) if query.get("labelSelector") else None
            field_selector = selectors.parse_field_selector(query["fieldSelector"], rtype.kind, rtype.group) if query.get("fieldSelector") else None
        except selectors.SelectorError as exc:
            raise errors.bad_request(str(exc)) from exc
        return label_selector, field_selector

    def _list(self, request, query):
        rtype = request.rtype
        label_selector, field_selector = self._selectors(rtype, query)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError as exc:
            raise errors.bad_request("limit must be an integer") from exc
        entries, metadata = self.cluster.store.list(rtype, request.namespace, label_selector, field_selector,
                                                    limit=max(limit, 0), continue_token=query.get("continue"))
        if tables.wants_table(self.headers.get("Accept")):
            return self.send_json(200, tables.table(rtype, [entry.obj for entry in entries], metadata, query))
        head = to_json_bytes({"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": metadata})
        store = self.cluster.store
        body = b"".join((head[:-1], b',"items":[', b",".join(store.render(rtype, entry) for entry in entries), b"]}"))
        return self.send_json(200, body)

    def _delete_collection(self, request, query, dry_run):
        rtype = request.rtype
        store = self.cluster.store
        label_selector, field_selector = self._selectors(rtype, query)
        entries, _ = store.list(rtype, request.namespace, label_selector, field_selector)
        deleted = []
        for entry in entries:
            metadata = entry.obj["metadata"]
            try:
                deleted.append(store.delete(rtype, metadata.get("namespace"), metadata["name"],
                                            propagation=query.get("propagationPolicy"), dry_run=dry_run))
            except errors.ApiError as error:
                if error.code != 404:
                    raise
        return self.send_json(200, {"kind": rtype.list_kind, "apiVersion": rtype.api_version,
                                    "metadata": {"resourceVersion": str(store.resource_version)}, "items": deleted})

    def _field_manager(self, query):
        return managed_fields.manager_from_request(query, self.headers.get("User-Agent"))

    def _patch(self, request, dry_run, manager):
        rtype = request.rtype
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(content_type, PATCH_TYPES)
        if content_type == "application/strategic-merge-patch+json" and rtype.from_crd:
            raise errors.unsupported_media_type(content_type, ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"))
        body = self._json_body(self.read_body())
        if body is None:
            raise errors.bad_request("the body of the request was empty")

        def apply_patch(current):
            try:
                if content_type == "application/json-patch+json":
                    return patch.apply_json_patch(current, body)
                if content_type == "application/merge-patch+json":
                    return patch.apply_merge_patch(current, body)
                return patch.apply_strategic_merge_patch(current, body, rtype.kind)
            except patch.MalformedPatchError as exc:
                raise errors.bad_request(str(exc)) from exc
            except patch.PatchError as exc:
                raise errors.ApiError(422, "Invalid", str(exc), {}) from exc
        updated = self.cluster.store.patch(rtype, request.namespace, request.name, apply_patch, request.subresource, dry_run=dry_run, manager=manager)
        return self.send_json(200, updated)

    def _server_side_apply(self, request, query, dry_run):
        """PATCH with an apply configuration: update the object, or create it when absent (201)."""
        rtype, store = request.rtype, self.cluster.store
        subresource = request.subresource  # None or "status"
        manager, force = query.get("fieldManager"), query.get("force") in ("true", "1")
        server_side_apply.check_field_manager(manager)
        try:
            body = yaml.safe_load(self.read_body() or b"{}")
        except yaml.YAMLError as exc:
            raise errors.bad_request("error decoding YAML: %s" % exc) from exc
        config = server_side_apply.parse_request(body, rtype, request.name)
        with store.lock:
            if store.find(rtype, request.namespace, request.name) is None:
                if subresource:
                    raise errors.not_found(rtype.group, rtype.plural, request.name)
                created = server_side_apply.apply(None, config, rtype, manager, force)
                code, result = 201, store.view(rtype, store.create(rtype, request.namespace, created, dry_run=dry_run, manager=None))
            else:
                code, result = 200, store.patch(rtype, request.namespace, request.name,
                                                lambda live: server_side_apply.apply(live, config, rtype, manager, force, subresource),
                                                subresource, dry_run=dry_run, manager=None)
        return self.send_json(code, result)

    def _serve_scale(self, method, request, query):
        """autoscaling/v1 Scale of a Deployment, StatefulSet or ReplicaSet."""
        rtype, store = request.rtype, self.cluster.store
        obj = store.get(rtype, request.namespace, request.name)
        if method in ("PUT", "PATCH"):
            body = self._json_body(self.read_body()) or {}
            replicas = (body.get("spec") or {}).get("replicas")
            if replicas is not None:
                def set_replicas(current):
                    current.setdefault("spec", {})["replicas"] = int(replicas)
                    return current
                obj = store.patch(rtype, request.namespace, request.name, set_replicas, "scale", dry_run=query.get("dryRun") == "All",
                                  manager=self._field_manager(query))
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        metadata = obj["metadata"]
        return self.send_json(200, {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {key: metadata[key] for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if key in metadata},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join("%s=%s" % item for item in sorted(selector.items()))},
        })


class _ConnectionDropped(Exception):
    """Raised to stop handling a request whose connection a fault closed."""

"""The action subresources besides exec/attach: pods/log, pods/eviction, pods/binding, serviceaccounts/token, namespaces/finalize."""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

from kubesim import errors, exec_ws, selectors
from kubesim.store import now_rfc3339

# kubeadm's --service-account-issuer and --api-audiences.
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_TOKEN_SECONDS = 3600
MIN_TOKEN_SECONDS = 600
MAX_TOKEN_SECONDS = 1 << 32
_SUCCESS_CREATED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def serve(handler, cluster, method, request, query):
    """Answer one subresource request; returns the HTTP status for the audit log."""
    action = (request.resource, request.subresource, method)
    if action == ("pods", "log", "GET"):
        return _pod_log(handler, cluster, request, query)
    if action == ("pods", "eviction", "POST"):
        return _evict(handler, cluster, request, query, _body(handler))
    if action == ("pods", "binding", "POST"):
        return _bind(handler, cluster, request, query, _body(handler))
    if action == ("serviceaccounts", "token", "POST"):
        return _token(handler, cluster, request, _body(handler))
    if action == ("namespaces", "finalize", "PUT"):
        return _finalize(handler, cluster, request, query, _body(handler))
    raise errors.method_not_allowed()


def _body(handler):
    body = handler.decoded_body()  # JSON or protobuf (kubectl create token sends protobuf)
    if body is None:
        raise errors.bad_request("the body of the request was empty")
    if not isinstance(body, dict):
        raise errors.bad_request("the object provided is not a JSON object")
    return body


def _dry_run(query):
    return query.get("dryRun") == "All"


def _lookup(cluster, plural, group=""):
    return cluster.registry.preferred(group, plural)


# ------------------------------------------------------------------------ pods/log

def _int_option(query, name, minimum, pod_name, rule):
    if query.get(name) in (None, ""):
        return None
    try:
        value = int(query[name])
    except ValueError as exc:
        raise errors.bad_request('%s: invalid value "%s"' % (name, query[name])) from exc
    if value < minimum:
        raise errors.invalid("", "PodLogOptions", pod_name, [(name, "Invalid value: %d: %s" % (value, rule))])
    return value


def _pod_log(handler, cluster, request, query):
    pod = cluster.store.get(request.rtype, request.namespace, request.name)
    name = request.name
    tail_lines = _int_option(query, "tailLines", 0, name, "must be greater than or equal to 0")
    limit_bytes = _int_option(query, "limitBytes", 1, name, "must be greater than 0")
    _int_option(query, "sinceSeconds", 1, name, "must be greater than 0")
    if query.get("sinceSeconds") and query.get("sinceTime"):
        raise errors.invalid("", "PodLogOptions", name, [("", "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified")])
    container = exec_ws.resolve_container(pod, query.get("container") or "")
    text = ""
    # kube-apiserver answers an empty log for a pod no kubelet runs yet.
    if (pod.get("spec") or {}).get("nodeName"):
        if query.get("previous") in ("true", "1"):
            raise errors.bad_request('previous terminated container "%s" in pod "%s" not found' % (container, name))
        if (pod.get("status") or {}).get("phase") in (None, "Pending"):
            raise errors.bad_request('container "%s" in pod "%s" is waiting to start: ContainerCreating' % (container, name))
        text = cluster.exec_registry.container_log(request.namespace, name, container)
    lines = text.splitlines(keepends=True)
    if tail_lines is not None:
        lines = lines[len(lines) - tail_lines:] if tail_lines else []
    if query.get("timestamps") in ("true", "1"):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z ", time.gmtime())
        lines = [stamp + line for line in lines]
    body = "".join(lines).encode()
    if limit_bytes is not None:
        body = body[:limit_bytes]
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    return 200


# ------------------------------------------------------------------------ pods/eviction

def _evict(handler, cluster, request, query, eviction):
    if (eviction.get("metadata") or {}).get("name") not in (None, request.name):
        raise errors.bad_request("name in URL does not match name in Eviction object")
    store, pods = cluster.store, request.rtype
    pod = store.get(pods, request.namespace, request.name)
    options = eviction.get("deleteOptions") or {}
    dry_run = _dry_run(query) or options.get("dryRun") == ["All"]
    terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Pending") or pod["metadata"].get("deletionTimestamp")
    if not terminal:
        _take_disruption(store, _lookup(cluster, "poddisruptionbudgets", "policy"), pod, dry_run)
    store.delete(pods, request.namespace, request.name, propagation=options.get("propagationPolicy"),
                 preconditions=options.get("preconditions"), dry_run=dry_run)
    return handler.send_json(201, _SUCCESS_CREATED)


def _take_disruption(store, budgets_type, pod, dry_run):
    """Check the pod's PodDisruptionBudget allows one more disruption and spend it, as the eviction subresource does."""
    if budgets_type is None:
        return
    labels = pod["metadata"].get("labels") or {}
    budgets = []
    for budget in store.objects(budgets_type, pod["metadata"]["namespace"]):
        try:
            selector = selectors.label_selector_from_dict((budget.get("spec") or {}).get("selector"))
        except selectors.SelectorError:
            continue
        if selector.matches(labels):
            budgets.append(budget)
    if not budgets:
        return
    if len(budgets) > 1:
        raise errors.internal_error("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
    budget = budgets[0]
    status = budget.get("status") or {}
    if status.get("disruptionsAllowed", 0) <= 0:
        message = "The disruption budget %s needs %d healthy pods and has %d currently" % (
            budget["metadata"]["name"], status.get("desiredHealthy", 0), status.get("currentHealthy", 0))
        raise errors.ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                              {"causes": [{"reason": "DisruptionBudget", "message": message}]})
    if dry_run:
        return

    def spend(current):
        current_status = current.setdefault("status", {})
        current_status["disruptionsAllowed"] = current_status.get("disruptionsAllowed", 0) - 1
        current_status.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now_rfc3339()
        return current
    store.patch(budgets_type, budget["metadata"]["namespace"], budget["metadata"]["name"], spend, subresource="status")


# ------------------------------------------------------------------------ pods/binding

def _bind(handler, cluster, request, query, binding):
    if (binding.get("metadata") or {}).get("name") not in (None, request.name):
        raise errors.bad_request("name in URL does not match name in Binding object")
    node = (binding.get("target") or {}).get("name")
    if not node:
        raise errors.invalid("", "Binding", request.name, [("target.name", "Required value")])
    if (binding.get("target") or {}).get("kind") not in (None, "", "Node"):
        raise errors.invalid("", "Binding", request.name, [("target.kind", "Invalid value: %r: must be empty or 'Node'" % binding["target"]["kind"])])
    store, pods = cluster.store, request.rtype

    def assign(current):
        assigned = (current.get("spec") or {}).get("nodeName")
        if assigned:
            raise errors.ApiError(409, "Conflict", 'Operation cannot be fulfilled on pods/binding "%s": pod %s is already assigned to node "%s"'
                                  % (request.name, request.name, assigned), {"name": request.name, "kind": "pods/binding"})
        current.setdefault("spec", {})["nodeName"] = node
        return current
    store.patch(pods, request.namespace, request.name, assign, dry_run=_dry_run(query))
    if not _dry_run(query):
        store.patch(pods, request.namespace, request.name, _mark_scheduled, subresource="status")
    return handler.send_json(201, _SUCCESS_CREATED)


def _mark_scheduled(pod):
    status = pod.setdefault("status", {})
    conditions = [condition for condition in status.get("conditions") or [] if condition.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_rfc3339()})
    status["conditions"] = conditions
    return pod


# ------------------------------------------------------------------------ serviceaccounts/token

def _token(handler, cluster, request, token_request):
    account = cluster.store.get(request.rtype, request.namespace, request.name)
    spec = dict(token_request.get("spec") or {})
    seconds = int(spec.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS)
    if seconds < MIN_TOKEN_SECONDS:
        raise errors.invalid("authentication.k8s.io", "TokenRequest", request.name,
                             [("spec.expirationSeconds", "Invalid value: %d: may not specify a duration less than 10 minutes" % seconds)])
    if seconds > MAX_TOKEN_SECONDS:
        raise errors.invalid("authentication.k8s.io", "TokenRequest", request.name,
                             [("spec.expirationSeconds", "Invalid value: %d: may not specify a duration larger than 2^32 seconds" % seconds)])
    spec["audiences"] = spec.get("audiences") or [SERVICE_ACCOUNT_ISSUER]
    spec["expirationSeconds"] = seconds
    spec.setdefault("boundObjectRef", None)
    issued = int(time.time())
    expires = issued + seconds
    claims = {"aud": spec["audiences"], "exp": expires, "iat": issued, "iss": SERVICE_ACCOUNT_ISSUER, "jti": str(uuid.uuid4()), "nbf": issued,
              "sub": "system:serviceaccount:%s:%s" % (request.namespace, request.name),
              "kubernetes.io": {"namespace": request.namespace, "serviceaccount": {"name": request.name, "uid": account["metadata"]["uid"]}}}
    return handler.send_json(201, {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": request.name, "namespace": request.namespace, "creationTimestamp": now_rfc3339()},
        "spec": spec,
        "status": {"token": fake_jwt(claims), "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))},
    })


# The emulator's service-account signing key: tokens it issued verify, forged or edited ones do not.
_SIGNING_KEY = os.urandom(32)
_SIGNATURE_BYTES = 256  # an RS256 signature of a 2048-bit key


def _sign(signing_input):
    return hashlib.shake_256(_SIGNING_KEY + signing_input).digest(_SIGNATURE_BYTES)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(claims):
    """Shaped like a service-account JWT (header.claims.signature), signed with the emulator's key (not real RS256)."""
    header = {"alg": "RS256", "kid": "kubesim"}
    signing_input = "%s.%s" % (_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()))
    return "%s.%s" % (signing_input, _b64(_sign(signing_input.encode())))


def token_signature_valid(token):
    """Whether ``token`` was signed by fake_jwt in this process."""
    signing_input, _, signature = token.rpartition(".")
    return bool(signing_input) and hmac.compare_digest(signature, _b64(_sign(signing_input.encode())))


# ------------------------------------------------------------------------ namespaces/finalize

def _finalize(handler, cluster, request, query, namespace):
    wanted_rv = (namespace.get("metadata") or {}).get("resourceVersion")
    finalizers = (namespace.get("spec") or {}).get("finalizers") or []

    def set_finalizers(current):
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict("", "namespaces", request.name)
        spec = current.setdefault("spec", {})
        if finalizers:
            spec["finalizers"] = list(finalizers)
        else:
            spec.pop("finalizers", None)
        return current
    return handler.send_json(200, cluster.store.patch(request.rtype, None, request.name, set_finalizers, dry_run=_dry_run(query)))

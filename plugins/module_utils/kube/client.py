# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection to the Kubernetes API: kubernetes.core's options, raw JSON over urllib3, retries.

The connection is resolved as kubernetes.core resolves it (same option names,
same K8S_AUTH_* variables, same order), then requests go straight through the
urllib3 pool that the kubernetes client builds from that configuration: no
model deserialization, so listing 100k objects costs one json.loads per page.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import random
import re
import tempfile
import time
import traceback

from urllib.parse import urlencode, urlsplit

from ansible_collections.kubesafe.k8s.plugins.module_utils import fast_json
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import (
    ClusterAccessError,
    ConfigurationError,
    KubesafeError,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.paths import user_path

try:
    import urllib3
    import urllib3.exceptions
    import kubernetes.client
    import kubernetes.config
    from kubernetes.client.rest import RESTClientObject
    from kubernetes.config.config_exception import ConfigException
    HAS_K8S = True
    K8S_IMP_ERR = None
except ImportError:
    HAS_K8S = False
    K8S_IMP_ERR = traceback.format_exc()

# (option, environment variables in the order kubernetes.core reads them, type)
AUTH_OPTIONS = (
    ("kubeconfig", ("K8S_AUTH_KUBECONFIG",), "raw"),
    ("context", ("K8S_AUTH_CONTEXT",), "str"),
    ("host", ("K8S_AUTH_HOST",), "str"),
    ("api_key", ("K8S_AUTH_API_KEY",), "str"),
    ("username", ("K8S_AUTH_USERNAME",), "str"),
    ("password", ("K8S_AUTH_PASSWORD",), "str"),
    ("validate_certs", ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"), "bool"),
    ("ca_cert", ("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"), "path"),
    ("client_cert", ("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"), "path"),
    ("client_key", ("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"), "path"),
    ("proxy", ("K8S_AUTH_PROXY",), "str"),
    ("no_proxy", ("K8S_AUTH_NO_PROXY",), "str"),
    ("persist_config", ("K8S_AUTH_PERSIST_CONFIG",), "bool"),
    ("impersonate_user", ("K8S_AUTH_IMPERSONATE_USER",), "str"),
    ("impersonate_groups", ("K8S_AUTH_IMPERSONATE_GROUPS",), "list"),
)
AUTH_OPTION_ALIASES = {"verify_ssl": "validate_certs", "ssl_ca_cert": "ca_cert", "cert_file": "client_cert", "key_file": "client_key"}
# proxy_headers is a dict; each key has its own variable, as in kubernetes.core.
PROXY_HEADER_OPTIONS = (
    ("proxy_basic_auth", "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH"),
    ("basic_auth", "K8S_AUTH_PROXY_HEADERS_BASIC_AUTH"),
    ("user_agent", "K8S_AUTH_PROXY_HEADERS_USER_AGENT"),
)

DEFAULT_MAX_RETRIES = 5
DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_READ_TIMEOUT = 120.0
# Several collector threads list at once; each needs its own pooled connection.
DEFAULT_POOL_SIZE = 16
# A wrong URL or a stopped cluster should fail fast, not after the full retry budget.
UNREACHED_CONNECT_RETRIES = 2
MAX_RETRY_AFTER_SECONDS = 60.0
RETRY_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "kubesafe.k8s"

_FALSE_STRINGS = ("0", "false", "no", "off", "n", "f")


def _to_bool(value):
    if isinstance(value, bool) or value is None:
        return value
    return str(value).strip().lower() not in _FALSE_STRINGS


def _to_list(value):
    if value is None or isinstance(value, (list, tuple)):
        return list(value) if value is not None else None
    return [item.strip() for item in str(value).split(",") if item.strip()]


def _convert(value, kind):
    if kind == "bool":
        return _to_bool(value)
    if kind == "list":
        return _to_list(value)
    if kind == "path" and isinstance(value, str):
        return user_path(value)
    return value


def connection_options(params=None, environ=None):
    """Connection options from module params (or any dict), K8S_AUTH_* variables filling the unset ones.

    Accepts kubernetes.core's option names and aliases; returns keyword arguments for KubeClient.
    """
    params = dict(params or {})
    environ = os.environ if environ is None else environ
    for alias, name in AUTH_OPTION_ALIASES.items():
        if params.get(name) is None and params.get(alias) is not None:
            params[name] = params[alias]
    options = {}
    for name, variables, kind in AUTH_OPTIONS:
        value = params.get(name)
        if value == "":
            value = None  # what an env_fallback of an empty variable gives a module option
        if value is None:
            # An empty variable is unset: AWX credential types inject "" for fields left empty (K8S_AUTH_CONTEXT).
            value = next((environ[variable] for variable in variables if environ.get(variable) not in (None, "")), None)
        options[name] = _convert(value, kind)
    headers = dict((key, value) for key, value in (params.get("proxy_headers") or {}).items() if value is not None)
    if not headers:
        headers = dict((key, environ[variable]) for key, variable in PROXY_HEADER_OPTIONS if environ.get(variable) not in (None, ""))
    options["proxy_headers"] = headers or None
    return options


class ApiError(KubesafeError):
    """The API server answered with an error status; ``body`` is its Status object (or {})."""

    def __init__(self, message, status=None, reason=None, body=None, method=None, path=None):
        super(ApiError, self).__init__(message)
        self.status = status
        self.reason = reason
        self.body = body or {}
        self.method = method
        self.path = path


class ListExpiredError(ApiError):
    """A paginated LIST outlived the API server's snapshot (410 Expired on a continue token)."""


# How many times list_pages_relisting starts a LIST over after its continue token expired.
MAX_RELISTS = 3


def _list_key(item):
    metadata = item.get("metadata") or {}
    return "%s/%s" % (metadata.get("namespace") or "", metadata.get("name"))


class _HandedOver:
    """The objects a LIST has handed over, remembered for a re-list, on disk.

    A string and a set slot per object would cost about 100 bytes: 100 MB for four parallel LISTs of a
    million-object cluster. BLAKE2b-128 digests of "namespace/name" (16 bytes each) are appended to an
    anonymous temporary file instead, nothing per object stays in memory; the set to look them up in is
    read back only when a re-list needs it (rare: an expired continue token). The file has no name, so
    nothing is left behind even by a killed process. A collision, which would take an object for one
    already stored, has a chance of about n^2/2^129.
    """

    _DIGEST_SIZE = 16

    def __init__(self):
        self._file = None
        self._lookup = None

    @classmethod
    def _digest(cls, item):
        return hashlib.blake2b(_list_key(item).encode("utf-8", "surrogatepass"), digest_size=cls._DIGEST_SIZE).digest()

    def add(self, items):
        digest = self._digest
        if self._lookup is not None:
            self._lookup.update(digest(item) for item in items)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="kubesafe-list-")  # pylint: disable=consider-using-with
        self._file.write(b"".join(digest(item) for item in items))

    def __contains__(self, item):
        if self._lookup is None:
            self._lookup = set()
            if self._file is not None:
                size = self._DIGEST_SIZE
                self._file.seek(0)
                for chunk in iter(lambda: self._file.read(size * 65536), b""):
                    self._lookup.update(chunk[start:start + size] for start in range(0, len(chunk), size))
                self.close()
        return self._digest(item) in self._lookup

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def describe_request(method, path):
    """Kubernetes verb, group resource and namespace of a request path, for messages."""
    path = path.split("?", 1)[0]
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return {"verb": method.lower(), "resource": path, "namespace": None}
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return {"verb": method.lower(), "resource": path, "namespace": None}
    resource = rest[0] + ("/" + rest[2] if len(rest) > 2 else "")
    if group:
        resource = "%s.%s" % (resource, group)
    named = len(rest) > 1
    verbs = {"GET": "get" if named else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
             "DELETE": "delete" if named else "deletecollection", "HEAD": "get"}
    return {"verb": verbs.get(method.upper(), method.lower()), "resource": resource, "namespace": namespace}


def _network_reason(error):
    """urllib3's message without the '<...Connection object at 0x...>: ' noise."""
    text = str(error)
    text = re.sub(r"<[^>]*object at 0x[0-9a-f]+>:?\s*", "", text)
    return text.strip(" :") or type(error).__name__


class _RepeatedHeaderName(str):
    """A header name that never equals another, so a plain dict can hold the same header several times."""

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


# What urllib3 leaves as it is in a URL path (RFC 3986 pchar and "/", without "%"): a path of only these needs no
# encoding; one with a dot segment would be normalized, so "/." sends a request through the pool manager instead.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")


def _is_plain_path(path):
    return "/." not in path and _PLAIN_PATH.fullmatch(path) is not None


def _kubeconfig_paths(value):
    separator = ";" if os.name == "nt" else ":"
    return [user_path(path) for path in value.split(separator) if path]


class KubeClient:
    """Raw JSON access to one Kubernetes API server, safe to share between threads."""

    def __init__(self, kubeconfig=None, context=None, host=None, api_key=None, username=None, password=None,
                 validate_certs=None, ca_cert=None, client_cert=None, client_key=None, proxy=None, no_proxy=None,
                 proxy_headers=None, persist_config=None, impersonate_user=None, impersonate_groups=None,
                 max_retries=DEFAULT_MAX_RETRIES, connect_timeout=DEFAULT_CONNECT_TIMEOUT, read_timeout=DEFAULT_READ_TIMEOUT,
                 pool_size=DEFAULT_POOL_SIZE, retry_backoff=0.5, max_retry_delay=30.0):
        if not HAS_K8S:
            raise KubesafeError("the kubernetes Python library is required (pip install kubernetes): %s" % K8S_IMP_ERR)
        self.max_retries = max(0, int(max_retries))
        self.retry_backoff = float(retry_backoff)
        self.max_retry_delay = float(max_retry_delay)
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._sleep = time.sleep
        self._reached = False
        self._username = username
        self._password = password
        self.configuration, self.source = _build_configuration(
            kubeconfig=kubeconfig, context=context, host=host, api_key=api_key, username=username, password=password,
            validate_certs=_to_bool(validate_certs), ca_cert=ca_cert, client_cert=client_cert, client_key=client_key,
            proxy=proxy, no_proxy=no_proxy, proxy_headers=proxy_headers, persist_config=_to_bool(persist_config))
        self.configuration.connection_pool_maxsize = max(int(pool_size), 1)
        if not self.configuration.verify_ssl:
            # The user chose not to verify; one warning per request would flood the output.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._host = self.configuration.host.rstrip("/")
        try:
            self._pool = RESTClientObject(self.configuration).pool_manager
        except (OSError, ValueError) as error:
            raise ConfigurationError("cannot set up TLS for %s (%s): %s; check ca_cert, client_cert and client_key"
                                     % (self.server_url, self.source, error))
        # A plain dict, copied per request; Impersonate-Group repeats, so it is added per request (HTTPHeaderDict).
        self._base_headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "User-Agent": USER_AGENT}
        if impersonate_user:
            self._base_headers["Impersonate-User"] = impersonate_user
        self._impersonate_groups = _to_list(impersonate_groups) or []
        self._host_pool = None
        # Requests go straight to the host's connection pool, without the PoolManager's per-request URL parsing and
        # header copies, when the pool manager adds nothing (no proxy) and the URL needs no encoding by urllib3.
        try:
            self._base_path = urllib3.util.parse_url(self._host).path or ""
        except urllib3.exceptions.LocationParseError:
            self._base_path = None  # the first request says what is wrong with the URL, through the pool manager
        self._direct = type(self._pool) is urllib3.PoolManager and self._base_path is not None and \
            _is_plain_path(self._base_path)  # pylint: disable=unidiomatic-typecheck

    # ------------------------------------------------------------ identity

    @property
    def server_url(self):
        """The API server URL, without any user:password part."""
        parts = urlsplit(self._host)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return "%s://%s%s" % (parts.scheme, netloc, parts.path)

    def get_server_host(self):
        """host:port of the API server (no credentials), e.g. for reports."""
        return urlsplit(self.server_url).netloc

    def api_client(self):
        """A kubernetes.client.ApiClient on the same configuration (for exec/websocket helpers)."""
        client = kubernetes.client.ApiClient(self.configuration)
        if "Impersonate-User" in self._base_headers:
            client.set_default_header(_RepeatedHeaderName("Impersonate-User"), self._base_headers["Impersonate-User"])
        for group in self._impersonate_groups:
            # Distinct keys with one spelling: the API server wants one header line per group.
            client.set_default_header(_RepeatedHeaderName("Impersonate-Group"), group)
        return client

    def close(self):
        self._host_pool = None
        self._pool.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # ------------------------------------------------------------ requests

    def version(self):
        return self.request("GET", "/version")

    def request(self, method, path, query=None, body=None, content_type="application/json", timeout=None, max_retries=None):
        """Send one request (retried as needed) and return the answer's JSON ({} when empty).

        timeout (seconds) and max_retries override the client's for this request.
        """
        data = self.request_bytes(method, path, query=query, body=body, content_type=content_type, timeout=timeout, max_retries=max_retries)
        if not data:
            return {}
        try:
            return fast_json.loads_api_response(data)
        except ValueError:
            raise ApiError("%s %s: the API server at %s answered with something that is not JSON: %r"
                           % (method.upper(), path, self.server_url, data[:200]), method=method.upper(), path=path)

    def request_bytes(self, method, path, query=None, body=None, content_type="application/json", timeout=None, max_retries=None):
        """Like request, but return the raw answer body (e.g. pods/log)."""
        method = method.upper()
        query_string = "?" + urlencode(self._query_pairs(query), doseq=True) if query else ""
        if self._impersonate_groups:
            headers = urllib3.HTTPHeaderDict(self._base_headers)
            for group in self._impersonate_groups:
                headers.add("Impersonate-Group", group)
        else:
            headers = dict(self._base_headers)
        payload = None
        if body is not None:
            if isinstance(body, (dict, list)):
                payload = fast_json.dumps_compact(body)
            elif isinstance(body, str):
                payload = body.encode("utf-8")
            else:
                payload = body
            headers["Content-Type"] = content_type
        retries = self.max_retries if max_retries is None else max(0, int(max_retries))
        if self._direct and path[:1] == "/" and _is_plain_path(path):
            target = self._base_path + path + query_string
        else:
            target = None
        url = self._host + path + query_string
        response = self._send_with_retries(method, path, (url, target), headers, payload, self._safe_to_resend(method, body), timeout, retries)
        if 200 <= response.status < 300:
            return response.data
        raise self._api_error(method, path, response, retries)

    def list_pages(self, path, query=None, limit=500):
        """Each page of a LIST ({"items": [...], "metadata": {...}}), following continue tokens."""
        query = dict(query or {})
        if limit:
            query["limit"] = int(limit)
        token = None
        pages = objects = 0
        while True:
            page_query = dict(query)
            if token:
                page_query["continue"] = token
            try:
                page = self.request("GET", path, page_query)
            except ApiError as error:
                if error.status == 410 and token:
                    raise ListExpiredError(
                        "LIST %s: 410 Expired after %d pages (%d objects): the list took longer than the API server keeps "
                        "its snapshot (etcd compacts it, about every 5 minutes), so the continue token expired"
                        % (path, pages, objects), status=410, reason=error.reason, body=error.body, method="GET", path=path)
                raise
            pages += 1
            objects += len(page.get("items") or ())
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def list_pages_relisting(self, path, query=None, limit=500, max_relists=MAX_RELISTS, on_relist=None):
        """list_pages, but a 410 Expired continue token starts the LIST over, at most ``max_relists`` times.

        client-go's pager answers an expired token with one unpaginated LIST, which would hold the whole
        resource in memory; this lists page by page again instead. The consumer streams what it gets into
        an append-only archive, so an object an earlier attempt already yielded is not yielded again: that
        earlier copy, read during this backup, stands (a tar stream cannot take it back), objects created
        since come through, objects deleted since stay as they were read. Remembering what was yielded costs
        16 bytes per object of this one LIST on disk (_HandedOver), none in memory, and nothing for a LIST
        that fits one page. ``on_relist(number, error)`` is called before each new attempt. After the last
        attempt expires too, ListExpiredError says how many re-lists were tried.
        """
        yielded = _HandedOver()
        try:
            yield from self._list_pages_relisting(path, query, limit, max_relists, on_relist, yielded)
        finally:
            yielded.close()

    def _list_pages_relisting(self, path, query, limit, max_relists, on_relist, yielded):
        relists = 0
        while True:
            try:
                for page in self.list_pages(path, query, limit):
                    items = page.get("items") or []
                    if relists:
                        items = [item for item in items if item not in yielded]
                        page = dict(page, items=items)
                    if (page.get("metadata") or {}).get("continue"):
                        # Only a page followed by another can be followed by an expired token.
                        yielded.add(items)
                    yield page
                return
            except ListExpiredError as error:
                if relists >= max_relists:
                    raise ListExpiredError(
                        "410 Expired after %d re-lists (the last attempt: %s)" % (relists, error),
                        status=error.status, reason=error.reason, body=error.body, method=error.method, path=error.path) from error
                relists += 1
                if on_relist is not None:
                    on_relist(relists, error)

    # ------------------------------------------------------------ internals

    @staticmethod
    def _query_pairs(query):
        pairs = []
        for key, value in query.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            pairs.append((key, value))
        return pairs

    @staticmethod
    def _safe_to_resend(method, body):
        """Whether a request that may have reached the server can be sent again.

        A repeated create answers 409 AlreadyExists, except with generateName, where it would make a second object.
        """
        if method != "POST" or not isinstance(body, dict):
            return True
        metadata = body.get("metadata") or {}
        return bool(metadata.get("name")) or not metadata.get("generateName")

    def _connection_pool(self):
        """The pool manager's connection pool of the API server's host (the one the pool manager picks for it)."""
        pool = self._host_pool
        if pool is None:
            pool = self._host_pool = self._pool.connection_from_url(self._host)
        return pool

    def _auth_headers(self):
        # auth_settings() runs the kubeconfig's refresh hook (exec plugins, OIDC, in-cluster token rotation).
        bearer = self.configuration.auth_settings().get("BearerToken")
        if bearer and bearer.get("value"):
            return {"Authorization": bearer["value"]}
        if self._username and self._password:
            return {"Authorization": self.configuration.get_basic_auth_token()}
        return {}

    def _send_with_retries(self, method, path, url_and_target, headers, payload, resendable, timeout, max_retries):
        """url_and_target: the absolute URL, and the request target to send to the host's pool directly (or None)."""
        url, target = url_and_target
        attempt = 0
        while True:
            request_headers = headers.copy()
            request_headers.update(self._auth_headers())
            delay = None
            try:
                if target is not None:
                    response = self._connection_pool().request(
                        method, target, body=payload, headers=request_headers, retries=False, redirect=False, assert_same_host=False,
                        timeout=timeout or self._timeout, preload_content=True)
                else:
                    response = self._pool.request(method, url, body=payload, headers=request_headers, retries=False, redirect=False,
                                                  timeout=timeout or self._timeout, preload_content=True)
            except urllib3.exceptions.SSLError as error:
                raise ClusterAccessError(
                    "TLS failed with the Kubernetes API server at %s (%s): %s. Check ca_cert (K8S_AUTH_SSL_CA_CERT) or the "
                    "kubeconfig's certificate-authority; validate_certs false (K8S_AUTH_VERIFY_SSL) skips verification."
                    % (self.server_url, self.source, _network_reason(error)))
            except urllib3.exceptions.LocationValueError as error:
                raise ConfigurationError("the API server URL %r is not valid (host option, K8S_AUTH_HOST or the kubeconfig's server): %s"
                                         % (self.server_url, error))
            except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ProxyError) as error:
                # Never sent (refused, DNS, connect timeout): always safe to try again.
                budget = max_retries if self._reached else min(max_retries, UNREACHED_CONNECT_RETRIES)
                if attempt >= budget:
                    raise self._unreachable(method, path, error, attempt)
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.HTTPError) as error:
                if attempt >= max_retries or not resendable:
                    raise ClusterAccessError(
                        "%s %s: lost the connection to the Kubernetes API server at %s after %d attempt(s): %s"
                        % (method, path, self.server_url, attempt + 1, _network_reason(error)))
            else:
                self._reached = True
                if response.status not in RETRY_STATUSES or attempt >= max_retries:
                    return response
                if response.status != 429 and not resendable:
                    return response
                delay = self._retry_after(response)
            attempt += 1
            self._sleep(delay if delay is not None else self._backoff(attempt))

    def _backoff(self, attempt):
        # Exponential with "equal jitter": concurrent clients do not retry in lockstep.
        ceiling = min(self.max_retry_delay, self.retry_backoff * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @staticmethod
    def _retry_after(response):
        value = response.headers.get("Retry-After")
        if response.status not in (429, 503) or not value:
            return None
        try:
            return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS)
        except ValueError:
            return None  # an HTTP date; use our own backoff

    def _unreachable(self, method, path, error, attempt):
        return ClusterAccessError(
            "cannot reach the Kubernetes API server at %s (%s) for %s %s after %d attempt(s): %s. Check that the cluster is "
            "running and that kubeconfig/context (K8S_AUTH_KUBECONFIG, K8S_AUTH_CONTEXT) or host (K8S_AUTH_HOST) point to it."
            % (self.server_url, self.source, method, path, attempt + 1, _network_reason(error)))

    def _api_error(self, method, path, response, max_retries):
        body = {}
        try:
            body = json.loads(response.data) if response.data else {}
        except ValueError:
            pass
        if not isinstance(body, dict):
            body = {}
        reason = body.get("reason") or response.reason or ""
        server_message = body.get("message") or (response.data or b"")[:200].decode("utf-8", "replace").strip()
        message = "%s %s: %d %s" % (method, path, response.status, response.reason or reason)
        if server_message:
            message += ": %s" % server_message
        if response.status in RETRY_STATUSES and max_retries:
            message += " (gave up after %d retries)" % max_retries
        if response.status in (401, 403):
            message += ". " + self._access_hint(method, path, response.status)
        return ApiError(message, status=response.status, reason=reason, body=body, method=method, path=path)

    def _access_hint(self, method, path, status):
        request = describe_request(method, path)
        where = "in namespace %s" % request["namespace"] if request["namespace"] else "cluster-wide"
        if status == 401:
            first = "The API server at %s did not accept the credentials (expired or wrong token or certificate?)" % self.server_url
        else:
            first = "The account needs %s on %s %s" % (request["verb"], request["resource"], where)
        return "%s; check the kubeconfig/context or K8S_AUTH_API_KEY (credentials from %s)." % (first, self.source)


def _build_configuration(kubeconfig, context, host, api_key, username, password, validate_certs, ca_cert, client_cert,
                         client_key, proxy, no_proxy, proxy_headers, persist_config):
    """A kubernetes.client.Configuration resolved as kubernetes.core does, and a description of where it came from."""
    configuration = kubernetes.client.Configuration()
    host = host.rstrip("/") if host else host
    explicit = host and (api_key or (username and password) or (client_cert and client_key))
    if explicit:
        source = "host and credential options"
    elif kubeconfig or context:
        source = _load_kubeconfig(configuration, kubeconfig, context, persist_config, explicit_option=bool(kubeconfig))
    else:
        source = None
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            try:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
                source = "in-cluster service account"
            except ConfigException:
                source = None
        if source is None:
            default = os.environ.get("KUBECONFIG") or "~/.kube/config"
            if any(os.path.exists(path) for path in _kubeconfig_paths(default)):
                source = _load_kubeconfig(configuration, default, None, persist_config, explicit_option=False)
            elif host:
                source = "host option"
            else:
                raise ConfigurationError(
                    "no Kubernetes connection is configured: %s does not exist and this is not a pod. Set kubeconfig "
                    "(K8S_AUTH_KUBECONFIG), or host and api_key (K8S_AUTH_HOST, K8S_AUTH_API_KEY)." % default)
    for option, variable, path in (("ca_cert", "K8S_AUTH_SSL_CA_CERT", ca_cert), ("client_cert", "K8S_AUTH_CERT_FILE", client_cert),
                                   ("client_key", "K8S_AUTH_KEY_FILE", client_key)):
        if path and not os.path.isfile(path):
            raise ConfigurationError("%s file %s does not exist (set by the %s option or %s)" % (option, path, option, variable))
    overrides = (("host", host), ("username", username), ("password", password), ("verify_ssl", validate_certs),
                 ("ssl_ca_cert", ca_cert), ("cert_file", client_cert), ("key_file", client_key), ("proxy", proxy),
                 ("no_proxy", no_proxy))
    for attribute, value in overrides:
        if value is not None:
            setattr(configuration, attribute, value)
    overridden = [name for name, value in (("host", host), ("api_key", api_key), ("client_cert", client_cert)) if value]
    if overridden and source.startswith(("kubeconfig", "in-cluster")):
        source += " with the %s option(s)" % ", ".join(overridden)
    if api_key:
        # Replaces whatever the kubeconfig held, including its token refresh hook.
        configuration.api_key = {"BearerToken": "Bearer %s" % api_key}
        configuration.api_key_prefix = {}
        configuration.refresh_api_key_hook = None
    if proxy_headers:
        configuration.proxy_headers = urllib3.util.make_headers(**proxy_headers)
    if configuration.host in (None, "", "http://localhost") and not host:
        raise ConfigurationError("no API server URL in %s; set host (K8S_AUTH_HOST) or fix the kubeconfig's cluster server" % source)
    return configuration, source


def _load_kubeconfig(configuration, kubeconfig, context, persist_config, explicit_option):
    """Load a kubeconfig file (or dict) with a context into configuration; returns a description of it."""
    option_hint = "the kubeconfig option or K8S_AUTH_KUBECONFIG" if explicit_option else "KUBECONFIG or ~/.kube/config"
    if isinstance(kubeconfig, dict):
        label = "kubeconfig given inline"
        contexts = [item.get("name") for item in kubeconfig.get("contexts") or () if isinstance(item, dict)]
        current = kubeconfig.get("current-context")
        load = kubernetes.config.load_kube_config_from_dict
        arguments = {"config_dict": kubeconfig}
    else:
        if kubeconfig is None:
            kubeconfig = os.environ.get("KUBECONFIG") or "~/.kube/config"
            option_hint = "KUBECONFIG or ~/.kube/config"
        paths = _kubeconfig_paths(str(kubeconfig))
        existing = [path for path in paths if os.path.exists(path)]
        if not existing:
            raise ConfigurationError("kubeconfig file %s does not exist (set by %s)" % (kubeconfig, option_hint))
        label = "kubeconfig %s" % ":".join(existing)
        try:
            contexts, current = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
            contexts = [item.get("name") for item in contexts]
            current = (current or {}).get("name")
        except Exception:  # pylint: disable=broad-except
            contexts, current = [], None  # the load below reports what is wrong with the file
        load = kubernetes.config.load_kube_config
        arguments = {"config_file": kubeconfig}
    if context and contexts and context not in contexts:
        raise ConfigurationError("context %r is not in %s (contexts: %s); set context (K8S_AUTH_CONTEXT) to one of them"
                                 % (context, label, ", ".join(sorted(str(name) for name in contexts))))
    try:
        load(context=context, client_configuration=configuration, persist_config=bool(persist_config), **arguments)
    except Exception as error:  # pylint: disable=broad-except
        # The loader raises ConfigException, yaml, OS and key errors alike; all mean the same to the user.
        raise ConfigurationError("cannot use %s%s (set by %s): %s"
                                 % (label, " context %r" % context if context else "", option_hint, error))
    return "%s, context %s" % (label, context or current or "(current)")

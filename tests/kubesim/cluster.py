"""One emulated cluster: state, background workers and the HTTP(S) server in front of them."""

import copy
import os
import secrets
import ssl
import threading
import time
from http.server import ThreadingHTTPServer

import yaml

from kubesim import bootstrap_policy, catalog, controllers, errors, exec_ws, kubeconfig, subresources, tls
from kubesim.authorization import Authorizer
from kubesim.control import ControlApi
from kubesim.faults import AuditLog, FaultInjector
from kubesim.garbage_collector import GarbageCollector
from kubesim.http_api import ApiHandler
from kubesim.registry import Registry
from kubesim.sequence import Sequence
from kubesim.store import Settings, Store
from kubesim.volume_backend import VolumeBackend

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SAMPLE_FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "sample.yaml")
# Seeded objects are recorded in managedFields as if a user had created them with kubectl.
SEED_FIELD_MANAGER = "kubectl-create"

# What a fresh kubeadm-like cluster holds besides its namespaces: two nodes (the scheduler takes the first that fits), the
# `kubernetes` Service, system priority classes and the user-facing ClusterRoles.
_BOOTSTRAP_OBJECTS = [
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kubesim-node-1", "labels": {
        "kubernetes.io/hostname": "kubesim-node-1", "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "us-east-1a"}},
     "status": {"conditions": [{"type": "Ready", "status": "True"}], "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "kubesim-node-1"}]}},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kubesim-node-2", "labels": {
        "kubernetes.io/hostname": "kubesim-node-2", "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "us-east-1a"}},
     "status": {"conditions": [{"type": "Ready", "status": "True"}], "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "addresses": [{"type": "InternalIP", "address": "172.18.0.3"}, {"type": "Hostname", "address": "kubesim-node-2"}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
     "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "system-cluster-critical"}, "value": 2000000000,
     "description": "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "system-node-critical"}, "value": 2000001000,
     "description": "Used for system critical pods that must not be moved from their current node."},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
     "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "view", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
     "rules": [{"apiGroups": [""], "resources": ["configmaps", "pods", "services"], "verbs": ["get", "list", "watch"]}]},
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, cluster):
        self.cluster = cluster
        self.stopping = threading.Event()
        super().__init__(address, ApiHandler)


class KubeSim:
    """An emulated Kubernetes API server. ``start()`` returns its URL.

    ``volume_backend`` holds volume and snapshot contents; pass one VolumeBackend to two emulators to model
    two clusters on one cloud account (a snapshot taken in one restores in the other). Each gets its own by default.

    ``authorization``: None or "AlwaysAllow" (every request allowed), or "rbac" (kube's RBAC authorizer; the admin is
    then the static ``token``, one generated when none is given and TLS is off, or the TLS client certificate).
    """

    def __init__(self, token=None, use_tls=False, include_prerelease=False, run_controllers=True, settings=None, volume_backend=None,
                 authorization=None):
        self.registry = Registry(catalog.builtin_resource_types(include_prerelease))
        self.store = Store(self.registry, settings or Settings())
        self.gc = GarbageCollector(self.store)
        self.volume_backend = volume_backend if volume_backend is not None else VolumeBackend()
        self.controllers = controllers.ControllerManager(self.store, enabled=run_controllers, volume_backend=self.volume_backend)
        # One counter for the audit and exec logs, so a test can tell whether a command ran before or after a request.
        self.sequence = Sequence()
        self.exec_registry = exec_ws.ExecRegistry(self.sequence)
        self.faults = FaultInjector()
        self.audit = AuditLog(self.sequence)
        self.control = ControlApi(self)
        self.authorizer = Authorizer(self.store, authorization)
        # With RBAC on, an unauthenticated client is system:anonymous; the fixtures' kubeconfig needs an admin credential.
        self.token = token or (secrets.token_urlsafe(24) if self.authorizer.enabled and not use_tls else None)
        self.use_tls = use_tls
        self.certificates = None
        self.version_info = catalog.kubernetes_version()
        self._server = None
        self._thread = None
        self.url = None
        self._bootstrap()

    # ------------------------------------------------------------- lifecycle

    def _bootstrap(self):
        namespaces = self.registry.lookup("", "v1", "namespaces")
        for name in SYSTEM_NAMESPACES:
            self.store.create(namespaces, None, {"metadata": {"name": name}})
        self.seed(copy.deepcopy(_BOOTSTRAP_OBJECTS))
        if self.authorizer.enabled:
            self.seed(bootstrap_policy.objects())

    def start(self, host="127.0.0.1", port=0, state_dir=None):
        self._server = _Server((host, port), self)
        scheme = "http"
        if self.use_tls:
            self.certificates = tls.make_certificates(state_dir or tls.default_directory(), host)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.certificates.server_cert, self.certificates.server_key)
            context.load_verify_locations(self.certificates.ca_cert)
            context.verify_mode = ssl.CERT_OPTIONAL
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = "%s://%s:%d" % (scheme, host, self._server.server_address[1])
        self.gc.start()
        self.controllers.start()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="kubesim-http", daemon=True)
        self._thread.start()
        return self.url

    def stop(self):
        if self._server is not None:
            self._server.stopping.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.controllers.stop()
        self.gc.stop()

    def settle(self, timeout=10.0):
        """Wait until the garbage collector and controllers have nothing left to do."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.gc.idle() and self.controllers.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= 0.1:
                    return True
            else:
                quiet_since = None
            time.sleep(0.02)
        return False

    def write_kubeconfig(self, path, context="kubesim"):
        options = {"context": context, "token": self.token}
        if self.certificates is not None:
            options["ca_cert"] = self.certificates.ca_cert
            if not self.token:
                options["client_cert"] = self.certificates.client_cert
                options["client_key"] = self.certificates.client_key
        return kubeconfig.write_kubeconfig(path, self.url, **options)

    # ----------------------------------------------------------------- state

    def seed(self, objects):
        """Create objects (manifests or dumped objects) in order; status is written through /status."""
        created = 0
        namespaces = self.registry.lookup("", "v1", "namespaces")
        for obj in objects:
            if not obj:
                continue
            rtype = self.registry.by_api_version_kind(obj.get("apiVersion"), obj.get("kind"))
            if rtype is None:
                raise errors.bad_request("no resource serves %s %s" % (obj.get("apiVersion"), obj.get("kind")))
            metadata = obj.setdefault("metadata", {})
            for server_owned in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"):
                metadata.pop(server_owned, None)
            namespace = metadata.get("namespace")
            if rtype.namespaced:
                namespace = namespace or "default"
                if self.store.find(namespaces, None, namespace) is None:
                    self.store.create(namespaces, None, {"metadata": {"name": namespace}})
            status = obj.get("status")
            try:
                stored = self.store.create(rtype, namespace, obj, manager=SEED_FIELD_MANAGER)
            except errors.ApiError as error:
                if error.reason != "AlreadyExists" or rtype.plural != "namespaces":
                    raise
                continue
            if status is not None and rtype.has_status:
                self.store.replace(rtype, namespace, stored["metadata"]["name"], {"status": status}, subresource="status", manager=SEED_FIELD_MANAGER)
            created += 1
        return created

    def seed_file(self, path):
        with open(path, encoding="utf-8") as stream:
            return self.seed([doc for doc in yaml.safe_load_all(stream) if doc])

    def configure(self, settings):
        for key, value in settings.items():
            if key in ("namespace_defaults", "garbage_collection"):
                setattr(self.store.settings, key, bool(value))
            elif key == "controllers":
                self.controllers.configure(value)
            else:
                raise errors.bad_request("unknown setting %r" % key)

    def describe_settings(self):
        return {"namespace_defaults": self.store.settings.namespace_defaults,
                "garbage_collection": self.store.settings.garbage_collection,
                "controllers": self.controllers.describe()}

    # ------------------------------------------------- subresources and exec

    def serve_subresource(self, handler, method, request, query):
        if request.subresource in ("exec", "attach"):
            return exec_ws.serve(handler, self, request, query)
        return subresources.serve(handler, self, method, request, query)

    def exec_control(self, handler, method, route, body):
        return self.exec_registry.control(handler, method, route, body)

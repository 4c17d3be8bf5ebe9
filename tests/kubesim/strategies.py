"""Per-kind behaviour the registry strategies of kube-apiserver give built-in resources.

Only what a backup/restore tool can notice is emulated: defaulting (in
``defaults``), Service IP and nodePort allocation, namespace phases and
defaults, Secret stringData, immutable ConfigMaps/Secrets, initial status of
pods, PVs and PVCs, the DaemonSet template generation, and
CustomResourceDefinitions registering their resources.
"""

import base64
import binascii
import copy
import ipaddress
import re

from kubesim import defaults, errors

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = range(30000, 32768)
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
SIMULATED_ROOT_CA = "-----BEGIN CERTIFICATE-----\nMIIBkubesimEmulatedClusterRootCA\n-----END CERTIFICATE-----\n"

# Names in these groups are path segments, not DNS names (e.g. "system:controller:x" ClusterRoles).
_PATH_SEGMENT_NAME_GROUPS = {"rbac.authorization.k8s.io"}


class Allocations:
    """Cluster IPs and node ports in use, as the apiserver's allocators track them."""

    def __init__(self):
        self.cluster_ips = set()
        self.node_ports = set()
        self._next_ip = int(SERVICE_CIDR.network_address) + 10
        self._next_port = NODE_PORT_RANGE.start

    def allocate_ip(self):
        while True:
            self._next_ip += 1
            if self._next_ip >= int(SERVICE_CIDR.broadcast_address):
                self._next_ip = int(SERVICE_CIDR.network_address) + 11
            candidate = str(ipaddress.ip_address(self._next_ip))
            if candidate not in self.cluster_ips:
                return candidate

    def allocate_port(self, taken):
        for _ in NODE_PORT_RANGE:
            candidate = self._next_port
            self._next_port = candidate + 1 if candidate + 1 < NODE_PORT_RANGE.stop else NODE_PORT_RANGE.start
            if candidate not in self.node_ports and candidate not in taken:
                return candidate
        raise errors.internal_error("range of valid node ports is full")


def _is(rtype, group, plural):
    return rtype.group == group and rtype.plural == plural


class Strategy:
    """What kube-apiserver's registry strategy of one kind does around its writes; the default does nothing more.

    Each kind that behaves differently has one subclass below holding all its hooks,
    as kube-apiserver keeps one registry strategy per resource.
    """

    name_pattern, name_rule, name_limit = DNS_SUBDOMAIN, "RFC 1123 subdomain", 253
    # Kinds whose DELETE leaves the object Terminating until a controller finalizes it.
    deletes_gracefully = False

    def validate_name(self, rtype, name):
        if len(name) > self.name_limit or not self.name_pattern.match(name):
            raise errors.invalid(rtype.group, rtype.kind, name, [(
                "metadata.name", 'Invalid value: "%s": a lowercase %s must consist of lower case alphanumeric characters, '
                "'-' or '.', and must start and end with an alphanumeric character" % (name, self.name_rule))])

    def apply_defaults(self, rtype, obj):
        """Fill the fields kube-apiserver defaults when it decodes a body, on create and on every update."""
        defaults.apply(rtype, obj)

    def before_create(self, store, rtype, obj):
        pass

    def after_create(self, store, rtype, obj):
        pass

    def before_update(self, store, rtype, old, new):
        pass

    def after_update(self, store, rtype, old, new):
        pass

    def before_graceful_delete(self, rtype, obj):
        pass

    def after_delete(self, store, rtype, obj):
        pass


class _PathSegmentNames(Strategy):
    """RBAC names are path segments, not DNS names (e.g. "system:controller:x" ClusterRoles)."""

    def validate_name(self, rtype, name):
        if name in (".", "..") or "/" in name or "%" in name:
            raise errors.invalid(rtype.group, rtype.kind, name, [("metadata.name", 'Invalid value: "%s": may not contain \'/\' or \'%%\'' % name)])


def tracks_generation(rtype):
    """kube-apiserver sets metadata.generation for custom resources and kinds with a spec/status split."""
    return rtype.from_crd or rtype.has_status or _is(rtype, "apiextensions.k8s.io", "customresourcedefinitions")


def spec_changed(old, new):
    """Whether anything but metadata and status differs: what bumps metadata.generation."""
    def desired(obj):
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    return desired(old) != desired(new)


# ----------------------------------------------------------------- namespaces

class NamespaceStrategy(Strategy):
    name_pattern, name_rule, name_limit = DNS_LABEL, "RFC 1123 label", 63
    deletes_gracefully = True

    def before_create(self, store, rtype, obj):
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
        # kube-apiserver labels every namespace with its own name.
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]

    def after_create(self, store, rtype, obj):
        if store.settings.namespace_defaults:
            _populate_namespace(store, obj["metadata"]["name"])

    def before_update(self, store, rtype, old, new):
        new.setdefault("spec", old.get("spec", {}))

    def before_graceful_delete(self, rtype, obj):
        obj.setdefault("status", {})["phase"] = "Terminating"


def _populate_namespace(store, namespace):
    """What the ServiceAccount and root-CA publisher controllers create in every namespace."""
    service_accounts = store.registry.lookup("", "v1", "serviceaccounts")
    config_maps = store.registry.lookup("", "v1", "configmaps")
    if store.find(service_accounts, namespace, "default") is None:
        store.create(service_accounts, namespace, {"metadata": {"name": "default"}})
    if store.find(config_maps, namespace, ROOT_CA_CONFIGMAP) is None:
        store.create(config_maps, namespace, {
            "metadata": {"name": ROOT_CA_CONFIGMAP, "annotations": {"kubernetes.io/description": (
                "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
                "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.")}},
            "data": {"ca.crt": SIMULATED_ROOT_CA},
        })


# ------------------------------------------------------------------- services

class ServiceStrategy(Strategy):
    def validate_name(self, rtype, name):
        # kube's ValidateServiceName: an RFC 1035 label (without the RelaxedServiceNameValidation gate).
        if len(name) > 63 or not DNS_1035_LABEL.match(name):
            raise errors.invalid(rtype.group, rtype.kind, name, [(
                "metadata.name", 'Invalid value: "%s": a DNS-1035 label must consist of lower case alphanumeric characters or '
                "'-', start with an alphabetic character, and end with an alphanumeric character" % name)])

    def before_create(self, store, rtype, obj):
        _create_service(store, obj)

    def after_create(self, store, rtype, obj):
        _reserve_service(store, obj)

    def before_update(self, store, rtype, old, new):
        _update_service(store, old, new)

    def after_update(self, store, rtype, old, new):
        _release_service(store, old)
        _reserve_service(store, new)

    def after_delete(self, store, rtype, obj):
        _release_service(store, obj)


def _service_invalid(obj, field, message):
    return errors.invalid("", "Service", obj["metadata"]["name"], [(field, message)])


def _create_service(store, obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] == "ExternalName":
        return
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
    if requested == "None":
        spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
    elif requested:
        try:
            address = ipaddress.ip_address(requested)
        except ValueError as exc:
            raise _service_invalid(obj, "spec.clusterIPs[0]", 'Invalid value: "%s": must be a valid IP address' % requested) from exc
        if address not in SERVICE_CIDR:
            raise _service_invalid(obj, "spec.clusterIPs", 'Invalid value: ["%s"]: failed to allocate IP %s: the provided IP (%s) is not in the valid range. '
                                   "The range of valid IPs is %s" % (requested, requested, requested, SERVICE_CIDR))
        if requested in store.allocations.cluster_ips:
            raise _service_invalid(obj, "spec.clusterIPs", 'Invalid value: ["%s"]: failed to allocate IP %s: provided IP is already allocated' % (requested, requested))
        spec["clusterIP"], spec["clusterIPs"] = requested, [requested]
    else:
        allocated = store.allocations.allocate_ip()
        spec["clusterIP"], spec["clusterIPs"] = allocated, [allocated]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    _assign_node_ports(store, obj, {})
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    obj["status"] = {"loadBalancer": {}}


def _assign_node_ports(store, obj, kept_ports):
    """Allocate node ports for NodePort/LoadBalancer services; ``kept_ports`` are this service's own."""
    spec = obj["spec"]
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
        return
    in_request = set()
    for index, port in enumerate(spec.get("ports") or []):
        node_port = port.get("nodePort")
        if node_port:
            if node_port not in NODE_PORT_RANGE:
                raise _service_invalid(obj, "spec.ports[%d].nodePort" % index,
                                       "Invalid value: %s: provided port is not in the valid range. The range of valid ports is 30000-32767" % node_port)
            if (node_port in store.allocations.node_ports and node_port not in kept_ports) or node_port in in_request:
                raise _service_invalid(obj, "spec.ports[%d].nodePort" % index, "Invalid value: %s: provided port is already allocated" % node_port)
            in_request.add(node_port)
    for port in spec.get("ports") or []:
        if not port.get("nodePort"):
            port["nodePort"] = store.allocations.allocate_port(in_request)
            in_request.add(port["nodePort"])


def _update_service(store, old, new):
    old_spec, spec = old.get("spec", {}), new.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", old_spec.get("sessionAffinity", "None"))
    if spec["type"] == "ExternalName":
        return
    for field in ("ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
        if field in old_spec:
            spec.setdefault(field, old_spec[field])
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    old_ip = old_spec.get("clusterIP")
    requested = spec.get("clusterIP")
    if requested in (None, "") and old_ip:
        spec["clusterIP"], spec["clusterIPs"] = old_ip, list(old_spec.get("clusterIPs") or [old_ip])
    elif old_ip and requested != old_ip:
        raise _service_invalid(new, "spec.clusterIPs[0]", 'Invalid value: []string{"%s"}: may not change once set' % requested)
    spec.setdefault("clusterIPs", [spec.get("clusterIP")])
    own_ports = {port.get("nodePort") for port in old_spec.get("ports") or [] if port.get("nodePort")}
    _assign_node_ports(store, new, own_ports)
    new.setdefault("status", old.get("status", {"loadBalancer": {}}))


def _reserve_service(store, obj):
    spec = obj.get("spec", {})
    if spec.get("clusterIP") and spec["clusterIP"] != "None":
        store.allocations.cluster_ips.add(spec["clusterIP"])
    for port in spec.get("ports") or []:
        if port.get("nodePort"):
            store.allocations.node_ports.add(port["nodePort"])


def _release_service(store, obj):
    spec = obj.get("spec", {})
    store.allocations.cluster_ips.discard(spec.get("clusterIP"))
    for port in spec.get("ports") or []:
        store.allocations.node_ports.discard(port.get("nodePort"))


# ----------------------------------------------------- secrets and configmaps

class SecretStrategy(Strategy):
    def before_create(self, store, rtype, obj):
        _write_secret(obj)

    def before_update(self, store, rtype, old, new):
        _write_secret(new)
        _check_immutable_data(rtype, old, new)


class ConfigMapStrategy(Strategy):
    def before_update(self, store, rtype, old, new):
        _check_immutable_data(rtype, old, new)


def _write_secret(obj):
    obj.setdefault("type", "Opaque")
    if obj["type"] == "kubernetes.io/service-account-token" and \
            not (obj["metadata"].get("annotations") or {}).get("kubernetes.io/service-account.name"):
        # The rest (uid, token) is the token controller's to fill.
        raise errors.invalid("", "Secret", obj["metadata"]["name"], [
            ("metadata.annotations[kubernetes.io/service-account.name]", "Required value")], reason="FieldValueRequired")
    data = obj.get("data") or {}
    for key, value in (data.items()):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError) as exc:
            raise errors.bad_request('Secret in version "v1" cannot be handled as a Secret: illegal base64 data in data.%s' % key) from exc
    # stringData is write-only: merged into data and never stored, as kube-apiserver does.
    string_data = obj.pop("stringData", None)
    if string_data:
        data = dict(data)
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _check_immutable_data(rtype, old, new):
    if not old.get("immutable"):
        return
    for field in ("data", "binaryData"):
        if old.get(field) != new.get(field):
            raise errors.invalid("", rtype.kind, old["metadata"]["name"], [(field, "Forbidden: field is immutable when `immutable` is set")])
    if not new.get("immutable"):
        raise errors.invalid("", rtype.kind, old["metadata"]["name"], [("immutable", "Forbidden: field is immutable when `immutable` is set")])


# ------------------------------------------------------------ pods and volumes

class PodStrategy(Strategy):
    def before_create(self, store, rtype, obj):
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


class PersistentVolumeClaimStrategy(Strategy):
    def before_create(self, store, rtype, obj):
        _normalize_data_sources(obj)
        obj["status"] = {"phase": "Pending"}


def _normalize_data_sources(obj):
    """PrepareForCreate and validation of a claim's data source, with AnyVolumeDataSource on and CrossNamespaceVolumeDataSource off."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for field in ("dataSource", "dataSourceRef"):
        if not spec.get(field):
            spec.pop(field, None)
    ref = spec.get("dataSourceRef")
    if ref and ref.get("namespace"):
        del spec["dataSourceRef"]  # the alpha gate is off: the field is dropped
        ref = None
    source = spec.get("dataSource")
    # Only PVCs and VolumeSnapshots were ever allowed in dataSource: anything else is silently dropped.
    if source and not ref and (source.get("kind"), source.get("apiGroup") or "") not in (
            ("PersistentVolumeClaim", ""), ("VolumeSnapshot", "snapshot.storage.k8s.io")):
        del spec["dataSource"]
        source = None
    if source and not ref:
        spec["dataSourceRef"] = {key: source[key] for key in ("apiGroup", "kind", "name") if key in source}
    elif ref and not source:
        spec["dataSource"] = {key: ref[key] for key in ("apiGroup", "kind", "name") if key in ref}
    elif source and ref and any(source.get(key) != ref.get(key) for key in ("apiGroup", "kind", "name")):
        raise errors.invalid("", "PersistentVolumeClaim", obj["metadata"].get("name", ""),
                             [("spec", 'Invalid value: "spec.dataSource": must match dataSourceRef')])


class PersistentVolumeStrategy(Strategy):
    def before_create(self, store, rtype, obj):
        obj["status"] = {"phase": "Available"}


# ----------------------------------------------------------------- workloads

TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"


class DaemonSetStrategy(Strategy):
    """The internal spec.templateGeneration, served at apps/v1 as an annotation: 1 on create, +1 on each template change."""

    def before_create(self, store, rtype, obj):
        annotations = obj["metadata"].setdefault("annotations", {})
        try:
            generation = int(annotations.get(TEMPLATE_GENERATION_ANNOTATION) or 0)
        except ValueError:
            generation = 0
        annotations[TEMPLATE_GENERATION_ANNOTATION] = str(max(generation, 1))

    def before_update(self, store, rtype, old, new):
        # Clients may not set it: it is the stored one, bumped when the pod template changed.
        generation = int((old["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION) or 1)
        if (old.get("spec") or {}).get("template") != (new.get("spec") or {}).get("template"):
            generation += 1
        new["metadata"].setdefault("annotations", {})[TEMPLATE_GENERATION_ANNOTATION] = str(generation)


# ----------------------------------------------------------------------- CRDs

class CustomResourceDefinitionStrategy(Strategy):
    def before_create(self, store, rtype, obj):
        _create_crd(obj)

    def after_create(self, store, rtype, obj):
        store.registry.register_crd(obj)

    def after_update(self, store, rtype, old, new):
        store.registry.register_crd(new)

    def after_delete(self, store, rtype, obj):
        _delete_custom_resources(store, obj)


def _create_crd(obj):
    spec = obj.get("spec") or {}
    names = copy.deepcopy(spec.get("names") or {})
    names.setdefault("singular", names.get("kind", "").lower())
    names.setdefault("listKind", names.get("kind", "") + "List")
    expected = "%s.%s" % (names.get("plural"), spec.get("group"))
    if obj["metadata"]["name"] != expected:
        raise errors.invalid("apiextensions.k8s.io", "CustomResourceDefinition", obj["metadata"]["name"], [(
            "metadata.name", 'Invalid value: "%s": must be spec.names.plural+"."+spec.group' % obj["metadata"]["name"])])
    storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    obj["status"] = {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        ],
        "storedVersions": storage,
    }


def _delete_custom_resources(store, crd):
    spec = crd.get("spec") or {}
    group, plural = spec.get("group"), (spec.get("names") or {}).get("plural")
    rtype = store.registry.preferred(group, plural)
    if rtype is not None:
        for obj in store.objects(rtype):
            store.delete(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"])
    store.registry.unregister_crd(crd["metadata"]["name"])


# ------------------------------------------------------------------ lookup

_STRATEGIES = {
    ("", "namespaces"): NamespaceStrategy(),
    ("", "services"): ServiceStrategy(),
    ("", "secrets"): SecretStrategy(),
    ("", "configmaps"): ConfigMapStrategy(),
    ("", "pods"): PodStrategy(),
    ("", "persistentvolumeclaims"): PersistentVolumeClaimStrategy(),
    ("", "persistentvolumes"): PersistentVolumeStrategy(),
    ("apps", "daemonsets"): DaemonSetStrategy(),
    ("apiextensions.k8s.io", "customresourcedefinitions"): CustomResourceDefinitionStrategy(),
}
_DEFAULT = Strategy()
_PATH_SEGMENT_NAMES = _PathSegmentNames()


def strategy_for(rtype):
    """The strategy of ``rtype``'s kind: its own, its group's (RBAC names), or the default."""
    strategy = _STRATEGIES.get((rtype.group, rtype.plural))
    if strategy is not None:
        return strategy
    return _PATH_SEGMENT_NAMES if rtype.group in _PATH_SEGMENT_NAME_GROUPS else _DEFAULT

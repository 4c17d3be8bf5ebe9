"""metadata.managedFields as kube-apiserver's field manager writes them for create, update and patch.

Every write is an "Update" operation of one manager (the ``fieldManager``
query parameter, else the first part of the User-Agent). As
structured-merge-diff does, the manager comes to own the fields its write
added or changed, those fields leave every other manager's set, and removed
fields leave all sets; a manager owning nothing is dropped. Field sets are
rendered in the FieldsV1 format: ``f:<field>``, ``k:{...}`` for items of
keyed lists, ``v:<value>`` for set lists, and ``.`` for a node that was
absent before the write (on create: absent from the kind's zero value, which
holds the non-pointer structs of its Go type).

Simplified: list keys and atomic structs are known for the common built-in
fields only (any other list is atomic), and fields the server sets after the
field manager ran (allocated IPs and ports, status a strategy fills) are not
owned by anyone, as on a real cluster.
"""

import json
import time

CONTROLLER_MANAGER = "kube-controller-manager"
# Paths the field manager never tracks (structured-merge-diff's stripMetaManager).
_STRIPPED_METADATA = ("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
                      "managedFields", "resourceVersion")
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# x-kubernetes-list-map-keys of keyed lists, by (parent field, list field); "*" matches any parent.
_LIST_KEYS = {
    ("metadata", "ownerReferences"): ("uid",),
    ("*", "containers"): ("name",),
    ("*", "initContainers"): ("name",),
    ("*", "ephemeralContainers"): ("name",),
    ("*", "volumes"): ("name",),
    ("*", "imagePullSecrets"): ("name",),
    ("*", "hostAliases"): ("ip",),
    ("*", "topologySpreadConstraints"): ("topologyKey", "whenUnsatisfiable"),
    ("*", "resourceClaims"): ("name",),
    ("*", "schedulingGates"): ("name",),
    ("spec", "ports"): ("port", "protocol"),
    ("*", "conditions"): ("type",),
    ("status", "podIPs"): ("ip",),
    ("status", "hostIPs"): ("ip",),
    ("status", "containerStatuses"): ("name",),
    ("status", "initContainerStatuses"): ("name",),
}
for _container_list in _CONTAINER_LISTS:
    _LIST_KEYS.update({
        (_container_list, "ports"): ("containerPort", "protocol"),
        (_container_list, "env"): ("name",),
        (_container_list, "volumeMounts"): ("mountPath",),
        (_container_list, "volumeDevices"): ("devicePath",),
    })
_SET_LISTS = {("metadata", "finalizers"), ("spec", "finalizers")}
# Struct types marked +structType=atomic that appear as objects: owned as one leaf.
_ATOMIC_STRUCT_MARKERS = ("matchLabels", "matchExpressions")
_ATOMIC_FIELDS = {"roleRef"}
# Defaults of list keys a client may leave out (+default markers on the key fields).
_KEY_DEFAULTS = {"protocol": "TCP"}


def manager_from_request(query, user_agent):
    """The fieldManager parameter, else the User-Agent up to its first "/" (printable, at most 128 characters)."""
    if query.get("fieldManager"):
        return query["fieldManager"]
    prefix = "".join(char for char in (user_agent or "").split("/")[0] if char.isprintable())
    return prefix[:128]


def zero_value(rtype):
    """The kind's Go zero value as the field manager compares against on create: its non-pointer structs."""
    if rtype.from_crd:
        return {}
    template = {"metadata": {}, "spec": {}}
    specs = {
        ("apps", "deployments"): {"strategy": {}, "template": template},
        ("apps", "statefulsets"): {"updateStrategy": {}, "template": template},
        ("apps", "daemonsets"): {"updateStrategy": {}, "template": template},
        ("apps", "replicasets"): {"template": template},
        ("batch", "jobs"): {"template": template},
        ("batch", "cronjobs"): {"jobTemplate": {"metadata": {}, "spec": {"template": template}}},
        ("", "persistentvolumeclaims"): {"resources": {}},
    }
    zero = {"metadata": {}, "spec": specs.get((rtype.group, rtype.plural), {}), "status": {}}
    if (rtype.group, rtype.plural) == ("", "podtemplates"):
        zero["template"] = template
    return zero


def list_keys(parent, field, items):
    """The map keys of a keyed list, or None for an atomic list."""
    keys = _LIST_KEYS.get((parent, field)) or _LIST_KEYS.get(("*", field))
    if keys and all(isinstance(item, dict) and keys[0] in item for item in items):
        return keys
    return None


def key_value(item, key):
    """An item's key field, its schema default when left out (a port's protocol), as structured-merge-diff reads keys."""
    return item.get(key, _KEY_DEFAULTS.get(key))


def item_key(item, keys):
    # Keys absent from an item with no default are not part of its identity.
    values = {key: key_value(item, key) for key in sorted(keys)}
    return "k:" + json.dumps({key: value for key, value in values.items() if value is not None}, separators=(",", ":"))


def is_set_list(parent, field, items):
    return (parent, field) in _SET_LISTS and all(not isinstance(item, (dict, list)) for item in items)


def is_atomic_struct(field, value):
    return field in _ATOMIC_FIELDS or (isinstance(value, dict) and any(marker in value for marker in _ATOMIC_STRUCT_MARKERS))


# The value recorded for a node (a map, struct or list item) rather than a leaf.
NODE = _NODE = object()


def field_paths(obj):
    """{path: leaf value or _NODE} of every tracked field of ``obj``; paths are tuples of FieldsV1 elements."""
    paths = {}
    for key, value in obj.items():
        if key not in ("apiVersion", "kind"):
            _walk(value, ("f:" + key,), "", key, paths)
    return paths


def _walk(value, path, parent, field, paths):
    if path == ("f:metadata",):
        for key, child in (value or {}).items():
            if key not in _STRIPPED_METADATA:
                _walk(child, path + ("f:" + key,), field, key, paths)
        return
    if isinstance(value, list) and value:
        if is_set_list(parent, field, value):
            for item in value:
                paths[path + ("v:" + json.dumps(item, separators=(",", ":")),)] = item
            return
        keys = list_keys(parent, field, value)
        if not keys:
            paths[path] = value  # an atomic list
            return
        for item in value:
            item_path = path + (item_key(item, keys),)
            paths[item_path] = _NODE
            for key, child in item.items():
                _walk(child, item_path + ("f:" + key,), field, key, paths)
        return
    if isinstance(value, dict) and value and not is_atomic_struct(field, value):
        paths[path] = _NODE
        for key, child in value.items():
            _walk(child, path + ("f:" + key,), field, key, paths)
        return
    paths[path] = value


def changed_paths(old_paths, new_paths):
    """Paths the write added or whose value it changed, and paths it removed."""
    changed = {path for path, value in new_paths.items()
               if path not in old_paths or (value is not _NODE and old_paths[path] is not _NODE and old_paths[path] != value)}
    removed = {path for path in old_paths if path not in new_paths}
    return changed, removed


def to_fields_v1(paths):
    """A set of paths rendered as a FieldsV1 tree, keys sorted as structured-merge-diff serializes them."""
    tree = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    parents = {path[:index] for path in paths for index in range(1, len(path))}
    for path in paths:
        if path in parents:
            node = tree
            for element in path:
                node = node[element]
            node["."] = {}
    return _sorted(tree)


def _sorted(tree):
    return {key: _sorted(tree[key]) for key in sorted(tree, key=lambda key: (key != ".", key))}


def from_fields_v1(tree, prefix=()):
    """The set of paths a FieldsV1 tree lists (each leaf, and each node marked ``.``)."""
    paths = set()
    for key, child in (tree or {}).items():
        if key == ".":
            paths.add(prefix)
        elif child:
            paths |= from_fields_v1(child, prefix + (key,))
        else:
            paths.add(prefix + (key,))
    return paths


def record_update(old, new, rtype, manager, subresource=None):
    """Set ``new["metadata"]["managedFields"]`` for a write of ``manager`` turning ``old`` into ``new``.

    ``old`` is the stored object, None on create; ``new`` is the decoded and defaulted request object.
    """
    created = old is None
    before = zero_value(rtype) if created else _tracked(old, subresource)
    changed, removed = changed_paths(field_paths(before), field_paths(_tracked(new, subresource)))
    metadata = new.setdefault("metadata", {})
    if not created and not changed and not removed:
        # Nothing changed: the entries (and their times) stay, so a no-op write stays a no-op.
        if old["metadata"].get("managedFields"):
            metadata["managedFields"] = old["metadata"]["managedFields"]
        else:
            metadata.pop("managedFields", None)
        return
    entries, own_paths = [], set()
    for entry in [] if created else old["metadata"].get("managedFields") or []:
        paths = from_fields_v1(entry.get("fieldsV1")) - removed
        if (entry.get("manager"), entry.get("operation"), entry.get("subresource")) == (manager, "Update", subresource):
            own_paths = paths
            continue
        paths -= changed  # an update takes over what it changed, as if forced
        if paths:
            entries.append(dict(entry, fieldsV1=to_fields_v1(paths)))
    mine = own_paths | changed
    if mine:
        entry = {"manager": manager, "operation": "Update", "apiVersion": rtype.api_version, "time": now(),
                 "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(mine)}
        if subresource:
            entry["subresource"] = subresource
        entries.append(entry)
    if entries:
        metadata["managedFields"] = entries
    else:
        metadata.pop("managedFields", None)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _tracked(obj, subresource):
    """The part of an object a write of ``subresource`` is tracked on: status only for /status, the rest otherwise."""
    if subresource == "status":
        return {"status": obj.get("status") or {}}
    return {key: value for key, value in obj.items() if key != "status"}

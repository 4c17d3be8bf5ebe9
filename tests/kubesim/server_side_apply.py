"""Server-side apply (``application/apply-patch+yaml``) as kube-apiserver's field manager does it.

Follows structured-merge-diff's ``Updater.Apply``: the applied configuration
is merged into the live object (maps and structs field by field, keyed lists
item by item, atomic lists and structs replaced whole); every field the merge
adds or changes that another manager owns is a conflict (409, unless
``force=true`` moves it to the applier); the applier then owns exactly the
fields of its configuration, and the fields it applied last time but no longer
applies are removed when no other manager owns them. The result goes through
the normal write path (defaults, validation, storage), and kube-apiserver's
rule that a write changing nothing but managedFields times is a no-op holds.
For the manager ``kubectl``, as kube-apiserver does, conflicts over fields of
the last client-side applied configuration do not stop the apply, and that
configuration (the annotation) is kept in step with what is applied.

List keys and atomic fields are those ``managed_fields`` knows (common
built-in fields; other lists are atomic).
"""

import copy
import json

from kubesim import errors, managed_fields

APPLY_OPERATION = "Apply"
# kubectl's server-side apply manager: kube-apiserver upgrades objects client-side applied by kubectl for it.
KUBECTL = "kubectl"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def check_field_manager(field_manager):
    """An apply names its manager (422 otherwise), checked before the body is read."""
    if not field_manager:
        raise errors.ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
                              {"group": "meta.k8s.io", "kind": "PatchOptions",
                               "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch",
                                           "field": "fieldManager"}]})


def parse_request(body, rtype, name):
    """The applied configuration of a request, or raise kube-apiserver's 400 for a malformed one."""
    if not isinstance(body, dict):
        raise errors.bad_request("error decoding YAML: the apply configuration is not an object")
    if body.get("apiVersion") != rtype.api_version:
        raise errors.bad_request("Incorrect version specified in apply patch. Specified patch version: %s, expected: %s"
                                 % (body.get("apiVersion") or "", rtype.api_version))
    if body.get("kind") != rtype.kind:
        raise errors.bad_request("the kind in the data (%s) does not match the expected kind (%s)" % (body.get("kind") or "", rtype.kind))
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise errors.bad_request("metadata must be an object")
    if metadata.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    if metadata.get("name") != name:
        raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (metadata.get("name") or "", name))
    return body


def apply(live, config, rtype, manager, force, subresource=None):
    """The object ``config`` applied by ``manager`` onto ``live`` (None when absent), managedFields set.

    ``subresource`` "status": only the status is applied and owned (under an entry for the subresource).

    Raises a 409 Conflict naming each conflicting field and its manager unless ``force``.
    """
    created = live is None
    base = {"apiVersion": rtype.api_version, "kind": rtype.kind, "metadata": {}} if created else live
    config_part = _tracked(config, subresource)
    merged = _merge(copy.deepcopy(base), config_part, "", "")
    for key in ("apiVersion", "kind"):
        merged[key] = base[key]

    old_entries = [] if created else (live["metadata"].get("managedFields") or [])
    owners = [(_identity(entry), entry, managed_fields.from_fields_v1(entry.get("fieldsV1"))) for entry in old_entries]
    mine = (manager, APPLY_OPERATION, subresource)
    last_applied = next((paths for identity, _, paths in owners if identity == mine), set())

    live_paths = managed_fields.field_paths(_tracked(base, subresource))
    merged_paths = managed_fields.field_paths(_tracked(merged, subresource))
    changed, removed = managed_fields.changed_paths(live_paths, merged_paths)
    conflicts = []
    for identity, entry, paths in owners:
        if identity != mine:
            conflicts.extend((entry, path) for path in sorted(paths & changed))
    if conflicts and not force:
        if manager == KUBECTL:  # kubectl moving an object from client-side to server-side apply
            upgradable = _upgradable_from_client_side_apply(base) if subresource is None else set()
            conflicts = [(entry, path) for entry, path in conflicts if path not in upgradable]
        if conflicts:
            raise conflict_error(conflicts)
        force = True

    applied = {path for path, value in managed_fields.field_paths(config_part).items() if _owned(path, value)}
    entries, still_owned = [], set(applied)
    for identity, entry, paths in owners:
        if identity == mine:
            continue
        paths = paths - changed - removed if force else paths - removed
        if paths:
            entries.append(dict(entry, fieldsV1=managed_fields.to_fields_v1(paths)))
            still_owned |= paths
    # Fields this manager stopped applying go when nobody else owns them (structured-merge-diff's prune).
    dropped = {path for path in last_applied - still_owned if not any(owned[:len(path)] == path for owned in still_owned)}
    for path in sorted(dropped, key=len):
        if not any(path[:index] in dropped for index in range(1, len(path))):  # a removed parent took it already
            _remove_path(merged, path)

    annotations = merged["metadata"].get("annotations") or {}
    if manager == KUBECTL and LAST_APPLIED in annotations:
        # Keep client-side apply's record in step, so a later `kubectl apply` computes its patches from this configuration.
        config_only = copy.deepcopy(config)
        (config_only["metadata"].get("annotations") or {}).pop(LAST_APPLIED, None)
        annotations[LAST_APPLIED] = json.dumps(config_only, sort_keys=True, separators=(",", ":")) + "\n"
    own_entry = next((entry for identity, entry, _ in owners if identity == mine), None)
    fields_v1 = managed_fields.to_fields_v1(applied)
    unchanged = (not created and _without_managed_fields(merged) == _without_managed_fields(live) and own_entry is not None
                 and own_entry.get("fieldsV1") == fields_v1 and len(entries) == len(owners) - 1)
    if unchanged:
        # Only managedFields times would change: kube-apiserver keeps the object as it is.
        merged["metadata"]["managedFields"] = old_entries
        return merged
    if applied:
        entries.append({"manager": manager, "operation": APPLY_OPERATION, "apiVersion": rtype.api_version, "time": managed_fields.now(),
                        "fieldsType": "FieldsV1", "fieldsV1": fields_v1})
        if subresource:
            entries[-1]["subresource"] = subresource
    # managedFields are stored sorted: Apply before Update, then by time (stable otherwise).
    entries.sort(key=lambda entry: (entry.get("operation") or "", entry.get("time") or ""))
    if entries:
        merged["metadata"]["managedFields"] = entries
    else:
        merged["metadata"].pop("managedFields", None)
    return merged


def _upgradable_from_client_side_apply(live):
    """Fields kubectl's last-applied configuration set to the value they still have (kube's lastAppliedManager):
    kubectl --server-side takes them over from the client-side apply manager without a conflict."""
    try:
        last_applied = json.loads(((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED) or "null")
    except ValueError:
        return set()
    if not isinstance(last_applied, dict):
        return set()
    live_paths = managed_fields.field_paths(_tracked(live))
    return {path for path, value in managed_fields.field_paths(_tracked(last_applied)).items()
            if path in live_paths and (value is managed_fields.NODE or live_paths[path] == value)}


def conflict_error(conflicts):
    """409 with kube-apiserver's message and a FieldManagerConflict cause per field."""
    causes = [{"type": "FieldManagerConflict", "message": "conflict with %s" % _print_manager(entry), "field": path_string(path)}
              for entry, path in conflicts]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = "Apply failed with 1 conflict: conflict with %s: %s" % (_print_manager(entry), path_string(path))
    else:
        by_manager = {}
        for entry, path in conflicts:
            by_manager.setdefault(_print_manager(entry), []).append(path_string(path))
        lines = []
        for printed in sorted(by_manager):
            lines.append("conflicts with %s:" % printed)
            lines.extend("- %s" % path for path in by_manager[printed])
        message = "Apply failed with %d conflicts: %s" % (len(conflicts), "\n".join(lines))
    return errors.ApiError(409, "Conflict", message, {"causes": causes})


def path_string(path):
    """A FieldsV1 path as structured-merge-diff prints it: ``.spec.containers[name="web"].image``."""
    rendered = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            rendered.append("." + text)
        elif kind == "k:":
            key = json.loads(text)
            rendered.append("[%s]" % ",".join("%s=%s" % (name, _print_value(key[name])) for name in sorted(key)))
        elif kind == "v:":
            rendered.append("[=%s]" % _print_value(json.loads(text)))
        else:
            rendered.append("[%s]" % text)
    return "".join(rendered)


def _print_value(value):
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _print_manager(entry):
    printed = json.dumps(entry.get("manager") or "")
    if entry.get("subresource"):
        printed += " with subresource %s" % json.dumps(entry["subresource"])
    if entry.get("operation") == "Update":
        # The manager identifier kube-apiserver prints carries no time.
        printed += " using %s" % entry.get("apiVersion")
    return printed


def _identity(entry):
    return (entry.get("manager"), entry.get("operation"), entry.get("subresource"))


def _owned(path, value):
    """What an applier owns of its configuration: leaves and list items, not the maps leading to them."""
    return value is not managed_fields.NODE or path[-1][:2] in ("k:", "v:")


def _tracked(obj, subresource=None):
    """What an apply manages: the status for /status, else all but status and the type fields."""
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    return {key: value for key, value in obj.items() if key not in ("status", "apiVersion", "kind")}


def _without_managed_fields(obj):
    shown = dict(obj, metadata=dict(obj.get("metadata") or {}))
    shown["metadata"].pop("managedFields", None)
    return shown


def _merge(live, config, parent, field):
    """``config`` merged into ``live`` (which is changed), with the list semantics of the schema."""
    if isinstance(config, dict) and isinstance(live, dict) and not managed_fields.is_atomic_struct(field, config):
        for key, value in config.items():
            live[key] = _merge(live[key], value, field, key) if key in live else copy.deepcopy(value)
        return live
    if isinstance(config, list) and isinstance(live, list):
        if managed_fields.is_set_list(parent, field, config) and managed_fields.is_set_list(parent, field, live):
            return live + [item for item in config if item not in live]
        keys = managed_fields.list_keys(parent, field, config + live) if config and live else None
        if keys:
            merged = list(live)
            positions = {managed_fields.item_key(item, keys): index for index, item in enumerate(merged)}
            for item in config:
                item_key = managed_fields.item_key(item, keys)
                if item_key in positions:
                    merged[positions[item_key]] = _merge(merged[positions[item_key]], item, field, field)
                else:
                    positions[item_key] = len(merged)
                    merged.append(copy.deepcopy(item))
            return merged
    return copy.deepcopy(config)


def _remove_path(obj, path):
    """Remove the field or list item at a FieldsV1 path; maps it leaves empty go too (Go's omitempty)."""
    trail, node = [], obj
    for element in path[:-1]:
        trail.append(node)
        node = _child(node, element)
        if node is None:
            return
    _drop(node, path[-1])
    for container, element in zip(reversed(trail), reversed(path[:-1])):
        child = _child(container, element)
        if child in ({}, []):
            _drop(container, element)
        else:
            break


def _child(node, element):
    kind, text = element[:2], element[2:]
    if kind == "f:" and isinstance(node, dict):
        return node.get(text)
    if kind in ("k:", "v:") and isinstance(node, list):
        for item in node:
            if _matches(item, kind, text):
                return item
    return None


def _drop(node, element):
    kind, text = element[:2], element[2:]
    if kind == "f:" and isinstance(node, dict):
        node.pop(text, None)
    elif kind in ("k:", "v:") and isinstance(node, list):
        node[:] = [item for item in node if not _matches(item, kind, text)]


def _matches(item, kind, text):
    if kind == "v:":
        return item == json.loads(text)
    key = json.loads(text)
    return isinstance(item, dict) and all(managed_fields.key_value(item, name) == value for name, value in key.items())

"""The three PATCH flavours kube-apiserver accepts besides server-side apply.

* ``apply_json_patch``: RFC 6902 (``application/json-patch+json``).
* ``apply_merge_patch``: RFC 7386 (``application/merge-patch+json``).
* ``apply_strategic_merge_patch``: Kubernetes strategic merge patch
  (``application/strategic-merge-patch+json``), applied as the server applies
  it (k8s.io/apimachinery/pkg/util/strategicpatch ``StrategicMergeMapPatch``).

All three return a new document and never mutate their arguments.

Errors: ``MalformedPatchError`` means the patch document itself is not
well-formed (kube-apiserver: 400 BadRequest); any other ``PatchError`` means a
well-formed patch does not apply to the object (422 Unprocessable Entity).

Strategic merge patch is only defined for built-in kinds: kube-apiserver
answers 415 UnsupportedMediaType for custom resources.  This module cannot tell
which kinds are built in, so the caller refuses custom resources before calling.
"""

import copy


class PatchError(ValueError):
    """A patch that does not apply to the object (HTTP 422)."""


class MalformedPatchError(PatchError):
    """A patch document that is not well-formed (HTTP 400)."""


def _json_key(value):
    """A hashable stand-in for a JSON value, equal exactly when the JSON values are equal.

    Python's own ``==`` says ``True == 1``; JSON does not.
    """
    if isinstance(value, dict):
        return ("object", tuple(sorted((key, _json_key(item)) for key, item in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_json_key(item) for item in value))
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return (type(value).__name__, value)


# ---------------------------------------------------------------------------
# RFC 6902 JSON patch


def _parse_pointer(pointer):
    """RFC 6901: "/a~1b/c~0d" -> ["a/b", "c~d"]."""
    if not isinstance(pointer, str):
        raise MalformedPatchError("invalid JSON pointer: %r" % (pointer,))
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise MalformedPatchError('JSON pointer must be empty or start with a "/": %s' % pointer)
    tokens = []
    for raw in pointer[1:].split("/"):
        if "~" in raw.replace("~0", "").replace("~1", ""):
            raise MalformedPatchError("invalid JSON pointer escape in: %s" % pointer)
        # "~1" first, so that "~01" reads as "~1" and not "/".
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _array_index(token, length, pointer, allow_end):
    if allow_end and token == "-":
        return length
    if not (token.isascii() and token.isdigit()) or (len(token) > 1 and token.startswith("0")):
        raise PatchError("invalid array index %r in path: %s" % (token, pointer))
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise PatchError("index out of bounds in path: %s" % pointer)
    return index


def _resolve(root, tokens, pointer):
    value = root
    for token in tokens:
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list):
            value = value[_array_index(token, len(value), pointer, allow_end=False)]
        else:
            raise PatchError("doc is missing path: %s" % pointer)
    return value


def _add(root, pointer, value):
    tokens = _parse_pointer(pointer)
    if not tokens:
        return value
    parent = _resolve(root, tokens[:-1], pointer)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(tokens[-1], len(parent), pointer, allow_end=True), value)
    else:
        raise PatchError("add operation does not apply: doc is missing path: %s" % pointer)
    return root


def _remove(root, pointer):
    """Remove the value at ``pointer`` from ``root`` in place and return it."""
    tokens = _parse_pointer(pointer)
    if not tokens:
        raise PatchError("remove operation does not apply: cannot remove the whole document")
    parent = _resolve(root, tokens[:-1], pointer)
    if isinstance(parent, dict) and tokens[-1] in parent:
        return parent.pop(tokens[-1])
    if isinstance(parent, list):
        return parent.pop(_array_index(tokens[-1], len(parent), pointer, allow_end=False))
    raise PatchError("remove operation does not apply: doc is missing path: %s" % pointer)


def _replace(root, pointer, value):
    tokens = _parse_pointer(pointer)
    if not tokens:
        return value
    parent = _resolve(root, tokens[:-1], pointer)
    if isinstance(parent, dict) and tokens[-1] in parent:
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent[_array_index(tokens[-1], len(parent), pointer, allow_end=False)] = value
    else:
        raise PatchError("replace operation does not apply: doc is missing key: %s" % pointer)
    return root


def _test(root, pointer, expected):
    try:
        actual = _resolve(root, _parse_pointer(pointer), pointer)
    except PatchError:
        # As evanphx/json-patch, kube-apiserver's library: a missing path tests equal to null.
        if expected is None:
            return root
        raise PatchError("testing value %s failed: test failed" % pointer) from None
    if _json_key(actual) != _json_key(expected):
        raise PatchError("testing value %s failed: test failed" % pointer)
    return root


def _operation_member(operation, name):
    if name not in operation:
        raise MalformedPatchError("%s operation is missing %r: %s" % (operation.get("op"), name, operation))
    return operation[name]


def _apply_operation(root, operation):
    if not isinstance(operation, dict):
        raise MalformedPatchError("a JSON patch operation must be an object, got: %r" % (operation,))
    kind = operation.get("op")
    path = _operation_member(operation, "path")
    path_tokens = _parse_pointer(path)
    if kind == "add":
        return _add(root, path, copy.deepcopy(_operation_member(operation, "value")))
    if kind == "remove":
        _remove(root, path)
        return root
    if kind == "replace":
        return _replace(root, path, copy.deepcopy(_operation_member(operation, "value")))
    if kind == "move":
        source = _operation_member(operation, "from")
        source_tokens = _parse_pointer(source)
        if len(path_tokens) > len(source_tokens) and path_tokens[:len(source_tokens)] == source_tokens:
            raise PatchError("move operation does not apply: path %s is inside from %s" % (path, source))
        return _add(root, path, _remove(root, source))
    if kind == "copy":
        source = _operation_member(operation, "from")
        return _add(root, path, copy.deepcopy(_resolve(root, _parse_pointer(source), source)))
    if kind == "test":
        return _test(root, path, _operation_member(operation, "value"))
    raise MalformedPatchError("Unexpected kind: %s" % kind)


def apply_json_patch(doc, operations):
    """Apply an RFC 6902 operation list, all or nothing."""
    if not isinstance(operations, list):
        raise MalformedPatchError("a JSON patch must be an array of operations, got: %s" % type(operations).__name__)
    root = copy.deepcopy(doc)
    for operation in operations:
        root = _apply_operation(root, operation)
    return root


# ---------------------------------------------------------------------------
# RFC 7386 JSON merge patch


def _merge_patch_into(target, patch):
    """RFC 7386 MergePatch; ``target`` is owned by the caller and may be reused."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch_into(merged.get(key), value)
    return merged


def apply_merge_patch(doc, patch):
    """Apply an RFC 7386 merge patch: objects merge, null deletes, anything else replaces."""
    return _merge_patch_into(copy.deepcopy(doc), patch)


# ---------------------------------------------------------------------------
# Kubernetes strategic merge patch

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"

# Marks a list of scalars that merges as a set (patchStrategy "merge" without a merge key).
PRIMITIVE_SET = "<set of scalars>"

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# Merge keys of the built-in lists tagged `patchStrategy:"merge"` in k8s.io/api, keyed by
# (parent field, list field) because one field name can merge differently in two places:
# a container's ports merge by containerPort, a Service's by port.  Hand-kept because the
# python client's models do not carry the patchMergeKey tags.  Lists absent here are replaced.
_MERGE_KEYS = {
    ("metadata", "ownerReferences"): "uid",
    ("metadata", "finalizers"): PRIMITIVE_SET,
    # PodSpec, at pod.spec and at every pod template's spec.
    ("spec", "containers"): "name",
    ("spec", "initContainers"): "name",
    ("spec", "ephemeralContainers"): "name",
    ("spec", "volumes"): "name",
    ("spec", "imagePullSecrets"): "name",
    ("spec", "hostAliases"): "ip",
    ("spec", "topologySpreadConstraints"): "topologyKey",
    ("spec", "resourceClaims"): "name",
    ("spec", "schedulingGates"): "name",
    # ServiceSpec.ports: no PodSpec field is named "ports".
    ("spec", "ports"): "port",
    # NodeSpec.podCIDRs.
    ("spec", "podCIDRs"): PRIMITIVE_SET,
    # Conditions of pods, nodes, namespaces, claims, workloads, jobs, autoscalers, budgets...
    ("status", "conditions"): "type",
    ("status", "addresses"): "type",
    ("status", "podIPs"): "ip",
    ("status", "hostIPs"): "ip",
    # ServiceAccount.secrets is top-level: a path's first segment is the kind.
    ("ServiceAccount", "secrets"): "name",
}
for _container_list in _CONTAINER_LISTS:
    _MERGE_KEYS.update({
        (_container_list, "ports"): "containerPort",
        (_container_list, "env"): "name",
        (_container_list, "volumeMounts"): "mountPath",
        (_container_list, "volumeDevices"): "devicePath",
    })


def _merge_key(path, field):
    return _MERGE_KEYS.get((path[-1], field))


def _is_directive_key(key):
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith((_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST))


def _identity(merge_key):
    """What identifies an element of a merging list: its merge key's value, or itself in a set of scalars."""
    if merge_key == PRIMITIVE_SET:
        return _json_key
    return lambda item: _json_key(item.get(merge_key)) if isinstance(item, dict) else None


# The merge below mirrors strategicpatch.mergeMap and friends.  One deliberate difference:
# upstream stores a patch value verbatim when the object lacks the field, directives and
# nulls inside it included; here every patch value goes through the merge, so directives
# never reach the stored object.  ``original`` arguments are owned (already copied).


def _merge_value(original, patch, path, field):
    """Merge the patch value of ``field`` into its original value (``None`` when absent)."""
    if isinstance(patch, dict):
        return _merge_map(original if isinstance(original, dict) else {}, patch, path + (field,))
    if isinstance(patch, list):
        return _merge_list(original if isinstance(original, list) else [], patch, path, field)
    return patch


def _merge_map(original, patch, path):
    """Merge ``patch`` into ``original``; ``path`` names the map's fields from the kind down."""
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            return _merge_map({}, {key: value for key, value in patch.items() if key != _DIRECTIVE}, path)
        if directive == "delete":
            return {}
        raise PatchError("unknown patch type: %s in map: %s" % (directive, patch))
    merged = dict(original)
    if _RETAIN_KEYS in patch:
        merged = _retain_keys(merged, patch)
    for key, values in patch.items():
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(merged, key[len(_DELETE_FROM_PRIMITIVE_LIST):], values)
    ordered_fields = set()
    for key, order in patch.items():
        if key.startswith(_SET_ELEMENT_ORDER):
            field = key[len(_SET_ELEMENT_ORDER):]
            ordered_fields.add(field)
            _merge_ordered_list(merged, patch, path, field, order)
    for key, value in patch.items():
        if _is_directive_key(key) or key in ordered_fields:
            continue
        if value is None:
            # The server merges with IgnoreUnmatchedNulls: null deletes, or is dropped.
            merged.pop(key, None)
        else:
            merged[key] = _merge_value(merged.get(key), value, path, key)
    return merged


def _retain_keys(original, patch):
    retain = patch[_RETAIN_KEYS]
    if not isinstance(retain, list):
        raise MalformedPatchError("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is not None and not _is_directive_key(key) and key not in retain:
            raise MalformedPatchError("invalid patch format of retainKeys")
    return {key: value for key, value in original.items() if key in retain}


def _delete_from_primitive_list(merged, field, values):
    if not isinstance(values, list):
        raise MalformedPatchError("invalid patch format of primitive list")
    if isinstance(merged.get(field), list):
        doomed = {_json_key(value) for value in values}
        merged[field] = [item for item in merged[field] if _json_key(item) not in doomed]


def _merge_ordered_list(merged, patch, path, field, order):
    """Merge ``field`` and order it as its ``$setElementOrder`` list says (strategicpatch.mergePatchIntoOriginal)."""
    if not isinstance(order, list):
        raise MalformedPatchError("invalid patch format of setElementOrder list")
    patch_list = patch.get(field)
    if patch_list is not None and not isinstance(patch_list, list):
        raise MalformedPatchError("invalid patch format of setElementOrder list")
    original = merged[field] if isinstance(merged.get(field), list) else []
    if patch_list is not None:
        merged[field] = _merge_list(original, patch_list, path, field)
    merge_key = _merge_key(path, field)
    if merge_key is None or not isinstance(merged.get(field), list):
        # Only merging lists have an order to set; kubectl sends none for others.
        return
    if merge_key != PRIMITIVE_SET and not all(isinstance(item, dict) and merge_key in item for item in order):
        raise PatchError("map: %s does not contain declared merge key: %s" % (order, merge_key))
    identity = _identity(merge_key)
    order_ids = [identity(item) for item in order]
    _check_patch_follows_order(patch_list or [], order_ids, identity, order)
    merged[field] = _normalize_order([item for item in merged[field] if identity(item) in order_ids],
                                     [item for item in merged[field] if identity(item) not in order_ids],
                                     order_ids, [identity(item) for item in original], identity)


def _check_patch_follows_order(patch_list, order_ids, identity, order):
    """strategicpatch.validatePatchWithSetOrderList: patch elements appear in the order list, in its order."""
    position = 0
    for item in patch_list:
        if isinstance(item, dict) and _DIRECTIVE in item:
            continue
        while position < len(order_ids) and order_ids[position] != identity(item):
            position += 1
        if position == len(order_ids):
            raise PatchError("The order in patch list:\n%s\n doesn't match $setElementOrder list:\n%s\n" % (patch_list, order))
        position += 1


def _merge_list(original, patch, path, field):
    merge_key = _merge_key(path, field)
    item_path = path + (field,)
    if merge_key is None:
        # No merge strategy: the patch replaces the list.
        return [_merge_value(None, item, path, field) for item in patch if not (isinstance(item, dict) and _DIRECTIVE in item)]
    if any(isinstance(item, list) for item in original + patch):
        raise PatchError("lists of lists are not supported")
    if merge_key == PRIMITIVE_SET:
        merged, seen = [], set()
        for item in original + patch:
            if _json_key(item) not in seen:
                seen.add(_json_key(item))
                merged.append(copy.deepcopy(item))
        patch_items = patch
    else:
        original, patch_items = _apply_list_directives(original, patch, merge_key, item_path)
        merged = _merge_by_key(original, patch_items, merge_key, item_path)
    identity = _identity(merge_key)
    patch_ids = [identity(item) for item in patch_items]
    return _normalize_order([item for item in merged if identity(item) in patch_ids],
                            [item for item in merged if identity(item) not in patch_ids],
                            patch_ids, [identity(item) for item in original], identity)


def _apply_list_directives(original, patch, merge_key, item_path):
    """Handle ``$patch`` elements (strategicpatch.mergeSliceWithSpecialElements).

    Returns the original elements left after deletions and the plain patch
    elements; after ``$patch: replace`` the plain patch elements are the whole list.
    """
    plain, replace = [], False
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError("list element types are not identical: %s" % (patch,))
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise PatchError("map: %s does not contain declared merge key: %s" % (item, merge_key))
            doomed = _json_key(item[merge_key])
            original = [entry for entry in original if not (isinstance(entry, dict) and _json_key(entry.get(merge_key)) == doomed)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError("unknown patch type: %s in map: %s" % (directive, item))
    if replace:
        return [_merge_map({}, item, item_path) for item in plain], []
    return original, plain


def _merge_by_key(original, patch, merge_key, item_path):
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise PatchError("map: %s does not contain declared merge key: %s" % (item, merge_key))
        wanted = _json_key(item[merge_key])
        for index, entry in enumerate(merged):
            if isinstance(entry, dict) and _json_key(entry.get(merge_key)) == wanted:
                merged[index] = _merge_map(entry, item, item_path)
                break
        else:
            merged.append(_merge_map({}, item, item_path))
    return merged


def _normalize_order(patch_items, server_only, patch_order, server_order, identity):
    """strategicpatch.normalizeElementOrder and mergeSortedSlice.

    Patch elements keep the patch's order, server-only elements the live list's;
    the two runs interleave by live-list position, and where either element is
    new to the live list the patch element goes first (so an element a raw patch
    adds lands before the untouched ones, as upstream).
    """
    def position(order, item):
        key = identity(item)
        return order.index(key) if key in order else len(order)

    patch_items = sorted(patch_items, key=lambda item: position(patch_order, item))
    server_only = sorted(server_only, key=lambda item: position(server_order, item))
    result = []
    while patch_items and server_only:
        server_position = position(server_order, server_only[0])
        patch_position = position(server_order, patch_items[0])
        both_live = server_position < len(server_order) and patch_position < len(server_order)
        result.append(server_only.pop(0) if both_live and server_position < patch_position else patch_items.pop(0))
    return result + patch_items + server_only


def apply_strategic_merge_patch(doc, patch, kind):
    """Apply a strategic merge patch to an object of the built-in ``kind``."""
    if not isinstance(patch, dict):
        raise MalformedPatchError("invalid JSON document: a strategic merge patch must be an object")
    return _merge_map(copy.deepcopy(doc) if isinstance(doc, dict) else {}, patch, (kind,))

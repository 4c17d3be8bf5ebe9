# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore changes on the way in: namespace, storage class and image registry
mappings, then the user's resource modifiers (Velero's internal/resourcemodifiers, as plain data).

Resource modifier rule (snake_case of Velero's format)::

    {"conditions": {"group_resource": "deployments.apps",   # or a kind, a plural, a glob, "*"
                    "namespaces": ["shop", "pay*"],          # globs; not checked for cluster-scoped objects
                    "name_regex": "^web",
                    "label_selector": "app=web",
                    "matches": [{"path": "/spec/replicas", "value": "3"}]},
     "patches": [{"operation": "replace", "path": "/spec/replicas", "value": "2"}]}
     # or "merge_patches": [{...}] or "strategic_patches": [{...}] (one kind per rule)

Conditions are matched against the object as backed up (source namespace, original
labels); patches apply after the mappings, so a patch wins over a mapping. A rule whose
``test`` operation (or ``matches`` entry) fails is skipped for that object, as in Velero.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import fnmatch
import json
import re

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.cluster_fields import CONTAINER_LISTS
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import LabelSelector
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.merge_patch import apply_merge_patch

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")
LEGACY_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
JSON_PATCH_OPERATIONS = ("add", "remove", "replace", "copy", "move", "test")
RULE_KEYS = ("conditions", "patches", "merge_patches", "strategic_patches")
CONDITION_KEYS = ("group_resource", "namespaces", "name_regex", "label_selector", "matches")
_JSON_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")

# Strategic merge: lists merged by key (Kubernetes' patchMergeKey); every other list is replaced.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "imagePullSecrets": "name",
    "volumeMounts": "mountPath", "volumeDevices": "devicePath",
}
_LIST_ITEM = "[]"


class ModifierError(KubesafeError):
    """A resource modifier could not be applied to one object (the object is not restored as asked)."""


# ------------------------------------------------------------------ entry point

def transform(group_resource, obj, context):
    """A copy of ``obj`` with the restore's mappings and resource modifiers applied."""
    result = copy.deepcopy(obj)
    if context.namespace_mapping:
        _map_namespaces(group_resource, result, context.namespace_mapping)
    if context.storage_class_mapping:
        _map_storage_classes(group_resource, result, context.storage_class_mapping)
    if context.registry_mapping:
        map_images(result, context.registry_mapping)
    for rule in getattr(context, "compiled_modifiers", None) or ():
        if rule.matches(group_resource, obj):
            result = rule.apply(result)
    return result


# ------------------------------------------------------------------ namespace mapping

def _map_namespaces(group_resource, obj, mapping):
    metadata = obj.get("metadata") or {}
    if metadata.get("namespace") in mapping:
        metadata["namespace"] = mapping[metadata["namespace"]]
    if group_resource == "namespaces" and metadata.get("name") in mapping:
        metadata["name"] = mapping[metadata["name"]]
    if group_resource == "persistentvolumes":
        claim_ref = (obj.get("spec") or {}).get("claimRef") or {}
        if claim_ref.get("namespace") in mapping:
            claim_ref["namespace"] = mapping[claim_ref["namespace"]]
    if group_resource in ("rolebindings.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io"):
        # Only ServiceAccount subjects carry a namespace (Velero remaps every subject that has one).
        for subject in obj.get("subjects") or []:
            if subject.get("namespace") in mapping:
                subject["namespace"] = mapping[subject["namespace"]]


# ------------------------------------------------------------------ storage class mapping

def _map_claim_spec_class(holder, mapping):
    """``holder``: a PVC, a PV or a volumeClaimTemplate; the StorageClass objects themselves keep their names."""
    spec = holder.get("spec") or {}
    if spec.get("storageClassName") in mapping:
        spec["storageClassName"] = mapping[spec["storageClassName"]]
    annotations = (holder.get("metadata") or {}).get("annotations") or {}
    if annotations.get(LEGACY_STORAGE_CLASS_ANNOTATION) in mapping:
        annotations[LEGACY_STORAGE_CLASS_ANNOTATION] = mapping[annotations[LEGACY_STORAGE_CLASS_ANNOTATION]]


def _map_storage_classes(group_resource, obj, mapping):
    if group_resource in ("persistentvolumeclaims", "persistentvolumes"):
        _map_claim_spec_class(obj, mapping)
    elif group_resource == "statefulsets.apps":
        for template in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
            _map_claim_spec_class(template, mapping)


# ------------------------------------------------------------------ image registry mapping

def _is_registry(component):
    return "." in component or ":" in component or component == "localhost"


def normalize_image(image):
    """The fully qualified form: ``nginx:1.25`` -> ``docker.io/library/nginx:1.25``."""
    first, sep, rest = image.partition("/")
    if not sep:
        return "%s/library/%s" % (DOCKER_HUB, image)
    if not _is_registry(first):
        return "%s/%s" % (DOCKER_HUB, image)
    if first in DOCKER_HUB_ALIASES:
        return "%s/%s" % (DOCKER_HUB, rest)
    return image


def _normalize_prefix(prefix):
    """A mapping key: ``quay.io/org`` stays; ``bitnami`` means ``docker.io/bitnami``."""
    prefix = prefix.rstrip("/")
    first = prefix.partition("/")[0]
    if not _is_registry(first):
        return "%s/%s" % (DOCKER_HUB, prefix)
    if first in DOCKER_HUB_ALIASES:
        return DOCKER_HUB + prefix[len(first):]
    return prefix


def map_image(image, mapping):
    """Rewrite the longest matching registry/repository prefix; a prefix ends at ``/``, ``:``, ``@`` or the end.

    Images without a registry are Docker Hub images, so a ``docker.io`` key applies to
    ``nginx:1.25`` (-> ``<new>/library/nginx:1.25``). Unmatched images are left as written.
    """
    if not image:
        return image
    full = normalize_image(image)
    best = None
    for old, new in mapping.items():
        prefix = _normalize_prefix(old)
        if full == prefix or (full.startswith(prefix) and full[len(prefix)] in "/:@"):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, new.rstrip("/"))
    if best is None:
        return image
    return best[1] + full[len(best[0]):]


def _pod_specs(obj):
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return [spec]
    candidates = [(spec.get("template") or {}).get("spec"),
                  (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec"),
                  (obj.get("template") or {}).get("spec")]  # PodTemplate
    return [candidate for candidate in candidates if isinstance(candidate, dict)]


def map_images(obj, mapping):
    """Rewrite every container image of a Pod or of any object with a pod template, in place."""
    for pod_spec in _pod_specs(obj):
        for list_name in CONTAINER_LISTS:
            for container in pod_spec.get(list_name) or []:
                if isinstance(container, dict) and isinstance(container.get("image"), str):
                    container["image"] = map_image(container["image"], mapping)


# ------------------------------------------------------------------ resource modifiers: validation

def _field(index, *parts):
    return "resource_modifiers[%d]%s" % (index, "".join(parts))


def compile_resource_modifiers(rules):
    """Validate user rules and return matchers; ConfigurationError names the rule index and field."""
    if rules is None:
        return []
    if not isinstance(rules, (list, tuple)):
        raise ConfigurationError("resource_modifiers must be a list of rules, not %r" % (rules,))
    return [_Rule(index, rule) for index, rule in enumerate(rules)]


def parse_patch_value(value):
    """Velero's reading of a JSON patch value given as a string.

    ``"2"`` -> 2, ``"true"`` -> True, ``"null"`` -> None, ``'{"a": 1}'`` -> a dict,
    ``'"2"'`` -> the string ``2`` (quotes force a string), anything else stays a string.
    Values that are not strings (YAML already typed them) are used as they are.
    """
    if not isinstance(value, str):
        return value
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    if value == "null":
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.startswith(("{", "[")) or _JSON_NUMBER.match(value):
        return json.loads(value)
    return value


def _parse_patch_document(raw, where):
    """A merge/strategic patch: a dict, a JSON or YAML string, or Velero's ``{"patch_data": "..."}``."""
    if isinstance(raw, dict) and set(raw) in ({"patch_data"}, {"patchData"}):
        raw = raw.get("patch_data", raw.get("patchData"))
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            try:
                import yaml  # ansible-core depends on PyYAML; only needed for YAML text patches
                raw = yaml.safe_load(raw)
            except Exception as error:  # pylint: disable=broad-except
                raise ConfigurationError("%s: not valid JSON or YAML: %s" % (where, error)) from error
    if not isinstance(raw, dict):
        raise ConfigurationError("%s must be a dictionary (the patch document), not %r" % (where, raw))
    return raw


def _check_directives(document, where):
    """Only ``$patch`` (merge / replace / delete) is supported in strategic patches."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "$patch":
                if value not in ("merge", "replace", "delete"):
                    raise ConfigurationError("%s: $patch must be merge, replace or delete, not %r" % (where, value))
            elif key.startswith("$"):
                raise ConfigurationError("%s: strategic merge directive %r is not supported; use $patch or a JSON patch" % (where, key))
            else:
                _check_directives(value, where)
    elif isinstance(document, list):
        for item in document:
            _check_directives(item, where)


class _Rule:
    def __init__(self, index, rule):
        self.index = index
        if not isinstance(rule, dict):
            raise ConfigurationError("%s must be a dictionary with conditions and patches" % _field(index))
        unknown = sorted(set(rule) - set(RULE_KEYS))
        if unknown:
            raise ConfigurationError("%s: unknown key(s) %s; use %s" % (_field(index), ", ".join(unknown), ", ".join(RULE_KEYS)))
        self._compile_conditions(rule.get("conditions"))
        present = [key for key in RULE_KEYS[1:] if rule.get(key)]
        if len(present) != 1:
            raise ConfigurationError("%s: give exactly one of patches, merge_patches, strategic_patches (found %s)"
                                     % (_field(index), ", ".join(present) or "none"))
        self.patch_kind = present[0]
        patches = rule[self.patch_kind]
        if not isinstance(patches, list):
            raise ConfigurationError("%s must be a list" % _field(index, ".", self.patch_kind))
        if self.patch_kind == "patches":
            self.patches = [_compile_json_patch_operation(op, _field(index, ".patches[%d]" % number))
                            for number, op in enumerate(patches)]
        else:
            self.patches = []
            for number, raw in enumerate(patches):
                where = _field(index, ".%s[%d]" % (self.patch_kind, number))
                document = _parse_patch_document(raw, where)
                if self.patch_kind == "strategic_patches":
                    _check_directives(document, where)
                self.patches.append(document)

    def _compile_conditions(self, conditions):
        where = _field(self.index, ".conditions")
        if not isinstance(conditions, dict):
            raise ConfigurationError("%s is required: a dictionary with at least group_resource" % where)
        unknown = sorted(set(conditions) - set(CONDITION_KEYS))
        if unknown:
            raise ConfigurationError("%s: unknown key(s) %s; use %s" % (where, ", ".join(unknown), ", ".join(CONDITION_KEYS)))
        resource = conditions.get("group_resource")
        if not resource or not isinstance(resource, str):
            raise ConfigurationError("%s.group_resource is required, e.g. deployments.apps, Deployment or *" % where)
        self.group_resource = resource.strip().lower()
        namespaces = conditions.get("namespaces") or []
        if isinstance(namespaces, str):
            namespaces = [name.strip() for name in namespaces.split(",") if name.strip()]
        if not isinstance(namespaces, list):
            raise ConfigurationError("%s.namespaces must be a list of namespace names or globs" % where)
        self.namespaces = [str(name) for name in namespaces]
        self.name_regex = None
        if conditions.get("name_regex"):
            try:
                self.name_regex = re.compile(conditions["name_regex"])
            except re.error as error:
                raise ConfigurationError("%s.name_regex: %s" % (where, error)) from error
        self.label_selector = None
        if conditions.get("label_selector"):
            selector = conditions["label_selector"]
            if isinstance(selector, dict):  # {key: value} shorthand for equality requirements
                selector = ",".join("%s=%s" % item for item in sorted(selector.items()))
            self.label_selector = LabelSelector(str(selector), option="%s.label_selector" % where)
        self.tests = []
        for number, match in enumerate(conditions.get("matches") or []):
            if not isinstance(match, dict) or not match.get("path"):
                raise ConfigurationError("%s.matches[%d] needs a path (and a value)" % (where, number))
            self.tests.append({"op": "test", "path": match["path"], "value": parse_patch_value(match.get("value", ""))})
        for test in self.tests:
            _split_pointer(test["path"], "%s.matches" % where)

    def _matches_resource(self, group_resource, obj):
        if self.group_resource == "*":
            return True
        plural, dot, group = group_resource.partition(".")
        kind = str(obj.get("kind") or "").lower()
        names = {group_resource, plural, kind, "%s.%s" % (kind, group) if dot else kind}
        return self.group_resource in names or fnmatch.fnmatchcase(group_resource, self.group_resource)

    def matches(self, group_resource, obj):
        """Does the rule apply to ``obj`` (as backed up)?"""
        metadata = obj.get("metadata") or {}
        if not self._matches_resource(group_resource, obj):
            return False
        namespace = metadata.get("namespace")
        if namespace and self.namespaces and not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.namespaces):
            return False
        if self.name_regex is not None and not self.name_regex.search(metadata.get("name") or ""):
            return False
        if self.label_selector is not None and not self.label_selector.matches(metadata.get("labels") or {}):
            return False
        if self.tests:
            try:
                apply_json_patch(obj, self.tests)
            except _TestFailed:
                return False
        return True

    def apply(self, obj):
        try:
            if self.patch_kind == "patches":
                try:
                    return apply_json_patch(obj, self.patches)
                except _TestFailed:
                    return obj  # Velero: a failed test skips this rule for this object
            result = obj
            for document in self.patches:
                if self.patch_kind == "merge_patches":
                    result = apply_merge_patch(result, document)
                else:
                    result = apply_strategic_merge_patch(result, document)
            return result
        except ModifierError as error:
            metadata = obj.get("metadata") or {}
            raise ModifierError("resource_modifiers[%d] on %s %s: %s" % (
                self.index, obj.get("kind"), "/".join(filter(None, (metadata.get("namespace"), metadata.get("name")))), error)) from error


def _compile_json_patch_operation(operation, where):
    if not isinstance(operation, dict):
        raise ConfigurationError("%s must be a dictionary with operation, path and value" % where)
    unknown = sorted(set(operation) - {"operation", "op", "path", "value", "from"})
    if unknown:
        raise ConfigurationError("%s: unknown key(s) %s" % (where, ", ".join(unknown)))
    name = str(operation.get("operation") or operation.get("op") or "").lower()
    if name not in JSON_PATCH_OPERATIONS:
        raise ConfigurationError("%s.operation: %r is not supported; use one of %s"
                                 % (where, name or None, ", ".join(JSON_PATCH_OPERATIONS)))
    path = operation.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigurationError("%s.path is required: a JSON pointer such as /spec/replicas" % where)
    _split_pointer(path, where + ".path")
    compiled = {"op": name, "path": path}
    if name in ("copy", "move"):
        if not isinstance(operation.get("from"), str):
            raise ConfigurationError("%s.from is required for %s" % (where, name))
        _split_pointer(operation["from"], where + ".from")
        compiled["from"] = operation["from"]
    if name in ("add", "replace", "test"):
        if "value" not in operation:
            raise ConfigurationError("%s.value is required for %s" % (where, name))
        try:
            compiled["value"] = parse_patch_value(operation["value"])
        except ValueError as error:
            raise ConfigurationError("%s.value: %r looks like JSON but does not parse: %s" % (where, operation["value"], error)) from error
    return compiled


# ------------------------------------------------------------------ JSON patch (RFC 6902)

class _TestFailed(Exception):
    pass


def _split_pointer(pointer, where="path"):
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ConfigurationError("%s: %r is not a JSON pointer (it must start with /)" % (where, pointer))
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _json_equal(left, right):
    """JSON equality: True is not 1, 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    return type(left) is type(right) and left == right


def _list_index(container, token, path, allow_end):
    if allow_end and token == "-":
        return len(container)
    if not re.match(r"^(0|[1-9][0-9]*)$", token):
        raise ModifierError("%s: %r is not an array index" % (path, token))
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise ModifierError("%s: index %d is out of range" % (path, index))
    return index


def _resolve(document, tokens, path):
    current = document
    for token in tokens:
        if isinstance(current, dict):
            if token not in current:
                raise ModifierError("%s: path does not exist" % path)
            current = current[token]
        elif isinstance(current, list):
            current = current[_list_index(current, token, path, allow_end=False)]
        else:
            raise ModifierError("%s: path does not exist" % path)
    return current


def _parent(document, path):
    tokens = _split_pointer(path)
    if not tokens:
        raise ModifierError("%s: the whole object cannot be the target" % (path or "''"))
    return _resolve(document, tokens[:-1], path), tokens[-1]


def _add(document, path, value):
    parent, token = _parent(document, path)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(parent, token, path, allow_end=True), value)
    else:
        raise ModifierError("%s: parent is not an object or array" % path)


def _remove(document, path):
    parent, token = _parent(document, path)
    if isinstance(parent, dict):
        if token not in parent:
            raise ModifierError("%s: path does not exist" % path)
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_list_index(parent, token, path, allow_end=False))
    raise ModifierError("%s: path does not exist" % path)


def apply_json_patch(obj, operations):
    """A patched copy of ``obj``; raises ModifierError (bad path) or _TestFailed (a test op did not hold)."""
    document = copy.deepcopy(obj)
    for operation in operations:
        name, path = operation["op"], operation["path"]
        if name == "test":
            try:
                actual = _resolve(document, _split_pointer(path), path)
            except ModifierError:
                actual = None  # a missing value tests as null, as evanphx/json-patch does
            if not _json_equal(actual, operation["value"]):
                raise _TestFailed(path)
        elif name == "add":
            _add(document, path, copy.deepcopy(operation["value"]))
        elif name == "remove":
            _remove(document, path)
        elif name == "replace":
            _remove(document, path)
            _add(document, path, copy.deepcopy(operation["value"]))
        elif name == "move":
            if path.startswith(operation["from"] + "/"):
                raise ModifierError("%s: cannot move a value into itself" % path)
            _add(document, path, _remove(document, operation["from"]))
        elif name == "copy":
            source = operation["from"]
            _add(document, path, copy.deepcopy(_resolve(document, _split_pointer(source), source)))
    return document


# ------------------------------------------------------------------ strategic merge patch (the common subset)

def _merge_key(kind, path):
    """Kubernetes' patchMergeKey for the list at ``path``, or None (the list is replaced)."""
    name = path[-1] if path else None
    if name in MERGE_KEYS:
        return MERGE_KEYS[name]
    if name == "ports":
        if len(path) >= 3 and path[-2] == _LIST_ITEM and path[-3] in CONTAINER_LISTS:
            return "containerPort"
        if kind == "Service" and path == ["spec", "ports"]:
            return "port"
    return None


def _strip_directives(value):
    if isinstance(value, dict):
        return {key: _strip_directives(item) for key, item in value.items() if key != "$patch"}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return copy.deepcopy(value)


def _merge_lists(kind, original, patch, path):
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip_directives(item) for item in patch if not (isinstance(item, dict) and item.get("$patch") == "replace")]
    key = _merge_key(kind, path)
    if key is None or not isinstance(original, list):
        if any(isinstance(item, dict) and item.get("$patch") == "delete" for item in patch):
            raise ModifierError("/%s: $patch: delete needs a list merged by key" % "/".join(path))
        return _strip_directives(patch)
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ModifierError("/%s: every patch item needs the merge key %r" % ("/".join(path), key))
        position = next((number for number, existing in enumerate(result)
                         if isinstance(existing, dict) and existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            result = [existing for existing in result if not (isinstance(existing, dict) and existing.get(key) == item[key])]
        elif position is None:
            result.append(_strip_directives(item))
        else:
            result[position] = _merge_maps(kind, result[position], item, path + [_LIST_ITEM])
    return result


def _merge_maps(kind, original, patch, path):
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key == "$patch":
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and value.get("$patch") == "delete":
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = _merge_maps(kind, result.get(key), value, path + [key])
        elif isinstance(value, list):
            result[key] = _merge_lists(kind, result.get(key), value, path + [key])
        else:
            result[key] = value
    return result


def apply_strategic_merge_patch(obj, patch):
    """Kubernetes' strategic merge for the common list keys (see MERGE_KEYS); other lists are replaced."""
    return _merge_maps(obj.get("kind"), obj, patch, [])

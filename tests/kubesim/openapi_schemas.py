"""OpenAPI schema definitions of the served kinds, as kube-apiserver publishes them.

Built-in kinds: read from the installed ``kubernetes`` client's models, which
are generated from kube-apiserver's own OpenAPI document (field names, types,
required fields, descriptions). Definitions are named as kube-apiserver names
them (``io.k8s.api.apps.v1.Deployment``, ``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``),
the Go package of each model found in the protobuf field tables. Custom
resources: the ``openAPIV3Schema`` of each served CRD version, named
``<reversed group>.<version>.<Kind>`` with ``metadata`` pointing at ObjectMeta.
Each kind (and list kind) carries ``x-kubernetes-group-version-kind``.

Simplified: no patch-strategy or list-type extensions (kubectl then computes
client-side apply patches from its compiled-in types, as without schemas),
and integer formats are not distinguished.
"""

import datetime
import functools
import re
import typing

from kubernetes.client import models as client_models
from pydantic import BaseModel

from kubesim import protobuf

REF_PREFIX = "#/definitions/"
_MODEL_NAME_RE = re.compile(r"^(?P<prefix>(?:[A-Z][a-z]+)*?)(?P<version>V\d+(?:(?:alpha|beta)\d+)?)(?P<name>[A-Z]\w*)$")
_META = "meta/v1"
# Groups whose types live outside k8s.io/api, by their definition prefix.
_OUTSIDE_API = {"apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
                "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration"}


def _package_of_group(group):
    return "core" if not group else group.split(".")[0]


def _model(name):
    """The client model class called ``name``, or None (the package imports its models lazily)."""
    try:
        cls = getattr(client_models, name)
    except (AttributeError, ImportError):
        return None
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def model_for(group, version, kind):
    """The client model class of a built-in kind, or None."""
    version_prefix = version[0].upper() + version[1:]
    package_prefix = _package_of_group(group).capitalize()
    for name in (package_prefix + version_prefix + kind, version_prefix + kind):
        if _model(name) is not None:
            return _model(name)
    return None


class _Builder:
    """Definitions reachable from the kinds added, named as kube-apiserver names them."""

    def __init__(self):
        self.definitions = {}
        self._names = {}

    def add_kind(self, group, version, kind, model):
        name = self._definition(model, _package_of_group(group), group)
        gvk = {"group": group, "version": version, "kind": kind}
        self.definitions[name].setdefault("x-kubernetes-group-version-kind", []).append(gvk)
        list_model = _model(model.__name__ + "List")
        if list_model is not None:
            list_name = self._definition(list_model, _package_of_group(group), group)
            self.definitions[list_name].setdefault("x-kubernetes-group-version-kind", []).append(dict(gvk, kind=kind + "List"))
        return name

    def ref(self, model, package_hint="core", group=""):
        return {"$ref": REF_PREFIX + self._definition(model, package_hint, group)}

    def _definition(self, model, package_hint, group):
        if model in self._names:
            return self._names[model]
        name = _definition_name(model, package_hint, group)
        self._names[model] = name
        schema = {"type": "object"}
        self.definitions[name] = schema
        description = _class_description(model)
        if description:
            schema["description"] = description
        properties, required = {}, []
        for attribute, field in model.model_fields.items():
            json_name = model.attribute_map.get(attribute, attribute)
            prop = self._schema(field.annotation, package_hint, group)
            if field.description:
                prop = dict(prop, description=field.description) if "$ref" not in prop else prop
            properties[json_name] = prop
            if field.is_required():
                required.append(json_name)
        if properties:
            schema["properties"] = properties
        if required:
            schema["required"] = required
        return name

    def _schema(self, annotation, package_hint, group):
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            return self._schema(args[0], package_hint, group)
        if origin is typing.Union:
            kinds = [arg for arg in args if arg is not type(None)]
            plain = {typing.get_args(arg)[0] if typing.get_origin(arg) is typing.Annotated else arg for arg in kinds}
            if plain == {int, str}:
                return {"type": "string", "format": "int-or-string"}
            return self._schema(kinds[0], package_hint, group) if len(kinds) == 1 else {}
        if origin in (list, typing.List):
            return {"type": "array", "items": self._schema(args[0], package_hint, group)}
        if origin in (dict, typing.Dict):
            value = self._schema(args[1], package_hint, group)
            return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.ref(annotation, package_hint, group)
        if annotation is bool:
            return {"type": "boolean"}
        if annotation is int:
            return {"type": "integer"}
        if annotation is float:
            return {"type": "number", "format": "double"}
        if annotation is str:
            return {"type": "string"}
        if annotation in (bytes, bytearray):
            return {"type": "string", "format": "byte"}
        if annotation is datetime.datetime:
            return {"type": "string", "format": "date-time"}
        return {}  # arbitrary JSON


def _class_description(model):
    text = (model.__doc__ or "").split("Attributes:")[0]
    return " ".join(text.split()) if "No description" not in text and "NOTE: This class is auto generated" not in text else ""


def _definition_name(model, package_hint, group):
    match = _MODEL_NAME_RE.match(model.__name__)
    if not match:
        return model.__name__
    prefix, version, name = match["prefix"].lower(), match["version"].lower(), match["name"]
    messages = protobuf.field_tables()["messages"]
    candidates = [package for package in ([prefix] if prefix else []) + [_META, package_hint, "core"]
                  if "%s/%s.%s" % (package, version, name) in messages or package == _META and "%s.%s" % (_META, name) in messages]
    if not candidates:
        candidates = sorted({key.split("/")[0] for key in messages if key.endswith("/%s.%s" % (version, name))})
    if candidates:
        package = candidates[0]
        if package == _META:
            return "io.k8s.apimachinery.pkg.apis.meta.v1.%s" % name
        return "io.k8s.api.%s.%s.%s" % (package, version, name)
    outside = _OUTSIDE_API.get(group)
    if outside:
        return "%s.%s.%s" % (outside, version, name)
    return "io.k8s.api.%s.%s.%s" % (package_hint, version, name)


@functools.lru_cache(maxsize=8)
def _builtin_definitions(types_key):
    builder = _Builder()
    kinds = {}
    for group, version, kind, plural in types_key:
        model = model_for(group, version, kind)
        if model is not None:
            kinds[(group, version, plural)] = builder.add_kind(group, version, kind, model)
    return builder.definitions, kinds


def definitions(registry, crds):
    """({definition name: schema}, {(group, version, plural): definition name}, {CRD definition names}) of every served kind."""
    builtin = tuple(sorted((t.group, t.version, t.kind, t.plural) for t in registry.all_types() if not t.from_crd))
    found, kinds = _builtin_definitions(builtin)
    found, kinds, custom = dict(found), dict(kinds), set()
    for crd in crds:
        spec = crd.get("spec") or {}
        group, names = spec.get("group", ""), spec.get("names") or {}
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if not version.get("served", True) or not isinstance(schema, dict):
                continue
            name = crd_definition_name(group, version["name"], names.get("kind", ""))
            found[name] = custom_resource_schema(schema, group, version["name"], names.get("kind", ""))
            kinds[(group, version["name"], names.get("plural", ""))] = name
            custom.add(name)
    return found, kinds, custom


def crd_definition_name(group, version, kind):
    """``com.example.v1.Gadget`` for example.com/v1 Gadget."""
    return "%s.%s.%s" % (".".join(reversed(group.split("."))), version, kind)


def custom_resource_schema(schema, group, version, kind):
    """A CRD version's schema as published: apiVersion, kind and metadata added, the kind's GVK attached."""
    published = dict(schema)
    properties = dict(published.get("properties") or {})
    properties.setdefault("apiVersion", {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."})
    properties.setdefault("kind", {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."})
    properties["metadata"] = {"$ref": REF_PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    published["properties"] = properties
    published.setdefault("type", "object")
    published["x-kubernetes-group-version-kind"] = [{"group": group, "version": version, "kind": kind}]
    return published


def reachable(found, roots):
    """The definitions ``roots`` need, following $ref."""
    needed, pending = {}, list(roots)
    while pending:
        name = pending.pop()
        if name in needed or name not in found:
            continue
        needed[name] = found[name]
        pending.extend(_refs(found[name]))
    return needed


def _refs(schema):
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                yield value[len(REF_PREFIX):]
            else:
                yield from _refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _refs(item)


def to_v2(schema):
    """A custom resource schema as kube-apiserver publishes it in OpenAPI v2, which kubectl's validator reads.

    As apiextensions' ToStructuralOpenAPIV2: no allOf/oneOf/anyOf/not; a nullable or
    x-kubernetes-preserve-unknown-fields node loses its properties and items (a nullable
    one its type too); an array without items and an int-or-string lose their type.
    """
    if not isinstance(schema, dict):
        return schema
    out = {key: value for key, value in schema.items() if key not in ("allOf", "oneOf", "anyOf", "not", "nullable")}
    if schema.get("nullable") or schema.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("properties", None)
        out.pop("items", None)
        if schema.get("nullable"):
            out.pop("type", None)
    if "properties" in out:
        out["properties"] = {name: to_v2(value) for name, value in out["properties"].items()}
        nullable = {name for name, value in schema["properties"].items() if isinstance(value, dict) and value.get("nullable")}
        if nullable and out.get("required"):
            out["required"] = [name for name in out["required"] if name not in nullable]
    if isinstance(out.get("items"), dict):
        out["items"] = to_v2(out["items"])
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = to_v2(out["additionalProperties"])
    if (out.get("type") == "array" and "items" not in out) or schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    return out

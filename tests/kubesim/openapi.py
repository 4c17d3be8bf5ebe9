"""/openapi/v2 and /openapi/v3: the schemas of every served kind, and the operations kubectl looks for.

kubectl 1.32 asks /openapi/v3 which group-versions exist, then checks whether a
kind's PATCH operation takes the ``fieldValidation`` query parameter; if so it
leaves validation to the server. It validates a ``kind: List`` itself against
the /openapi/v2 definitions (read as protobuf), and ``kubectl explain`` reads
the v3 schemas. PATCH operations list no request body types, so kubectl
computes client-side apply patches from its compiled-in types for built-in
kinds (and JSON merge patches for custom resources), as the schemas carry no
patch-strategy extensions (see ``openapi_schemas``).
"""

import hashlib
import json
import weakref

from kubesim import openapi_schemas, openapi_v2_protobuf

# What kube-openapi answers for a protobuf request (the "@" form kubectl asks for is not a valid media type).
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
_V2_RENDERED = weakref.WeakKeyDictionary()  # store -> {(registry revision, CRD versions, protobuf): bytes}

_FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
                     "description": "Ignore, Warn or Strict"}
_DRY_RUN = {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}}


def _gv_key(group, version):
    return "apis/%s/%s" % (group, version) if group else "api/%s" % version


def index(registry):
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            key = _gv_key(group, version)
            digest = hashlib.sha256(("%s/%d" % (key, registry.revision)).encode()).hexdigest()[:32].upper()
            paths[key] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (key, digest)}
    return {"paths": paths}


def _operation(rtype, action):
    return {
        "operationId": "%s%s" % (action, rtype.kind),
        "parameters": [_DRY_RUN, _FIELD_VALIDATION],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rtype.group, "version": rtype.version, "kind": rtype.kind},
        "responses": {"200": {"description": "OK"}},
    }


def _definitions(store):
    registry = store.registry
    crd_type = registry.lookup(*_CRDS)
    crds = store.objects(crd_type) if crd_type else []
    return openapi_schemas.definitions(registry, crds)


def group_version_document(store, key):
    """The document for ``api/v1`` or ``apis/<group>/<version>``, or None."""
    registry = store.registry
    parts = key.split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    resources = registry.resources_in(group, version)
    if not resources:
        return None
    paths = {}
    for rtype in resources:
        root = "/" + key
        collection = "%s/namespaces/{namespace}/%s" % (root, rtype.plural) if rtype.namespaced else "%s/%s" % (root, rtype.plural)
        item = collection + "/{name}"
        if "create" in rtype.verbs:
            paths[collection] = {"post": _operation(rtype, "post")}
        if "patch" in rtype.verbs:
            paths[item] = {"patch": _operation(rtype, "patch"), "put": _operation(rtype, "put")}
    found, kinds, _ = _definitions(store)
    roots = [kinds[(group, version, rtype.plural)] for rtype in resources if (group, version, rtype.plural) in kinds]
    schemas = _rewrite_refs(openapi_schemas.reachable(found, roots), "#/components/schemas/")
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": paths, "components": {"schemas": schemas}}


def v2_document(store):
    """The whole /openapi/v2 (Swagger 2.0) document: every definition; no paths, so kubectl keeps its own patch types."""
    found, _, custom = _definitions(store)
    found = {name: openapi_schemas.to_v2(schema) if name in custom else schema for name, schema in found.items()}
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": {},
            "definitions": found}


def v2_bytes(store, protobuf):
    """/openapi/v2 rendered as JSON or as gnostic's protobuf, kept until the served kinds or CRDs change."""
    crd_type = store.registry.lookup(*_CRDS)
    crd_versions = tuple(obj["metadata"]["resourceVersion"] for obj in store.objects(crd_type)) if crd_type else ()
    key = (store.registry.revision, crd_versions, protobuf)
    cached = _V2_RENDERED.setdefault(store, {})
    if key not in cached:
        document = v2_document(store)
        rendered = openapi_v2_protobuf.encode_document(document) if protobuf else json.dumps(document, separators=(",", ":")).encode()
        if len(cached) > 2:
            cached.clear()
        cached[key] = rendered
    return cached[key]


def _rewrite_refs(schema, prefix):
    if isinstance(schema, dict):
        return {key: (prefix + value[len(openapi_schemas.REF_PREFIX):] if key == "$ref" and isinstance(value, str) else _rewrite_refs(value, prefix))
                for key, value in schema.items()}
    if isinstance(schema, list):
        return [_rewrite_refs(item, prefix) for item in schema]
    return schema

"""A skeletal OpenAPI v3 surface: enough for kubectl to see server-side field validation.

kubectl 1.32 refuses to apply without an OpenAPI document. It asks /openapi/v3
which group-versions exist, then checks whether a kind's PATCH operation takes
the ``fieldValidation`` query parameter; if so it leaves validation to the
server. Schemas are not published (documented limit), so kubectl computes
strategic merge patches from its compiled-in types for built-in kinds and
JSON merge patches for custom resources, as it does against any server.
"""

import hashlib

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


def group_version_document(registry, key):
    """The document for ``api/v1`` or ``apis/<group>/<version>``, or None."""
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
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": paths, "components": {"schemas": {}}}

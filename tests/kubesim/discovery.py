"""Discovery documents: legacy (/api, /apis, /apis/g/v) and aggregated (apidiscovery.k8s.io/v2)."""

import base64
import hashlib

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

# Subresource -> (group, version, kind of what it serves or None for the parent's kind, verbs).
_SUBRESOURCES = {
    "status": (None, None, None, ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
    "proxy": ("", "v1", "PodProxyOptions", ("create", "delete", "get", "patch", "update")),
    "log": ("", "v1", "Pod", ("get",)),
    "binding": ("", "v1", "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "ephemeralcontainers": (None, None, None, ("get", "patch", "update")),
    "resize": (None, None, None, ("get", "patch", "update")),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
    "finalize": (None, None, None, ("update",)),
    "approval": (None, None, None, ("get", "patch", "update")),
}


def _subresource_info(rtype, subresource):
    group, version, kind, verbs = _SUBRESOURCES.get(subresource, (None, None, None, ("get",)))
    if kind is None:
        group, version, kind = rtype.group, rtype.version, rtype.kind
    return group, version, kind, verbs


def _storage_version_hash(rtype):
    digest = hashlib.sha256(("%s/%s/%s" % (rtype.group, rtype.version, rtype.kind)).encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def api_versions(server_address):
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(group, versions):
    preferred = versions[0]
    return {
        "name": group,
        "versions": [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions],
        "preferredVersion": {"groupVersion": "%s/%s" % (group, preferred), "version": preferred},
    }


def api_group_list(registry):
    groups = registry.groups()
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(group, versions) for group, versions in sorted(groups.items()) if group],
    }


def api_group(registry, group):
    versions = registry.groups().get(group)
    if not versions:
        return None
    entry = _group_entry(group, versions)
    entry.update({"kind": "APIGroup", "apiVersion": "v1"})
    return entry


def api_resource_list(registry, group, version):
    resources = registry.resources_in(group, version)
    if not resources:
        return None
    listed = []
    for rtype in sorted(resources, key=lambda r: r.plural):
        entry = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(rtype.verbs),
            "storageVersionHash": _storage_version_hash(rtype),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        listed.append(entry)
        for subresource in rtype.subresources:
            sub_group, sub_version, kind, verbs = _subresource_info(rtype, subresource)
            sub_entry = {"name": "%s/%s" % (rtype.plural, subresource), "singularName": "", "namespaced": rtype.namespaced,
                         "kind": kind, "verbs": list(verbs)}
            if (sub_group, sub_version) != (rtype.group, rtype.version):
                sub_entry.update({"group": sub_group, "version": sub_version})
            listed.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (group, version) if group else version,
            "resources": listed}


def _aggregated_resource(rtype):
    entry = {
        "resource": rtype.plural,
        "responseKind": {"group": rtype.group, "version": rtype.version, "kind": rtype.kind},
        "scope": "Namespaced" if rtype.namespaced else "Cluster",
        "singularResource": rtype.singular,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    subresources = []
    for subresource in rtype.subresources:
        sub_group, sub_version, kind, verbs = _subresource_info(rtype, subresource)
        subresources.append({"subresource": subresource, "responseKind": {"group": sub_group, "version": sub_version, "kind": kind},
                             "verbs": list(verbs)})
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(registry, core, api_version="apidiscovery.k8s.io/v2"):
    """The APIGroupDiscoveryList for /api (``core``) or /apis; versions listed in preference order."""
    items = []
    for group, versions in sorted(registry.groups().items()):
        if bool(group) == core:
            continue
        items.append({
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [{
                "version": version,
                "resources": [_aggregated_resource(r) for r in sorted(registry.resources_in(group, version), key=lambda r: r.plural)],
                "freshness": "Current",
            } for version in versions],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}

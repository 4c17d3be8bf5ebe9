"""The set of served resource types: built-ins plus those CustomResourceDefinitions add."""

import threading

from kubesim.types import ResourceType, version_priority_key

CRD_GROUP = "apiextensions.k8s.io"


def resource_types_from_crd(crd):
    """ResourceTypes a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    types = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        types.append(ResourceType(
            group=spec.get("group", ""),
            version=version["name"],
            kind=names.get("kind", ""),
            plural=names.get("plural", ""),
            singular=names.get("singular") or names.get("kind", "").lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=tuple(sorted(subresources)),
            from_crd=True,
        ))
    return types


class Registry:
    """Look-ups over served resource types; CRDs register and unregister at run time."""

    def __init__(self, builtin_types):
        self._lock = threading.Lock()
        self._builtin = list(builtin_types)
        self._crd_types = {}
        self.revision = 0
        self._rebuild()

    def _rebuild(self):
        by_path = {}
        by_group = {}
        for rtype in self._builtin + [t for types in self._crd_types.values() for t in types]:
            by_path[(rtype.group, rtype.version, rtype.plural)] = rtype
            by_group.setdefault(rtype.group, {}).setdefault(rtype.version, []).append(rtype)
        self._by_path = by_path
        self._by_group = by_group
        self.revision += 1

    def register_crd(self, crd):
        with self._lock:
            self._crd_types[crd["metadata"]["name"]] = resource_types_from_crd(crd)
            self._rebuild()

    def unregister_crd(self, name):
        with self._lock:
            self._crd_types.pop(name, None)
            self._rebuild()

    def lookup(self, group, version, plural):
        return self._by_path.get((group, version, plural))

    def groups(self):
        """{group: [versions in priority order]}; the core group is ''."""
        return {group: sorted(versions, key=version_priority_key) for group, versions in self._by_group.items()}

    def preferred_version(self, group):
        versions = self._by_group.get(group)
        if not versions:
            return None
        return sorted(versions, key=version_priority_key)[0]

    def resources_in(self, group, version):
        return list(self._by_group.get(group, {}).get(version, []))

    def preferred(self, group, plural):
        """The ResourceType of ``group/plural`` at the group's preferred version serving it."""
        for version in sorted(self._by_group.get(group, {}), key=version_priority_key):
            rtype = self._by_path.get((group, version, plural))
            if rtype:
                return rtype
        return None

    def by_kind(self, group, kind):
        for version in sorted(self._by_group.get(group, {}), key=version_priority_key):
            for rtype in self._by_group[group][version]:
                if rtype.kind == kind:
                    return rtype
        return None

    def by_api_version_kind(self, api_version, kind):
        group, _, version = (api_version or "").rpartition("/")
        for rtype in self._by_group.get(group, {}).get(version, []):
            if rtype.kind == kind:
                return rtype
        return None

    def all_types(self):
        return list(self._by_path.values())

    def storage_types(self):
        """One ResourceType per group/resource (the preferred one): what holds objects."""
        seen = {}
        for rtype in self._by_path.values():
            current = seen.get(rtype.group_resource)
            if current is None or version_priority_key(rtype.version) < version_priority_key(current.version):
                seen[rtype.group_resource] = rtype
        return list(seen.values())

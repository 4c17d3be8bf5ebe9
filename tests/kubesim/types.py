"""Value types shared by the emulator's parts (catalog, store, server, controllers)."""

import re
from dataclasses import dataclass, field

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority_key(version):
    """Sort key giving kube-apiserver's version priority (smaller sorts first).

    GA before beta before alpha, higher numbers first; versions that do not
    look like Kubernetes versions come last in lexical order, as upstream's
    ``version.CompareKubeAwareVersionStrings`` does.
    """
    match = _VERSION_RE.match(version)
    if not match:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    stage_rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (stage_rank, -int(major), -int(minor or 0), version)


@dataclass(frozen=True)
class ResourceType:
    """One served resource at one group/version, as discovery describes it."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    verbs: tuple = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    short_names: tuple = ()
    categories: tuple = ()
    # Subresources served under <plural>/<name>/<sub>, e.g. "status", "scale", "exec".
    subresources: tuple = ()
    # Set for resources defined by a CustomResourceDefinition.
    from_crd: bool = field(default=False, compare=False)

    @property
    def group_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def api_version(self):
        return self.group_version

    @property
    def group_resource(self):
        """Storage identity: every version of a group/resource shares one set of objects."""
        return (self.group, self.plural)

    @property
    def list_kind(self):
        return self.kind + "List"

    @property
    def has_status(self):
        return "status" in self.subresources

    def base_path(self, namespace=None):
        root = "/apis/%s/%s" % (self.group, self.version) if self.group else "/api/%s" % self.version
        if self.namespaced and namespace:
            return "%s/namespaces/%s/%s" % (root, namespace, self.plural)
        return "%s/%s" % (root, self.plural)

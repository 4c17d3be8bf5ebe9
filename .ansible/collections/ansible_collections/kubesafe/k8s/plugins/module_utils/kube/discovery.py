# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""API discovery: every served group/version/resource, with the version to back up for each group resource."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError

# A real cluster serves ~40 group versions; one request each, a few at a time.
DISCOVERY_THREADS = 8
# An unavailable aggregated API (a broken metrics-server) answers 503 for good: do not spend the full retry budget on it.
GROUP_VERSION_RETRIES = 1


@dataclass(frozen=True)
class ApiResource:
    """One resource as served at one group version."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple = ()
    short_names: tuple = ()
    categories: tuple = ()
    preferred: bool = False

    @property
    def group_resource(self):
        """Kubernetes GroupResource.String(): "deployments.apps", "pods" (no trailing dot for the core group)."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def gvk_key(self):
        """The resource-list key: "apps/v1/Deployment", "v1/ConfigMap"."""
        return "%s/%s" % (self.api_version, self.kind)

    def list_path(self, namespace=None):
        """Path to list this resource in one namespace, or everywhere (cluster-wide or all namespaces)."""
        prefix = "/apis/%s" % self.api_version if self.group else "/api/%s" % self.version
        if namespace and self.namespaced:
            return "%s/namespaces/%s/%s" % (prefix, namespace, self.plural)
        return "%s/%s" % (prefix, self.plural)


def listable(resource):
    """Whether a backup can list this resource."""
    return "list" in resource.verbs and "/" not in resource.plural


def discover(client):
    """All resources the API server serves, and warnings for group versions whose discovery failed.

    Returns (resources, warnings). Subresources are left out. A group version that cannot be
    discovered (typically 503 from an unavailable aggregated API such as metrics.k8s.io) is
    skipped with a warning; the core group and authentication failures are errors.
    """
    core_versions = client.request("GET", "/api").get("versions") or []
    groups = client.request("GET", "/apis").get("groups") or []
    # (group, versions in the server's priority order, preferred version)
    plan = [("", list(core_versions), core_versions[0] if core_versions else None)]
    for group in groups:
        versions = [item.get("version") for item in group.get("versions") or () if item.get("version")]
        preferred = (group.get("preferredVersion") or {}).get("version") or (versions[0] if versions else None)
        plan.append((group.get("name", ""), versions, preferred))
    jobs = [(name, version) for name, versions, _preferred in plan for version in versions]
    with ThreadPoolExecutor(max_workers=DISCOVERY_THREADS) as pool:
        answers = list(pool.map(lambda job: _discover_group_version(client, *job), jobs))
    found = dict(zip(jobs, answers))
    warnings = [answer for answer in answers if isinstance(answer, str)]
    resources = []
    for name, versions, preferred in plan:
        served = dict((version, found[(name, version)]) for version in versions if isinstance(found[(name, version)], list))
        resources.extend(_mark_preferred(served, versions, preferred))
    return resources, warnings


def _discover_group_version(client, group, version):
    """The resources of one group version, or a warning string when that group version cannot be read."""
    path = "/apis/%s/%s" % (group, version) if group else "/api/%s" % version
    try:
        answer = client.request("GET", path, max_retries=None if not group else GROUP_VERSION_RETRIES)
    except ApiError as error:
        if not group or error.status in (401, 403):
            raise
        return ("API group version %s/%s skipped: discovery failed (%s); its resources are not backed up"
                % (group, version, error))
    resources = []
    for item in answer.get("resources") or ():
        plural = item.get("name") or ""
        if not plural or "/" in plural:
            continue
        resources.append(ApiResource(
            group=group, version=version, kind=item.get("kind", ""), plural=plural, namespaced=bool(item.get("namespaced")),
            verbs=tuple(item.get("verbs") or ()), short_names=tuple(item.get("shortNames") or ()),
            categories=tuple(item.get("categories") or ())))
    return resources


def _mark_preferred(served, versions, preferred):
    """Set preferred on the version of each resource to back up: the group's preferred one, else the first serving it."""
    chosen = {}
    order = ([preferred] if preferred in served else []) + [version for version in versions if version != preferred]
    for version in order:
        for resource in served.get(version, ()):
            chosen.setdefault(resource.plural, version)
    marked = []
    for version in versions:
        for resource in served.get(version, ()):
            if chosen.get(resource.plural) == version:
                resource = replace(resource, preferred=True)
            marked.append(resource)
    return marked

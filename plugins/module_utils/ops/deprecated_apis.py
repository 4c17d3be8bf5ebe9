# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Kubernetes release deprecates and stops serving which apiVersion of a kind, and what replaces it.

Sources:

- Kubernetes' "Deprecated API Migration Guide"
  (https://kubernetes.io/docs/reference/using-api/deprecation-guide/): the
  removals of v1.16, v1.22, v1.25, v1.26, v1.27, v1.29 and v1.32, with their
  replacements;
- for API versions still served, the ``+k8s:prerelease-lifecycle-gen`` tags
  of their types in Kubernetes' ``k8s.io/api`` (``introduced``,
  ``deprecated``, ``removed``, ``replacement``).  Where a tag is absent,
  Kubernetes' generator applies its rule - deprecated three minor releases
  after introduced, removed three after deprecated - and so does this table;
  those entries say ``computed`` because a later release may change them.

Only kinds that are stored objects are listed (no reviews, no subresources).
The table is data: add a row when a Kubernetes release announces a removal.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError

SOURCE = "Kubernetes Deprecated API Migration Guide (kubernetes.io/docs/reference/using-api/deprecation-guide) and k8s.io/api prerelease-lifecycle tags"

# (apiVersion, kind, deprecated in, removed in, replacement apiVersion or "" when there is none,
#  computed: the removal release comes from the generator's rule, not from an announcement or a tag)
_ROWS = (
    # v1.16
    ("extensions/v1beta1", "Deployment", "1.8", "1.16", "apps/v1", False),
    ("apps/v1beta1", "Deployment", "1.8", "1.16", "apps/v1", False),
    ("apps/v1beta2", "Deployment", "1.9", "1.16", "apps/v1", False),
    ("apps/v1beta1", "StatefulSet", "1.8", "1.16", "apps/v1", False),
    ("apps/v1beta2", "StatefulSet", "1.9", "1.16", "apps/v1", False),
    ("extensions/v1beta1", "DaemonSet", "1.8", "1.16", "apps/v1", False),
    ("apps/v1beta2", "DaemonSet", "1.9", "1.16", "apps/v1", False),
    ("extensions/v1beta1", "ReplicaSet", "1.8", "1.16", "apps/v1", False),
    ("apps/v1beta1", "ReplicaSet", "1.8", "1.16", "apps/v1", False),
    ("apps/v1beta2", "ReplicaSet", "1.9", "1.16", "apps/v1", False),
    ("apps/v1beta1", "ControllerRevision", "1.8", "1.16", "apps/v1", False),
    ("apps/v1beta2", "ControllerRevision", "1.9", "1.16", "apps/v1", False),
    ("extensions/v1beta1", "NetworkPolicy", "1.9", "1.16", "networking.k8s.io/v1", False),
    ("extensions/v1beta1", "PodSecurityPolicy", "1.10", "1.16", "policy/v1beta1", False),
    # v1.22
    ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration", "1.16", "1.22", "admissionregistration.k8s.io/v1", False),
    ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration", "1.16", "1.22", "admissionregistration.k8s.io/v1", False),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.16", "1.22", "apiextensions.k8s.io/v1", False),
    ("apiregistration.k8s.io/v1beta1", "APIService", "1.10", "1.22", "apiregistration.k8s.io/v1", False),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.19", "1.22", "certificates.k8s.io/v1", False),
    ("coordination.k8s.io/v1beta1", "Lease", "1.19", "1.22", "coordination.k8s.io/v1", False),
    ("extensions/v1beta1", "Ingress", "1.14", "1.22", "networking.k8s.io/v1", False),
    ("networking.k8s.io/v1beta1", "Ingress", "1.19", "1.22", "networking.k8s.io/v1", False),
    ("networking.k8s.io/v1beta1", "IngressClass", "1.19", "1.22", "networking.k8s.io/v1", False),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole", "1.17", "1.22", "rbac.authorization.k8s.io/v1", False),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding", "1.17", "1.22", "rbac.authorization.k8s.io/v1", False),
    ("rbac.authorization.k8s.io/v1beta1", "Role", "1.17", "1.22", "rbac.authorization.k8s.io/v1", False),
    ("rbac.authorization.k8s.io/v1beta1", "RoleBinding", "1.17", "1.22", "rbac.authorization.k8s.io/v1", False),
    ("scheduling.k8s.io/v1beta1", "PriorityClass", "1.14", "1.22", "scheduling.k8s.io/v1", False),
    ("storage.k8s.io/v1beta1", "CSIDriver", "1.19", "1.22", "storage.k8s.io/v1", False),
    ("storage.k8s.io/v1beta1", "CSINode", "1.17", "1.22", "storage.k8s.io/v1", False),
    ("storage.k8s.io/v1beta1", "StorageClass", "1.19", "1.22", "storage.k8s.io/v1", False),
    ("storage.k8s.io/v1beta1", "VolumeAttachment", "1.19", "1.22", "storage.k8s.io/v1", False),
    # v1.24 (alpha versions, tags of k8s.io/api)
    ("storage.k8s.io/v1alpha1", "VolumeAttachment", "1.21", "1.24", "storage.k8s.io/v1", True),
    ("storage.k8s.io/v1alpha1", "CSIStorageCapacity", "1.21", "1.24", "storage.k8s.io/v1", True),
    # v1.25
    ("batch/v1beta1", "CronJob", "1.21", "1.25", "batch/v1", False),
    ("discovery.k8s.io/v1beta1", "EndpointSlice", "1.21", "1.25", "discovery.k8s.io/v1", False),
    ("events.k8s.io/v1beta1", "Event", "1.22", "1.25", "events.k8s.io/v1", False),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.22", "1.25", "autoscaling/v2", False),
    ("policy/v1beta1", "PodDisruptionBudget", "1.21", "1.25", "policy/v1", False),
    ("policy/v1beta1", "PodSecurityPolicy", "1.21", "1.25", "", False),  # no replacement: Pod Security Admission
    ("node.k8s.io/v1beta1", "RuntimeClass", "1.22", "1.25", "node.k8s.io/v1", False),
    # v1.26
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema", "1.23", "1.26", "flowcontrol.apiserver.k8s.io/v1", False),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration", "1.23", "1.26", "flowcontrol.apiserver.k8s.io/v1", False),
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.23", "1.26", "autoscaling/v2", False),
    # v1.27
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.24", "1.27", "storage.k8s.io/v1", False),
    # v1.29
    ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", "1.26", "1.29", "flowcontrol.apiserver.k8s.io/v1", False),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "PriorityLevelConfiguration", "1.26", "1.29", "flowcontrol.apiserver.k8s.io/v1", False),
    # v1.32
    ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.29", "1.32", "flowcontrol.apiserver.k8s.io/v1", False),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration", "1.29", "1.32", "flowcontrol.apiserver.k8s.io/v1", False),
    ("admissionregistration.k8s.io/v1alpha1", "ValidatingAdmissionPolicy", "1.29", "1.32", "admissionregistration.k8s.io/v1", True),
    ("admissionregistration.k8s.io/v1alpha1", "ValidatingAdmissionPolicyBinding", "1.29", "1.32", "admissionregistration.k8s.io/v1", True),
    # v1.34 and later: deprecated by the lifecycle tags, removal by the generator's rule
    ("admissionregistration.k8s.io/v1beta1", "ValidatingAdmissionPolicy", "1.31", "1.34", "admissionregistration.k8s.io/v1", True),
    ("admissionregistration.k8s.io/v1beta1", "ValidatingAdmissionPolicyBinding", "1.31", "1.34", "admissionregistration.k8s.io/v1", True),
    ("storage.k8s.io/v1alpha1", "VolumeAttributesClass", "1.32", "1.35", "storage.k8s.io/v1", True),
    ("networking.k8s.io/v1beta1", "IPAddress", "1.34", "1.37", "networking.k8s.io/v1", True),
    ("networking.k8s.io/v1beta1", "ServiceCIDR", "1.34", "1.37", "networking.k8s.io/v1", True),
    ("storage.k8s.io/v1beta1", "VolumeAttributesClass", "1.34", "1.37", "storage.k8s.io/v1", True),
    ("certificates.k8s.io/v1alpha1", "ClusterTrustBundle", "1.34", "1.37", "certificates.k8s.io/v1", True),
    ("admissionregistration.k8s.io/v1alpha1", "MutatingAdmissionPolicy", "1.35", "1.38", "admissionregistration.k8s.io/v1", True),
    ("admissionregistration.k8s.io/v1alpha1", "MutatingAdmissionPolicyBinding", "1.35", "1.38", "admissionregistration.k8s.io/v1", True),
    ("coordination.k8s.io/v1alpha2", "LeaseCandidate", "1.35", "1.38", "", True),
    ("resource.k8s.io/v1beta1", "DeviceClass", "1.35", "1.38", "resource.k8s.io/v1", True),
    ("resource.k8s.io/v1beta1", "ResourceClaim", "1.35", "1.38", "resource.k8s.io/v1", True),
    ("resource.k8s.io/v1beta1", "ResourceClaimTemplate", "1.35", "1.38", "resource.k8s.io/v1", True),
    ("resource.k8s.io/v1beta1", "ResourceSlice", "1.35", "1.38", "resource.k8s.io/v1", True),
    ("coordination.k8s.io/v1beta1", "LeaseCandidate", "1.36", "1.39", "", True),
    ("resource.k8s.io/v1beta2", "DeviceClass", "1.36", "1.39", "resource.k8s.io/v1", True),
    ("resource.k8s.io/v1beta2", "ResourceClaim", "1.36", "1.39", "resource.k8s.io/v1", True),
    ("resource.k8s.io/v1beta2", "ResourceClaimTemplate", "1.36", "1.39", "resource.k8s.io/v1", True),
    ("resource.k8s.io/v1beta2", "ResourceSlice", "1.36", "1.39", "resource.k8s.io/v1", True),
    ("resource.k8s.io/v1alpha3", "DeviceTaintRule", "1.36", "1.39", "", True),
    ("admissionregistration.k8s.io/v1beta1", "MutatingAdmissionPolicy", "1.37", "1.40", "admissionregistration.k8s.io/v1", True),
    ("admissionregistration.k8s.io/v1beta1", "MutatingAdmissionPolicyBinding", "1.37", "1.40", "admissionregistration.k8s.io/v1", True),
    ("certificates.k8s.io/v1beta1", "ClusterTrustBundle", "1.37", "1.40", "certificates.k8s.io/v1", True),
    ("certificates.k8s.io/v1beta1", "PodCertificateRequest", "1.37", "1.40", "certificates.k8s.io/v1", True),
    ("storagemigration.k8s.io/v1beta1", "StorageVersionMigration", "1.37", "1.40", "storagemigration.k8s.io/v1", True),
)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


class DeprecatedApi:
    __slots__ = ("api_version", "kind", "deprecated_in", "removed_in", "replacement", "computed")

    def __init__(self, api_version, kind, deprecated_in, removed_in, replacement, computed):
        self.api_version = api_version
        self.kind = kind
        self.deprecated_in = deprecated_in
        self.removed_in = removed_in
        self.replacement = replacement
        self.computed = computed


TABLE = dict(((row[0], row[1]), DeprecatedApi(*row)) for row in _ROWS)


def parse_version(value, option="target_version"):
    """``1.33``, ``v1.33.2`` or ``1.33.0-eks`` -> (1, 33); a clear error naming ``option`` otherwise."""
    match = _VERSION.match(str(value or "").strip())
    if not match:
        raise ConfigurationError("%s must be a Kubernetes release such as 1.33 (got %r)" % (option, value))
    return int(match.group(1)), int(match.group(2))


def status_at(api_version, kind, target):
    """``("removed" | "deprecated", DeprecatedApi)`` for ``api_version``/``kind`` in release ``target`` (a (major, minor) pair), or None."""
    entry = TABLE.get((api_version, kind))
    if entry is None:
        return None
    if target >= parse_version(entry.removed_in):
        return "removed", entry
    if target >= parse_version(entry.deprecated_in):
        return "deprecated", entry
    return None

"""apiVersions a Kubernetes release removes or deprecates: the table (ops/deprecated_apis.py) and the scan of
objects, last-applied manifests and Helm releases (ops/api_usage.py), from a backup archive or the live cluster."""

import json

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.api_usage import (
    LAST_APPLIED, helm_release_manifest, removed_message, scan_backup, scan_cluster)
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.deprecated_apis import TABLE, parse_version, status_at
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from helm_releases import release_configmap, release_secret

FLOWSCHEMA_V1BETA2 = """
---
# Source: gateway/templates/flowschema.yaml
apiVersion: flowcontrol.apiserver.k8s.io/v1beta2
kind: FlowSchema
metadata:
  name: gateway-probes
spec:
  priorityLevelConfiguration:
    name: exempt
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: gateway-settings
"""
OLD_REVISION = """
apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: gateway
"""


def test_the_table_covers_the_removals_from_1_16_to_1_32_and_later():
    for api_version, kind, removed_in in [
            ("extensions/v1beta1", "Deployment", "1.16"), ("apps/v1beta1", "StatefulSet", "1.16"), ("apps/v1beta2", "DaemonSet", "1.16"),
            ("extensions/v1beta1", "Ingress", "1.22"), ("networking.k8s.io/v1beta1", "IngressClass", "1.22"),
            ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding", "1.22"), ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.22"),
            ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration", "1.22"), ("storage.k8s.io/v1beta1", "CSIDriver", "1.22"),
            ("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.22"), ("coordination.k8s.io/v1beta1", "Lease", "1.22"),
            ("scheduling.k8s.io/v1beta1", "PriorityClass", "1.22"), ("batch/v1beta1", "CronJob", "1.25"),
            ("policy/v1beta1", "PodDisruptionBudget", "1.25"), ("policy/v1beta1", "PodSecurityPolicy", "1.25"),
            ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25"), ("discovery.k8s.io/v1beta1", "EndpointSlice", "1.25"),
            ("events.k8s.io/v1beta1", "Event", "1.25"), ("node.k8s.io/v1beta1", "RuntimeClass", "1.25"),
            ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26"), ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema", "1.26"),
            ("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.27"), ("flowcontrol.apiserver.k8s.io/v1beta2", "PriorityLevelConfiguration", "1.29"),
            ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.32"), ("resource.k8s.io/v1beta1", "ResourceClaim", "1.38")]:
        assert TABLE[(api_version, kind)].removed_in == removed_in, (api_version, kind)
    for entry in TABLE.values():
        assert parse_version(entry.deprecated_in) < parse_version(entry.removed_in), entry.api_version
        assert entry.replacement != entry.api_version


def test_status_at_a_release():
    assert status_at("policy/v1beta1", "PodDisruptionBudget", (1, 20)) is None
    state, entry = status_at("policy/v1beta1", "PodDisruptionBudget", (1, 21))
    assert state == "deprecated" and entry.replacement == "policy/v1"
    assert status_at("policy/v1beta1", "PodDisruptionBudget", (1, 33))[0] == "removed"
    assert status_at("policy/v1", "PodDisruptionBudget", (1, 33)) is None
    assert parse_version("v1.33.2") == parse_version("1.33.0-eks") == parse_version("1.33") == (1, 33)
    with pytest.raises(ConfigurationError, match="target_version must be a Kubernetes release"):
        parse_version("latest")


def test_helm_release_manifest_of_both_drivers():
    for record in (release_secret("gateway", 3, "shop", FLOWSCHEMA_V1BETA2), release_configmap("gateway", 3, "shop", FLOWSCHEMA_V1BETA2)):
        assert helm_release_manifest(record) == ("gateway", 3, "shop", FLOWSCHEMA_V1BETA2)
    not_helm = release_secret("gateway", 3, "shop", FLOWSCHEMA_V1BETA2)
    not_helm["metadata"]["labels"]["owner"] = "someone"
    assert helm_release_manifest(not_helm) is None


@pytest.fixture
def legacy_manifests(sample_cluster):
    """The sample cluster plus what kubectl apply and Helm left behind at old apiVersions."""
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    applied = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    client.request("PATCH", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web",
                   body={"metadata": {"annotations": {LAST_APPLIED: json.dumps(applied)}}}, content_type="application/merge-patch+json")
    # Revision 1 used a long-removed Ingress; revision 2, the one deployed, a v1beta2 FlowSchema.
    for revision, manifest in ((1, OLD_REVISION), (2, FLOWSCHEMA_V1BETA2)):
        client.request("POST", "/api/v1/namespaces/shop/secrets", body=release_secret("gateway", revision, "shop", manifest))
    return client


def _uses(findings):
    return {(f["api_version"], f["kind"], f["namespace"], f["name"], f["found_in"], f["replacement"]) for f in findings}


EXPECTED_REMOVED = {
    ("policy/v1beta1", "PodDisruptionBudget", "shop", "web", "last-applied-configuration", "policy/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", None, "gateway-probes", "helm release gateway revision 2",
     "flowcontrol.apiserver.k8s.io/v1"),
}


def test_scan_of_a_backup_names_last_applied_and_helm_uses_with_replacements(legacy_manifests, tmp_path):
    location = open_location(str(tmp_path / "backups"))
    run_backup(legacy_manifests, location, BackupOptions(name="before-upgrade"))
    result = scan_backup(location, "latest", "1.33")
    assert _uses(result["removed"]) == EXPECTED_REMOVED
    assert result["counts"] == {"removed": 2, "deprecated": 0}
    assert result["source"]["backup"] == "before-upgrade" and result["objects_scanned"] > 40
    message = removed_message(result, "set upgrade_allow_removed_apis: true to go on")
    assert "policy/v1beta1 PodDisruptionBudget shop/web (in last-applied-configuration" in message
    assert "use flowcontrol.apiserver.k8s.io/v1" in message and "upgrade_allow_removed_apis: true" in message
    # Against an older target the same uses are only deprecated, or fine.
    older = scan_backup(location, "before-upgrade", "1.23")
    assert older["removed"] == [] and _uses(older["deprecated"]) == {
        ("policy/v1beta1", "PodDisruptionBudget", "shop", "web", "last-applied-configuration", "policy/v1")}


def test_scan_of_the_live_cluster_finds_the_same(legacy_manifests, tmp_path):
    options = BackupOptions(name="api-deprecations", included_namespaces=["shop"])
    result = scan_cluster(legacy_manifests, open_location(str(tmp_path / "none")), options, "1.33")
    assert _uses(result["removed"]) == EXPECTED_REMOVED
    assert "cluster" in result["source"]


def test_a_broken_helm_record_is_a_warning_not_a_failure(sample_cluster, tmp_path):
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    broken = release_secret("broken", 1, "shop", "")
    broken["data"]["release"] = "bm90LWd6aXAtbm90LWpzb24="  # base64 of "not-gzip-not-json"
    client.request("POST", "/api/v1/namespaces/shop/secrets", body=broken)
    location = open_location(str(tmp_path / "backups"))
    run_backup(client, location, BackupOptions(name="b"))
    result = scan_backup(location, "b", "1.33")
    assert result["removed"] == []
    assert any("sh.helm.release.v1.broken.v1" in warning and "not a readable Helm release" in warning for warning in result["warnings"])

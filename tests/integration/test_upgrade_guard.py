"""playbooks/upgrade_guard.yml: a verified backup and an API removal check before an upgrade; drift, readiness and rollback after."""

import json

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.api_usage import LAST_APPLIED
from helm_releases import release_secret
from volume_workloads import SNAPSHOT_GROUP, snapshot_crds

pytestmark = pytest.mark.integration

FLOWSCHEMA_V1BETA2 = """apiVersion: flowcontrol.apiserver.k8s.io/v1beta2
kind: FlowSchema
metadata:
  name: gateway-probes
spec:
  priorityLevelConfiguration:
    name: exempt
"""


def guard(run_playbook, cluster, tmp_path, phase, *extra, check=True, **variables):
    settings = {"upgrade_phase": phase, "upgrade_location": str(tmp_path / "guard"), "upgrade_report_dir": str(tmp_path / "reports"),
                "upgrade_readiness_retries": 20, "upgrade_readiness_delay": 1}
    settings.update(variables)
    return run_playbook("playbooks/upgrade_guard.yml", cluster.env(), "-e", json.dumps(settings), *extra, check=check)


def report(tmp_path, phase, directory="reports"):
    files = sorted((tmp_path / directory).glob("*-%s.json" % phase))
    assert len(files) == 1, files
    assert files[0].with_suffix(".md").exists()
    return json.loads(files[0].read_text())


@pytest.fixture
def client(sample_cluster):
    """The sample cluster with the CSI snapshot API and a snapshot class of its volumes' driver."""
    sample_cluster.control.seed(snapshot_crds())
    sample_cluster.control.seed([{"apiVersion": SNAPSHOT_GROUP + "/v1", "kind": "VolumeSnapshotClass",
                                  "metadata": {"name": "ebs-snap", "labels": {"velero.io/csi-volumesnapshot-class": "true"}},
                                  "driver": "ebs.csi.aws.com", "deletionPolicy": "Delete"}])
    return KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))


def test_before_names_removed_apis_with_replacements_and_fails(sample_cluster, client, run_playbook, tmp_path):
    applied = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    client.request("PATCH", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web",
                   body={"metadata": {"annotations": {LAST_APPLIED: json.dumps(applied)}}}, content_type="application/merge-patch+json")
    client.request("POST", "/api/v1/namespaces/shop/secrets", body=release_secret("gateway", 1, "shop", FLOWSCHEMA_V1BETA2))

    result = guard(run_playbook, sample_cluster, tmp_path, "before", check=False, upgrade_target_version="1.33")
    assert result.returncode != 0, result.stdout
    assert ("policy/v1beta1 PodDisruptionBudget shop/web (in last-applied-configuration of poddisruptionbudgets.policy shop/web): "
            "removed in 1.25, use policy/v1") in result.stdout
    assert ("flowcontrol.apiserver.k8s.io/v1beta2 FlowSchema gateway-probes (in helm release gateway revision 1 of "
            "secrets shop/sh.helm.release.v1.gateway.v1): removed in 1.29, use flowcontrol.apiserver.k8s.io/v1") in result.stdout
    assert "upgrade_allow_removed_apis: true" in result.stdout

    before = report(tmp_path, "before")
    assert before["backup_phase"] == "Completed" and before["verified"] is True
    assert {(f["api_version"], f["kind"], f["replacement"]) for f in before["apis"]["removed"]} == {
        ("policy/v1beta1", "PodDisruptionBudget", "policy/v1"),
        ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", "flowcontrol.apiserver.k8s.io/v1")}
    web = next(w for w in before["workloads"] if (w["kind"], w["namespace"], w["name"]) == ("Deployment", "shop", "web"))
    assert (web["desired"], web["ready"]) == (2, 2)
    assert before["volume_snapshots"] > 0, "the before phase snapshots the volumes"
    markdown = (tmp_path / "reports" / ("%s-before.md" % before["backup"])).read_text()
    assert "BLOCKED" in markdown and "| policy/v1beta1 | PodDisruptionBudget | shop/web |" in markdown

    allowed = guard(run_playbook, sample_cluster, tmp_path, "before", upgrade_target_version="1.33", upgrade_allow_removed_apis=True,
                    upgrade_backup_name="second", upgrade_report_dir=str(tmp_path / "allowed"))
    assert "2 use(s) of removed" in allowed.stdout


def test_before_refuses_a_missing_target_version(sample_cluster, client, run_playbook, tmp_path):
    sample_cluster.control.clear_audit()
    result = guard(run_playbook, sample_cluster, tmp_path, "before", check=False)
    assert result.returncode != 0 and "upgrade_target_version is required" in result.stdout
    assert {r["verb"] for r in sample_cluster.control.audit()} <= {"get", "list"}


def test_after_reports_a_changed_deployment_and_a_deleted_configmap_and_rolls_them_back(sample_cluster, client, run_playbook, tmp_path):
    guard(run_playbook, sample_cluster, tmp_path, "before", upgrade_target_version="1.33", upgrade_included_namespaces=["shop"])
    original_config = client.request("GET", "/api/v1/namespaces/shop/configmaps/web-config")
    original_namespace = client.request("GET", "/api/v1/namespaces/shop")["metadata"]
    original_template = client.request("GET", "/apis/apps/v1/namespaces/shop/deployments/web")["spec"]["template"]
    # What an upgrade (or whoever ran it) did: a Deployment changed, a ConfigMap lost.
    client.request("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web",
                   body={"spec": {"template": {"metadata": {"annotations": {"upgraded": "yes"}}}}}, content_type="application/merge-patch+json")
    client.request("DELETE", "/api/v1/namespaces/shop/configmaps/web-config")

    guard(run_playbook, sample_cluster, tmp_path, "after", upgrade_included_namespaces=["shop"])
    after = report(tmp_path, "after")
    assert {(e["group_resource"], e["namespace"], e["name"]) for e in after["drift"]["changed"]} == {("deployments.apps", "shop", "web")}
    assert {(e["group_resource"], e["namespace"], e["name"]) for e in after["drift"]["removed"]} == {("configmaps", "shop", "web-config")}
    assert after["rollback"]["performed"] is False and after["not_ready"] == []
    markdown = next((tmp_path / "reports").glob("*-after.md")).read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| deployments.apps | shop/web |"))
    assert "/spec/template/metadata/annotations/upgraded" in row
    assert "| configmaps | shop/web-config |" in markdown

    rolled = guard(run_playbook, sample_cluster, tmp_path, "after", upgrade_included_namespaces=["shop"], upgrade_rollback=True,
                   upgrade_report_dir=str(tmp_path / "rollback"))
    assert "rolled back 2 object(s) (Completed), drift left: 0" in rolled.stdout, json.dumps(report(tmp_path, "after", "rollback")["rollback"])
    assert client.request("GET", "/api/v1/namespaces/shop/configmaps/web-config")["data"] == original_config["data"]
    assert client.request("GET", "/apis/apps/v1/namespaces/shop/deployments/web")["spec"]["template"] == original_template
    # The namespace of the rolled-back objects is left as it was (an update to a bare Namespace would strip it).
    namespace = client.request("GET", "/api/v1/namespaces/shop")["metadata"]
    assert (namespace["labels"], namespace.get("annotations")) == (original_namespace["labels"], original_namespace.get("annotations"))


def test_api_deprecations_module_reads_the_live_cluster_and_fails_on_removed(sample_cluster, client, ansible_playbook):
    applied = {"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "nightly-report", "namespace": "shop"}}
    client.request("PATCH", "/apis/batch/v1/namespaces/shop/cronjobs/nightly-report",
                   body={"metadata": {"annotations": {LAST_APPLIED: json.dumps(applied)}}}, content_type="application/merge-patch+json")
    sample_cluster.control.clear_audit()
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"kubesafe.k8s.api_deprecations": {"target_version": "v1.24.3", "source": "cluster", "included_namespaces": ["shop"]},
         "register": "report"},
        {"ansible.builtin.assert": {"that": ["report.counts == {'removed': 0, 'deprecated': 1}",
                                             "report.deprecated[0].replacement == 'batch/v1'", "report.deprecated[0].removed_in == '1.25'"]}},
        {"kubesafe.k8s.api_deprecations": {"target_version": "1.25", "source": "cluster", "fail_on_removed": True}},
    ]}]
    result = ansible_playbook(plays, sample_cluster.env(), check=False)
    assert result.returncode != 0
    assert "batch/v1beta1 CronJob shop/nightly-report (in last-applied-configuration of cronjobs.batch shop/nightly-report)" in result.stdout
    assert "set fail_on_removed: false to only report them" in result.stdout
    assert {record["verb"] for record in sample_cluster.control.audit()} <= {"get", "list"}


def test_after_fails_naming_workloads_not_back_to_their_recorded_readiness(sample_cluster, client, run_playbook, tmp_path):
    guard(run_playbook, sample_cluster, tmp_path, "before", upgrade_target_version="1.33", upgrade_included_namespaces=["monitoring"])
    client.request("DELETE", "/apis/apps/v1/namespaces/monitoring/daemonsets/log-agent")
    result = guard(run_playbook, sample_cluster, tmp_path, "after", check=False, upgrade_included_namespaces=["monitoring"],
                   upgrade_readiness_retries=2)
    assert result.returncode != 0
    assert "1 workload(s) not back to the readiness recorded in backup" in result.stdout
    assert "DaemonSet monitoring log-agent missing" in result.stdout
    after = report(tmp_path, "after")
    assert [(w["kind"], w["name"], w["reason"]) for w in after["not_ready"]] == [("DaemonSet", "log-agent", "missing")]
    assert {(e["group_resource"], e["name"]) for e in after["drift"]["removed"]} == {("daemonsets.apps", "log-agent")}

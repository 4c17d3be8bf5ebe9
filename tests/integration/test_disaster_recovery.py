"""playbooks/dr.yml: cluster A's backup recovered into cluster B, with a report whose figures match reality."""

import json
import time

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options

pytestmark = pytest.mark.integration


def dr_cluster(kubesim_factory, name="b"):
    """Cluster B: empty, but with its own storage classes, as a prepared DR cluster has."""
    cluster = kubesim_factory(name=name)
    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    for name, policy in (("standard", "Delete"), ("fast", "Retain")):
        client.request("POST", "/apis/storage.k8s.io/v1/storageclasses", body={
            "metadata": {"name": name}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": policy, "volumeBindingMode": "Immediate"})
    return cluster


def test_dr_run_from_a_backup_of_cluster_a_into_cluster_b(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "loc"
    env = sample_cluster.env()
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % location, "-e", "backup_name=a-nightly",
                 "-e", "backup_included_namespaces=shop,payments")
    time.sleep(2)  # the backup is a little old when disaster strikes: RPO > 0
    cluster_b = dr_cluster(kubesim_factory)
    env = sample_cluster.env(with_kubeconfig=False)
    started = time.time()
    variables = {"dr_location": str(location), "dr_target_kubeconfig": cluster_b.kubeconfig, "dr_report_dir": str(tmp_path / "reports"),
                 "dr_wait_timeout": 60}
    result = run_playbook("playbooks/dr.yml", env, "-e", json.dumps(variables))
    elapsed = time.time() - started
    reports = sorted((tmp_path / "reports").glob("*.json"))
    assert len(reports) == 1 and reports[0].with_suffix(".md").exists()
    report = json.loads(reports[0].read_text())
    assert report["backup"] == "a-nightly" and report["complete"] is True and "COMPLETE" in result.stdout
    assert 2 <= report["rpo_seconds"] <= 2 + elapsed + 5
    assert 0 <= report["rto_seconds"] <= elapsed + 1
    # The statuses in the report are the cluster's.
    deployments = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in cluster_b.control.dump() if o["kind"] == "Deployment"}
    assert set(deployments) == {("shop", "web"), ("payments", "api")}
    assert all(d["status"].get("readyReplicas") == d["spec"]["replicas"] for d in deployments.values())
    assert report["namespaces"]["shop"]["ready"] == report["namespaces"]["shop"]["workloads"] > 0
    assert report["workloads_ready"] == report["workloads"] and report["errors"] == []


def test_dr_preflight_stops_when_the_dr_cluster_lacks_storage(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "loc"
    env = sample_cluster.env()
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % location, "-e", "backup_included_namespaces=shop")
    cluster_b = dr_cluster(kubesim_factory)
    client_writes_before = len(cluster_b.control.audit())
    variables = {"dr_location": str(location), "dr_target_kubeconfig": cluster_b.kubeconfig, "dr_report_dir": str(tmp_path / "reports"),
                 "dr_storage_class_mapping": {"standard": "premium"}}
    result = run_playbook("playbooks/dr.yml", env, "-e", json.dumps(variables), check=False)
    assert result.returncode != 0 and "Preflight found problems" in result.stdout and "premium" in result.stdout
    assert {r["verb"] for r in cluster_b.control.audit()[client_writes_before:]} <= {"get", "list"}


def test_a_drill_reports_and_leaves_the_dr_cluster_as_it_was(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "loc"
    env = sample_cluster.env()
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % location, "-e", "backup_included_namespaces=shop,payments")
    cluster_b = dr_cluster(kubesim_factory)
    cluster_b.control.settle(10)

    def state():
        return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in cluster_b.control.dump()}
    before = state()
    variables = {"dr_location": str(location), "dr_target_kubeconfig": cluster_b.kubeconfig, "dr_report_dir": str(tmp_path / "reports"),
                 "dr_drill": True, "dr_wait_timeout": 60}
    run_playbook("playbooks/dr.yml", env, "-e", json.dumps(variables))
    report = json.loads(next((tmp_path / "reports").glob("*.json")).read_text())
    assert report["complete"] and set(report["namespaces"]) == {"shop-drill", "payments-drill"}
    cluster_b.control.settle(10)
    assert state() == before


def test_dr_falls_back_to_an_older_backup_when_the_newest_is_damaged_and_decrypts(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "loc"
    env = sample_cluster.env()
    for name in ("a-older", "a-newest"):
        run_playbook("playbooks/backup.yml", env, "-e", json.dumps({
            "backup_location": str(location), "backup_name": name, "backup_included_namespaces": ["shop"],
            "backup_encryption": "all", "backup_encryption_passphrase": "correct horse battery staple"}))
        time.sleep(1.1)  # distinct start times: "newest" must be newest
    tarball = location / "backups" / "a-newest" / "a-newest.tar.gz.age"
    tarball.write_bytes(tarball.read_bytes()[:-200])  # a partial upload, a bad disk: the worst day
    cluster_b = dr_cluster(kubesim_factory)
    env = sample_cluster.env(with_kubeconfig=False)
    variables = {"dr_location": str(location), "dr_target_kubeconfig": cluster_b.kubeconfig, "dr_report_dir": str(tmp_path / "reports"),
                 "dr_wait_timeout": 60, "dr_decryption_passphrase": "correct horse battery staple"}
    result = run_playbook("playbooks/dr.yml", env, "-e", json.dumps(variables))
    assert "correct horse battery staple" not in result.stdout
    [report_file] = (tmp_path / "reports").glob("*.json")
    report = json.loads(report_file.read_text())
    assert report["backup"] == "a-older" and report["complete"] is True
    [passed] = report["passed_over"]
    assert passed["name"] == "a-newest" and any("a-newest.tar.gz.age" in problem for problem in passed["problems"])
    assert "## Newer backups passed over (damaged)" in report_file.with_suffix(".md").read_text()
    assert any(o["kind"] == "Deployment" and o["metadata"].get("namespace") == "shop" for o in cluster_b.control.dump())


def test_dr_passes_over_a_partially_failed_newest_backup_unless_it_is_named(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "loc"
    env = sample_cluster.env()
    run_playbook("playbooks/backup.yml", env, "-e", json.dumps({
        "backup_location": str(location), "backup_name": "a-older", "backup_included_namespaces": ["shop"]}))
    sample_cluster.control.add_fault(action="status", status=403, verbs=["list"], resources=["secrets"])
    # Named to sort after a-older when both start in the same second: the newest either way.
    run_playbook("playbooks/backup.yml", env, "-e", json.dumps({
        "backup_location": str(location), "backup_name": "b-newest", "backup_included_namespaces": ["shop"],
        "backup_fail_on_partial": False}))
    env = sample_cluster.env(with_kubeconfig=False)
    reports = {}
    for backup in ("latest", "b-newest"):
        cluster = dr_cluster(kubesim_factory, name="dr-%s" % backup)
        variables = {"dr_location": str(location), "dr_target_kubeconfig": cluster.kubeconfig, "dr_backup": backup,
                     "dr_report_dir": str(tmp_path / backup), "dr_wait_timeout": 60}
        run_playbook("playbooks/dr.yml", env, "-e", json.dumps(variables))
        [report_file] = (tmp_path / backup).glob("*.json")
        reports[backup] = (json.loads(report_file.read_text()), cluster)
    report, cluster = reports["latest"]
    assert report["backup"] == "a-older" and report["complete"] is True
    [passed] = report["passed_over"]
    assert passed["name"] == "b-newest" and passed["problems"][0].startswith("commit_marker: phase PartiallyFailed")
    assert any(o["kind"] == "Secret" and o["metadata"]["name"] == "db-credentials" for o in cluster.control.dump())
    report, cluster = reports["b-newest"]
    assert report["backup"] == "b-newest" and report.get("passed_over", []) == []
    assert not any(o["kind"] == "Secret" and o["metadata"]["name"] == "db-credentials" for o in cluster.control.dump())


def test_incomplete_recovery_names_what_is_not_ready_and_how_rto_is_defined(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "loc"
    run_playbook("playbooks/backup.yml", sample_cluster.env(), "-e", "backup_location=%s" % location, "-e", "backup_name=a-nightly",
                 "-e", "backup_included_namespaces=shop")
    # No controllers in cluster B: the Deployment never gets ready replicas.
    cluster_b = kubesim_factory(name="b", run_controllers=False)
    client = KubeClient(**connection_options({"kubeconfig": cluster_b.kubeconfig}))
    client.request("POST", "/apis/storage.k8s.io/v1/storageclasses", body={
        "metadata": {"name": "standard"}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    variables = {"dr_location": str(location), "dr_target_kubeconfig": cluster_b.kubeconfig, "dr_report_dir": str(tmp_path / "reports"),
                 "dr_wait_timeout": 2}
    result = run_playbook("playbooks/dr.yml", sample_cluster.env(with_kubeconfig=False), "-e", json.dumps(variables), check=False)
    assert result.returncode != 0 and "INCOMPLETE" in result.stdout
    assert "ASYNC POLL" not in result.stdout and "waiting up to 2 s for its" in result.stdout
    assert "not ready: " in result.stdout and "Deployment shop/web: not ready after 2s: 0 of 2 replicas available" in result.stdout
    report = json.loads(next((tmp_path / "reports").glob("*.json")).read_text())
    web = next(item for item in report["not_ready"] if item["name"] == "web")
    assert web["kind"] == "Deployment" and web["namespace"] == "shop" and "replicas" in web["reason"]
    assert report["rto_definition"].startswith("not met:") and "%d of %d workloads not ready" % (
        len(report["not_ready"]), report["workloads"]) in report["rto_definition"]
    markdown = next((tmp_path / "reports").glob("*.md")).read_text()
    assert "| Deployment | shop | web | not ready after 2s" in markdown and "RTO (not met:" in markdown

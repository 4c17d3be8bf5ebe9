"""Ready counts live and as a backup recorded them (ops/workload_readiness.py)."""

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.workload_readiness import check_readiness
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location


def _by_key(entries):
    return dict(((e["kind"], e["namespace"], e["name"]), e) for e in entries)


def test_live_counts_then_what_fell_behind_the_backup(sample_cluster, tmp_path):
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    location = open_location(str(tmp_path / "backups"))
    live = check_readiness(client)
    workloads = _by_key(live["workloads"])
    assert workloads[("Deployment", "shop", "web")]["desired"] == workloads[("Deployment", "shop", "web")]["ready"] == 2
    assert workloads[("StatefulSet", "shop", "db")]["ready"] == 2 and ("DaemonSet", "monitoring", "log-agent") in workloads
    assert live["ready"] and live["backup"] is None

    run_backup(client, location, BackupOptions(name="before"))
    assert check_readiness(client, location, "latest")["behind"] == []

    # Controllers off: the counts stay where they are put.
    sample_cluster.control.configure(controllers=False)
    client.request("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/status", body={"status": {"readyReplicas": 1}},
                   content_type="application/merge-patch+json")
    client.request("DELETE", "/apis/apps/v1/namespaces/monitoring/daemonsets/log-agent")
    result = check_readiness(client, location, "before")
    behind = _by_key(result["behind"])
    assert set(behind) == {("Deployment", "shop", "web"), ("DaemonSet", "monitoring", "log-agent")}
    assert behind[("Deployment", "shop", "web")]["reason"] == "1 of 2 ready, 2 when backed up"
    assert behind[("DaemonSet", "monitoring", "log-agent")]["reason"] == "missing"
    assert not result["ready"] and result["backup"] == "before"
    # A namespace filter narrows both sides.
    assert _by_key(check_readiness(client, location, "before", included_namespaces=["shop"])["behind"]).keys() == {("Deployment", "shop", "web")}

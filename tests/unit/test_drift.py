"""Drift between a backup and the cluster, and between two backups (plugins/module_utils/ops/drift.py and the diff module)."""

import json
import sqlite3
import tracemalloc

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubesafe.k8s.plugins.module_utils.ops import drift
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.drift import DiffOptions, diff_backup_vs_backup, diff_backup_vs_live, drift_message
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.modules import diff as diff_module

# shop-db-user is also written in plain text in the StatefulSet probe of the fixture: only its base64 form is secret here.
SECRET_VALUES = ("c2hvcC1kYi11c2Vy", "shop-db-password-123", "c2hvcC1kYi1wYXNzd29yZC0xMjM=", "shop-session-key-abc",
                 "payments-api-key-456", "cGF5bWVudHMtYXBpLWtleS00NTY=", "new-password", "bmV3LXBhc3N3b3Jk")


@pytest.fixture
def still(sample_cluster, tmp_path):
    """The sample cluster with controllers off (nothing moves on its own), a client and a location."""
    sample_cluster.control.configure(controllers=False)
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    return sample_cluster, client, open_location(str(tmp_path / "backups"))


def _keys(entries):
    return {(e["group_resource"], e["namespace"], e["name"]) for e in entries}


def _changes(result, group_resource, namespace, name):
    entry = next(e for e in result["changed"] if (e["group_resource"], e["namespace"], e["name"]) == (group_resource, namespace, name))
    return dict((change["path"], (change["before"], change["after"])) for change in entry["changes"])


def _mutate(client):
    """Add a ConfigMap, delete one, change a ConfigMap value, a Deployment's replicas and a label."""
    client.request("POST", "/api/v1/namespaces/shop/configmaps",
                   body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "added-cm"}, "data": {"a": "1"}})
    client.request("DELETE", "/api/v1/namespaces/payments/configmaps/api-config")
    config = client.request("GET", "/api/v1/namespaces/shop/configmaps/web-config")
    key = sorted(config["data"])[0]
    client.request("PATCH", "/api/v1/namespaces/shop/configmaps/web-config", body={"data": {key: "changed-value"}},
                   content_type="application/merge-patch+json")
    client.request("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", body={"spec": {"replicas": 5}},
                   content_type="application/merge-patch+json")
    client.request("PATCH", "/api/v1/namespaces/shop/services/web", body={"metadata": {"labels": {"drift": "yes"}}},
                   content_type="application/merge-patch+json")
    return key, config["data"][key]


def test_no_drift_right_after_a_backup(still):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1"))
    result = diff_backup_vs_live(client, location, "b1")
    assert not result["drift"], drift_message(result)
    assert result["summary"]["unchanged"] > 40
    assert result["added"] == result["removed"] == result["changed"] == []


def test_added_removed_changed_exactly(still):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1"))
    key, old_value = _mutate(client)
    result = diff_backup_vs_live(client, location, "latest")
    assert result["drift"] and result["backup"] == "b1" and result["compare_to"] == "cluster"
    assert _keys(result["added"]) == {("configmaps", "shop", "added-cm")}
    assert _keys(result["removed"]) == {("configmaps", "payments", "api-config")}
    assert _keys(result["changed"]) == {("configmaps", "shop", "web-config"), ("deployments.apps", "shop", "web"), ("services", "shop", "web")}
    assert _changes(result, "configmaps", "shop", "web-config") == {"/data/" + key: (old_value, "changed-value")}
    assert _changes(result, "deployments.apps", "shop", "web") == {"/spec/replicas": (2, 5)}
    assert _changes(result, "services", "shop", "web") == {"/metadata/labels/drift": (None, "yes")}
    summary = result["summary"]
    assert (summary["added"], summary["removed"], summary["changed"]) == (1, 1, 3)
    assert summary["by_resource"]["configmaps"]["changed"] == 1 and summary["by_resource"]["configmaps"]["added"] == 1
    message = drift_message(result)
    assert "1 added, 1 removed, 3 changed" in message and "deployments.apps shop/web (/spec/replicas)" in message


def test_backup_vs_backup(still):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="before"))
    key, _old = _mutate(client)
    run_backup(client, location, BackupOptions(name="after"))
    result = diff_backup_vs_backup(location, "before", "after")
    assert result["compare_to"] == "after"
    assert _keys(result["added"]) == {("configmaps", "shop", "added-cm")}
    assert _keys(result["removed"]) == {("configmaps", "payments", "api-config")}
    assert _keys(result["changed"]) == {("configmaps", "shop", "web-config"), ("deployments.apps", "shop", "web"), ("services", "shop", "web")}
    assert list(_changes(result, "configmaps", "shop", "web-config")) == ["/data/" + key]
    reverse = diff_backup_vs_backup(location, "after", "before")
    assert _keys(reverse["added"]) == {("configmaps", "payments", "api-config")} and _keys(reverse["removed"]) == {("configmaps", "shop", "added-cm")}
    with pytest.raises(ConfigurationError, match="two different backups"):
        diff_backup_vs_backup(location, "after", "after")


def test_secret_changes_show_masked_values_only(still):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1"))
    client.request("PATCH", "/api/v1/namespaces/shop/secrets/db-credentials",
                   body={"data": {"password": "bmV3LXBhc3N3b3Jk", "session-key": None, "added-key": "YWRkZWQ="}},
                   content_type="application/merge-patch+json")
    client.request("DELETE", "/api/v1/namespaces/payments/secrets/api-keys")
    result = diff_backup_vs_live(client, location, "b1")
    assert _changes(result, "secrets", "shop", "db-credentials") == {
        "/data/password": ("<set>", "<changed>"), "/data/session-key": ("<set>", None), "/data/added-key": (None, "<set>")}
    assert _keys(result["removed"]) == {("secrets", "payments", "api-keys")}
    text = json.dumps(result) + drift_message(result)
    for value in SECRET_VALUES:
        assert value not in text


def test_secret_values_never_reach_the_index(still, monkeypatch):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1"))
    stored = []
    original = drift._Index.add

    def spy(self, side, group_resource, namespace, name, obj, pending=False):
        stored.append(json.dumps(obj))
        return original(self, side, group_resource, namespace, name, obj, pending)

    monkeypatch.setattr(drift._Index, "add", spy)
    diff_backup_vs_live(client, location, "b1")
    text = "".join(stored)
    assert "db-credentials" in text
    for value in SECRET_VALUES:
        assert value not in text


def test_namespace_scoped_backup_does_not_report_other_namespaces(still):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="pay", included_namespaces=["payments"]))
    client.request("POST", "/api/v1/namespaces/shop/configmaps", body={"metadata": {"name": "elsewhere"}, "data": {"a": "1"}})
    result = diff_backup_vs_live(client, location, "pay")
    assert not result["drift"], drift_message(result)
    assert result["selection"]["included_namespaces"] == ["payments"]
    # The related PV of payments/ledger is compared too, and is unchanged.
    assert result["summary"]["by_resource"]["persistentvolumes"]["unchanged"] == 1
    client.request("POST", "/api/v1/namespaces/payments/configmaps", body={"metadata": {"name": "new"}, "data": {"a": "1"}})
    assert _keys(diff_backup_vs_live(client, location, "pay")["added"]) == {("configmaps", "payments", "new")}


def test_user_filters_apply_to_both_sides(still):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1"))
    _mutate(client)
    result = diff_backup_vs_live(client, location, "b1", DiffOptions(included_namespaces=["shop"], included_resources=["configmaps"]))
    assert _keys(result["added"]) == {("configmaps", "shop", "added-cm")}
    assert result["removed"] == [] and _keys(result["changed"]) == {("configmaps", "shop", "web-config")}
    labelled = diff_backup_vs_live(client, location, "b1", DiffOptions(label_selector="drift=yes"))
    # No object of the backup had that label; now Service shop/web has, and its namespace comes along (Velero's rule).
    assert _keys(labelled["added"]) == {("services", "shop", "web"), ("namespaces", None, "shop")}


def test_controller_owned_objects_are_left_out_unless_asked(sample_cluster, tmp_path):
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    location = open_location(str(tmp_path))
    run_backup(client, location, BackupOptions(name="b1", included_namespaces=["shop"]))
    client.request("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", body={"spec": {"replicas": 3}},
                   content_type="application/merge-patch+json")
    sample_cluster.control.settle()
    result = diff_backup_vs_live(client, location, "b1")
    assert {e["group_resource"] for e in result["added"] + result["removed"] + result["changed"]} == {"deployments.apps"}
    owned = diff_backup_vs_live(client, location, "b1", DiffOptions(ignore_controller_owned=False))
    assert any(e["group_resource"] == "pods" for e in owned["added"])


def test_status_is_compared_only_when_asked(still):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1", included_namespaces=["shop"]))
    client.request("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/status", body={"status": {"observedGeneration": 99}},
                   content_type="application/merge-patch+json")
    assert not diff_backup_vs_live(client, location, "b1")["drift"]
    result = diff_backup_vs_live(client, location, "b1", DiffOptions(include_status=True))
    assert "/status/observedGeneration" in _changes(result, "deployments.apps", "shop", "web")


def test_max_changes_caps_the_lists_not_the_counts(still):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1"))
    for index in range(5):
        client.request("POST", "/api/v1/namespaces/shop/configmaps", body={"metadata": {"name": "extra-%d" % index}})
    result = diff_backup_vs_live(client, location, "b1", DiffOptions(max_changes=2))
    assert result["summary"]["added"] == 5 and len(result["added"]) == 2 and result["truncated"]
    message = drift_message(result)
    assert "... and 3 more" in message


def test_field_changes_are_bounded_and_escaped():
    before = {"metadata": {"annotations": {"a/b~c": "x"}}, "data": {"big": "y"}, "list": [1, 2]}
    after = {"metadata": {"annotations": {"a/b~c": "z"}}, "data": {"big": "y" * 5000}, "list": [1, 2, 3]}
    changes, total = drift.field_changes("configmaps", before, after)
    paths = dict((c["path"], c) for c in changes)
    assert total == 3 and set(paths) == {"/metadata/annotations/a~1b~0c", "/data/big", "/list"}
    assert len(paths["/data/big"]["after"]) < 2100 and "more characters" in paths["/data/big"]["after"]
    wide_before = dict(("k%d" % i, i) for i in range(300))
    wide_after = dict(("k%d" % i, i + 1) for i in range(300))
    changes, total = drift.field_changes("configmaps", wide_before, wide_after)
    assert total == 300 and len(changes) == drift.MAX_CHANGES_PER_OBJECT


def test_whole_secret_maps_are_masked():
    changes, _total = drift.field_changes("secrets", {"metadata": {}}, {
        "metadata": {"annotations": {drift.LAST_APPLIED: "{\"data\":{\"p\":\"c2VjcmV0\"}}"}}, "data": {"p": "c2VjcmV0"}})
    assert {c["path"]: c["after"] for c in changes} == {"/data": {"p": "<set>"}, "/metadata/annotations": {drift.LAST_APPLIED: "<set>"}}


def test_restored_objects_show_no_drift_from_restore_labels_and_owner_uids():
    normalizer = drift.Normalizer()
    original = {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "web", "namespace": "shop", "uid": "1", "resourceVersion": "5", "labels": {"app": "web"},
        "ownerReferences": [{"kind": "X", "name": "x", "uid": "old", "controller": False}]},
        "spec": {"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], "ports": [{"port": 80}]}, "status": {"loadBalancer": {}}}
    restored = json.loads(json.dumps(original))
    restored["metadata"].update(uid="2", resourceVersion="9", labels={"app": "web", "velero.io/backup-name": "b", "velero.io/restore-name": "r"})
    restored["metadata"]["ownerReferences"][0]["uid"] = "new"
    restored["spec"].update(clusterIP="10.0.0.9", clusterIPs=["10.0.0.9"])
    assert normalizer.normalize("services", original) == normalizer.normalize("services", restored)
    headless = dict(original, spec={"clusterIP": "None"})
    assert normalizer.normalize("services", headless)["spec"] == {"clusterIP": "None"}


def test_encrypted_secret_values_are_compared_by_key_only():
    old = {"metadata": {"annotations": {drift.ENCRYPTED_ANNOTATION: "age"}}, "data": {"p": "Y2lwaGVy", "q": "eA=="}}
    new = {"metadata": {}, "data": {"p": "cGxhaW4="}}
    changes, _total = drift.field_changes("secrets", drift._neutralize_encrypted_secret(old), drift._neutralize_encrypted_secret(new))
    assert changes == [{"path": "/data/q", "before": "<set>", "after": None}]


def test_unknown_backup_and_phase_errors(still):
    _cluster, client, location = still
    with pytest.raises(ConfigurationError, match="no Completed backup"):
        diff_backup_vs_live(client, location, "latest")
    run_backup(client, location, BackupOptions(name="b1"))
    with pytest.raises(ConfigurationError, match="'nope' does not exist"):
        diff_backup_vs_live(client, location, "nope")


def test_the_backup_side_is_indexed_on_disk(still, monkeypatch):
    """Memory-bounded design: objects go to sqlite as they are read, and the peak stays well below the backup's size."""
    _cluster, client, location = still
    for index in range(300):
        client.request("POST", "/api/v1/namespaces/shop/configmaps",
                       body={"metadata": {"name": "bulk-%d" % index}, "data": {"v": "x" * 20000}})
    run_backup(client, location, BackupOptions(name="big", included_namespaces=["shop"]))
    databases = []
    original = sqlite3.connect

    def spy(path, *args, **kwargs):
        databases.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(drift.sqlite3, "connect", spy)
    tracemalloc.start()
    try:
        run_backup(client, location, BackupOptions(name="big2", included_namespaces=["shop"]))
        tracemalloc.reset_peak()
        result = diff_backup_vs_backup(location, "big", "big2")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert databases and databases[0].endswith(".sqlite3")
    assert result["summary"]["unchanged"] >= 300 and not result["drift"]
    assert peak < 300 * 20000, peak  # both sides together hold 12 MB of values


# ---------------------------------------------------------------- the module


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            diff_module.main()
    return json.loads(capsys.readouterr().out)


def test_module_reports_and_fails_on_drift(capsys, still):
    cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1"))
    args = {"kubeconfig": cluster.kubeconfig, "location": location.url, "backup": "b1"}
    result = run_module(capsys, args)
    assert not result["changed"] and not result["drift"] and not result.get("failed")
    _mutate(client)
    cluster.control.clear_audit()
    result = run_module(capsys, dict(args, _ansible_check_mode=True))
    assert not result["changed"] and result["drift"] and len(result["report"]["changed"]) == 3
    assert {r["verb"] for r in cluster.control.audit()} <= {"get", "list"}
    failed = run_module(capsys, dict(args, fail_on_drift=True))
    assert failed["failed"] and "1 added, 1 removed, 3 changed" in failed["msg"] and "configmaps shop/added-cm" in failed["msg"]
    assert failed["summary"]["changed"] == 3 and failed["report"]["drift"]


def test_module_backup_vs_backup_needs_no_cluster(capsys, still, monkeypatch):
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1"))
    _mutate(client)
    run_backup(client, location, BackupOptions(name="b2"))
    for variable in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    result = run_module(capsys, {"location": location.url, "backup": "b1", "compare_to": "b2"})
    assert result["drift"] and result["summary"]["added"] == 1


def test_controller_bookkeeping_annotations_are_not_drift(still):
    """A Deployment's revision moves with every rollout and a restore keeps it live: comparing it would never settle."""
    _cluster, client, location = still
    run_backup(client, location, BackupOptions(name="b1", included_namespaces=["shop"]))
    client.request("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web",
                   body={"metadata": {"annotations": {"deployment.kubernetes.io/revision": "7"}}}, content_type="application/merge-patch+json")
    result = diff_backup_vs_live(client, location, "b1")
    assert not result["drift"], drift_message(result)

"""Volume data through ansible-playbook: CSI snapshots with freeze hooks, restore into another cluster, prune.

The two emulators share one storage backend (one cloud account): the bytes
written into the source volume must come back in the restored volume.
"""

import gzip
import json

import pytest

from kubesim.volume_backend import VolumeBackend
from module_results import module_plays, of_kind, run_module
from volume_workloads import claim_volume_handle, csi_storage, database, freeze_annotations, snapshot_crds

pytestmark = pytest.mark.integration

DATA = b"row 1: precious\nrow 2: also precious\n"
SNAPSHOT_API = "snapshot.storage.k8s.io"


@pytest.fixture
def source(kubesim_factory):
    """Cluster A: snapshot CRDs, a CSI class, a database pod with freeze hooks and data in its volume."""
    backend = VolumeBackend()
    cluster = kubesim_factory(name="source", volume_backend=backend)
    cluster.control.seed(snapshot_crds())
    cluster.control.seed(csi_storage() + database(annotations=freeze_annotations()))
    assert cluster.control.settle(30)
    cluster.control.write_volume(claim_volume_handle(cluster, "db", "data"), DATA)
    cluster.backend = backend
    return cluster


def test_csi_snapshot_backup_restore_into_another_cluster_and_prune(source, kubesim_factory, ansible_playbook, tmp_path):
    location = tmp_path / "backups"
    source.control.clear_audit()
    backup = run_module(ansible_playbook, source.env(), tmp_path, "backup", {
        "name": "db-with-data", "location": str(location), "included_namespaces": ["db"], "snapshot_volumes": True})["backup"]

    assert backup["phase"] == "Completed", backup["errors"]
    [record] = backup["volume_snapshots"]
    assert (record["namespace"], record["claim"], record["method"], record["phase"]) == ("db", "data", "csi", "Completed")
    assert record["snapshot_class"] == "csi-snap" and record["driver"] == "hostpath.csi.k8s.io"
    [content] = of_kind(source, "VolumeSnapshotContent")
    assert content["metadata"]["name"] == record["content_name"]
    assert content["status"]["snapshotHandle"] == record["snapshot_handle"]
    # Retained and labelled, so it outlives the namespace; the VolumeSnapshot itself is gone.
    assert content["spec"]["deletionPolicy"] == "Retain" and content["metadata"]["labels"]["kubesafe.k8s/backup"] == "db-with-data"
    assert of_kind(source, "VolumeSnapshot") == []

    # Hooks: freeze, then the VolumeSnapshot POST, then unfreeze - in the db container, not the first one.
    execs = source.control.exec_log()
    assert [(e["container"], e["command"][1]) for e in execs] == [("db", "--freeze"), ("db", "--unfreeze")]
    [snapshot_post] = [r for r in source.control.audit() if r["method"] == "POST" and r["resource"] == "volumesnapshots"]
    assert execs[0]["seq"] < snapshot_post["seq"] < execs[1]["seq"]
    assert [(h["phase"], h["status"], h["source"]) for h in backup["hooks"]] == [("pre", "succeeded", "annotation"), ("post", "succeeded", "annotation")]

    # The record is in the manifest and in Velero's sidecars.
    directory = location / "backups" / "db-with-data"
    manifest = json.loads((directory / "db-with-data-manifest.json").read_text())
    assert manifest["volumeSnapshots"][0]["snapshot_handle"] == record["snapshot_handle"]
    [info] = json.loads(gzip.decompress((directory / "db-with-data-volumeinfo.json.gz").read_bytes()))
    assert info["backupMethod"] == "CSISnapshot" and info["csiSnapshotInfo"]["snapshotHandle"] == record["snapshot_handle"]
    marker = json.loads((directory / "velero-backup.json").read_text())
    assert marker["status"]["csiVolumeSnapshotsAttempted"] == 1 and marker["status"]["csiVolumeSnapshotsCompleted"] == 1

    # The volume is overwritten after the backup: the restore must bring the backed-up bytes, not these.
    source.control.write_volume(claim_volume_handle(source, "db", "data"), b"corrupted")

    target = kubesim_factory(name="target", volume_backend=source.backend)
    target.control.seed(snapshot_crds())
    target.control.seed(csi_storage(storage_class="csi-standard"))
    restore = run_module(ansible_playbook, target.env(), tmp_path, "restore", {
        "backup": "db-with-data", "location": str(location), "namespace_mapping": {"db": "db-restored"},
        "storage_class_mapping": {"csi-fast": "csi-standard"}, "wait": True, "wait_timeout": 60})["restore"]
    assert restore["phase"] == "Completed", restore["errors"]
    assert target.control.settle(30)

    [claim] = of_kind(target, "PersistentVolumeClaim", "db-restored")
    [restored_snapshot] = of_kind(target, "VolumeSnapshot", "db-restored")
    source_ref = {"apiGroup": SNAPSHOT_API, "kind": "VolumeSnapshot", "name": restored_snapshot["metadata"]["name"]}
    assert claim["spec"]["dataSource"] == source_ref and claim["spec"]["dataSourceRef"] == source_ref
    assert claim["spec"]["storageClassName"] == "csi-standard" and claim["status"]["phase"] == "Bound"
    [restored_content] = of_kind(target, "VolumeSnapshotContent")
    assert restored_snapshot["spec"]["source"] == {"volumeSnapshotContentName": restored_content["metadata"]["name"]}
    assert restored_content["spec"]["source"] == {"snapshotHandle": record["snapshot_handle"]}
    assert restored_content["spec"]["deletionPolicy"] == "Retain"
    assert target.control.read_volume(claim_volume_handle(target, "db-restored", "data")) == DATA
    # The source PV (reclaimPolicy Delete) is not restored: the claim got a new volume from the snapshot.
    skipped = [o for o in restore["objects"] if o["group_resource"] == "persistentvolumes"]
    assert skipped and skipped[0]["action"] == "skip" and "CSI snapshot" in skipped[0]["reason"]
    assert [v["kind"] for v in restore["volumes"]] == ["VolumeSnapshot"]

    # Pruning with another cluster's kubeconfig would orphan the snapshot: the backup is kept, and the message says why.
    wrong = run_module(ansible_playbook, target.env(), tmp_path, "prune", {"location": str(location), "keep_last": 0, "expired": False},
                       check=False)
    assert wrong["failed"] and "run with that cluster's kubeconfig" in wrong["msg"] and directory.exists()
    assert [c["metadata"]["name"] for c in of_kind(source, "VolumeSnapshotContent")] == [record["content_name"]]

    # Pruning the backup deletes its snapshot in the source cluster (where it was taken).
    pruned = run_module(ansible_playbook, source.env(), tmp_path, "prune", {"location": str(location), "keep_last": 0, "expired": False})
    assert [entry["name"] for entry in pruned["deleted"]] == ["db-with-data"]
    assert pruned["deleted"][0]["snapshots_deleted"] == ["VolumeSnapshotContent %s" % record["content_name"]]
    assert of_kind(source, "VolumeSnapshotContent") == []
    assert not directory.exists()


def test_failing_pre_hook_with_fail_skips_the_snapshot_and_the_backup_is_partially_failed(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory()
    cluster.control.seed(snapshot_crds())
    cluster.control.seed(csi_storage() + database(annotations=freeze_annotations()))
    assert cluster.control.settle(30)
    cluster.control.add_exec_script(command_contains="--freeze", stderr="fsfreeze: /var/lib/postgresql/data: Operation not permitted\n", exit_code=1)
    backup = run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {
        "name": "frozen-fail", "fail_on_partial": False, "location": str(tmp_path / "backups"), "included_namespaces": ["db"],
        "snapshot_volumes": True})["backup"]

    assert backup["phase"] == "PartiallyFailed"
    assert any("'/sbin/fsfreeze --freeze" in error and "exited with code 1" in error for error in backup["errors"]), backup["errors"]
    # No snapshot without its freeze, and the unfreeze (post hook) is not run after a failed freeze, as in Velero.
    assert of_kind(cluster, "VolumeSnapshot") == [] and of_kind(cluster, "VolumeSnapshotContent") == []
    assert [e["command"][1] for e in cluster.control.exec_log()] == ["--freeze"]
    assert backup["volume_snapshots"][0]["phase"] == "Skipped"
    # The objects are all still backed up.
    assert backup["resource_counts"]["persistentvolumeclaims"] == 1 and backup["resource_counts"]["pods"] == 1
    assert "Operation not permitted" in backup["hooks"][0]["stderr"]


def test_failing_pre_hook_with_continue_still_snapshots(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory()
    cluster.control.seed(snapshot_crds())
    cluster.control.seed(csi_storage() + database(annotations=freeze_annotations(on_error="Continue")))
    assert cluster.control.settle(30)
    cluster.control.add_exec_script(command_contains="--freeze", exit_code=3)
    backup = run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {
        "name": "frozen-continue", "location": str(tmp_path / "backups"), "included_namespaces": ["db"], "snapshot_volumes": True})["backup"]
    assert backup["phase"] == "Completed" and any("exited with code 3" in warning for warning in backup["warnings"]), backup["warnings"]
    assert backup["volume_snapshots"][0]["phase"] == "Completed"
    assert [e["command"][1] for e in cluster.control.exec_log()] == ["--freeze", "--unfreeze"]


def test_option_hooks_with_timeout_and_bad_snapshot_class(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory()
    cluster.control.seed(snapshot_crds())
    cluster.control.seed(csi_storage() + database())
    assert cluster.control.settle(30)
    cluster.control.add_exec_script(command_contains="sleepy", delay_seconds=5)
    backup = run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {
        "name": "bad-class", "fail_on_partial": False, "location": str(tmp_path / "backups"), "included_namespaces": ["db"], "snapshot_volumes": True,
        "csi_snapshot_class": "no-such-class",
        "hooks": [{"name": "dump", "label_selector": "app=db",
                   "pre": [{"command": ["sh", "-c", "sleepy dump"], "container": "db", "timeout": "1s", "on_error": "Continue"}]}]})["backup"]

    assert backup["phase"] == "PartiallyFailed"
    assert any("VolumeSnapshotClass 'no-such-class' (csi_snapshot_class) does not exist" in e and "csi-snap" in e for e in backup["errors"])
    assert backup["hooks"][0]["status"] == "timed_out" and backup["hooks"][0]["source"] == "hooks[dump]"
    assert backup["resource_counts"]["persistentvolumeclaims"] == 1  # the manifests are still backed up
    assert of_kind(cluster, "VolumeSnapshot") == []


def test_volume_of_an_unsupported_driver_is_a_warning(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory()
    cluster.control.seed([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "files"}},
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "nfs-share"},
         "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteMany"], "persistentVolumeReclaimPolicy": "Retain",
                  "storageClassName": "", "nfs": {"server": "nfs.example", "path": "/exports/share"}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "share", "namespace": "files"},
         "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": "nfs-share",
                  "resources": {"requests": {"storage": "5Gi"}}}}])
    assert cluster.control.settle(30)
    backup = run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {
        "name": "nfs", "location": str(tmp_path / "backups"), "included_namespaces": ["files"], "snapshot_volumes": True})["backup"]
    assert backup["phase"] == "Completed"
    assert any("share" in warning and "in-tree nfs" in warning for warning in backup["warnings"])
    assert backup["volume_snapshots"][0]["phase"] == "Skipped"


def test_volume_snapshot_module_takes_lists_and_deletes_a_set(source, ansible_playbook, tmp_path):
    taken = run_module(ansible_playbook, source.env(), tmp_path, "volume_snapshot", {
        "set_name": "before-upgrade", "namespace": "db", "claims": ["data"]})
    assert taken["changed"] and [s["phase"] for s in taken["snapshots"]] == ["Completed"]
    assert [h["phase"] for h in taken["hooks"]] == ["pre", "post"]  # the pod's freeze annotations apply here too
    [content] = of_kind(source, "VolumeSnapshotContent")
    assert content["metadata"]["labels"]["kubesafe.k8s/backup"] == "before-upgrade"

    listed = run_module(ansible_playbook, source.env(), tmp_path, "volume_snapshot_info", {"set_name": "before-upgrade"})
    assert [(s["method"], s["content_name"], s["snapshot_handle"]) for s in listed["snapshots"]] == [
        ("csi", content["metadata"]["name"], taken["snapshots"][0]["snapshot_handle"])]
    assert run_module(ansible_playbook, source.env(), tmp_path, "volume_snapshot_info", {"set_name": "other"})["snapshots"] == []

    deleted = run_module(ansible_playbook, source.env(), tmp_path, "volume_snapshot", {"set_name": "before-upgrade", "state": "absent"})
    assert deleted["changed"] and deleted["deleted"] == ["VolumeSnapshotContent %s" % content["metadata"]["name"]]
    assert of_kind(source, "VolumeSnapshotContent") == []

    missing = run_module(ansible_playbook, source.env(), tmp_path, "volume_snapshot", {
        "set_name": "typo", "namespace": "db", "claims": ["dta"]}, check=False)
    assert missing["failed"] and "claims: dta not found in namespace db" in missing["msg"]


def test_restore_hooks_add_init_containers_and_run_in_the_restored_pod(kubesim_factory, ansible_playbook, tmp_path):
    annotations = {"post.hook.restore.velero.io/container": "db",
                   "post.hook.restore.velero.io/command": '["/bin/sh", "-c", "psql -c \'REINDEX DATABASE shop\'"]'}
    cluster = kubesim_factory()
    cluster.control.seed(csi_storage()[:1] + database(annotations=annotations))  # the storage class only: no snapshot API here
    assert cluster.control.settle(30)
    location = str(tmp_path / "backups")
    run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {"name": "hooked", "location": location, "included_namespaces": ["db"]})
    restore = run_module(ansible_playbook, cluster.env(), tmp_path, "restore", {
        "backup": "hooked", "location": location, "namespace_mapping": {"db": "db-copy"},
        "hooks": [{"name": "permissions", "included_namespaces": ["db"], "post": [
            {"init": {"init_containers": [{"name": "chown", "image": "busybox:1.36", "command": ["chown", "-R", "999", "/data"]}]}}]}]})["restore"]

    assert restore["phase"] == "Completed", restore["errors"]
    [pod] = of_kind(cluster, "Pod", "db-copy")
    assert [(c["name"], c["image"]) for c in pod["spec"]["initContainers"]] == [("chown", "busybox:1.36")]
    [hook] = restore["hooks"]
    assert (hook["namespace"], hook["pod"], hook["container"], hook["status"]) == ("db-copy", "db-0", "db", "succeeded")
    [record] = [e for e in cluster.control.exec_log() if e["namespace"] == "db-copy"]
    assert record["container"] == "db" and record["command"][-1] == "psql -c 'REINDEX DATABASE shop'"


def test_post_hook_runs_even_when_the_snapshot_fails(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory()
    cluster.control.seed(snapshot_crds())
    cluster.control.seed(csi_storage(velero_label=False) + database(annotations=freeze_annotations()))  # no class for the driver
    assert cluster.control.settle(30)
    backup = run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {
        "name": "no-class", "fail_on_partial": False, "location": str(tmp_path / "backups"), "included_namespaces": ["db"], "snapshot_volumes": True})["backup"]
    assert backup["phase"] == "PartiallyFailed"
    assert any("no VolumeSnapshotClass for CSI driver hostpath.csi.k8s.io" in error for error in backup["errors"])
    # The database is never left frozen.
    assert [e["command"][1] for e in cluster.control.exec_log()] == ["--freeze", "--unfreeze"]


def test_preflight_refuses_a_target_without_the_snapshot_api_before_any_write(source, kubesim_factory, ansible_playbook, tmp_path):
    location = str(tmp_path / "backups")
    run_module(ansible_playbook, source.env(), tmp_path, "backup", {
        "name": "db-with-data", "location": location, "included_namespaces": ["db"], "snapshot_volumes": True})
    target = kubesim_factory(name="bare", volume_backend=source.backend)
    target.control.seed(csi_storage()[:1])
    target.control.clear_audit()
    verified = run_module(ansible_playbook, target.env(), tmp_path, "verify", {
        "name": "db-with-data", "location": location, "restore_check": True, "fail_on_problems": False})
    [problem] = [p for p in verified["backups"][0]["problems"] if "snapshot" in p]
    assert "does not serve snapshot.storage.k8s.io/v1" in problem and "restore_pvs: false" in problem
    assert {r["verb"] for r in target.control.audit()} <= {"get", "list"}


def test_drill_cleanup_removes_the_restores_snapshot_contents_and_keeps_the_backups(source, ansible_playbook, tmp_path):
    location = str(tmp_path / "backups")
    backup = run_module(ansible_playbook, source.env(), tmp_path, "backup", {
        "name": "db-with-data", "location": location, "included_namespaces": ["db"], "snapshot_volumes": True})["backup"]
    restore = run_module(ansible_playbook, source.env(), tmp_path, "restore", {
        "backup": "db-with-data", "name": "drill-1", "location": location, "namespace_mapping": {"db": "db-drill"},
        "include_cluster_resources": False})["restore"]
    assert restore["phase"] == "Completed", restore["errors"]
    assert source.control.settle(30)
    assert source.control.read_volume(claim_volume_handle(source, "db-drill", "data")) == DATA
    contents = {c["metadata"]["name"] for c in of_kind(source, "VolumeSnapshotContent")}
    assert len(contents) == 2  # the backup's and the drill's

    cleaned = run_module(ansible_playbook, source.env(), tmp_path, "drill_cleanup", {"restore_name": "drill-1"})
    assert cleaned["namespaces"] == ["db-drill"] and len(cleaned["snapshot_contents"]) == 1
    assert {c["metadata"]["name"] for c in of_kind(source, "VolumeSnapshotContent")} == {backup["volume_snapshots"][0]["content_name"]}
    assert of_kind(source, "PersistentVolumeClaim", "db-drill") == []


def test_migration_moves_the_volume_data(source, kubesim_factory, run_playbook, tmp_path):
    target = kubesim_factory(name="target", volume_backend=source.backend)
    target.control.seed(snapshot_crds())
    target.control.seed(csi_storage(storage_class="csi-standard"))
    env = source.env(with_kubeconfig=False)
    variables = {"migrate_source_kubeconfig": source.kubeconfig, "migrate_target_kubeconfig": target.kubeconfig,
                 "migrate_location": str(tmp_path / "loc"), "migrate_included_namespaces": ["db"],
                 "migrate_namespace_mapping": {"db": "db-moved"}, "migrate_storage_class_mapping": {"csi-fast": "csi-standard"},
                 "migrate_snapshot_volumes": True, "migrate_wait_timeout": 60}
    run_playbook("playbooks/migrate.yml", env, "-e", json.dumps(variables))
    assert target.control.settle(30)
    assert target.control.read_volume(claim_volume_handle(target, "db-moved", "data")) == DATA
    assert [e["command"][1] for e in source.control.exec_log()] == ["--freeze", "--unfreeze"]


def test_restore_hooks_run_in_the_pod_a_statefulset_recreates(kubesim_factory, ansible_playbook, tmp_path):
    template_annotations = {"post.hook.restore.velero.io/command": '["/bin/sh", "-c", "pg_ctl promote"]'}
    cluster = kubesim_factory()
    cluster.control.seed([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pg"}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "postgres", "namespace": "pg"},
         "spec": {"replicas": 1, "serviceName": "postgres", "selector": {"matchLabels": {"app": "postgres"}},
                  "template": {"metadata": {"labels": {"app": "postgres"}, "annotations": template_annotations},
                               "spec": {"containers": [{"name": "postgres", "image": "postgres:16"}]}}}}])
    assert cluster.control.settle(30)
    location = str(tmp_path / "backups")
    run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {"name": "pg", "location": location, "included_namespaces": ["pg"]})
    restore = run_module(ansible_playbook, cluster.env(), tmp_path, "restore", {
        "backup": "pg", "location": location, "namespace_mapping": {"pg": "pg-copy"}, "wait_timeout": 60})["restore"]

    assert restore["phase"] == "Completed", restore["errors"]
    [pod_decision] = [o for o in restore["objects"] if o["group_resource"] == "pods"]
    assert pod_decision["action"] == "skip"  # the StatefulSet recreates it
    [hook] = restore["hooks"]
    assert (hook["namespace"], hook["pod"], hook["container"], hook["status"]) == ("pg-copy", "postgres-0", "postgres", "succeeded")
    assert [e["command"][-1] for e in cluster.control.exec_log() if e["namespace"] == "pg-copy"] == ["pg_ctl promote"]


def test_dr_run_brings_the_data_back_and_reports_it(source, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "loc"
    env = source.env()
    backed_up = run_playbook("playbooks/backup.yml", env, "-e", json.dumps({
        "backup_location": str(location), "backup_name": "nightly", "backup_included_namespaces": ["db"], "backup_snapshot_volumes": True}))
    assert "volume snapshots: 1 completed, 0 failed, 0 skipped; hooks: 2/2 succeeded" in backed_up.stdout
    dr_site = kubesim_factory(name="dr", volume_backend=source.backend)
    dr_site.control.seed(snapshot_crds())
    dr_site.control.seed(csi_storage())
    env = source.env(with_kubeconfig=False)
    run_playbook("playbooks/dr.yml", env, "-e", json.dumps({
        "dr_location": str(location), "dr_target_kubeconfig": dr_site.kubeconfig, "dr_report_dir": str(tmp_path / "reports"),
        "dr_wait_timeout": 60}))
    [report_file] = (tmp_path / "reports").glob("*.json")
    report = json.loads(report_file.read_text())
    assert report["complete"] is True and [v["kind"] for v in report["volumes"]] == ["VolumeSnapshot"]
    assert "| volumes from snapshots | 1 |" in report_file.with_suffix(".md").read_text()
    assert dr_site.control.read_volume(claim_volume_handle(dr_site, "db", "data")) == DATA


def test_verify_finds_a_snapshot_deleted_behind_the_backups_back(source, ansible_playbook, tmp_path):
    location = str(tmp_path / "backups")
    backup = run_module(ansible_playbook, source.env(), tmp_path, "backup", {
        "name": "db-with-data", "location": location, "included_namespaces": ["db"], "snapshot_volumes": True})["backup"]
    verified = run_module(ansible_playbook, source.env(), tmp_path, "verify", {"name": "db-with-data", "location": location, "check_snapshots": True})
    assert verified["ok"] and "1 snapshot(s) checked" in [c for c in verified["backups"][0]["checks"] if c["check"] == "snapshots"][0]["detail"]

    content_name = backup["volume_snapshots"][0]["content_name"]
    run_module(ansible_playbook, source.env(), tmp_path, "volume_snapshot", {"set_name": "db-with-data", "state": "absent"})
    assert not [c for c in of_kind(source, "VolumeSnapshotContent") if c["metadata"]["name"] == content_name]
    verified = run_module(ansible_playbook, source.env(), tmp_path, "verify", {
        "name": "db-with-data", "location": location, "check_snapshots": True}, check=False)
    assert verified["failed"]
    [problem] = verified["backups"][0]["problems"]
    assert content_name in problem and "is gone" in problem and "back empty" in problem


def test_hook_annotations_run_without_snapshots_as_in_velero(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory()
    cluster.control.seed(csi_storage()[:1] + database(annotations=freeze_annotations()))
    assert cluster.control.settle(30)
    backup = run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {
        "name": "hooks-only", "location": str(tmp_path / "backups"), "included_namespaces": ["db"]})["backup"]
    assert backup["phase"] == "Completed" and backup["volume_snapshots"] == []
    assert [e["command"][1] for e in cluster.control.exec_log()] == ["--freeze", "--unfreeze"]


def test_check_mode_plans_hooks_and_snapshots_and_changes_nothing(source, ansible_playbook, tmp_path):
    source.control.clear_audit()
    result_file = tmp_path / "planned.json"
    ansible_playbook(module_plays([{"name": "preview", "kubesafe.k8s.backup": {
        "name": "preview", "location": str(tmp_path / "backups"), "included_namespaces": ["db"], "snapshot_volumes": True},
        "register": "out"}], result_file), source.env(), "--check")
    backup = json.loads(result_file.read_text())["out"]["backup"]
    assert [(r["claim"], r["method"], r["phase"]) for r in backup["volume_snapshots"]] == [("data", "csi", "Planned")]
    assert [(h["phase"], h["container"], h["status"]) for h in backup["hooks"]] == [("pre", "db", "planned"), ("post", "db", "planned")]
    assert source.control.exec_log() == [] and {r["verb"] for r in source.control.audit()} <= {"get", "list"}


def test_restore_hooks_run_once_in_each_pod_a_deployment_recreates(kubesim_factory, ansible_playbook, tmp_path):
    template_annotations = {"post.hook.restore.velero.io/command": '["/bin/sh", "-c", "warm-cache"]'}
    cluster = kubesim_factory()
    cluster.control.seed([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "front", "namespace": "web"},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "front"}},
                  "template": {"metadata": {"labels": {"app": "front"}, "annotations": template_annotations},
                               "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}])
    assert cluster.control.settle(30)
    location = str(tmp_path / "backups")
    run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {"name": "web", "location": location, "included_namespaces": ["web"]})
    restore = run_module(ansible_playbook, cluster.env(), tmp_path, "restore", {
        "backup": "web", "location": location, "namespace_mapping": {"web": "web-copy"}, "wait_timeout": 60})["restore"]

    assert restore["phase"] == "Completed", restore["errors"]
    new_pods = sorted(p["metadata"]["name"] for p in of_kind(cluster, "Pod", "web-copy"))
    assert len(new_pods) == 2
    assert sorted(h["pod"] for h in restore["hooks"]) == new_pods and {h["status"] for h in restore["hooks"]} == {"succeeded"}
    assert sorted(e["pod"] for e in cluster.control.exec_log() if e["namespace"] == "web-copy") == new_pods


def test_restore_pvs_false_brings_claims_back_empty_and_skips_the_delete_pv(source, ansible_playbook, tmp_path):
    location = str(tmp_path / "backups")
    run_module(ansible_playbook, source.env(), tmp_path, "backup", {
        "name": "db-with-data", "location": location, "included_namespaces": ["db"], "snapshot_volumes": True})
    restore = run_module(ansible_playbook, source.env(), tmp_path, "restore", {
        "backup": "db-with-data", "location": location, "namespace_mapping": {"db": "db-empty"}, "restore_pvs": False})["restore"]
    assert restore["phase"] == "Completed", restore["errors"]
    [pv] = [o for o in restore["objects"] if o["group_resource"] == "persistentvolumes"]
    assert pv["action"] == "skip" and pv["reason"] == "reclaimPolicy Delete and no volume snapshot: the claim gets a new volume"
    assert restore["volumes"] == [] and of_kind(source, "VolumeSnapshot", "db-empty") == []
    assert source.control.settle(30)
    assert source.control.read_volume(claim_volume_handle(source, "db-empty", "data")) == b""

"""File-system volume backups through ansible-playbook: a claim's files into restic repositories in the backup location.

A claim on a driver without snapshots (NFS) is copied by a mover pod over
pods/exec into S3 (moto); the source cluster and its storage are thrown
away; a second emulator with its own storage backend and another storage
class gets every file back, with its bytes and mode, before the workload
starts. Then: incremental backups, prune, verify, failures, check mode.
"""

import gzip
import json
import os
import stat
import sys

import pytest

from kubesim.volume_backend import VolumeBackend
from module_results import module_plays, of_kind, run_module, run_modules
from volume_workloads import csi_storage, database, freeze_annotations, snapshot_crds

pytestmark = pytest.mark.integration

NAMESPACE = "files"
CLAIM = "shared"
PASSWORD = "correct horse battery staple"
FILES = {
    "index.html": (0o644, b"<h1>hello</h1>\n"),
    "bin/run.sh": (0o755, b"#!/bin/sh\nexec httpd\n"),
    "current": (stat.S_IFLNK | 0o777, b"bin/run.sh"),
    "cache/": (0o700, b""),
    "private/key.bin": (0o600, os.urandom(300 * 1024)),
}


def nfs_claim(name, access_mode="ReadWriteMany"):
    """An NFS volume (no snapshot support) and its claim."""
    return [
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "nfs-" + name},
         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": [access_mode], "persistentVolumeReclaimPolicy": "Retain",
                  "storageClassName": "nfs", "nfs": {"server": "nfs.example.com", "path": "/exports/" + name},
                  "claimRef": {"namespace": NAMESPACE, "name": name}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NAMESPACE},
         "spec": {"accessModes": [access_mode], "storageClassName": "nfs", "volumeName": "nfs-" + name,
                  "resources": {"requests": {"storage": "1Gi"}}}},
    ]


def nfs_workload(annotations=None, access_mode="ReadWriteMany", claims=(("site", CLAIM),), node_name=None):
    """NFS claims and a Deployment whose pods mount them (pod volume name, claim)."""
    pod_spec = {"containers": [{"name": "httpd", "image": "httpd:2.4",
                                "volumeMounts": [{"name": volume, "mountPath": "/mnt/" + volume} for volume, _claim in claims]}],
                "volumes": [{"name": volume, "persistentVolumeClaim": {"claimName": claim}} for volume, claim in claims]}
    if node_name:
        pod_spec["nodeName"] = node_name
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
               {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "nfs"}, "provisioner": "example.com/nfs",
                "reclaimPolicy": "Retain"}]
    for _volume, claim in claims:
        objects += nfs_claim(claim, access_mode)
    return objects + [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NAMESPACE},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}, "annotations": dict(annotations or {})}, "spec": pod_spec}}},
    ]


def target_storage():
    """The second cloud: a CSI class that provisions new volumes in its own backend."""
    return [{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "standard"},
             "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}]


@pytest.fixture
def source(kubesim_factory):
    cluster = kubesim_factory(name="source", volume_backend=VolumeBackend())
    cluster.control.seed(nfs_workload(annotations={"backup.velero.io/backup-volumes": "site"}))
    assert cluster.control.settle(30)
    cluster.write_claim_files(NAMESPACE, CLAIM, FILES)
    return cluster


@pytest.fixture
def s3_location(s3_bucket, s3_endpoint):
    _s3, bucket = s3_bucket
    return "s3://%s/dr" % bucket, {"endpoint_url": s3_endpoint, "force_path_style": True, "region": "us-east-1"}


def _backup(ansible_playbook, cluster, tmp_path, location, name, check=True, **extra):
    url, config = location
    args = dict({"name": name, "location": url, "location_config": config, "included_namespaces": [NAMESPACE],
                 "fs_backup_password": PASSWORD}, **extra)
    return run_module(ansible_playbook, cluster.env(), tmp_path, "backup", args, check=check)


def test_nfs_claim_to_s3_and_back_into_another_cloud_before_the_workload_starts(
        source, kubesim_factory, ansible_playbook, tmp_path, s3_location, s3_bucket):
    s3, bucket = s3_bucket
    backup = _backup(ansible_playbook, source, tmp_path, s3_location, "files-1")["backup"]

    assert backup["phase"] == "Completed", backup["errors"]
    [record] = backup["volume_snapshots"]
    assert (record["namespace"], record["claim"], record["method"], record["phase"]) == (NAMESPACE, CLAIM, "fs", "Completed")
    assert record["repository"].endswith("/%s/dr/restic/%s" % (bucket, NAMESPACE)) and record["snapshot_id"]
    assert record["bytes"] > 300 * 1024 and record["bytes_added"] > 0
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for item in page.get("Contents", [])]
    assert "dr/restic/%s/config" % NAMESPACE in keys
    # The password never reaches the location.
    for key in keys:
        assert PASSWORD.encode() not in s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    # Velero's shapes: a PodVolumeBackup and the volume info.
    pvbs = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key="dr/backups/files-1/files-1-podvolumebackups.json.gz")["Body"].read()))
    assert [(p["kind"], p["status"]["phase"], p["status"]["snapshotID"], p["spec"]["uploaderType"]) for p in pvbs] == [
        ("PodVolumeBackup", "Completed", record["snapshot_id"], "restic")]
    # The mover is gone, and it mounted the claim read-only.
    assert [p["metadata"]["name"] for p in of_kind(source, "Pod", NAMESPACE) if p["metadata"]["name"].startswith("kubesafe-mover")] == []
    [mover_post] = [r for r in source.control.audit() if r["method"] == "POST" and r["resource"] == "pods" and r.get("namespace") == NAMESPACE]
    [tar] = [e for e in source.control.exec_log() if e["command"][:2] == ["tar", "-c"]]
    assert tar["pod"].startswith("kubesafe-mover-")

    # The source cluster and its storage are gone.
    source.sim.stop()

    target = kubesim_factory(name="target", volume_backend=VolumeBackend())
    target.control.seed(target_storage())
    assert target.control.settle(30)
    url, config = s3_location
    restore = run_module(ansible_playbook, target.env(), tmp_path, "restore", {
        "backup": "files-1", "location": url, "location_config": config, "storage_class_mapping": {"nfs": "standard"},
        "fs_backup_password": PASSWORD, "wait": True, "wait_timeout": 60})["restore"]

    assert restore["phase"] == "Completed", restore["errors"]
    [claim] = of_kind(target, "PersistentVolumeClaim", NAMESPACE)
    assert claim["spec"]["storageClassName"] == "standard" and claim["status"]["phase"] == "Bound"
    assert claim["spec"]["volumeName"] != "nfs-shared"
    assert target.claim_files(NAMESPACE, CLAIM) == FILES
    [filled] = [v for v in restore["volumes"] if v["kind"] == "file-system restore"]
    assert filled["phase"] == "Completed" and filled["snapshot_id"] == record["snapshot_id"]
    # Filled before the workload: the tar -x ended before the Deployment was created, and the mover is gone.
    [extract] = [e for e in target.control.exec_log() if e["command"][:2] == ["tar", "-x"]]
    [deployment_post] = [r for r in target.control.audit() if r["method"] == "POST" and r["resource"] == "deployments"]
    assert extract["end_seq"] < deployment_post["seq"]
    assert [p["metadata"]["name"] for p in of_kind(target, "Pod", NAMESPACE) if p["metadata"]["name"].startswith("kubesafe-mover")] == []
    # The NFS PV is not restored: the claim has a new volume of the target's class.
    assert [p["metadata"]["name"] for p in of_kind(target, "PersistentVolume")] == [claim["spec"]["volumeName"]]
    del mover_post


def _local(tmp_path):
    return str(tmp_path / "backups"), None


def _restore_into_new_cluster(kubesim_factory, ansible_playbook, tmp_path, name, backup):
    target = kubesim_factory(name=name, volume_backend=VolumeBackend())
    target.control.seed(target_storage())
    assert target.control.settle(30)
    restore = run_module(ansible_playbook, target.env(), tmp_path, "restore", {
        "backup": backup, "location": str(tmp_path / "backups"), "storage_class_mapping": {"nfs": "standard"},
        "fs_backup_password": PASSWORD})["restore"]
    assert restore["phase"] == "Completed", restore["errors"]
    return target


def test_incremental_backup_prune_of_the_first_and_verify_of_the_volume_data(source, kubesim_factory, ansible_playbook, tmp_path):
    location = _local(tmp_path)
    first = _backup(ansible_playbook, source, tmp_path, location, "files-1")["backup"]["volume_snapshots"][0]
    second = _backup(ansible_playbook, source, tmp_path, location, "files-2")["backup"]["volume_snapshots"][0]

    assert first["phase"] == second["phase"] == "Completed"
    assert second["bytes"] == first["bytes"]
    # Unchanged files: the second backup uploads a few KiB of metadata, not the volume again.
    assert second["bytes_added"] < first["bytes_added"] / 20, (first["bytes_added"], second["bytes_added"])
    # Describe, prune the first, verify what is left: one ansible-playbook run, in that order.
    info, pruned, verified = run_modules(ansible_playbook, source.env(), tmp_path, [
        ("backup_info", {"location": location[0], "name": "files-2"}),
        ("prune", {"location": location[0], "keep_last": 1, "expired": False, "fs_backup_password": PASSWORD}),
        ("verify", {"location": location[0], "check_volume_data": True, "volume_data_subset": "100%", "fs_backup_password": PASSWORD})])
    [described] = info["backups"][0]["volume_snapshots"]
    assert (described["method"], described["snapshot_id"], described["bytes_added"]) == ("fs", second["snapshot_id"], second["bytes_added"])

    assert [entry["name"] for entry in pruned["deleted"]] == ["files-1"]
    assert any(first["snapshot_id"][:8] in item for item in pruned["deleted"][0]["snapshots_deleted"])
    [repository] = pruned["restic_prune"]
    assert repository["namespace"] == NAMESPACE and "error" not in repository

    assert verified["ok"], verified["backups"][0]["problems"]
    assert "1 file-system volume backup(s)" in json.dumps(verified["backups"][0]["checks"])
    assert [backup["name"] for backup in verified["backups"]] == ["files-2"]

    # The pruned repository still restores the second backup's files.
    target = _restore_into_new_cluster(kubesim_factory, ansible_playbook, tmp_path, "target", "files-2")
    assert target.claim_files(NAMESPACE, CLAIM) == FILES

    # A pack file lost from the location: verify finds it.
    packs = sorted((tmp_path / "backups" / "restic" / NAMESPACE / "data").rglob("*"))
    next(path for path in packs if path.is_file()).unlink()
    broken = run_module(ansible_playbook, source.env(), tmp_path, "verify", {
        "location": location[0], "check_volume_data": True, "fs_backup_password": PASSWORD}, check=False)
    assert broken["failed"] and not broken["ok"]
    assert any("restic check of" in problem for problem in broken["backups"][0]["problems"]), broken["backups"][0]["problems"]


def test_a_mover_that_never_runs_fails_that_volume_and_the_backup_is_partially_failed(source, ansible_playbook, tmp_path):
    backup = _backup(ansible_playbook, source, tmp_path, _local(tmp_path), "stuck", fail_on_partial=False,
                     fs_mover={"node_selector": {"disk": "none-has-it"}}, fs_mover_timeout="2s")["backup"]

    assert backup["phase"] == "PartiallyFailed"
    [record] = backup["volume_snapshots"]
    assert record["phase"] == "Failed" and "was not running" in record["error"] and "fs_mover_timeout" in record["error"]
    assert any("file-system backup of its volume failed" in error for error in backup["errors"])
    # Every object is still backed up, and the mover is gone.
    assert backup["resource_counts"]["deployments.apps"] == 1 and backup["resource_counts"]["persistentvolumeclaims"] == 1
    assert [p for p in of_kind(source, "Pod", NAMESPACE) if p["metadata"]["name"].startswith("kubesafe-mover")] == []
    assert (tmp_path / "backups" / "backups" / "stuck" / "velero-backup.json").exists()


def test_a_failing_tar_and_a_wrong_password_fail_the_volume_with_the_reason(source, ansible_playbook, tmp_path):
    source.control.add_exec_script(command_prefix=["tar", "-c"], stderr="tar: ./private/key.bin: Permission denied\n", exit_code=2, count=1)
    backup = _backup(ansible_playbook, source, tmp_path, _local(tmp_path), "tar-fails", fail_on_partial=False)["backup"]
    [record] = backup["volume_snapshots"]
    assert backup["phase"] == "PartiallyFailed" and record["phase"] == "Failed"
    assert "tar -c in mover pod" in record["error"] and "Permission denied" in record["error"]
    assert not (tmp_path / "backups" / "restic" / NAMESPACE / "snapshots").exists() or not list(
        (tmp_path / "backups" / "restic" / NAMESPACE / "snapshots").iterdir())  # no snapshot of a partial tar

    # The first backup created the repository with PASSWORD.
    wrong = _backup(ansible_playbook, source, tmp_path, _local(tmp_path), "wrong-password", fail_on_partial=False,
                    fs_backup_password="not the password")["backup"]
    [record] = wrong["volume_snapshots"]
    assert wrong["phase"] == "PartiallyFailed" and record["phase"] == "Failed"
    assert "does not open with this password" in record["error"]


def test_check_mode_plans_the_volume_and_writes_nothing(source, ansible_playbook, tmp_path):
    source.control.clear_audit()
    result_file = tmp_path / "result-check.json"
    task = {"name": "backup", "kubesafe.k8s.backup": {"name": "preview", "location": str(tmp_path / "backups"),
                                                      "included_namespaces": [NAMESPACE], "fs_backup_password": PASSWORD},
            "register": "out"}
    ansible_playbook(module_plays([task], result_file), source.env(), "--check")
    backup = json.loads(result_file.read_text())["out"]["backup"]

    [record] = backup["volume_snapshots"]
    assert (record["method"], record["phase"]) == ("fs", "Planned")
    assert [r for r in source.control.audit() if r["method"] != "GET"] == []
    assert [e for e in source.control.exec_log() if e["command"][0] == "tar"] == []
    assert not (tmp_path / "backups" / "restic").exists()


def test_missing_password_fails_before_anything_is_written(source, ansible_playbook, tmp_path):
    source.control.clear_audit()
    result = run_module(ansible_playbook, source.env(), tmp_path, "backup", {
        "name": "no-password", "location": str(tmp_path / "backups"), "included_namespaces": [NAMESPACE],
        "snapshot_volumes": True, "volume_snapshot_method": {"nfs": "fs"}}, check=False)
    assert result["failed"] and "fs_backup_password" in result["msg"]
    assert not (tmp_path / "backups" / "backups" / "no-password").exists()
    assert [r for r in source.control.audit() if r["method"] != "GET"] == []


def test_default_volumes_to_fs_backup_takes_every_pod_volume_but_the_excluded_ones(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(volume_backend=VolumeBackend())
    cluster.control.seed(nfs_workload(annotations={"backup.velero.io/backup-volumes-excludes": "cache"},
                                      claims=(("site", CLAIM), ("cache", "scratch"))))
    assert cluster.control.settle(30)
    cluster.write_claim_files(NAMESPACE, CLAIM, FILES)

    backup = _backup(ansible_playbook, cluster, tmp_path, _local(tmp_path), "opt-out", default_volumes_to_fs_backup=True)["backup"]

    assert [(r["claim"], r["method"], r["phase"]) for r in backup["volume_snapshots"]] == [(CLAIM, "fs", "Completed")]
    marker = json.loads((tmp_path / "backups" / "backups" / "opt-out" / "velero-backup.json").read_text())
    assert marker["spec"]["defaultVolumesToFsBackup"] is True


def test_a_read_write_once_claim_is_copied_on_its_pods_node_between_the_hooks(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(volume_backend=VolumeBackend())
    hooks = {"backup.velero.io/backup-volumes": "site",
             "pre.hook.backup.velero.io/command": '["/sbin/fsfreeze", "--freeze", "/mnt/site"]',
             "post.hook.backup.velero.io/command": '["/sbin/fsfreeze", "--unfreeze", "/mnt/site"]'}
    cluster.control.seed([{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "zz-node", "labels": {"kubernetes.io/hostname": "zz-node"}}}])
    cluster.control.seed(nfs_workload(annotations=hooks, access_mode="ReadWriteOnce", node_name="zz-node"))
    assert cluster.control.settle(30)
    assert len(of_kind(cluster, "Node")) > 1  # the scheduler alone could pick another node
    cluster.write_claim_files(NAMESPACE, CLAIM, FILES)

    backup = _backup(ansible_playbook, cluster, tmp_path, _local(tmp_path), "rwo")["backup"]

    [record] = backup["volume_snapshots"]
    assert record["phase"] == "Completed" and record["node"] == "zz-node"
    execs = cluster.control.exec_log()
    assert [e["command"][:2] for e in execs] == [["/sbin/fsfreeze", "--freeze"], ["tar", "-c"], ["/sbin/fsfreeze", "--unfreeze"]]
    assert execs[0]["end_seq"] < execs[1]["seq"] and execs[1]["end_seq"] < execs[2]["seq"]


def _mover_pod(name, phase=None):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"kubesafe.k8s/volume-mover": "true", "kubesafe.k8s/run": "old"}},
           "spec": {"activeDeadlineSeconds": 3600, "containers": [{"name": "mover", "image": "busybox:1.36.1", "command": ["sleep", "3600"]}]}}
    if phase:
        pod["status"] = {"phase": phase, "reason": "DeadlineExceeded"}
    return pod


def test_a_mover_an_interrupted_run_left_is_swept_and_a_live_one_kept(source, ansible_playbook, tmp_path):
    source.control.seed([_mover_pod("kubesafe-mover-left", phase="Failed"), _mover_pod("kubesafe-mover-live")])
    assert source.control.settle(30)

    backup = _backup(ansible_playbook, source, tmp_path, _local(tmp_path), "sweeps")["backup"]

    assert backup["phase"] == "Completed", backup["errors"]
    movers = sorted(p["metadata"]["name"] for p in of_kind(source, "Pod", NAMESPACE) if p["metadata"]["name"].startswith("kubesafe-mover"))
    assert movers == ["kubesafe-mover-live"]


def test_restore_check_mode_writes_nothing_and_a_missing_password_fails_before_any_write(
        source, kubesim_factory, ansible_playbook, tmp_path):
    _backup(ansible_playbook, source, tmp_path, _local(tmp_path), "files-1")
    target = kubesim_factory(name="target", volume_backend=VolumeBackend())
    target.control.seed(target_storage())
    assert target.control.settle(30)
    args = {"backup": "files-1", "location": str(tmp_path / "backups"), "storage_class_mapping": {"nfs": "standard"}}

    target.control.clear_audit()
    result_file = tmp_path / "result-check.json"
    task = {"name": "restore", "kubesafe.k8s.restore": dict(args, fs_backup_password=PASSWORD), "register": "out"}
    ansible_playbook(module_plays([task], result_file), target.env(), "--check")
    restore = json.loads(result_file.read_text())["out"]["restore"]
    assert [(v["kind"], v["claim"], v.get("check_mode")) for v in restore["volumes"]] == [("file-system restore", CLAIM, True)]
    assert [r for r in target.control.audit() if r["method"] != "GET"] == []
    assert target.control.exec_log() == []

    failed = run_module(ansible_playbook, target.env(), tmp_path, "restore", args, check=False)
    assert failed["failed"] and "fs_backup_password" in failed["msg"]
    assert [r for r in target.control.audit() if r["method"] != "GET"] == []


def test_a_csi_claim_is_copied_from_a_fresh_snapshot_with_the_hooks_around_the_snapshot(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(volume_backend=VolumeBackend())
    cluster.control.seed(snapshot_crds())
    cluster.control.seed(csi_storage() + database(namespace=NAMESPACE, claim=CLAIM, annotations=dict(
        freeze_annotations(), **{"backup.velero.io/backup-volumes": "data"})))
    assert cluster.control.settle(30)
    cluster.write_claim_files(NAMESPACE, CLAIM, FILES)
    cluster.control.clear_audit()

    backup = _backup(ansible_playbook, cluster, tmp_path, _local(tmp_path), "csi-fs")["backup"]

    [record] = backup["volume_snapshots"]
    assert (record["method"], record["phase"], record["from_snapshot"]) == ("fs", "Completed", True), record
    # freeze, VolumeSnapshot, unfreeze; the copy comes after, from a claim made from the snapshot.
    execs = cluster.control.exec_log()
    assert [e["command"][:2] for e in execs] == [["/sbin/fsfreeze", "--freeze"], ["/sbin/fsfreeze", "--unfreeze"], ["tar", "-c"]]
    [snapshot_post] = [r for r in cluster.control.audit() if r["method"] == "POST" and r["resource"] == "volumesnapshots"]
    [claim_post] = [r for r in cluster.control.audit() if r["method"] == "POST" and r["resource"] == "persistentvolumeclaims"]
    assert execs[0]["end_seq"] < snapshot_post["seq"] < execs[1]["seq"] < claim_post["seq"] < execs[2]["seq"]
    mover = [r for r in cluster.control.audit() if r["method"] == "POST" and r["resource"] == "pods"]
    assert mover and execs[2]["pod"].startswith("kubesafe-mover-kubesafe-fs-")
    # Nothing of the copy is left: temporary claim, snapshot, content, mover.
    assert [c["metadata"]["name"] for c in of_kind(cluster, "PersistentVolumeClaim", NAMESPACE)] == [CLAIM]
    assert of_kind(cluster, "VolumeSnapshot") == [] and of_kind(cluster, "VolumeSnapshotContent") == []
    assert [p["metadata"]["name"] for p in of_kind(cluster, "Pod", NAMESPACE)] == ["db-0"]

    target = kubesim_factory(name="target", volume_backend=VolumeBackend())
    target.control.seed(target_storage())
    assert target.control.settle(30)
    restore = run_module(ansible_playbook, target.env(), tmp_path, "restore", {
        "backup": "csi-fs", "location": str(tmp_path / "backups"), "storage_class_mapping": {"csi-fast": "standard"},
        "fs_backup_password": PASSWORD})["restore"]
    assert restore["phase"] == "Completed", restore["errors"]
    assert target.claim_files(NAMESPACE, CLAIM) == FILES


def test_migrate_playbook_moves_the_files_to_a_cluster_with_other_storage(source, kubesim_factory, run_playbook, tmp_path):
    target = kubesim_factory(name="target", volume_backend=VolumeBackend())
    target.control.seed(target_storage())
    assert target.control.settle(30)
    variables = {"migrate_source_kubeconfig": source.kubeconfig, "migrate_target_kubeconfig": target.kubeconfig,
                 "migrate_location": str(tmp_path / "loc"), "migrate_included_namespaces": [NAMESPACE],
                 "migrate_storage_class_mapping": {"nfs": "standard"}, "migrate_default_volumes_to_fs_backup": True,
                 "migrate_fs_backup_password": PASSWORD, "migrate_wait_timeout": 60}
    env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable)

    run_playbook("playbooks/migrate.yml", env, "-e", json.dumps(variables))

    assert target.claim_files(NAMESPACE, CLAIM) == FILES
    [deployment] = of_kind(target, "Deployment", NAMESPACE)
    assert deployment["metadata"]["name"] == "web"


def test_a_wrong_password_at_restore_fails_before_any_write(source, kubesim_factory, ansible_playbook, tmp_path):
    _backup(ansible_playbook, source, tmp_path, _local(tmp_path), "files-1")
    target = kubesim_factory(name="target", volume_backend=VolumeBackend())
    target.control.seed(target_storage())
    assert target.control.settle(30)
    target.control.clear_audit()

    failed = run_module(ansible_playbook, target.env(), tmp_path, "restore", {
        "backup": "files-1", "location": str(tmp_path / "backups"), "storage_class_mapping": {"nfs": "standard"},
        "fs_backup_password": "not the password"}, check=False)

    assert failed["failed"] and "does not open with this password" in failed["msg"]
    assert [r for r in target.control.audit() if r["method"] != "GET"] == []


def test_a_mover_image_that_cannot_be_pulled_fails_the_volume_at_once(source, ansible_playbook, tmp_path):
    backup = _backup(ansible_playbook, source, tmp_path, _local(tmp_path), "no-image", fail_on_partial=False,
                     fs_mover={"image": "registry.invalid/tools/busybox:1.36.1"}, fs_mover_timeout="10m")["backup"]

    [record] = backup["volume_snapshots"]
    assert backup["phase"] == "PartiallyFailed" and record["phase"] == "Failed"
    # Not after fs_mover_timeout: the pull error is the reason, and the image is named.
    assert "cannot start" in record["error"] and "registry.invalid/tools/busybox:1.36.1" in record["error"]
    assert [p for p in of_kind(source, "Pod", NAMESPACE) if p["metadata"]["name"].startswith("kubesafe-mover")] == []

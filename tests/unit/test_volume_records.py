"""Snapshot records: Velero's sidecar shapes, and reading them back from our manifest or from a Velero backup."""

import json

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

EBS_RECORD = {"namespace": "shop", "claim": "orders", "persistent_volume": "pv-orders", "method": "ebs", "phase": "Completed",
              "volume_id": "vol-1", "snapshot_handle": "snap-1", "region": "eu-west-1", "availability_zone": "eu-west-1a",
              "volume_type": "gp3", "iops": 3000, "reclaim_policy": "Delete", "started": "2026-11-26T10:00:00Z",
              "completed": "2026-11-26T10:00:05Z"}
CSI_RECORD = {"namespace": "shop", "claim": "data", "persistent_volume": "pvc-1", "method": "csi", "phase": "Completed",
              "driver": "hostpath.csi.k8s.io", "snapshot_handle": "h-9", "content_name": "snapcontent-1", "restore_size": 1024,
              "reclaim_policy": "Delete", "content": {"metadata": {"name": "snapcontent-1"}}}
SKIPPED_RECORD = {"namespace": "shop", "claim": "share", "persistent_volume": "nfs", "method": "none", "phase": "Skipped",
                  "reason": "driver in-tree nfs has no snapshot support here"}


def test_velero_sidecars():
    records = [EBS_RECORD, CSI_RECORD, SKIPPED_RECORD]
    assert volume_records.native_snapshots_sidecar(records, "b") == [{
        "spec": {"backupName": "b", "backupUID": "", "location": "default", "persistentVolumeName": "pv-orders",
                 "providerVolumeID": "vol-1", "volumeType": "gp3", "volumeAZ": "eu-west-1a", "volumeIOPS": 3000},
        "status": {"providerSnapshotID": "snap-1", "phase": "Completed"}}]
    assert volume_records.native_snapshots_sidecar([CSI_RECORD], "b") is None  # Velero writes null without native snapshots
    assert volume_records.csi_contents_sidecar(records) == [CSI_RECORD["content"]]
    ebs_info, csi_info, skipped_info = volume_records.volume_info_sidecar(records)
    assert ebs_info["backupMethod"] == "NativeSnapshot" and ebs_info["result"] == "succeeded"
    assert ebs_info["nativeSnapshotInfo"] == {"snapshotHandle": "snap-1", "volumeID": "vol-1", "volumeType": "gp3",
                                              "volumeAZ": "eu-west-1a", "iops": "3000"}
    assert ebs_info["startTimestamp"] == "2026-11-26T10:00:00Z"
    assert csi_info["csiSnapshotInfo"] == {"snapshotHandle": "h-9", "size": 1024, "driver": "hostpath.csi.k8s.io",
                                           "vscName": "snapcontent-1", "readyToUse": True}
    assert skipped_info["skipped"] is True and "nfs" in skipped_info["skippedReason"] and "result" not in skipped_info


def test_records_come_from_our_manifest(tmp_path):
    location = open_location(str(tmp_path))
    files = velero_format.file_names("ours")
    location.put_bytes(files["manifest"], json.dumps({"volumeSnapshots": [EBS_RECORD]}).encode())
    assert volume_records.read_records(location, "ours") == [EBS_RECORD]
    assert volume_records.find(volume_records.read_records(location, "ours"), "shop", "orders") == EBS_RECORD


def test_records_of_a_velero_backup_come_from_its_sidecars(tmp_path):
    location = open_location(str(tmp_path))
    files = velero_format.file_names("velero-made")
    location.put_bytes(files["volume_snapshots"], velero_format.gzip_json([
        {"spec": {"persistentVolumeName": "pv-a", "providerVolumeID": "vol-a", "volumeAZ": "us-east-2b", "volumeType": "gp2"},
         "status": {"providerSnapshotID": "snap-a", "phase": "Completed"}},
        {"spec": {"persistentVolumeName": "pv-b", "providerVolumeID": "vol-b", "volumeAZ": "us-east-2b"}, "status": {"phase": "Failed"}}]))
    location.put_bytes(files["csi_volume_snapshots"], velero_format.gzip_json([
        {"spec": {"source": {"persistentVolumeClaimName": "data"}}, "status": {"boundVolumeSnapshotContentName": "snapcontent-x"}}]))
    location.put_bytes(files["csi_volume_snapshot_contents"], velero_format.gzip_json([
        {"metadata": {"name": "snapcontent-x"}, "spec": {"driver": "ebs.csi.aws.com", "volumeSnapshotRef": {"namespace": "app"}},
         "status": {"snapshotHandle": "snap-x"}}]))
    records = volume_records.read_records(location, "velero-made")
    assert [(r["method"], r["phase"], r["snapshot_handle"]) for r in records] == [
        ("ebs", "Completed", "snap-a"), ("ebs", "Failed", None), ("csi", "Completed", "snap-x")]
    assert records[0]["region"] == "us-east-2" and records[2]["claim"] == "data" and records[2]["namespace"] == "app"
    assert volume_records.read_records(location, "no-such-backup") == []

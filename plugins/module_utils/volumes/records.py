# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of a backup's volume snapshots, and its Velero sidecar forms.

Our manifest keeps one record per claim (``volumeSnapshots``); restores,
prunes and the volume_snapshot module read it from there. The same facts are
written in Velero's shapes: ``<name>-volumesnapshots.json.gz`` (native
snapshots, i.e. EBS), ``<name>-csi-volumesnapshotcontents.json.gz`` and
``<name>-volumeinfo.json.gz``, so ``velero backup describe`` shows them. A
backup written by Velero has no manifest: its native snapshots and CSI
contents are read back from those sidecars.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound

CSI, EBS, FS = "csi", "ebs", "fs"
COMPLETED, FAILED, SKIPPED = "Completed", "Failed", "Skipped"
CLAIM_FIELDS = ("namespace", "claim", "persistent_volume", "storage_class", "size", "access_modes", "volume_mode", "reclaim_policy",
                "driver", "volume_id")


def new_record(volume, method):
    """A record for one claim's volume (``volume``: a ClaimVolume), before its snapshot is taken."""
    record = {field: getattr(volume, field) for field in CLAIM_FIELDS}
    record.update(method=method, phase=None)
    return record


def completed(records):
    return [record for record in records if record.get("phase") == COMPLETED]


def find(records, namespace, claim):
    """The completed record of a claim, or None."""
    for record in records:
        if record.get("phase") == COMPLETED and record.get("namespace") == namespace and record.get("claim") == claim:
            return record
    return None


def in_other_cluster(record, connected_cluster_id):
    """True when a CSI record names its cluster (kube-system uid) and the connected cluster is known to be another one."""
    return bool(record.get("cluster_id") and connected_cluster_id and connected_cluster_id != record["cluster_id"])


def describe(record):
    handle = record.get("snapshot_handle") or "-"
    return "%s %s/%s (%s)" % (record.get("method"), record.get("namespace"), record.get("claim"), handle)


# ------------------------------------------------------------------ Velero's sidecars

def native_snapshots_sidecar(records, backup_name, backup_uid=""):
    """volumesnapshots: Velero's volume.Snapshot list for the EBS snapshots, or None when there are none."""
    snapshots = []
    for record in records:
        if record.get("method") != EBS or record.get("phase") not in (COMPLETED, FAILED):
            continue
        spec = {"backupName": backup_name, "backupUID": backup_uid, "location": "default",
                "persistentVolumeName": record["persistent_volume"], "providerVolumeID": record["volume_id"],
                "volumeType": record.get("volume_type") or "", "volumeAZ": record.get("availability_zone") or ""}
        if record.get("iops"):
            spec["volumeIOPS"] = int(record["iops"])
        status = {"phase": record["phase"]}
        if record.get("snapshot_handle"):
            status["providerSnapshotID"] = record["snapshot_handle"]
        snapshots.append({"spec": spec, "status": status})
    return snapshots or None


def csi_contents_sidecar(records):
    """csi-volumesnapshotcontents: the retained contents, as Velero lists them."""
    return [record["content"] for record in records if record.get("method") == CSI and record.get("content")]


def pod_volume_backups_sidecar(records, backup_name, storage_location="default"):
    """podvolumebackups: Velero's PodVolumeBackup list for the file-system backups, or None when there are none."""
    items = []
    for record in records:
        if record.get("method") != FS or record.get("phase") not in (COMPLETED, FAILED):
            continue
        status = {"phase": record["phase"], "snapshotID": record.get("snapshot_id") or "", "path": "/" + (record.get("archive") or ""),
                  "progress": {"totalBytes": int(record.get("bytes") or 0), "bytesDone": int(record.get("bytes") or 0)}}
        if record.get("error"):
            status["message"] = record["error"]
        for field, key in (("started", "startTimestamp"), ("completed", "completionTimestamp")):
            if record.get(field):
                status[key] = record[field]
        items.append({"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
                      "metadata": {"name": "%s-%s-%s" % (backup_name, record["namespace"], record["claim"]), "namespace": "velero",
                                   "labels": {"velero.io/backup-name": velero_format.label_value(backup_name)}},
                      "spec": {"node": record.get("node") or "", "volume": record["claim"], "backupStorageLocation": storage_location,
                               "repoIdentifier": record.get("repository") or "", "uploaderType": "restic",
                               "pod": {"kind": "Pod", "namespace": record["namespace"], "name": record.get("mover") or ""},
                               "tags": {"backup": backup_name, "ns": record["namespace"], "pvc": record["claim"]}},
                      "status": status})
    return items or None


def volume_info_sidecar(records):
    """volumeinfo: Velero's BackupVolumeInfo list (Velero 1.13 and later)."""
    infos = []
    methods = {CSI: "CSISnapshot", EBS: "NativeSnapshot", FS: "PodVolumeBackup"}
    for record in records:
        info = {"pvcName": record["claim"], "pvcNamespace": record["namespace"], "pvName": record["persistent_volume"],
                "backupMethod": methods.get(record["method"], "NativeSnapshot"),
                "snapshotDataMoved": False, "pvInfo": {"reclaimPolicy": record.get("reclaim_policy") or ""}}
        if record.get("phase") == SKIPPED:
            info.update(skipped=True, skippedReason=record.get("reason") or "")
        else:
            info["result"] = "succeeded" if record.get("phase") == COMPLETED else "failed"
        for field, key in (("started", "startTimestamp"), ("completed", "completionTimestamp")):
            if record.get(field):
                info[key] = record[field]
        if record["method"] == CSI and record.get("snapshot_handle"):
            info["csiSnapshotInfo"] = {"snapshotHandle": record["snapshot_handle"], "size": int(record.get("restore_size") or 0),
                                       "driver": record.get("driver") or "", "vscName": record.get("content_name") or "", "readyToUse": True}
        elif record["method"] == FS and record.get("snapshot_id"):
            info["pvbInfo"] = {"snapshotHandle": record["snapshot_id"], "size": int(record.get("bytes") or 0), "uploaderType": "restic",
                               "volumeName": record["claim"], "podName": record.get("mover") or "", "podNamespace": record["namespace"],
                               "nodeName": record.get("node") or ""}
        elif record["method"] == EBS and record.get("snapshot_handle"):
            info["nativeSnapshotInfo"] = {"snapshotHandle": record["snapshot_handle"], "volumeID": record.get("volume_id") or "",
                                          "volumeType": record.get("volume_type") or "", "volumeAZ": record.get("availability_zone") or "",
                                          "iops": str(record.get("iops") or "")}
        infos.append(info)
    return infos


# ------------------------------------------------------------------ reading a backup's records

def read_records(location, name):
    """The snapshot records of a backup: from our manifest, else from Velero's sidecars. Raises BackupFormatError."""
    files = velero_format.file_names(name)
    try:
        with location.open_read(files["manifest"]) as stream:
            manifest = json.loads(stream.read())
    except ObjectNotFound:
        return _records_from_velero_sidecars(location, files)
    except ValueError as exc:
        raise BackupFormatError("the manifest of backup '%s' is not JSON: %s" % (name, exc))
    if "volumeSnapshots" not in manifest:  # written before volumes were snapshotted, or edited: trust the sidecars
        return _records_from_velero_sidecars(location, files)
    return list(manifest["volumeSnapshots"] or [])


def _read_sidecar(location, key):
    try:
        with location.open_read(key) as stream:
            return velero_format.gunzip_json(stream.read(), key)
    except ObjectNotFound:
        return None


def _records_from_velero_sidecars(location, files):
    records = []
    for snapshot in _read_sidecar(location, files["volume_snapshots"]) or []:
        spec, status = snapshot.get("spec") or {}, snapshot.get("status") or {}
        records.append({"method": EBS, "phase": COMPLETED if status.get("phase") == "Completed" else FAILED,
                        "persistent_volume": spec.get("persistentVolumeName"), "volume_id": spec.get("providerVolumeID"),
                        "volume_type": spec.get("volumeType"), "availability_zone": spec.get("volumeAZ"), "iops": spec.get("volumeIOPS"),
                        "snapshot_handle": status.get("providerSnapshotID"), "region": (spec.get("volumeAZ") or "")[:-1] or None,
                        "namespace": None, "claim": None})
    claims = {}  # content name -> the claim its VolumeSnapshot was taken of
    for snapshot in _read_sidecar(location, files["csi_volume_snapshots"]) or []:
        content_name = (snapshot.get("status") or {}).get("boundVolumeSnapshotContentName")
        source = (snapshot.get("spec") or {}).get("source") or {}
        if content_name:
            claims[content_name] = source.get("persistentVolumeClaimName")
    for content in _read_sidecar(location, files["csi_volume_snapshot_contents"]) or []:
        spec, status = content.get("spec") or {}, content.get("status") or {}
        ref = spec.get("volumeSnapshotRef") or {}
        content_name = (content.get("metadata") or {}).get("name")
        records.append({"method": CSI, "phase": COMPLETED if status.get("snapshotHandle") else FAILED, "driver": spec.get("driver"),
                        "snapshot_handle": status.get("snapshotHandle"), "content_name": content_name,
                        "snapshot_class": spec.get("volumeSnapshotClassName"), "restore_size": status.get("restoreSize"),
                        "namespace": ref.get("namespace"), "claim": claims.get(content_name), "persistent_volume": None})
    return records

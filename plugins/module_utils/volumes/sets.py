# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named sets of volume snapshots outside a backup (the volume_snapshot module), on the backup's engine.

A set is what a backup's snapshots are too: CSI contents labelled, and EBS
snapshots tagged, ``kubesafe.k8s/backup=<set name>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.csi import BACKUP_LABEL, CsiSnapshots
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.run_log import RunLog
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import LabelSelector
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.deletion import delete_recorded_snapshots
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.backup import VolumeBackup


def snapshot_claims(client, settings, set_name, namespace, claims=None, label_selector=None, parallelism=4, check_mode=False):
    """Snapshot claims of ``namespace`` (named, or by selector, or all), with the hooks of the pods mounting them."""
    velero_format.validate_backup_name(set_name, "set_name")
    if "fs" in (settings.method.values() if isinstance(settings.method, dict) else [settings.method]):
        raise ConfigurationError("method fs copies files into a backup location: use the backup module (volume_snapshot_method fs) for it")
    selector = LabelSelector(label_selector, "label_selector") if label_selector else None
    run_log = RunLog("snapshot", set_name)
    engine = VolumeBackup(client, settings, set_name, run_log, parallelism=parallelism, check_mode=check_mode)
    found = set()
    for page in client.list_pages("/api/v1/namespaces/%s/persistentvolumeclaims" % namespace):
        for claim in page.get("items") or []:
            name = claim["metadata"]["name"]
            if claims and name not in claims:
                continue
            if selector is not None and not selector.matches(claim["metadata"].get("labels") or {}):
                continue
            found.add(name)
            engine.observe("persistentvolumeclaims", claim)
    missing = sorted(set(claims or []) - found)
    if missing:
        raise ConfigurationError("claims: %s not found in namespace %s" % (", ".join(missing), namespace))
    mounting = []
    for page in client.list_pages("/api/v1/namespaces/%s/pods" % namespace):
        for pod in page.get("items") or []:
            if any((volume.get("persistentVolumeClaim") or {}).get("claimName") in found for volume in (pod.get("spec") or {}).get("volumes") or []):
                mounting.append(pod)
    for pod in mounting:
        engine.observe("pods", pod)
    engine.run()
    records = [{key: value for key, value in record.items() if key != "content"} for record in engine.records]
    return {"snapshots": records, "hooks": engine.hook_results, "warnings": run_log.warnings, "errors": run_log.errors}


def list_snapshot_set(client, ebs, set_name=None):
    """The snapshots of a set (or of every set): CSI contents in the cluster, EBS snapshots in the configured region."""
    found = []
    csi = CsiSnapshots(client)
    if csi.served():
        for content in csi.list_contents(velero_format.label_value(set_name) if set_name else None):
            ref = content["spec"].get("volumeSnapshotRef") or {}
            found.append({"method": volume_records.CSI, "phase": volume_records.COMPLETED,
                          "set_name": (content["metadata"].get("labels") or {}).get(BACKUP_LABEL),
                          "content_name": content["metadata"]["name"], "snapshot_handle": (content.get("status") or {}).get("snapshotHandle"),
                          "driver": content["spec"].get("driver"), "namespace": ref.get("namespace")})
    if ebs is not None and (ebs.settings.get("region") or ebs.settings.get("profile")):
        tags = {BACKUP_LABEL: set_name} if set_name else {BACKUP_LABEL: None}
        for snapshot in ebs.find_snapshots(tags):
            found.append({"method": volume_records.EBS, "phase": volume_records.COMPLETED,
                          "set_name": (snapshot.get("tags") or {}).get(BACKUP_LABEL),
                          "snapshot_handle": snapshot["snapshot_id"], "region": snapshot.get("region"),
                          "volume_id": snapshot.get("volume_id")})
    return found


def delete_snapshot_set(client, ebs, set_name, check_mode=False):
    """(the set's snapshots, deleted descriptions, failures)."""
    found = list_snapshot_set(client, ebs, set_name)
    if check_mode:
        return found, [], []
    deleted, warnings, failures = delete_recorded_snapshots(found, csi=CsiSnapshots(client), ebs=ebs)
    return found, deleted, failures + warnings

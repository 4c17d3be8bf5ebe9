# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Volumes of a restore, from the backup's snapshot records.

- CSI: the PersistentVolume is not restored; the claim gets a new volume
  provisioned from the snapshot (``dataSource``/``dataSourceRef`` naming a
  VolumeSnapshot that points at a pre-provisioned, Retain content carrying
  the recorded snapshot handle). The storage class mapping applies to the
  claim as usual, so the new volume comes from the mapped class.
- EBS: a new volume is created from the snapshot (or its copy in the
  restore's region) in the target availability zone, and the PV is
  rewritten to it; the claim binds to that PV as before.
- File-system backup (fs): the PersistentVolume is not restored; the claim
  is created without a volume name, so that the (mapped) storage class
  provisions a new volume, and right after the claims (before any pod) a
  mover pod fills it from the restic snapshot (fs_copy.py). This works into
  a cluster whose storage shares nothing with the source.
- No snapshot: the engine's rules apply (a Delete PV is not restored).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.csi import CsiSnapshots, SnapshotError, data_source
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.rules import restore_labels


class VolumeRestore:
    def __init__(self, client, records, backup_name, restore_name, restore_pvs=True, ebs_config=None, ebs_factory=None, check_mode=False,
                 run_log=None, parallelism=4):
        self.client = client
        self.run_log = run_log
        self.parallelism = max(1, int(parallelism))
        self._fs_repositories = None
        self._fs_mover = None
        self._fs_pending = []  # (namespace, claim, record): claims created empty, to fill before the pods
        self.backup_name = backup_name
        self.restore_name = restore_name
        self.enabled = bool(restore_pvs)
        self.check_mode = check_mode
        self.ebs_config = ebs_config or {}
        self.ebs_factory = ebs_factory
        completed = volume_records.completed(records) if self.enabled else []
        self.by_pv = {record["persistent_volume"]: record for record in completed if record.get("persistent_volume")}
        self.by_claim = {(record["namespace"], record["claim"]): record for record in completed if record.get("claim")}
        self.created = []  # what this restore made for volumes, for the report
        self._csi = CsiSnapshots(client)
        self._csi_served = None
        self._provisioners = {}  # storage class -> provisioner, for the CSI preflight
        self._ebs = None

    def record_for_pv(self, pv):
        record = self.by_pv.get(pv["metadata"]["name"])
        if record is None:
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            record = self.by_claim.get((ref.get("namespace"), ref.get("name")))
        return record

    def pv_decision(self, pv):
        """None when no snapshot covers the PV (the usual rules apply), else (restore?, reason)."""
        record = self.record_for_pv(pv)
        if record is None:
            return None
        if record["method"] == volume_records.CSI:
            return False, "restored from its CSI snapshot: the claim gets a new volume provisioned from %s" % record["snapshot_handle"]
        if record["method"] == volume_records.FS:
            return False, "restored from its file-system backup: the claim gets a new volume, filled from restic snapshot %s" % record["snapshot_id"]
        return True, None

    def _exists(self, path):
        try:
            self.client.request("GET", path)
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    # ------------------------------------------------------------ CSI claims

    def prepare_claim(self, desired, source_namespace):
        """Point a claim with a CSI snapshot at a VolumeSnapshot of it; returns the claim (changed or not)."""
        record = self.by_claim.get((source_namespace, desired["metadata"]["name"]))
        if record is not None and record["method"] == volume_records.FS:
            return self._prepare_fs_claim(desired, record)
        if record is None or record["method"] != volume_records.CSI:
            return desired
        namespace = desired["metadata"]["namespace"]
        if self._exists("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (namespace, desired["metadata"]["name"])):
            return desired  # an existing claim keeps its volume (a claim's data source cannot change): nothing to provision
        self._check_csi_target(desired, record)
        content, snapshot = self._csi.restore_objects(record, namespace, desired["metadata"]["name"], self.restore_name)
        # Labelled as every restored object, so a drill's cleanup finds them.
        content, snapshot = (restore_labels(obj, self.backup_name, self.restore_name) for obj in (content, snapshot))
        if not self.check_mode:
            self._csi.create_restore_objects(content, snapshot)
        self.created.append({"kind": "VolumeSnapshot", "namespace": namespace, "name": snapshot["metadata"]["name"],
                             "content": content["metadata"]["name"], "snapshot_handle": record["snapshot_handle"]})
        spec = desired.setdefault("spec", {})
        spec.pop("volumeName", None)
        spec["dataSource"] = data_source(snapshot["metadata"]["name"])
        spec["dataSourceRef"] = data_source(snapshot["metadata"]["name"])
        return desired

    def _check_csi_target(self, claim, record):
        """Refuse, before any write, a claim the target could never provision from the snapshot (also in check mode)."""
        if self._csi_served is None:
            self._csi_served = self._csi.served()
        if not self._csi_served:
            raise SnapshotError("the target cluster does not serve snapshot.storage.k8s.io/v1, needed to restore claim %s from its CSI "
                                "snapshot: install the external-snapshotter CRDs and controller, or restore with restore_pvs: false "
                                "(the claim then comes back empty)" % claim["metadata"]["name"])
        class_name = (claim.get("spec") or {}).get("storageClassName")
        if not class_name:
            return
        if class_name not in self._provisioners:
            try:
                storage_class = self.client.request("GET", "/apis/storage.k8s.io/v1/storageclasses/%s" % class_name)
                self._provisioners[class_name] = storage_class.get("provisioner")
            except ApiError as exc:
                if exc.status != 404:
                    raise
                self._provisioners[class_name] = None  # a missing class is reported by the restore's own checks
        provisioner = self._provisioners[class_name]
        if provisioner and record.get("driver") and provisioner != record["driver"]:
            raise SnapshotError("claim %s: storage class %s provisions with %s, which cannot restore a snapshot of driver %s; map it to a "
                                "class of that driver (storage_class_mapping)" % (claim["metadata"]["name"], class_name, provisioner, record["driver"]))

    # ------------------------------------------------------------ file-system backups

    def prepare_fs(self, location, password, passphrase, mover):
        """Before any write: restic and the password, when the restore has claims with file-system backups."""
        if not any(record["method"] == volume_records.FS for record in self.by_claim.values()):
            return
        from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.restic import (  # pylint: disable=import-outside-toplevel
            ResticRepositories, repository_password, restic_binary)
        try:
            password = repository_password(password, passphrase)
        except ConfigurationError:
            raise ConfigurationError("the backup holds file-system backups of volumes (restic repositories in the location): give "
                                     "fs_backup_password, or decryption_passphrase when the backup was encrypted with a passphrase "
                                     "(or restore_pvs: false to restore the claims empty)")
        restic_binary()
        self._fs_repositories = ResticRepositories(location, password, read_only=True)
        self._fs_mover = mover
        # The password opens every repository and every recorded snapshot is there: known now, not after claims exist.
        records = [record for record in self.by_claim.values() if record["method"] == volume_records.FS]
        for namespace in sorted({record["namespace"] for record in records}):
            present = {snapshot["id"][:8] for snapshot in self._fs_repositories.snapshots(namespace)}
            for record in records:
                if record["namespace"] == namespace and record["snapshot_id"][:8] not in present:
                    raise KubesafeError("restic snapshot %s of claim %s/%s is not in %s (forgotten by a prune?): restore with "
                                        "restore_pvs: false to bring the claim back empty" % (
                                            record["snapshot_id"], namespace, record["claim"], self._fs_repositories.url(namespace)))

    def _prepare_fs_claim(self, desired, record):
        namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
        if self._exists("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (namespace, name)):
            return desired  # an existing claim keeps its volume and its files: nothing is written into it
        spec = desired.setdefault("spec", {})
        for key in ("volumeName", "dataSource", "dataSourceRef"):
            spec.pop(key, None)  # a new volume of the (mapped) class, filled below
        self._fs_pending.append((namespace, name, record))
        if self.check_mode:
            self.created.append({"kind": "file-system restore", "namespace": namespace, "claim": name, "snapshot_id": record["snapshot_id"],
                                 "repository": record.get("repository"), "check_mode": True})
        return desired

    def fill_claims(self):
        """Fill the claims created empty from their restic snapshots (movers in parallel); failures are errors of the run."""
        pending, self._fs_pending = self._fs_pending, []
        if not pending or self.check_mode:
            return
        from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.mover import sweep_movers  # pylint: disable=import-outside-toplevel
        deleted, errors = sweep_movers(self.client, {namespace for namespace, _claim, _record in pending})
        if self.run_log is not None:
            for name in deleted:
                self.run_log.log("info", "deleted mover pod %s, left by an interrupted run" % name)
            for error in errors:
                self.run_log.warn(error)
        with concurrent.futures.ThreadPoolExecutor(min(self.parallelism, len(pending))) as pool:
            entries = list(pool.map(lambda item: self._fill(*item), pending))
        self.created.extend(entries)

    def _fill(self, namespace, claim, record):
        from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.fs_copy import restore_claim  # pylint: disable=import-outside-toplevel
        entry = {"kind": "file-system restore", "namespace": namespace, "claim": claim, "snapshot_id": record["snapshot_id"],
                 "repository": record.get("repository"), "bytes": record.get("bytes")}
        try:
            seconds, stream_seconds, warning = restore_claim(self.client, self._fs_repositories, self._fs_mover,
                                                             velero_format.label_value(self.restore_name), record, namespace, claim)
            entry.update(phase=volume_records.COMPLETED, duration_seconds=seconds, stream_seconds=stream_seconds)
            if warning and self.run_log is not None:
                self.run_log.warn(warning)
        except KubesafeError as exc:
            entry.update(phase=volume_records.FAILED, error=str(exc))
            if self.run_log is not None:
                self.run_log.error("PersistentVolumeClaim %s/%s: its files were not restored from restic snapshot %s: %s" % (
                    namespace, claim, record["snapshot_id"], exc))
        return entry

    # ------------------------------------------------------------ EBS volumes

    def _ebs_api(self):
        if self._ebs is None:
            if self.ebs_factory is None:
                raise ConfigurationError("restoring EBS snapshots needs boto3 on the host running the module")
            self._ebs = self.ebs_factory(self.ebs_config)
        return self._ebs

    def prepare_pv(self, desired):
        """An EBS PV rewritten to a new volume made from its snapshot; raises SnapshotError."""
        record = self.record_for_pv(desired)
        if record is None or record["method"] != volume_records.EBS:
            return desired
        if self._exists("/api/v1/persistentvolumes/%s" % desired["metadata"]["name"]):
            return desired  # the PV is still there: no new disk (it would be left unused, and billed)
        from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs_pv import rewrite_pv_for_volume  # pylint: disable=import-outside-toplevel
        region = self.ebs_config.get("region") or record.get("region")
        snapshot_id = record["snapshot_handle"]
        if region != record.get("region"):
            copies = {copy["region"]: copy["snapshot_id"] for copy in record.get("copies") or []}
            if region not in copies:
                raise SnapshotError("EBS snapshot %s of PV %s is in %s and has no copy in %s (ebs_config.region): restore in %s, "
                                    "or back up with ebs_config.copy_to_region %s"
                                    % (snapshot_id, desired["metadata"]["name"], record.get("region"), region, record.get("region"), region))
            snapshot_id = copies[region]
        zone = self.ebs_config.get("availability_zone") or (record.get("availability_zone") if region == record.get("region") else None)
        if not zone:
            raise SnapshotError("restoring PV %s into region %s needs ebs_config.availability_zone (the zone of the nodes that will mount it)"
                                % (desired["metadata"]["name"], region))
        if self.check_mode:
            self.created.append({"kind": "EBS volume", "snapshot_id": snapshot_id, "availability_zone": zone, "check_mode": True})
            return desired
        try:
            volume_type = self.ebs_config.get("volume_type") or record.get("volume_type")
            volume = self._ebs_api().create_volume(snapshot_id, zone, region=region, volume_type=volume_type,
                                                   iops=record.get("iops"), kms_key_id=self.ebs_config.get("kms_key_id"),
                                                   tags={"kubesafe.k8s/restore": self.restore_name,
                                                         "kubesafe.k8s/persistent-volume": desired["metadata"]["name"]})
        except KubesafeError as exc:
            raise SnapshotError("could not create a volume from EBS snapshot %s for PV %s: %s" % (snapshot_id, desired["metadata"]["name"], exc))
        self.created.append({"kind": "EBS volume", "volume_id": volume["volume_id"], "snapshot_id": snapshot_id,
                             "availability_zone": volume["availability_zone"], "persistent_volume": desired["metadata"]["name"]})
        return rewrite_pv_for_volume(desired, volume["volume_id"], volume["availability_zone"])

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Are a backup's volume snapshots still there and usable? (verify's ``snapshots`` check)

A snapshot deleted behind the backup's back (by hand, by a lifecycle rule,
by a driver with deletionPolicy Delete) makes its claim come back empty: on
the worst day that is lost data, so verify says it before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.csi import CONTENTS_PATH, cluster_identity
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs import EbsNotFound
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError


def check_recorded_snapshots(records, csi_client=None, ebs=None):
    """(detail, problems, warnings) for the completed snapshots of ``records``."""
    problems, warnings = [], []
    checked = 0
    connected = cluster_identity(csi_client) if csi_client is not None else None
    for record in volume_records.completed(records):
        where = "claim %s/%s" % (record.get("namespace"), record.get("claim"))
        if record["method"] == volume_records.CSI:
            if csi_client is None:
                warnings.append("CSI snapshot of %s not checked: no cluster access" % where)
                continue
            if volume_records.in_other_cluster(record, connected):
                warnings.append("CSI snapshot of %s not checked: it lives in the cluster the backup was taken of, not the connected one" % where)
                continue
            checked += 1
            problems.extend(_check_csi(csi_client, record, where))
        elif record["method"] == volume_records.EBS:
            if ebs is None:
                warnings.append("EBS snapshot of %s not checked: boto3 or AWS settings are missing" % where)
                continue
            for region, snapshot_id in [(record.get("region"), record["snapshot_handle"])] + [
                    (copy["region"], copy["snapshot_id"]) for copy in record.get("copies") or []]:
                checked += 1
                problems.extend(_check_ebs(ebs, snapshot_id, region, where))
    return "%d snapshot(s) checked at their provider" % checked, problems, warnings


def _check_csi(client, record, where):
    name = record.get("content_name")
    try:
        content = client.request("GET", "%s/%s" % (CONTENTS_PATH, name))
    except ApiError as exc:
        if exc.status == 404:
            return ["VolumeSnapshotContent %s (snapshot of %s) is gone: a restore would bring the claim back empty" % (name, where)]
        return ["VolumeSnapshotContent %s (snapshot of %s) cannot be read: %s" % (name, where, exc)]
    status, spec = content.get("status") or {}, content.get("spec") or {}
    problems = []
    if status.get("snapshotHandle") != record.get("snapshot_handle"):
        problems.append("VolumeSnapshotContent %s now holds snapshot %s, the backup recorded %s" % (
            name, status.get("snapshotHandle"), record.get("snapshot_handle")))
    if not status.get("readyToUse"):
        problems.append("VolumeSnapshotContent %s (snapshot of %s) is not ready to use" % (name, where))
    if spec.get("deletionPolicy") != "Retain":
        problems.append("VolumeSnapshotContent %s (snapshot of %s) has deletionPolicy %s: deleting it would delete the snapshot "
                        "before the backup expires; set it to Retain" % (name, where, spec.get("deletionPolicy")))
    return problems


def _check_ebs(ebs, snapshot_id, region, where):
    try:
        snapshot = ebs.describe_snapshot(snapshot_id, region=region)
    except KubesafeError as exc:
        if isinstance(exc, EbsNotFound):
            return ["EBS snapshot %s in %s (snapshot of %s) is gone: a restore would bring the claim back empty" % (snapshot_id, region, where)]
        return ["EBS snapshot %s in %s (snapshot of %s) cannot be read: %s" % (snapshot_id, region, where, exc)]
    if snapshot.get("state") != "completed":
        return ["EBS snapshot %s in %s (snapshot of %s) is %s, not completed" % (snapshot_id, region, where, snapshot.get("state"))]
    return []


class VolumeDataChecker:
    """verify's ``volume_data`` check: the restic repositories of a backup's file-system backups pass ``restic check`` (each
    repository once per run, reading ``read_data_subset`` of its data, e.g. ``10%``) and still hold the backup's snapshots."""

    def __init__(self, repositories, read_data_subset=None):
        self.repositories = repositories
        self.read_data_subset = read_data_subset
        self._checked = {}  # namespace -> problem or None

    def __call__(self, name, records):
        taken = [record for record in volume_records.completed(records) if record["method"] == volume_records.FS]
        if not taken:
            return "no file-system volume backups", [], []
        if self.repositories is None:
            return "not checked", [], ["the file-system volume backups were not checked: give fs_backup_password (or the encryption "
                                       "passphrase they derive it from)"]
        problems = []
        for namespace in sorted({record["namespace"] for record in taken}):
            problem = self._check_repository(namespace)
            if problem:
                problems.append(problem)
                continue
            try:
                present = {snapshot["id"][:8] for snapshot in self.repositories.snapshots(namespace, ["backup=%s" % name])}
            except KubesafeError as exc:
                problems.append("the snapshots of restic repository %s cannot be listed: %s" % (self.repositories.url(namespace), exc))
                continue
            for record in taken:
                if record["namespace"] == namespace and record["snapshot_id"][:8] not in present:
                    problems.append("restic snapshot %s of claim %s/%s is gone from %s: a restore would bring the claim back empty" % (
                        record["snapshot_id"], namespace, record["claim"], self.repositories.url(namespace)))
        return "%d file-system volume backup(s) in %d restic repositories checked%s" % (
            len(taken), len({record["namespace"] for record in taken}),
            " (reading %s of the data)" % self.read_data_subset if self.read_data_subset else ""), problems, []

    def _check_repository(self, namespace):
        if namespace not in self._checked:
            problem = None
            if not self.repositories.exists(namespace):
                problem = "restic repository %s is gone: the file-system volume backups of %s cannot be restored" % (
                    self.repositories.url(namespace), namespace)
            else:
                try:
                    self.repositories.check(namespace, self.read_data_subset)
                except KubesafeError as exc:
                    problem = "restic check of %s failed: %s" % (self.repositories.url(namespace), exc)
            self._checked[namespace] = problem
        return self._checked[namespace]

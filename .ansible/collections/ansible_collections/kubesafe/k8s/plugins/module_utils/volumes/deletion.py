# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleting the volume snapshots a backup recorded: by prune, by a backup that was not committed, by volume_snapshot.

A snapshot that is already gone counts as deleted (someone removed it by
hand); one that cannot be deleted, or whose provider is not configured,
is reported by name so it can be removed by hand, and never stops the
deletion of the others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError


def delete_recorded_snapshots(records, csi=None, ebs=None):
    """(deleted snapshot descriptions, warnings, failures). ``csi``: CsiSnapshots or None; ``ebs``: EbsSnapshots or None.

    A warning: a snapshot left because its provider was not given. A failure: the provider refused or failed.
    """
    deleted, warnings, failures = [], [], []
    for record in records:
        if record.get("phase") != volume_records.COMPLETED:
            continue
        try:
            if record["method"] == volume_records.CSI:
                _delete_csi(record, csi, deleted, warnings)
            elif record["method"] == volume_records.EBS:
                _delete_ebs(record, ebs, deleted, warnings)
        except KubesafeError as exc:
            failures.append("could not delete snapshot %s: %s" % (volume_records.describe(record), exc))
    return deleted, warnings, failures


def _delete_csi(record, csi, deleted, warnings):
    if not record.get("content_name"):
        return
    if csi is None:
        warnings.append("VolumeSnapshotContent %s (%s) was not deleted: no cluster access was given; delete it with kubectl "
                        "(set its deletionPolicy to Delete first) or give the cluster's kubeconfig" % (record["content_name"], volume_records.describe(record)))
        return
    connected = csi.cluster_id()
    if volume_records.in_other_cluster(record, connected):
        # A 404 here would look like "already deleted" and orphan the real snapshot: refuse instead.
        raise KubesafeError("VolumeSnapshotContent %s lives in the cluster the backup was taken of (kube-system uid %s), not in the "
                            "connected one (%s): run with that cluster's kubeconfig" % (record["content_name"], record["cluster_id"], connected))
    if csi.delete_content(record["content_name"]):
        deleted.append("VolumeSnapshotContent %s" % record["content_name"])


def _delete_ebs(record, ebs, deleted, warnings):
    snapshots = [(record.get("region"), record.get("snapshot_handle"))] + [(copy["region"], copy["snapshot_id"]) for copy in record.get("copies") or []]
    for region, snapshot_id in snapshots:
        if not snapshot_id:
            continue
        if ebs is None:
            warnings.append("EBS snapshot %s in %s was not deleted: boto3 or AWS settings are missing; delete it with "
                            "'aws ec2 delete-snapshot --snapshot-id %s --region %s'" % (snapshot_id, region, snapshot_id, region))
            continue
        if ebs.delete_snapshot(snapshot_id, region=region):
            deleted.append("EBS snapshot %s (%s)" % (snapshot_id, region))

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a claim's volume is (driver, volume ID, size, class, zone) and which snapshot method takes it.

Methods: ``csi`` (VolumeSnapshot API, any CSI driver with a snapshot class),
``ebs`` (the EC2 API, for in-tree awsElasticBlockStore volumes and volumes
of the EBS CSI driver), ``fs`` (the files, copied by a mover pod into a
restic repository in the backup location; any Filesystem volume), ``none``. ``auto`` picks csi for CSI volumes and
ebs for in-tree EBS volumes; the ``volume_snapshot_method`` option can name
one method, or one per storage class or driver (the class is looked up
first).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

IN_TREE_EBS = "kubernetes.io/aws-ebs"
EBS_CSI_DRIVER = "ebs.csi.aws.com"
ZONE_KEYS = ("topology.ebs.csi.aws.com/zone", "topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
IN_TREE_DRIVERS = ("awsElasticBlockStore", "gcePersistentDisk", "azureDisk", "cinder", "rbd", "nfs", "hostPath", "local", "iscsi", "fc")


class ClaimVolume:
    """A bound claim and its PersistentVolume, reduced to what snapshots and restores need."""

    def __init__(self, claim, pv):
        claim_meta, claim_spec = claim["metadata"], claim.get("spec") or {}
        spec = pv.get("spec") or {}
        self.namespace = claim_meta["namespace"]
        self.claim = claim_meta["name"]
        self.persistent_volume = pv["metadata"]["name"]
        self.storage_class = spec.get("storageClassName") or claim_spec.get("storageClassName") or ""
        self.size = (spec.get("capacity") or {}).get("storage") or ((claim.get("status") or {}).get("capacity") or {}).get("storage")
        self.access_modes = list(spec.get("accessModes") or claim_spec.get("accessModes") or [])
        self.volume_mode = spec.get("volumeMode") or "Filesystem"
        self.reclaim_policy = spec.get("persistentVolumeReclaimPolicy") or "Retain"
        self.driver, self.volume_id = _driver_and_volume_id(spec)
        self.availability_zone = _zone(pv)
        self.region = self.availability_zone[:-1] if self.availability_zone and self.availability_zone[-1].isalpha() else None

    @property
    def is_csi(self):
        return self.driver is not None and self.driver != IN_TREE_EBS and not self.driver.startswith("in-tree ")

    @property
    def is_ebs(self):
        return self.driver in (IN_TREE_EBS, EBS_CSI_DRIVER)


def _driver_and_volume_id(spec):
    if spec.get("csi"):
        return spec["csi"].get("driver"), spec["csi"].get("volumeHandle")
    if spec.get("awsElasticBlockStore"):
        # In-tree IDs may be "aws://us-east-1a/vol-0123"; the EC2 API wants the last part.
        return IN_TREE_EBS, spec["awsElasticBlockStore"].get("volumeID", "").rsplit("/", 1)[-1]
    for kind in IN_TREE_DRIVERS:
        if kind in spec:
            return "in-tree " + kind, None
    return None, None


def _zone(pv):
    labels = pv["metadata"].get("labels") or {}
    for key in ZONE_KEYS:
        if labels.get(key):
            return labels[key]
    terms = ((((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")) or []
    for term in terms:
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") in ZONE_KEYS and expression.get("operator") == "In" and expression.get("values"):
                return expression["values"][0]
    volume_id = ((pv.get("spec") or {}).get("awsElasticBlockStore") or {}).get("volumeID", "")
    if volume_id.startswith("aws://") and volume_id.count("/") >= 3:
        return volume_id.split("/")[2] or None
    return None


def choose_method(volume, option):
    """(method, None) or (None, why no method takes the volume)."""
    method = option
    if isinstance(option, dict):
        method = option.get(volume.storage_class) or option.get(volume.driver or "") or option.get("*") or "auto"
    if method == "none":
        return None, "volume_snapshot_method is none for storage class '%s' / driver %s" % (volume.storage_class, volume.driver)
    if method == "fs":
        if volume.volume_mode == "Block":
            return None, "volume_snapshot_method fs copies files: this is a raw block volume (volumeMode Block)"
        return "fs", None
    if method == "auto":
        if volume.driver == IN_TREE_EBS:
            return "ebs", None
        if volume.driver and volume.is_csi:
            return "csi", None
        return None, ("driver %s has no snapshot support here (CSI drivers use VolumeSnapshots, EBS volumes the EC2 API); "
                      "migrate the volume to a CSI driver, or set volume_snapshot_method none for it to silence this" % (volume.driver or "unknown"))
    if method == "ebs" and not volume.is_ebs:
        return None, "volume_snapshot_method ebs applies to EBS volumes only; this volume's driver is %s" % (volume.driver or "unknown")
    if method == "csi" and not volume.is_csi:
        return None, "volume_snapshot_method csi applies to CSI volumes only; this volume's driver is %s" % (volume.driver or "unknown")
    return method, None

"""Which snapshot method takes which volume, and what a claim's volume is."""

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.inventory import ClaimVolume, choose_method

CLAIM = {"metadata": {"namespace": "shop", "name": "data"},
         "spec": {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"]}, "status": {"capacity": {"storage": "5Gi"}}}


def pv(source, storage_class="fast", labels=None, affinity_zone=None):
    spec = dict(source, storageClassName=storage_class, capacity={"storage": "5Gi"}, persistentVolumeReclaimPolicy="Delete")
    if affinity_zone:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": [affinity_zone]}]}]}}
    return {"metadata": {"name": "pv-1", "labels": labels or {}}, "spec": spec}


HOSTPATH = {"csi": {"driver": "hostpath.csi.k8s.io", "volumeHandle": "h-1"}}
EBS_CSI = {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0abc"}}
IN_TREE_EBS = {"awsElasticBlockStore": {"volumeID": "aws://eu-west-1b/vol-0def"}}
NFS = {"nfs": {"server": "nfs", "path": "/x"}}


@pytest.mark.parametrize("source, option, expected", [
    (HOSTPATH, "auto", "csi"),
    (EBS_CSI, "auto", "csi"),
    (IN_TREE_EBS, "auto", "ebs"),
    (NFS, "auto", None),
    (EBS_CSI, "ebs", "ebs"),
    (HOSTPATH, "ebs", None),  # not an EBS volume
    (IN_TREE_EBS, "csi", None),  # not a CSI volume
    (HOSTPATH, "none", None),
    (HOSTPATH, {"fast": "none"}, None),  # by storage class
    (EBS_CSI, {"ebs.csi.aws.com": "ebs"}, "ebs"),  # by driver
    (EBS_CSI, {"fast": "csi", "ebs.csi.aws.com": "ebs"}, "csi"),  # the class is looked up first
    (HOSTPATH, {"slow": "none", "*": "csi"}, "csi"),
    (NFS, {"other": "csi"}, None),  # falls back to auto
])
def test_method_choice(source, option, expected):
    method, reason = choose_method(ClaimVolume(CLAIM, pv(source)), option)
    assert method == expected
    assert (reason is None) == (expected is not None)


def test_unsupported_driver_reason_names_the_driver_and_the_fix():
    method, reason = choose_method(ClaimVolume(CLAIM, pv(NFS)), "auto")
    assert method is None and "in-tree nfs" in reason and "volume_snapshot_method none" in reason


@pytest.mark.parametrize("source, labels, affinity_zone, zone, region, volume_id", [
    (IN_TREE_EBS, {}, None, "eu-west-1b", "eu-west-1", "vol-0def"),  # from the aws:// volume ID
    (EBS_CSI, {}, "us-east-2c", "us-east-2c", "us-east-2", "vol-0abc"),  # from the CSI node affinity
    (EBS_CSI, {"topology.kubernetes.io/zone": "ap-south-1a"}, "us-east-2c", "ap-south-1a", "ap-south-1", "vol-0abc"),  # labels first
    (HOSTPATH, {}, None, None, None, "h-1"),
])
def test_volume_facts(source, labels, affinity_zone, zone, region, volume_id):
    volume = ClaimVolume(CLAIM, pv(source, labels=labels, affinity_zone=affinity_zone))
    assert (volume.availability_zone, volume.region, volume.volume_id) == (zone, region, volume_id)
    assert (volume.namespace, volume.claim, volume.persistent_volume, volume.size, volume.storage_class) == ("shop", "data", "pv-1", "5Gi", "fast")

"""EBS volume data through ansible-playbook against EC2 on the loopback moto server.

Back up an in-tree EBS volume (snapshot tagged, copied to a second region),
restore it into other clusters in another zone and in the copy's region
(a new volume from the snapshot, the PV rewritten to it), prune it (the
snapshots and their copies go).
"""

import gzip
import json

import boto3
import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs import ebs_client
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions, run_restore
from module_results import of_kind, run_module
from velero_archives import velero_archive

pytestmark = pytest.mark.integration


def ec2(endpoint, region):
    return boto3.client("ec2", endpoint_url=endpoint, region_name=region)


def ebs_app(volume_id, zone="us-east-1a", namespace="ebs-app"):
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "PersistentVolume",
         "metadata": {"name": "pv-orders", "labels": {"topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": zone[:-1]}},
         "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Delete",
                  "storageClassName": "gp2-intree", "awsElasticBlockStore": {"volumeID": "aws://%s/%s" % (zone, volume_id), "fsType": "ext4"},
                  "claimRef": {"namespace": namespace, "name": "orders"}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "orders", "namespace": namespace},
         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp2-intree", "volumeName": "pv-orders",
                  "resources": {"requests": {"storage": "10Gi"}}}},
    ]


def test_ebs_snapshot_copy_restore_in_another_zone_and_region_then_prune(kubesim_factory, ansible_playbook, tmp_path, ec2_endpoint):
    east, west = ec2(ec2_endpoint, "us-east-1"), ec2(ec2_endpoint, "us-west-2")
    volume_id = east.create_volume(AvailabilityZone="us-east-1a", Size=10, VolumeType="gp3",
                                   TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "orders"}]}])["VolumeId"]
    source = kubesim_factory(name="source")
    source.control.seed(ebs_app(volume_id))
    assert source.control.settle(30)
    location = tmp_path / "backups"
    backup = run_module(ansible_playbook, source.env(), tmp_path, "backup", {
        "name": "orders-ebs", "location": str(location), "included_namespaces": ["ebs-app"], "snapshot_volumes": True,
        "ebs_config": {"endpoint_url": ec2_endpoint, "copy_to_region": "us-west-2"}})["backup"]

    assert backup["phase"] == "Completed", backup["errors"]
    [record] = backup["volume_snapshots"]
    assert (record["method"], record["volume_id"], record["region"], record["availability_zone"]) == ("ebs", volume_id, "us-east-1", "us-east-1a")
    [snapshot] = east.describe_snapshots(SnapshotIds=[record["snapshot_handle"]])["Snapshots"]
    assert snapshot["VolumeId"] == volume_id and snapshot["State"] == "completed"
    tags = {tag["Key"]: tag["Value"] for tag in snapshot["Tags"]}
    assert tags["kubesafe.k8s/backup"] == "orders-ebs" and tags["kubesafe.k8s/persistent-volume"] == "pv-orders"
    assert tags["kubesafe.k8s/claim"] == "ebs-app/orders" and tags["team"] == "orders"
    [copy] = record["copies"]
    [copied] = west.describe_snapshots(SnapshotIds=[copy["snapshot_id"]])["Snapshots"]
    assert copy["region"] == "us-west-2" and {t["Key"]: t["Value"] for t in copied["Tags"]}["kubesafe.k8s/backup"] == "orders-ebs"
    # Velero's native snapshot sidecar describes it.
    sidecar = location / "backups" / "orders-ebs" / "orders-ebs-volumesnapshots.json.gz"
    [native] = json.loads(gzip.decompress(sidecar.read_bytes()))
    assert native["spec"]["providerVolumeID"] == volume_id and native["spec"]["volumeAZ"] == "us-east-1a"
    assert native["status"] == {"providerSnapshotID": record["snapshot_handle"], "phase": "Completed"}

    # Restore into another zone of the same region: a new volume from the snapshot, the PV rewritten to it.
    other_zone = kubesim_factory(name="other-zone")
    restore = run_module(ansible_playbook, other_zone.env(), tmp_path, "restore", {
        "backup": "orders-ebs", "location": str(location),
        "ebs_config": {"endpoint_url": ec2_endpoint, "availability_zone": "us-east-1b"}})["restore"]
    assert restore["phase"] == "Completed", restore["errors"]
    assert other_zone.control.settle(30)
    assert of_kind(other_zone, "PersistentVolume"), [o for o in restore["objects"] if "persistent" in o["group_resource"]]
    [pv] = of_kind(other_zone, "PersistentVolume")
    new_volume_id = pv["spec"]["awsElasticBlockStore"]["volumeID"].rsplit("/", 1)[-1]
    assert new_volume_id != volume_id and pv["spec"]["awsElasticBlockStore"]["volumeID"].startswith("aws://us-east-1b/")
    assert pv["metadata"]["labels"]["topology.kubernetes.io/zone"] == "us-east-1b"
    [new_volume] = east.describe_volumes(VolumeIds=[new_volume_id])["Volumes"]
    assert new_volume["SnapshotId"] == record["snapshot_handle"] and new_volume["AvailabilityZone"] == "us-east-1b"
    assert of_kind(other_zone, "PersistentVolumeClaim", "ebs-app")[0]["status"]["phase"] == "Bound"
    assert [v["volume_id"] for v in restore["volumes"]] == [new_volume_id]

    # Restoring again over the restored PV makes no second disk.
    volumes_before = len(east.describe_volumes()["Volumes"])
    again = run_module(ansible_playbook, other_zone.env(), tmp_path, "restore", {
        "backup": "orders-ebs", "location": str(location),
        "ebs_config": {"endpoint_url": ec2_endpoint, "availability_zone": "us-east-1b"}})["restore"]
    assert again["volumes"] == [] and len(east.describe_volumes()["Volumes"]) == volumes_before

    # Restore in the copy's region, as a regional DR.
    other_region = kubesim_factory(name="other-region")
    restore = run_module(ansible_playbook, other_region.env(), tmp_path, "restore", {
        "backup": "orders-ebs", "location": str(location),
        "ebs_config": {"endpoint_url": ec2_endpoint, "region": "us-west-2", "availability_zone": "us-west-2a"}})["restore"]
    assert restore["phase"] == "Completed", restore["errors"]
    [pv] = of_kind(other_region, "PersistentVolume")
    west_volume_id = pv["spec"]["awsElasticBlockStore"]["volumeID"].rsplit("/", 1)[-1]
    [west_volume] = west.describe_volumes(VolumeIds=[west_volume_id])["Volumes"]
    assert west_volume["SnapshotId"] == copy["snapshot_id"] and west_volume["AvailabilityZone"] == "us-west-2a"
    assert pv["metadata"]["labels"]["topology.kubernetes.io/region"] == "us-west-2"

    # Verify finds the snapshot and its copy, then notices the copy deleted behind the backup's back.
    verify_args = {"name": "orders-ebs", "location": str(location), "check_snapshots": True, "ebs_config": {"endpoint_url": ec2_endpoint}}
    verified = run_module(ansible_playbook, source.env(), tmp_path, "verify", verify_args)
    assert verified["ok"] and [c["detail"] for c in verified["backups"][0]["checks"] if c["check"] == "snapshots"] == [
        "2 snapshot(s) checked at their provider"]
    west.delete_snapshot(SnapshotId=copy["snapshot_id"])
    verified = run_module(ansible_playbook, source.env(), tmp_path, "verify", verify_args, check=False)
    [problem] = verified["backups"][0]["problems"]
    assert copy["snapshot_id"] in problem and "us-west-2" in problem and "is gone" in problem

    # Pruning deletes the snapshot (its copy is already gone: that is fine).
    pruned = run_module(ansible_playbook, source.env(), tmp_path, "prune", {
        "location": str(location), "keep_last": 0, "expired": False, "ebs_config": {"endpoint_url": ec2_endpoint}})
    assert pruned["deleted"][0]["snapshots_deleted"] == ["EBS snapshot %s (us-east-1)" % record["snapshot_handle"]]
    assert east.describe_snapshots(Filters=[{"Name": "tag:kubesafe.k8s/backup", "Values": ["orders-ebs"]}])["Snapshots"] == []
    assert west.describe_snapshots(Filters=[{"Name": "tag:kubesafe.k8s/backup", "Values": ["orders-ebs"]}])["Snapshots"] == []


def test_unknown_ebs_volume_fails_its_snapshot_and_keeps_the_manifests(kubesim_factory, ansible_playbook, tmp_path, ec2_endpoint):
    cluster = kubesim_factory()
    cluster.control.seed(ebs_app("vol-0123456789abcdef0"))
    assert cluster.control.settle(30)
    backup = run_module(ansible_playbook, cluster.env(), tmp_path, "backup", {
        "name": "lost-volume", "fail_on_partial": False, "location": str(tmp_path / "backups"), "included_namespaces": ["ebs-app"], "snapshot_volumes": True,
        "ebs_config": {"endpoint_url": ec2_endpoint}})["backup"]
    assert backup["phase"] == "PartiallyFailed"
    [error] = backup["errors"]
    assert "vol-0123456789abcdef0" in error and "us-east-1" in error and "ebs_config.region" in error
    assert backup["volume_snapshots"][0]["phase"] == "Failed"
    assert backup["resource_counts"]["persistentvolumeclaims"] == 1 and backup["resource_counts"]["persistentvolumes"] == 1


def test_a_velero_backup_with_a_native_ebs_snapshot_restores_its_volume(cluster, tmp_path, ec2_endpoint):
    east = ec2(ec2_endpoint, "us-east-1")
    volume_id = east.create_volume(AvailabilityZone="us-east-1c", Size=10)["VolumeId"]
    snapshot_id = east.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    namespace, pv, claim = ebs_app(volume_id, zone="us-east-1c", namespace="legacy")
    folder = tmp_path / "backups" / "velero-made"
    folder.mkdir(parents=True)
    (folder / "velero-made.tar.gz").write_bytes(velero_archive([
        ("resources/namespaces/cluster/legacy.json", namespace),
        ("resources/persistentvolumes/cluster/pv-orders.json", pv),
        ("resources/persistentvolumeclaims/namespaces/legacy/orders.json", claim)]))
    (folder / "velero-made-volumesnapshots.json.gz").write_bytes(velero_format.gzip_json([{
        "spec": {"backupName": "velero-made", "persistentVolumeName": "pv-orders", "providerVolumeID": volume_id,
                 "volumeType": "gp2", "volumeAZ": "us-east-1c"},
        "status": {"providerSnapshotID": snapshot_id, "phase": "Completed"}}]))
    (folder / "velero-backup.json").write_text(json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "velero-made", "namespace": "velero"},
        "spec": {"includedNamespaces": ["legacy"], "snapshotVolumes": True},
        "status": {"phase": "Completed", "version": 1, "formatVersion": "1.1.0", "startTimestamp": "2026-11-01T00:00:00Z",
                   "completionTimestamp": "2026-11-01T00:01:00Z", "expiration": "2026-12-01T00:00:00Z"}}))

    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    result = run_restore(client, open_location(str(tmp_path)), RestoreOptions(
        backup="velero-made", ebs_config={"endpoint_url": ec2_endpoint}, ebs_factory=ebs_client))
    assert result["phase"] == "Completed", result["errors"]
    [restored_pv] = of_kind(cluster, "PersistentVolume")
    new_volume_id = restored_pv["spec"]["awsElasticBlockStore"]["volumeID"].rsplit("/", 1)[-1]
    [new_volume] = east.describe_volumes(VolumeIds=[new_volume_id])["Volumes"]
    assert new_volume["SnapshotId"] == snapshot_id and new_volume["AvailabilityZone"] == "us-east-1c"
    assert cluster.control.settle(30)
    assert of_kind(cluster, "PersistentVolumeClaim", "legacy")[0]["status"]["phase"] == "Bound"

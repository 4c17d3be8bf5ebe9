"""Volume contents behind PVs and snapshots, the control API reaching them, and the audit/exec sequence."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import urllib.error

import pytest
from kubernetes import client
from kubernetes.stream import stream

from kubesim.volume_backend import VolumeBackend

NAMESPACE = "apps"
DRIVER = "ebs.csi.aws.com"
SNAPSHOT_GROUP = "snapshot.storage.k8s.io"


def _snapshot_crds():
    crds = []
    for plural, kind, scope in (("volumesnapshots", "VolumeSnapshot", "Namespaced"), ("volumesnapshotcontents", "VolumeSnapshotContent", "Cluster"),
                                ("volumesnapshotclasses", "VolumeSnapshotClass", "Cluster")):
        version = {"name": "v1", "served": True, "storage": True,
                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
        if plural != "volumesnapshotclasses":
            version["subresources"] = {"status": {}}
        crds.append({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "%s.%s" % (plural, SNAPSHOT_GROUP)},
                     "spec": {"group": SNAPSHOT_GROUP, "scope": scope, "names": {"plural": plural, "kind": kind}, "versions": [version]}})
    return crds


def _claim(name, size="1Gi", storage_class="gp3", **spec):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": dict({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "storageClassName": storage_class}, **spec)}


def _csi_cluster(kubesim_factory, **options):
    """An emulator with the snapshot CRDs, a gp3 class of the EBS CSI driver and a Retain snapshot class."""
    emulated = kubesim_factory(**options)
    emulated.sim.seed(_snapshot_crds())
    emulated.sim.seed([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"}, "provisioner": DRIVER, "reclaimPolicy": "Delete"},
        {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass", "metadata": {"name": "ebs"}, "driver": DRIVER,
         "deletionPolicy": "Retain"},
    ])
    return emulated


def _get(emulated, plural, name, namespace=NAMESPACE, group=""):
    rtype = emulated.sim.registry.preferred(group, plural)
    return emulated.sim.store.find(rtype, namespace if rtype.namespaced else None, name)


# ------------------------------------------------------------------ the control API

def test_volume_data_is_written_and_read_by_handle_pv_name_and_claim(kubesim_factory):
    emulated = _csi_cluster(kubesim_factory)
    control = emulated.control
    control.seed([_claim("data")])
    assert control.settle()
    pv_name = _get(emulated, "persistentvolumeclaims", "data")["spec"]["volumeName"]
    handle = _get(emulated, "persistentvolumes", pv_name)["spec"]["csi"]["volumeHandle"]

    assert control.volume_data_for_claim(NAMESPACE, "data") == b""
    assert control.write_volume_for_claim(NAMESPACE, "data", b"\x00binary\xff") == {"handle": handle, "size": 8}
    assert control.read_volume(handle) == b"\x00binary\xff"
    assert control.write_volume_of_pv(pv_name, "text") == {"handle": handle, "size": 4}
    assert control.read_volume_of_pv(pv_name) == b"text"
    control.write_volume(handle, b"by handle")
    assert control.volume_data_for_claim(NAMESPACE, "data") == b"by handle"
    assert control.volumes() == [{"handle": handle, "size": 9, "source_snapshot": None, "snapshot_data_missing": False}]
    assert emulated.sim.volume_backend.read_volume(handle) == b"by handle"

    assert control.read_volume("vol-unknown") is None
    assert control.read_snapshot("snap-unknown") is None
    with pytest.raises(urllib.error.HTTPError) as raised:
        control.volume_data_for_claim(NAMESPACE, "ghost")
    assert raised.value.code == 404 and 'persistentvolumeclaims \\"ghost\\" not found' in raised.value.msg
    assert control.delete_volume(handle) is True and control.volumes() == []


def test_snapshot_data_is_written_listed_and_deleted_through_the_control_api(cluster):
    control = cluster.control
    assert control.write_snapshot("snap-outside", b"cloud copy", size_bytes=4096) == {"handle": "snap-outside", "size": 10, "size_bytes": 4096}
    assert control.snapshot_handles() == ["snap-outside"]
    assert control.snapshots() == [{"handle": "snap-outside", "size": 10, "source_volume": None, "size_bytes": 4096}]
    assert control.read_snapshot("snap-outside") == b"cloud copy"
    assert control.delete_snapshot("snap-outside") is True and control.snapshot_handles() == []


# ------------------------------------------------------------------ EBS volumes (in-tree and CSI) with zone affinity

def _zone_affinity(key, zone="us-east-1a"):
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "In", "values": [zone]}]}]}}


@pytest.mark.parametrize("source, affinity_key, handle", [
    ({"awsElasticBlockStore": {"volumeID": "aws://us-east-1a/vol-0aaa1111", "fsType": "ext4"}}, "topology.kubernetes.io/zone", "vol-0aaa1111"),
    ({"csi": {"driver": DRIVER, "volumeHandle": "vol-0bbb2222", "fsType": "ext4"}}, "topology.ebs.csi.aws.com/zone", "vol-0bbb2222"),
])
def test_ebs_volumes_with_zone_affinity_are_stored_and_bound_statically(cluster, source, affinity_key, handle):
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    spec = dict(source, capacity={"storage": "10Gi"}, accessModes=["ReadWriteOnce"], persistentVolumeReclaimPolicy="Retain",
                storageClassName="", nodeAffinity=_zone_affinity(affinity_key))
    core.create_persistent_volume({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "restored-ebs"}, "spec": spec})
    core.create_namespaced_persistent_volume_claim(NAMESPACE, _claim("db", "10Gi", "", volumeName="restored-ebs"))
    assert cluster.control.settle()

    stored = core.read_persistent_volume("restored-ebs").to_dict()
    assert stored["spec"]["node_affinity"]["required"]["node_selector_terms"][0]["match_expressions"] == [
        {"key": affinity_key, "operator": "In", "values": ["us-east-1a"]}]
    assert stored["status"]["phase"] == "Bound" and stored["spec"]["claim_ref"]["name"] == "db"
    assert core.read_namespaced_persistent_volume_claim("db", NAMESPACE).status.phase == "Bound"
    cluster.control.write_volume(handle, b"ebs data")  # the EBS volume id, whatever form the PV spells it in
    assert cluster.control.volume_data_for_claim(NAMESPACE, "db") == b"ebs data"


def test_pv_of_a_kind_the_backend_does_not_hold_has_no_data_route(cluster):
    cluster.control.seed([{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "san"},
                           "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                    "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0}}}])
    with pytest.raises(urllib.error.HTTPError) as raised:
        cluster.control.read_volume_of_pv("san")
    assert raised.value.code == 400 and "has no volume in the backend" in raised.value.msg


# ------------------------------------------------------------------ snapshots across clusters

def _snapshot_and_restore_content(source):
    """Snapshot claim "data" in ``source`` and answer what another cluster needs to import it: the content's handle."""
    source.control.seed([_claim("data", "2Gi")])
    assert source.control.settle()
    source.control.write_volume_for_claim(NAMESPACE, "data", b"customers: 42")
    source.control.seed([{"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": "nightly", "namespace": NAMESPACE},
                          "spec": {"volumeSnapshotClassName": "ebs", "source": {"persistentVolumeClaimName": "data"}}}])
    assert source.control.settle()
    content_name = _get(source, "volumesnapshots", "nightly", group=SNAPSHOT_GROUP)["status"]["boundVolumeSnapshotContentName"]
    return _get(source, "volumesnapshotcontents", content_name, group=SNAPSHOT_GROUP)["status"]["snapshotHandle"]


def _import_and_restore(target, handle):
    target.control.seed([
        {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent", "metadata": {"name": "imported-nightly"},
         "spec": {"deletionPolicy": "Retain", "driver": DRIVER, "source": {"snapshotHandle": handle}, "volumeSnapshotClassName": "ebs",
                  "volumeSnapshotRef": {"name": "nightly", "namespace": NAMESPACE}}},
        {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": "nightly", "namespace": NAMESPACE},
         "spec": {"source": {"volumeSnapshotContentName": "imported-nightly"}}},
        _claim("data", "2Gi", dataSource={"apiGroup": SNAPSHOT_GROUP, "kind": "VolumeSnapshot", "name": "nightly"}),
    ])
    assert target.control.settle()
    assert _get(target, "persistentvolumeclaims", "data")["status"]["phase"] == "Bound"


def test_snapshot_restores_in_another_cluster_on_the_same_backend(kubesim_factory):
    backend = VolumeBackend()
    source = _csi_cluster(kubesim_factory, volume_backend=backend)
    target = _csi_cluster(kubesim_factory, volume_backend=backend)
    handle = _snapshot_and_restore_content(source)
    assert target.control.snapshot_handles() == [handle]
    source.control.write_volume_for_claim(NAMESPACE, "data", b"changed after the snapshot")
    _import_and_restore(target, handle)
    assert target.control.volume_data_for_claim(NAMESPACE, "data") == b"customers: 42"
    assert _get(target, "volumesnapshots", "nightly", group=SNAPSHOT_GROUP)["status"]["restoreSize"] == "2Gi"


def test_clusters_have_separate_backends_by_default_and_a_foreign_snapshot_restores_empty_and_flagged(kubesim_factory):
    source = _csi_cluster(kubesim_factory)
    target = _csi_cluster(kubesim_factory)
    assert source.sim.volume_backend is not target.sim.volume_backend
    handle = _snapshot_and_restore_content(source)
    assert target.control.snapshot_handles() == []
    _import_and_restore(target, handle)
    assert target.control.volume_data_for_claim(NAMESPACE, "data") == b""
    [volume] = target.control.volumes()
    assert volume["source_snapshot"] == handle and volume["snapshot_data_missing"] is True


# ------------------------------------------------------------------ one sequence for audit and exec records

def test_exec_and_audit_records_share_one_increasing_sequence(cluster):
    cluster.control.seed([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db-0", "namespace": NAMESPACE},
                           "spec": {"nodeName": "kubesim-node-1", "containers": [{"name": "db", "image": "postgres"}]}, "status": {"phase": "Running"}}])
    core = client.CoreV1Api(cluster.api_client())

    def run(command):
        stream(core.connect_get_namespaced_pod_exec, "db-0", NAMESPACE, command=command, stdout=True, stderr=True, stdin=False, tty=False)

    run(["fsfreeze", "-f", "/data"])
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "marker"}})
    run(["fsfreeze", "-u", "/data"])

    freeze, unfreeze = cluster.control.exec_log()
    audit = cluster.control.audit()
    [create] = [record for record in audit if record["verb"] == "create" and record["resource"] == "configmaps"]
    upgrades = [record for record in audit if record["resource"] == "pods" and record["code"] == 101]
    # An upgrade answers before its command runs, though its record is written after the session ends.
    assert upgrades[0]["seq"] < freeze["seq"] < freeze["end_seq"] < create["seq"] < upgrades[1]["seq"] < unfreeze["seq"] < unfreeze["end_seq"]
    assert [record["seq"] for record in audit] == sorted(record["seq"] for record in audit)
    assert len({record["seq"] for record in audit} | {freeze["seq"], unfreeze["seq"], freeze["end_seq"], unfreeze["end_seq"]}) == len(audit) + 4
    assert isinstance(create["time"], float) and freeze["time"].endswith("Z")

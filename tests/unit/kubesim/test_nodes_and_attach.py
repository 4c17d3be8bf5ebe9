"""Pods get a node: nodeName, nodeSelector, taints and tolerations, volume node affinity; a ReadWriteOnce disk attaches to one node at a time."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import time

import pytest
from kubernetes import client

NAMESPACE = "apps"
PREEMPTION = " preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."


@pytest.fixture(name="emulated")
def emulated_fixture(kubesim_factory):
    emulated = kubesim_factory(sample=True)
    emulated.sim.seed([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
    return emulated


def _core(emulated):
    return client.CoreV1Api(emulated.api_client())


def _claim(name, storage_class, modes=("ReadWriteOnce",)):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": storage_class}}


def _pod(name, claim=None, node_name=None, node_selector=None, tolerations=None):
    spec = {"containers": [{"name": "app", "image": "busybox"}]}
    if claim:
        spec["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    for key, value in (("nodeName", node_name), ("nodeSelector", node_selector), ("tolerations", tolerations)):
        if value:
            spec[key] = value
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def _seed(emulated, *objects):
    emulated.control.seed(list(objects))
    assert emulated.control.settle()


def _pod_status(emulated, name):
    pod = _core(emulated).read_namespaced_pod(name, NAMESPACE)
    return pod.spec.node_name, pod.status.phase


def _events(emulated, pod):
    return [(event.type, event.reason, event.message) for event in _core(emulated).list_namespaced_event(NAMESPACE).items
            if event.involved_object.name == pod]


# ------------------------------------------------------------------ scheduling

def test_the_default_cluster_has_two_ready_nodes_and_the_scheduler_takes_the_first_that_fits(emulated):
    nodes = _core(emulated).list_node().items
    assert [node.metadata.name for node in nodes] == ["kubesim-node-1", "kubesim-node-2"]
    assert all(node.status.conditions[0].type == "Ready" for node in nodes)
    _seed(emulated, _pod("anywhere"), _pod("selected", node_selector={"kubernetes.io/hostname": "kubesim-node-2"}),
          _pod("named", node_name="kubesim-node-2"))
    assert _pod_status(emulated, "anywhere") == ("kubesim-node-1", "Running")
    assert _pod_status(emulated, "selected") == ("kubesim-node-2", "Running")
    assert _pod_status(emulated, "named") == ("kubesim-node-2", "Running")
    assert _core(emulated).read_namespaced_pod("selected", NAMESPACE).status.host_ip == "172.18.0.3"


def test_no_schedule_taints_keep_pods_off_a_node_unless_they_tolerate_them(emulated):
    core = _core(emulated)
    for node in ("kubesim-node-1", "kubesim-node-2"):
        core.patch_node(node, {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}})
    core.patch_node("kubesim-node-2", {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"},
                                                           {"key": "spot", "effect": "NoExecute"}]}})
    _seed(emulated, _pod("plain"), _pod("db", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]),
          _pod("all", node_selector={"kubernetes.io/hostname": "kubesim-node-2"}, tolerations=[{"operator": "Exists"}]))
    assert _pod_status(emulated, "db") == ("kubesim-node-1", "Running")
    assert _pod_status(emulated, "all") == ("kubesim-node-2", "Running")
    plain = core.read_namespaced_pod("plain", NAMESPACE)
    assert (plain.spec.node_name, plain.status.phase) == (None, "Pending")
    [scheduled] = [condition for condition in plain.status.conditions if condition.type == "PodScheduled"]
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    assert scheduled.message == "0/2 nodes are available: 2 node(s) had untolerated taint {dedicated: db}." + PREEMPTION


# ------------------------------------------------------------------ Multi-Attach

def test_a_read_write_once_disk_in_use_on_one_node_refuses_a_pod_on_another_until_that_pod_goes(emulated):
    _seed(emulated, _claim("data", "standard"), _pod("writer", "data", node_name="kubesim-node-1"))
    assert _pod_status(emulated, "writer") == ("kubesim-node-1", "Running")
    volume = _core(emulated).read_namespaced_persistent_volume_claim("data", NAMESPACE).spec.volume_name
    _seed(emulated, _pod("sidecar", "data", node_name="kubesim-node-1"))
    _seed(emulated, _pod("mover", "data", node_name="kubesim-node-2"))

    assert _pod_status(emulated, "sidecar") == ("kubesim-node-1", "Running")  # the same node mounts it fine
    mover = _core(emulated).read_namespaced_pod("mover", NAMESPACE)
    assert mover.status.phase == "Pending" and mover.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    assert _events(emulated, "mover") == [
        ("Warning", "FailedAttachVolume", 'Multi-Attach error for volume "%s" Volume is already used by pod(s) sidecar, writer' % volume)]

    _core(emulated).delete_namespaced_pod("writer", NAMESPACE)
    assert emulated.control.settle()
    assert _pod_status(emulated, "mover")[1] == "Pending"
    assert ("Warning", "FailedAttachVolume", 'Multi-Attach error for volume "%s" Volume is already used by pod(s) sidecar' % volume) in _events(
        emulated, "mover")
    _core(emulated).delete_namespaced_pod("sidecar", NAMESPACE)
    assert emulated.control.settle()
    assert _pod_status(emulated, "mover") == ("kubesim-node-2", "Running")


def test_volumes_that_are_not_single_node_disks_attach_on_several_nodes(emulated):
    _seed(emulated, _claim("shared", "standard", modes=("ReadWriteMany",)), _claim("share", "nfs-client"))
    _seed(emulated, *[_pod("%s-%d" % (claim, node), claim, node_name="kubesim-node-%d" % node) for claim in ("shared", "share") for node in (1, 2)])
    assert [_pod_status(emulated, "%s-%d" % (claim, node))[1] for claim in ("shared", "share") for node in (1, 2)] == ["Running"] * 4
    assert not any(reason == "FailedAttachVolume" for pod in ("shared-2", "share-2") for _, reason, _ in _events(emulated, pod))


# ------------------------------------------------------------------ storage without a CSI driver

def test_nfs_subdir_provisioner_makes_an_nfs_volume_the_backend_holds(emulated):
    _seed(emulated, _claim("share", "nfs-client"), _pod("reader", "share"))
    claim = _core(emulated).read_namespaced_persistent_volume_claim("share", NAMESPACE)
    volume = _core(emulated).read_persistent_volume(claim.spec.volume_name)
    assert volume.spec.csi is None and volume.spec.nfs.server == "nfs.kubesim.local"
    assert volume.spec.nfs.path == "/exports/%s-share-%s" % (NAMESPACE, claim.spec.volume_name)
    handle = emulated.write_claim_files(NAMESPACE, "share", {"index.html": (0o644, b"<h1>hi</h1>")})
    assert handle == "nfs://nfs.kubesim.local" + volume.spec.nfs.path
    assert emulated.sim.volume_backend.volume_files(handle) == {"index.html": (0o644, b"<h1>hi</h1>")}
    _core(emulated).delete_namespaced_pod("reader", NAMESPACE)
    _core(emulated).delete_namespaced_persistent_volume_claim("share", NAMESPACE)
    assert emulated.control.settle()
    assert emulated.sim.volume_backend.volume_files(handle) is None  # reclaim policy Delete removed the directory


def test_local_path_volume_lives_on_the_first_consumers_node_and_pins_later_pods_there(emulated):
    _seed(emulated, _claim("cache", "local-path"), _pod("first", "cache", node_selector={"kubernetes.io/hostname": "kubesim-node-2"}))
    assert _pod_status(emulated, "first") == ("kubesim-node-2", "Running")
    claim = _core(emulated).read_namespaced_persistent_volume_claim("cache", NAMESPACE)
    assert claim.metadata.annotations["volume.kubernetes.io/selected-node"] == "kubesim-node-2"
    volume = _core(emulated).read_persistent_volume(claim.spec.volume_name)
    assert volume.spec.host_path.path == "/opt/local-path-provisioner/%s_%s_cache" % (claim.spec.volume_name, NAMESPACE)
    assert emulated.claim_volume_handle(NAMESPACE, "cache") == "hostpath://kubesim-node-2" + volume.spec.host_path.path

    _seed(emulated, _pod("second", "cache"), _pod("elsewhere", "cache", node_selector={"kubernetes.io/hostname": "kubesim-node-1"}))
    assert _pod_status(emulated, "second") == ("kubesim-node-2", "Running")
    elsewhere = _core(emulated).read_namespaced_pod("elsewhere", NAMESPACE)
    assert elsewhere.spec.node_name is None
    assert [c.message for c in elsewhere.status.conditions if c.type == "PodScheduled"] == [
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had volume node affinity conflict." + PREEMPTION]


def test_a_static_nfs_volume_is_a_directory_the_backend_holds_once_named(emulated):
    _seed(emulated, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "nfs-share"},
                     "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], "persistentVolumeReclaimPolicy": "Retain",
                              "storageClassName": "", "nfs": {"server": "files.example", "path": "/exports/share/"}}})
    assert [volume["handle"] for volume in emulated.control.volumes() if volume["handle"].startswith("nfs://files.example")] == [
        "nfs://files.example/exports/share"]
    assert emulated.control.read_volume_of_pv("nfs-share") == b""


def test_an_image_that_cannot_be_pulled_keeps_the_pod_pending_with_err_image_pull_then_image_pull_back_off(emulated):
    pod = _pod("mover")
    pod["spec"]["containers"][0]["image"] = "registry.invalid/kubesafe/mover:1.0"
    _seed(emulated, pod)
    deadline = time.monotonic() + 10
    while _core(emulated).read_namespaced_pod("mover", NAMESPACE).status.container_statuses[0].state.waiting.reason != "ImagePullBackOff":
        assert time.monotonic() < deadline, "no ImagePullBackOff"
        time.sleep(0.1)
    status = _core(emulated).read_namespaced_pod("mover", NAMESPACE).status
    assert status.phase == "Pending" and status.container_statuses[0].state.waiting.message == 'Back-off pulling image "registry.invalid/kubesafe/mover:1.0"'
    events = _events(emulated, "mover")
    assert ("Warning", "Failed", "Error: ErrImagePull") in events
    assert ("Normal", "BackOff", 'Back-off pulling image "registry.invalid/kubesafe/mover:1.0"') in events
    [failed] = [message for _, reason, message in events if reason == "Failed" and message.startswith("Failed to pull")]
    assert failed.endswith("dial tcp: lookup registry.invalid: no such host")

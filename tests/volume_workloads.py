"""Objects for volume tests: the snapshot CRDs, a CSI storage class and snapshot class, a database with its claim."""

SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
CSI_DRIVER = "hostpath.csi.k8s.io"
SNAPSHOT_RESOURCES = (("volumesnapshots", "VolumeSnapshot", "Namespaced"),
                      ("volumesnapshotcontents", "VolumeSnapshotContent", "Cluster"),
                      ("volumesnapshotclasses", "VolumeSnapshotClass", "Cluster"))


def snapshot_crds():
    """The external-snapshotter's three CRDs (schemas left open, as the emulator validates none)."""
    return [{
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": plural + "." + SNAPSHOT_GROUP},
        "spec": {"group": SNAPSHOT_GROUP, "scope": scope, "names": {"plural": plural, "kind": kind, "singular": kind.lower(),
                                                                    "listKind": kind + "List"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}} if plural != "volumesnapshotclasses" else {},
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
    } for plural, kind, scope in SNAPSHOT_RESOURCES]


def csi_storage(storage_class="csi-fast", snapshot_class="csi-snap", velero_label=True):
    """A CSI storage class and a snapshot class of its driver (labelled for Velero, as a user sets it up)."""
    labels = {"velero.io/csi-volumesnapshot-class": "true"} if velero_label else {}
    return [
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": storage_class},
         "provisioner": CSI_DRIVER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"},
        {"apiVersion": SNAPSHOT_GROUP + "/v1", "kind": "VolumeSnapshotClass", "metadata": {"name": snapshot_class, "labels": labels},
         "driver": CSI_DRIVER, "deletionPolicy": "Delete"},
    ]


def database(namespace="db", claim="data", storage_class="csi-fast", annotations=None, size="1Gi"):
    """A namespace, a claim and a pod mounting it, with hook annotations on the pod."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": namespace, "labels": {"app": "db"}},
         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class, "resources": {"requests": {"storage": size}}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "db-0", "namespace": namespace, "labels": {"app": "db"}, "annotations": dict(annotations or {})},
         "spec": {"containers": [{"name": "sidecar", "image": "busybox"}, {"name": "db", "image": "postgres:16"}],
                  "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}},
    ]


def freeze_annotations(container="db", on_error=None):
    annotations = {
        "pre.hook.backup.velero.io/container": container,
        "pre.hook.backup.velero.io/command": '["/sbin/fsfreeze", "--freeze", "/var/lib/postgresql/data"]',
        "post.hook.backup.velero.io/container": container,
        "post.hook.backup.velero.io/command": '["/sbin/fsfreeze", "--unfreeze", "/var/lib/postgresql/data"]',
    }
    if on_error:
        annotations["pre.hook.backup.velero.io/on-error"] = on_error
    return annotations


def claim_volume_handle(cluster, namespace, claim):
    """The CSI volume handle (or EBS volume ID) behind a bound claim, read from the emulator."""
    objects = cluster.control.dump()
    claims = [o for o in objects if o["kind"] == "PersistentVolumeClaim" and o["metadata"].get("namespace") == namespace
              and o["metadata"]["name"] == claim]
    assert claims and claims[0]["spec"].get("volumeName"), "claim %s/%s is not bound" % (namespace, claim)
    pv = [o for o in objects if o["kind"] == "PersistentVolume" and o["metadata"]["name"] == claims[0]["spec"]["volumeName"]][0]
    spec = pv["spec"]
    return spec["csi"]["volumeHandle"] if "csi" in spec else spec["awsElasticBlockStore"]["volumeID"]

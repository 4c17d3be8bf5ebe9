"""The PersistentVolume controller with a CSI external-provisioner: bind, provision (empty or from a VolumeSnapshot), reclaim.

Provisioning from a VolumeSnapshot follows the external-provisioner's checks (getSnapshotSource): the
claim stays Pending, with a ProvisioningFailed Warning Event carrying the sidecar's message, until the
snapshot exists in the claim's namespace, is bound to a content of the storage class's driver, is
readyToUse, and its restoreSize fits the request. The new volume gets a new handle and a copy of the
snapshot's data in the volume backend.

Two provisioners make directories instead of disks, as on clusters without a CSI driver: the NFS
subdir external provisioner (an ``nfs`` PV, a directory of the share named by the class's ``server`` and
``share`` parameters) and Rancher's local-path provisioner (a ``hostPath`` PV on the node the scheduler
selected, with node affinity to it; its class binds WaitForFirstConsumer). They cannot take snapshots and
ignore a claim's data source.
"""

import copy
import time

from kubesim import errors
from kubesim.controllers.common import (
    PVCS, PVS, SELECTED_NODE_ANNOTATION, SNAPSHOT_CONTENTS, SNAPSHOT_GROUP, STORAGE_CLASSES, VOLUME_SNAPSHOTS, Controller, is_deleting, labels_of, meta,
    namespace_and_name, quantity_bytes, random_suffix, storage_class_of)
from kubesim.selectors import SelectorError, label_selector_from_dict
from kubesim.volume_backend import is_directory_handle, persistent_volume_handle


DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
SNAPSHOT_KIND = "VolumeSnapshot"
CLAIM_KIND = "PersistentVolumeClaim"
NFS_SUBDIR_PROVISIONER = "k8s-sigs.io/nfs-subdir-external-provisioner"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"
DEFAULT_NFS_SERVER = "nfs.kubesim.local"
DEFAULT_NFS_SHARE = "/exports"
LOCAL_PATH_ROOT = "/opt/local-path-provisioner"


class ProvisioningFailed(Exception):
    """The external-provisioner cannot provision the claim yet; the message is the sidecar's."""


def claim_data_source(claim):
    """The claim's data source as the external-provisioner reads it: dataSource first, else dataSourceRef; None without one."""
    spec = claim.get("spec") or {}
    source = spec.get("dataSource") or spec.get("dataSourceRef")
    if not source:
        return None
    namespace = (source.get("namespace") if source is spec.get("dataSourceRef") else None) or meta(claim).get("namespace")
    return {"kind": source.get("kind") or "", "apiGroup": source.get("apiGroup") or "", "name": source.get("name") or "", "namespace": namespace}


class VolumeBinderController(Controller):
    """The PersistentVolume controller with a CSI external-provisioner: bind, provision, reclaim."""

    name = "pv-binder"
    watches = (PVCS, PVS, STORAGE_CLASSES, VOLUME_SNAPSHOTS, SNAPSHOT_CONTENTS)

    def __init__(self, store, requeue, volume_backend=None):
        super().__init__(store, requeue, volume_backend)
        self._reported = {}  # claim uid -> (reason, message) of the last event, so a retry does not repeat it

    def keys_for(self, group_resource, event_type, obj, old):
        if group_resource == PVCS:
            keys = [("pvc",) + namespace_and_name(obj)]
            volume_name = (obj.get("spec") or {}).get("volumeName")
            if event_type == "DELETED":
                self._reported.pop(meta(obj).get("uid"), None)
                if volume_name:
                    keys.append(("pv", "", volume_name))
            return keys
        if group_resource == VOLUME_SNAPSHOTS:
            return self._snapshot_restore_keys(meta(obj).get("namespace"))
        if group_resource == SNAPSHOT_CONTENTS:
            return self._snapshot_restore_keys(((obj.get("spec") or {}).get("volumeSnapshotRef") or {}).get("namespace"))
        if group_resource == PVS:
            keys = [("pv", "", meta(obj)["name"])]
            claim_ref = (obj.get("spec") or {}).get("claimRef")
            if claim_ref:
                keys.append(("pvc", claim_ref.get("namespace", ""), claim_ref.get("name")))
            elif event_type != "DELETED":
                keys.extend(self._pending_claim_keys())
            return keys
        return self._pending_claim_keys()

    def _snapshot_restore_keys(self, namespace):
        """Pending claims restoring a VolumeSnapshot: a snapshot's progress may unblock them."""
        return [("pvc",) + namespace_and_name(claim) for claim in self.objects(PVCS, namespace or None)
                if (claim.get("status") or {}).get("phase") == "Pending" and (claim_data_source(claim) or {}).get("kind") == SNAPSHOT_KIND]

    def _pending_claim_keys(self):
        return [("pvc",) + namespace_and_name(claim) for claim in self.objects(PVCS)
                if (claim.get("status") or {}).get("phase") == "Pending"]

    def resync_keys(self):
        return ([("pvc",) + namespace_and_name(claim) for claim in self.objects(PVCS)]
                + [("pv", "", meta(volume)["name"]) for volume in self.objects(PVS)])

    def reconcile(self, key):
        kind, namespace, name = key
        if kind == "pvc":
            self._sync_claim(namespace, name)
        else:
            self._sync_volume(name)

    # ---- claims

    def _sync_claim(self, namespace, name):
        claim = self.find(PVCS, namespace, name)
        if claim is None or is_deleting(claim):
            return
        spec = claim.get("spec") or {}
        if spec.get("volumeName"):
            self._sync_claim_with_volume_name(claim)
            return
        if storage_class_of(claim) is None:
            default_class = self._default_class()
            if default_class is not None:
                claim["spec"]["storageClassName"] = meta(default_class)["name"]  # retroactive default class assignment
                self.update(PVCS, claim)
                return
        storage_class = self.find(STORAGE_CLASSES, None, storage_class_of(claim))
        if (storage_class or {}).get("volumeBindingMode") == "WaitForFirstConsumer" and \
                SELECTED_NODE_ANNOTATION not in (meta(claim).get("annotations") or {}):
            return  # the scheduler picks a node for the first pod using it, then binding proceeds
        volume = self._matching_volume(claim)
        if volume is not None:
            self._bind(claim, volume)
        elif storage_class is not None and storage_class.get("provisioner") not in (None, "", NO_PROVISIONER):
            self._provision(claim, storage_class)

    def _sync_claim_with_volume_name(self, claim):
        volume = self.find(PVS, None, claim["spec"]["volumeName"])
        claim_ref = ((volume or {}).get("spec") or {}).get("claimRef") or {}
        phase = (claim.get("status") or {}).get("phase")
        bound_here = claim_ref.get("uid") == meta(claim)["uid"]
        bind_completed = (meta(claim).get("annotations") or {}).get("pv.kubernetes.io/bind-completed") == "yes"
        if volume is None or (claim_ref.get("uid") and not bound_here):
            if bind_completed and phase != "Lost":
                self.write_status(PVCS, claim, {"phase": "Lost"})  # bound to a volume that is gone or is someone else's
            return
        if claim_ref and (claim_ref.get("namespace"), claim_ref.get("name")) != namespace_and_name(claim):
            return
        if not bound_here or phase != "Bound":
            self._bind(claim, volume)

    def _default_class(self):
        defaults = [storage_class for storage_class in self.objects(STORAGE_CLASSES)
                    if (meta(storage_class).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
        # Several defaults: upstream picks the newest.
        return copy.deepcopy(max(defaults, key=lambda sc: meta(sc).get("creationTimestamp", ""))) if defaults else None

    def _matching_volume(self, claim):
        spec = claim["spec"]
        namespace, name = namespace_and_name(claim)
        wanted_size = quantity_bytes(((spec.get("resources") or {}).get("requests") or {}).get("storage")) or 0
        wanted_class = storage_class_of(claim) or ""
        wanted_modes = set(spec.get("accessModes") or [])
        wanted_mode = spec.get("volumeMode", "Filesystem")
        try:
            selector = label_selector_from_dict(spec["selector"]) if spec.get("selector") else None
        except SelectorError:
            return None
        candidates = []
        for volume in self.objects(PVS):
            volume_spec = volume.get("spec") or {}
            claim_ref = volume_spec.get("claimRef")
            if is_deleting(volume) or (volume.get("status") or {}).get("phase") != "Available":
                continue
            if claim_ref and ((claim_ref.get("namespace"), claim_ref.get("name")) != (namespace, name)
                              or claim_ref.get("uid") not in (None, "", meta(claim)["uid"])):
                continue
            size = quantity_bytes((volume_spec.get("capacity") or {}).get("storage")) or 0
            if (storage_class_of(volume) or "") != wanted_class or size < wanted_size:
                continue
            if not wanted_modes <= set(volume_spec.get("accessModes") or []) or volume_spec.get("volumeMode", "Filesystem") != wanted_mode:
                continue
            if selector is not None and not selector.matches(labels_of(volume)):
                continue
            candidates.append((not claim_ref, size, meta(volume)["name"], volume))  # pre-bound first, then the smallest
        return copy.deepcopy(min(candidates, key=lambda c: c[:3])[3]) if candidates else None

    def _bind(self, claim, volume):
        """Volume first, then claim, in the PV controller's order; each step is a separate write."""
        claim, volume = copy.deepcopy(claim), copy.deepcopy(volume)
        volume_spec = volume["spec"]
        if not (volume_spec.get("claimRef") or {}).get("uid"):
            if not volume_spec.get("claimRef"):
                volume["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bound-by-controller"] = "yes"
            volume_spec["claimRef"] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta(claim)["namespace"],
                                       "name": meta(claim)["name"], "uid": meta(claim)["uid"],
                                       "resourceVersion": meta(claim)["resourceVersion"]}
            volume = self.update(PVS, volume)
        self.write_status(PVS, volume, dict(volume.get("status") or {}, phase="Bound"))
        annotations = claim["metadata"].setdefault("annotations", {})
        if not claim["spec"].get("volumeName"):
            claim["spec"]["volumeName"] = meta(volume)["name"]
            annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
        annotations["pv.kubernetes.io/bind-completed"] = "yes"
        claim = self.update(PVCS, claim)
        self.write_status(PVCS, claim, {"phase": "Bound", "accessModes": list(volume_spec.get("accessModes") or []),
                                        "capacity": dict(volume_spec.get("capacity") or {})})

    def _provision(self, claim, storage_class):
        provisioner = storage_class["provisioner"]
        annotations = claim["metadata"].setdefault("annotations", {})
        if annotations.get("volume.kubernetes.io/storage-provisioner") != provisioner:
            annotations["volume.beta.kubernetes.io/storage-provisioner"] = provisioner
            annotations["volume.kubernetes.io/storage-provisioner"] = provisioner
            claim = self.update(PVCS, claim)
        if provisioner in (NFS_SUBDIR_PROVISIONER, LOCAL_PATH_PROVISIONER):
            self._provision_directory(claim, storage_class)
            return
        snapshot_handle = None
        source = claim_data_source(claim)
        # A clone (PersistentVolumeClaim source) is provisioned empty: cloning is not emulated.
        if source is not None and source["kind"] != CLAIM_KIND:
            if source["kind"] != SNAPSHOT_KIND:
                self._report(claim, "Normal", "Provisioning", "Assuming an external populator will provision the volume", provisioner)
                return
            try:
                snapshot_handle = self._snapshot_source(claim, storage_class, source)
            except ProvisioningFailed as failure:
                self._report(claim, "Warning", "ProvisioningFailed",
                             'failed to provision volume with StorageClass "%s": %s' % (meta(storage_class)["name"], failure), provisioner)
                return
        spec = claim["spec"]
        parameters = storage_class.get("parameters") or {}
        volume_handle = "vol-" + random_suffix(17)
        csi = {"driver": provisioner, "volumeHandle": volume_handle,
               "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": "%d-%s-%s" % (
                   int(time.time() * 1000), random_suffix(4), provisioner)}}
        if parameters.get("csi.storage.k8s.io/fstype"):
            csi["fsType"] = parameters["csi.storage.k8s.io/fstype"]
        volume_spec = {
            "accessModes": list(spec.get("accessModes") or []),
            "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta(claim)["namespace"],
                         "name": meta(claim)["name"], "uid": meta(claim)["uid"], "resourceVersion": meta(claim)["resourceVersion"]},
            "csi": csi,
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
            "storageClassName": meta(storage_class)["name"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
        }
        if storage_class.get("mountOptions"):
            volume_spec["mountOptions"] = list(storage_class["mountOptions"])
        # CreateVolume: the disk exists, holding the snapshot's data, before its PersistentVolume does.
        if snapshot_handle is not None:
            self.volume_backend.restore_volume(snapshot_handle, volume_handle)
        else:
            self.volume_backend.create_volume(volume_handle)
        try:
            volume = self.create(PVS, None, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
                "name": "pvc-" + meta(claim)["uid"], "annotations": {"pv.kubernetes.io/provisioned-by": provisioner}}, "spec": volume_spec})
        except errors.ApiError:
            self.volume_backend.delete_volume(volume_handle)  # as the provisioner deletes a volume it could not record
            raise
        self._reported.pop(meta(claim)["uid"], None)
        self._bind(claim, volume)

    def _provision_directory(self, claim, storage_class):
        """A PV that is a new directory: of an NFS share, or of the selected node's local-path root."""
        provisioner, spec = storage_class["provisioner"], claim["spec"]
        namespace, claim_name = namespace_and_name(claim)
        volume_name = "pvc-" + meta(claim)["uid"]
        parameters = storage_class.get("parameters") or {}
        volume_spec = {
            "accessModes": list(spec.get("accessModes") or []),
            "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace, "name": claim_name,
                         "uid": meta(claim)["uid"], "resourceVersion": meta(claim)["resourceVersion"]},
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
            "storageClassName": meta(storage_class)["name"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
        }
        if storage_class.get("mountOptions"):
            volume_spec["mountOptions"] = list(storage_class["mountOptions"])
        if provisioner == NFS_SUBDIR_PROVISIONER:
            # The provisioner's directory name: <namespace>-<claim>-<volume>.
            volume_spec["nfs"] = {"server": parameters.get("server", DEFAULT_NFS_SERVER),
                                  "path": "%s/%s-%s-%s" % (parameters.get("share", DEFAULT_NFS_SHARE).rstrip("/"), namespace, claim_name, volume_name)}
        else:
            node = (meta(claim).get("annotations") or {}).get(SELECTED_NODE_ANNOTATION)
            if not node:
                self._report(claim, "Warning", "ProvisioningFailed", "failed to provision volume with StorageClass \"%s\": configuration error, "
                             "no node was specified" % meta(storage_class)["name"], provisioner)
                return
            volume_spec["hostPath"] = {"path": "%s/%s_%s_%s" % (LOCAL_PATH_ROOT, volume_name, namespace, claim_name), "type": "DirectoryOrCreate"}
            volume_spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
        handle = persistent_volume_handle({"spec": volume_spec})
        self.volume_backend.create_volume(handle)
        try:
            volume = self.create(PVS, None, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
                "name": volume_name, "annotations": {"pv.kubernetes.io/provisioned-by": provisioner}}, "spec": volume_spec})
        except errors.ApiError:
            self.volume_backend.delete_volume(handle)
            raise
        self._reported.pop(meta(claim)["uid"], None)
        self._bind(claim, volume)

    def _snapshot_source(self, claim, storage_class, source):
        """The snapshot handle to restore, after the external-provisioner's checks; raises ProvisioningFailed."""
        name = source["name"]
        if not name:
            raise ProvisioningFailed("the PVC source not found for PVC %s" % meta(claim)["name"])
        if source["apiGroup"] != SNAPSHOT_GROUP:
            raise ProvisioningFailed("the PVC source does not belong to the right APIGroup. Expected %s, Got %s" % (SNAPSHOT_GROUP, source["apiGroup"]))
        prefix = "error getting handle for DataSource Type %s by Name %s: " % (SNAPSHOT_KIND, name)
        if self.rtype(VOLUME_SNAPSHOTS) is None or self.rtype(SNAPSHOT_CONTENTS) is None:
            raise ProvisioningFailed(prefix + "error getting snapshot %s from api server: the server could not find the requested resource" % name)
        snapshot = self.find(VOLUME_SNAPSHOTS, source["namespace"], name)
        if snapshot is None:
            raise ProvisioningFailed(prefix + 'error getting snapshot %s from api server: %s.%s "%s" not found' % (
                name, VOLUME_SNAPSHOTS[1], SNAPSHOT_GROUP, name))
        if is_deleting(snapshot):
            raise ProvisioningFailed(prefix + "snapshot %s is being deleted" % name)
        status = snapshot.get("status") or {}
        content_name = status.get("boundVolumeSnapshotContentName")
        if not content_name:
            raise ProvisioningFailed(prefix + "snapshot %s not bound" % name)
        content = self.find(SNAPSHOT_CONTENTS, None, content_name)
        if content is None:
            raise ProvisioningFailed(prefix + "error getting snapshotcontent %s for snapshot %s" % (content_name, name))
        content_spec = content.get("spec") or {}
        ref = content_spec.get("volumeSnapshotRef") or {}
        if (ref.get("uid"), ref.get("namespace"), ref.get("name")) != (meta(snapshot)["uid"], meta(snapshot)["namespace"], name):
            raise ProvisioningFailed(prefix + "snapshotcontent %s for snapshot %s is bound to a different snapshot" % (content_name, name))
        if content_spec.get("driver") != storage_class.get("provisioner"):
            raise ProvisioningFailed(prefix + "snapshotcontent %s for snapshot %s is not handled by CSI driver of StorageClass %s" % (
                content_name, name, meta(storage_class)["name"]))
        if not status.get("readyToUse"):
            raise ProvisioningFailed(prefix + "snapshot %s is not Ready" % name)
        snapshot_handle = (content.get("status") or {}).get("snapshotHandle")
        if not snapshot_handle:
            raise ProvisioningFailed(prefix + "snapshot handle %s is not available" % name)
        if status.get("restoreSize") is not None:
            requested = quantity_bytes((((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage"))
            if requested is None:
                raise ProvisioningFailed(prefix + "error getting capacity for PVC %s when creating snapshot %s" % (meta(claim)["name"], name))
            restore_size = quantity_bytes(status["restoreSize"]) or 0
            if requested < restore_size:
                raise ProvisioningFailed(prefix + "requested volume size %d is less than the size %d for the source snapshot %s" % (
                    requested, restore_size, name))
        return snapshot_handle

    def _report(self, claim, event_type, reason, message, component):
        """An Event on the claim, once per distinct reason and message (the sidecar retries with backoff; this emulator on changes)."""
        uid = meta(claim)["uid"]
        if self._reported.get(uid) == (reason, message):
            return
        self._reported[uid] = (reason, message)
        self.record_event(dict(claim, apiVersion="v1", kind="PersistentVolumeClaim"), event_type, reason, message, component)

    # ---- volumes

    def _sync_volume(self, name):
        volume = self.find(PVS, None, name)
        if volume is None or is_deleting(volume):
            return
        spec = volume.get("spec") or {}
        if is_directory_handle(persistent_volume_handle(volume)):
            self.volume_backend.ensure_volume(persistent_volume_handle(volume))  # a share or host directory holds data once a PV names it
        phase = (volume.get("status") or {}).get("phase")
        claim_ref = spec.get("claimRef")
        if not claim_ref or not claim_ref.get("uid"):
            if phase != "Available":
                self.write_status(PVS, volume, {"phase": "Available"})
            return
        claim = self.find(PVCS, claim_ref.get("namespace"), claim_ref.get("name"))
        if claim is not None and meta(claim)["uid"] == claim_ref["uid"]:
            return
        if phase in ("Released", "Failed"):
            return
        policy = spec.get("persistentVolumeReclaimPolicy", "Retain")
        if policy != "Delete":
            self.write_status(PVS, volume, {"phase": "Released"})
        elif (meta(volume).get("annotations") or {}).get("pv.kubernetes.io/provisioned-by"):
            handle = persistent_volume_handle(volume)
            if handle:
                self.volume_backend.delete_volume(handle)  # DeleteVolume, then the object goes
            self.delete(PVS, volume)
        else:
            self.write_status(PVS, volume, {"phase": "Failed", "message": 'error getting deleter volume plugin for volume "%s": '
                                            "no deletable volume plugin matched" % name})

"""The CSI snapshot controller and snapshotter sidecar, active once the snapshot.storage.k8s.io CRDs exist.

Taking a snapshot copies the source volume's data in the volume backend under the new snapshot
handle; deleting a content whose deletionPolicy is Delete deletes that data (DeleteSnapshot).
A pre-provisioned content names data by spec.source.snapshotHandle and becomes ready whether or
not the backend holds it.
"""

import hashlib
import time

from kubesim.controllers.common import (
    PVCS, PVS, SNAPSHOT_CLASSES, SNAPSHOT_CONTENTS, VOLUME_SNAPSHOTS, Controller, format_bytes, is_deleting, meta, namespace_and_name, quantity_bytes,
    random_suffix)


DEFAULT_SNAPSHOT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"


class VolumeSnapshotController(Controller):
    """The snapshot controller and CSI snapshotter sidecar, active once the snapshot.storage.k8s.io CRDs exist."""

    name = "volumesnapshot"
    watches = (VOLUME_SNAPSHOTS, SNAPSHOT_CONTENTS, SNAPSHOT_CLASSES, PVCS)

    def keys_for(self, group_resource, event_type, obj, old):
        if group_resource == VOLUME_SNAPSHOTS:
            keys = [("snapshot",) + namespace_and_name(obj)]
            content_name = (obj.get("status") or {}).get("boundVolumeSnapshotContentName")
            if event_type == "DELETED" and content_name:
                keys.append(("content", "", content_name))
            return keys
        if group_resource == SNAPSHOT_CONTENTS:
            ref = (obj.get("spec") or {}).get("volumeSnapshotRef") or {}
            keys = [("content", "", meta(obj)["name"])]
            handle = (obj.get("status") or {}).get("snapshotHandle")
            if event_type == "DELETED" and handle and (obj.get("spec") or {}).get("deletionPolicy", "Delete") == "Delete":
                keys.append(("snapshot-data", "", handle))
            if ref.get("name"):
                keys.append(("snapshot", ref.get("namespace", ""), ref["name"]))
            return keys
        namespace = meta(obj).get("namespace") if group_resource == PVCS else None
        return [("snapshot",) + namespace_and_name(snapshot) for snapshot in self.objects(VOLUME_SNAPSHOTS, namespace)
                if not (snapshot.get("status") or {}).get("readyToUse")]

    def resync_keys(self):
        return ([("snapshot",) + namespace_and_name(snapshot) for snapshot in self.objects(VOLUME_SNAPSHOTS)]
                + [("content", "", meta(content)["name"]) for content in self.objects(SNAPSHOT_CONTENTS)])

    def reconcile(self, key):
        kind, namespace, name = key
        if self.rtype(VOLUME_SNAPSHOTS) is None or self.rtype(SNAPSHOT_CONTENTS) is None:
            return
        if kind == "snapshot":
            self._sync_snapshot(namespace, name)
        elif kind == "snapshot-data":
            self._delete_snapshot_data(name)
        else:
            self._sync_content(name)

    def _sync_snapshot(self, namespace, name):
        snapshot = self.find(VOLUME_SNAPSHOTS, namespace, name)
        if snapshot is None or is_deleting(snapshot):
            return
        status = snapshot.get("status") or {}
        if status.get("readyToUse") and status.get("boundVolumeSnapshotContentName"):
            return
        source = (snapshot.get("spec") or {}).get("source") or {}
        if source.get("volumeSnapshotContentName"):
            self._bind_pre_provisioned(snapshot, source["volumeSnapshotContentName"])
        elif source.get("persistentVolumeClaimName"):
            self._take_snapshot(snapshot, source["persistentVolumeClaimName"])

    def _snapshot_ref(self, snapshot):
        return {"apiVersion": snapshot["apiVersion"], "kind": "VolumeSnapshot", "name": meta(snapshot)["name"],
                "namespace": meta(snapshot)["namespace"], "uid": meta(snapshot)["uid"], "resourceVersion": meta(snapshot)["resourceVersion"]}

    def _bind_pre_provisioned(self, snapshot, content_name):
        content = self.find(SNAPSHOT_CONTENTS, None, content_name)
        if content is None:
            return
        ref = content["spec"].get("volumeSnapshotRef") or {}
        if (ref.get("namespace"), ref.get("name")) != namespace_and_name(snapshot):
            return
        if ref.get("uid") not in (None, "", meta(snapshot)["uid"]):
            return
        if not ref.get("uid"):
            content["spec"]["volumeSnapshotRef"] = dict(ref, **{"uid": meta(snapshot)["uid"], "resourceVersion": meta(snapshot)["resourceVersion"]})
            content = self.update(SNAPSHOT_CONTENTS, content)
        content_status = dict(content.get("status") or {})
        if not content_status.get("readyToUse"):
            handle = (content["spec"].get("source") or {}).get("snapshotHandle") or "snap-" + random_suffix(17)
            content_status.update(readyToUse=True, creationTime=content_status.get("creationTime") or time.time_ns(), snapshotHandle=handle)
            # The driver reports the size of a snapshot it holds (ListSnapshots); one it does not hold has none.
            size = self.volume_backend.snapshot_size(handle)
            if size is not None and content_status.get("restoreSize") is None:
                content_status["restoreSize"] = size
            content = self.write_status(SNAPSHOT_CONTENTS, content, content_status)
        self._write_snapshot_status(snapshot, content)

    def _take_snapshot(self, snapshot, claim_name):
        claim = self.find(PVCS, meta(snapshot)["namespace"], claim_name)
        if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
            return
        volume = self.find(PVS, None, claim["spec"].get("volumeName"))
        volume_driver = (((volume or {}).get("spec") or {}).get("csi") or {}).get("driver")
        if volume_driver is None:
            return  # only CSI volumes can be snapshotted
        class_name = snapshot["spec"].get("volumeSnapshotClassName")
        snapshot_class = self.find(SNAPSHOT_CLASSES, None, class_name) if class_name else None
        if class_name is None:
            default_class = self._default_class(volume_driver)
            if default_class is not None:
                snapshot["spec"]["volumeSnapshotClassName"] = meta(default_class)["name"]
                self.update(VOLUME_SNAPSHOTS, snapshot)
                return
        elif snapshot_class is None:
            return  # upstream waits for the named class
        content_name = "snapcontent-" + meta(snapshot)["uid"]
        content = self.find(SNAPSHOT_CONTENTS, None, content_name)
        if content is None:
            spec = {
                "deletionPolicy": (snapshot_class or {}).get("deletionPolicy", "Delete"),
                "driver": (snapshot_class or {}).get("driver", volume_driver),
                "source": {"volumeHandle": volume["spec"]["csi"]["volumeHandle"]},
                "sourceVolumeMode": volume["spec"].get("volumeMode", "Filesystem"),
                "volumeSnapshotRef": self._snapshot_ref(snapshot),
            }
            if class_name:
                spec["volumeSnapshotClassName"] = class_name
            content_type = self.rtype(SNAPSHOT_CONTENTS)
            content = self.create(SNAPSHOT_CONTENTS, None, {"apiVersion": content_type.api_version, "kind": content_type.kind,
                                                            "metadata": {"name": content_name}, "spec": spec})
        if not (content.get("status") or {}).get("readyToUse"):
            size = quantity_bytes(((claim.get("status") or {}).get("capacity") or {}).get("storage")) or 0
            # One handle per content, so a retried status write does not leave a second copy behind.
            handle = "snap-" + hashlib.sha256(meta(content)["uid"].encode()).hexdigest()[:17]
            self.volume_backend.take_snapshot(volume["spec"]["csi"]["volumeHandle"], handle, size_bytes=size)
            content = self.write_status(SNAPSHOT_CONTENTS, content, {"creationTime": time.time_ns(), "readyToUse": True, "restoreSize": size,
                                                                     "snapshotHandle": handle})
        self._write_snapshot_status(snapshot, content)

    def _default_class(self, driver):
        for snapshot_class in self.objects(SNAPSHOT_CLASSES):
            if (meta(snapshot_class).get("annotations") or {}).get(DEFAULT_SNAPSHOT_CLASS_ANNOTATION) == "true" and snapshot_class.get("driver") == driver:
                return snapshot_class
        return None

    def _write_snapshot_status(self, snapshot, content):
        content_status = content.get("status") or {}
        status = {"boundVolumeSnapshotContentName": meta(content)["name"], "readyToUse": bool(content_status.get("readyToUse"))}
        if content_status.get("creationTime"):
            status["creationTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(content_status["creationTime"] / 1e9))
        if content_status.get("restoreSize") is not None:
            status["restoreSize"] = format_bytes(content_status["restoreSize"])
        self.write_status(VOLUME_SNAPSHOTS, snapshot, status)

    def _delete_snapshot_data(self, handle):
        """DeleteSnapshot for a content deleted with deletionPolicy Delete, unless another content still names the data."""
        for content in self.objects(SNAPSHOT_CONTENTS):
            if handle in ((content.get("status") or {}).get("snapshotHandle"), ((content.get("spec") or {}).get("source") or {}).get("snapshotHandle")):
                return
        self.volume_backend.delete_snapshot(handle)

    def _sync_content(self, name):
        content = self.find(SNAPSHOT_CONTENTS, None, name)
        if content is None or is_deleting(content):
            return
        ref = content["spec"].get("volumeSnapshotRef") or {}
        if not ref.get("uid"):
            return
        snapshot = self.find(VOLUME_SNAPSHOTS, ref.get("namespace"), ref.get("name"))
        if snapshot is not None and meta(snapshot)["uid"] == ref["uid"]:
            return
        if content["spec"].get("deletionPolicy", "Delete") == "Delete":
            self.delete(SNAPSHOT_CONTENTS, content)

"""The storage behind PersistentVolumes: what a CSI driver or a cloud account holds under volume and snapshot handles.

Kubernetes objects only name the data (a PV's csi.volumeHandle or awsElasticBlockStore.volumeID, a
VolumeSnapshotContent's status.snapshotHandle); this is where the bytes live, so a test can write a
volume, take a snapshot, restore it and prove the data came back. Volumes and snapshots are separate
spaces of handles, as a cloud keeps disks and snapshots apart.

Two emulators given the same backend model two clusters on one cloud account: a snapshot taken in one
can be restored in the other. Restoring a snapshot handle the backend does not hold (taken on another
account) gives an empty volume whose ``info`` says ``snapshot_data_missing: True``.
"""

import threading


def volume_key(handle):
    """The backend's key for a volume handle: an in-tree EBS volumeID ``aws://<zone>/vol-x`` is the EBS volume ``vol-x``."""
    handle = str(handle or "")
    if handle.startswith("aws:/"):
        return handle.rsplit("/", 1)[-1]
    return handle


class VolumeBackend:
    """Volume and snapshot contents (bytes) by handle. Thread safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._volumes = {}  # volume handle -> {"data": bytes, "source_snapshot": handle or None, "snapshot_data_missing": bool}
        self._snapshots = {}  # snapshot handle -> {"data": bytes, "source_volume": handle or None, "size_bytes": int or None}

    # ---------------------------------------------------------------- volumes

    def create_volume(self, handle, data=b""):
        """A new volume holding ``data`` (what CreateVolume without a content source makes: empty)."""
        with self._lock:
            self._volumes[volume_key(handle)] = {"data": bytes(data), "source_snapshot": None, "snapshot_data_missing": False}

    def restore_volume(self, snapshot_handle, volume_handle):
        """A new volume holding a copy of the snapshot's data; whether the backend held that snapshot.

        An unknown snapshot gives an empty volume flagged ``snapshot_data_missing``.
        """
        with self._lock:
            snapshot = self._snapshots.get(snapshot_handle)
            self._volumes[volume_key(volume_handle)] = {"data": snapshot["data"] if snapshot else b"", "source_snapshot": snapshot_handle,
                                                        "snapshot_data_missing": snapshot is None}
            return snapshot is not None

    def write_volume(self, handle, data):
        """Replace what the volume holds, as a pod writing to it would; creates the volume when unknown."""
        with self._lock:
            entry = self._volumes.setdefault(volume_key(handle), {"data": b"", "source_snapshot": None, "snapshot_data_missing": False})
            entry["data"] = bytes(data)

    def read_volume(self, handle):
        """What the volume holds, or None when the backend has no such volume."""
        with self._lock:
            entry = self._volumes.get(volume_key(handle))
            return entry["data"] if entry else None

    def delete_volume(self, handle):
        """Forget the volume (DeleteVolume); whether it existed."""
        with self._lock:
            return self._volumes.pop(volume_key(handle), None) is not None

    def volumes(self):
        """[{handle, size, source_snapshot, snapshot_data_missing}] sorted by handle."""
        with self._lock:
            return [{"handle": handle, "size": len(entry["data"]), "source_snapshot": entry["source_snapshot"],
                     "snapshot_data_missing": entry["snapshot_data_missing"]} for handle, entry in sorted(self._volumes.items())]

    # -------------------------------------------------------------- snapshots

    def take_snapshot(self, volume_handle, snapshot_handle, size_bytes=None):
        """Copy the volume's data under ``snapshot_handle`` (CreateSnapshot); a volume never written is empty."""
        with self._lock:
            volume = self._volumes.get(volume_key(volume_handle))
            self._snapshots[snapshot_handle] = {"data": volume["data"] if volume else b"", "source_volume": volume_key(volume_handle),
                                                "size_bytes": size_bytes}

    def write_snapshot(self, handle, data, size_bytes=None):
        """A snapshot made outside any cluster (a cloud snapshot a pre-provisioned VolumeSnapshotContent refers to)."""
        with self._lock:
            self._snapshots[handle] = {"data": bytes(data), "source_volume": None, "size_bytes": size_bytes}

    def read_snapshot(self, handle):
        """The snapshot's data, or None when the backend has no such snapshot."""
        with self._lock:
            entry = self._snapshots.get(handle)
            return entry["data"] if entry else None

    def snapshot_size(self, handle):
        """The size of the volume the snapshot was taken from, in bytes (its restoreSize), or None."""
        with self._lock:
            entry = self._snapshots.get(handle)
            return entry["size_bytes"] if entry else None

    def has_snapshot(self, handle):
        with self._lock:
            return handle in self._snapshots

    def delete_snapshot(self, handle):
        """Forget the snapshot (DeleteSnapshot); whether it existed."""
        with self._lock:
            return self._snapshots.pop(handle, None) is not None

    def snapshots(self):
        """[{handle, size, source_volume, size_bytes}] sorted by handle; ``size`` is the data's length."""
        with self._lock:
            return [{"handle": handle, "size": len(entry["data"]), "source_volume": entry["source_volume"], "size_bytes": entry["size_bytes"]}
                    for handle, entry in sorted(self._snapshots.items())]

    def snapshot_handles(self):
        with self._lock:
            return sorted(self._snapshots)


def persistent_volume_handle(volume):
    """The backend key of a PersistentVolume's disk: csi.volumeHandle or awsElasticBlockStore.volumeID; None for other kinds."""
    spec = (volume or {}).get("spec") or {}
    handle = (spec.get("csi") or {}).get("volumeHandle") or (spec.get("awsElasticBlockStore") or {}).get("volumeID")
    return volume_key(handle) if handle else None

"""The storage behind PersistentVolumes: what a CSI driver, a cloud account or a file server holds under volume and snapshot handles.

Kubernetes objects only name the data (a PV's csi.volumeHandle or awsElasticBlockStore.volumeID, the
server and path of an nfs volume, the path of a hostPath or local volume; a VolumeSnapshotContent's
status.snapshotHandle); this is where the data lives, so a test can write a volume, take a snapshot,
restore it, copy it with tar through a pod, and prove the data came back. Volumes and snapshots are
separate spaces of handles, as a cloud keeps disks and snapshots apart.

A volume's content is a file tree, as a mounted file system shows it: ``{relative path: (mode, data)}``.

- Paths are relative, "/"-separated, without "." or ".." parts ("app/config.yaml").
- A regular file's mode is its permission bits (0o644); its data is bytes.
- A directory holding files is implied by their paths. An empty directory is an entry whose path ends
  with "/" ("cache/": (0o755, b"")). A directory's own mode is kept when tar or put_volume_files gave one.
- A symbolic link is an entry whose mode has the S_IFLNK type bits (stat.S_IFLNK | 0o777); its data is the target.

The bytes API of the snapshot tests (``write_volume``/``read_volume``, ``write_snapshot``/``read_snapshot``) is
the regular file named ``data`` at the root (BYTES_FILE): writing bytes replaces the whole tree with that one file.

Contents are immutable bytes shared, not copied, between a volume, its snapshots and the tar streams
reading them: a snapshot of a 256 MiB volume costs a dict, and tar sends slices of the stored bytes.

Two emulators given the same backend model two clusters on one cloud account: a snapshot taken in one
can be restored in the other. Each emulator gets its own backend by default: two clouds. Restoring a
snapshot handle the backend does not hold (taken on another account) gives an empty volume whose
``info`` says ``snapshot_data_missing: True``.
"""

import posixpath
import stat
import threading
import time

BYTES_FILE = "data"
DIRECTORY_HANDLE_SCHEMES = ("nfs://", "hostpath://", "local://")
DIRECTORY_MODE = 0o755
FILE_MODE = 0o644


class FileTreeError(ValueError):
    """A path or mode a file tree cannot hold."""


def volume_key(handle):
    """The backend's key for a volume handle: an in-tree EBS volumeID ``aws://<zone>/vol-x`` is the EBS volume ``vol-x``."""
    handle = str(handle or "")
    if handle.startswith("aws:/"):
        return handle.rsplit("/", 1)[-1]
    return handle


def normalize_path(path):
    """A tree path in its canonical spelling ("a/b", "a/" for a directory), or raise FileTreeError."""
    if not isinstance(path, str) or not path.strip("/").strip("."):
        raise FileTreeError("a volume path must name something below the volume's root, not %r" % (path,))
    directory = path.endswith("/")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if path.startswith("/") or ".." in parts or "\x00" in path:
        raise FileTreeError("a volume path must be relative and stay inside the volume: %r" % (path,))
    return "/".join(parts) + ("/" if directory else "")


class TreeEntry:
    """One stored file, directory or symbolic link. Immutable once made."""

    __slots__ = ("kind", "mode", "data", "mtime")

    def __init__(self, kind, mode, data=b"", mtime=None):
        self.kind, self.mode, self.data = kind, mode, data
        self.mtime = int(time.time()) if mtime is None else int(mtime)


def _entry_for(path, mode, data, mtime=None):
    """Validate one (mode, data) pair of the public tree shape and make the stored entry."""
    if not isinstance(mode, int) or mode < 0:
        raise FileTreeError("the mode of %r must be a non-negative int, not %r" % (path, mode))
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FileTreeError("the data of %r must be bytes, not %s" % (path, type(data).__name__))
    if path.endswith("/"):
        return path.rstrip("/"), TreeEntry("dir", stat.S_IMODE(mode), b"", mtime)
    if stat.S_ISLNK(mode):
        return path, TreeEntry("link", 0o777, bytes(data), mtime)
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        raise FileTreeError("%r: only regular files, directories and symbolic links are stored (mode %o)" % (path, mode))
    return path, TreeEntry("file", stat.S_IMODE(mode), bytes(data), mtime)


class FileTree:
    """A volume's or a snapshot's content: path -> TreeEntry, directories included when they carry a mode.

    Trees are copied on write (``copy()`` is shallow: entries and their bytes are shared).
    """

    def __init__(self, entries=None):
        self._entries = dict(entries or {})  # path without trailing "/" -> TreeEntry

    @classmethod
    def from_files(cls, files):
        """A tree from the public shape {path: (mode, data)}; raises FileTreeError for a bad path, mode or data."""
        tree = cls()
        for path, value in (files or {}).items():
            try:
                mode, data = value
            except (TypeError, ValueError) as exc:
                raise FileTreeError("the value of %r must be a (mode, data) pair" % (path,)) from exc
            key, entry = _entry_for(normalize_path(path), mode, data)
            tree.put(key, entry)
        return tree

    @classmethod
    def from_bytes(cls, data):
        return cls({BYTES_FILE: TreeEntry("file", FILE_MODE, bytes(data))})

    def copy(self):
        return FileTree(self._entries)

    def put(self, path, entry):
        """Store one entry, replacing what was there; parent directories become implied directories when absent."""
        if entry.kind != "dir":
            for parent in _parents(path):
                existing = self._entries.get(parent)
                if existing is not None and existing.kind != "dir":
                    del self._entries[parent]  # a file in the way of a directory is replaced, as tar -x does
        old = self._entries.get(path)
        if old is not None and old.kind == "dir" and entry.kind != "dir":
            prefix = path + "/"
            for below in [key for key in self._entries if key.startswith(prefix)]:
                del self._entries[below]
        self._entries[path] = entry

    def get(self, path):
        return self._entries.get(path)

    def is_directory(self, path):
        """Whether ``path`` ("" for the root) is a directory, stored or implied."""
        if path == "":
            return True
        entry = self._entries.get(path)
        if entry is not None:
            return entry.kind == "dir"
        prefix = path + "/"
        return any(key.startswith(prefix) for key in self._entries)

    def walk(self, top=""):
        """(relative path below ``top``, TreeEntry or None for an implied directory) in tar's order: each directory before its content.

        Names are sorted so two archives of the same tree are byte-identical.
        """
        prefix = top + "/" if top else ""
        keys = sorted(key for key in self._entries if key.startswith(prefix))
        seen = set()
        for key in keys:
            relative = key[len(prefix):]
            for parent in _parents(relative):
                if parent not in seen:
                    seen.add(parent)
                    yield parent + "/", self._entries.get(prefix + parent)
            if relative not in seen:
                seen.add(relative)
                entry = self._entries[key]
                yield (relative + "/" if entry.kind == "dir" else relative), entry

    def files(self):
        """The public shape: regular files and links, plus empty directories with a trailing "/"."""
        result = {}
        non_empty = {parent for key in self._entries for parent in _parents(key)}
        for key, entry in self._entries.items():
            if entry.kind == "file":
                result[key] = (entry.mode, entry.data)
            elif entry.kind == "link":
                result[key] = (stat.S_IFLNK | 0o777, entry.data)
            elif key not in non_empty:
                result[key + "/"] = (entry.mode, b"")
        return dict(sorted(result.items()))

    def size(self):
        """The bytes of file content the tree holds."""
        return sum(len(entry.data) for entry in self._entries.values() if entry.kind == "file")

    def read_bytes(self):
        """The bytes API's view: the content of BYTES_FILE, b"" without it."""
        entry = self._entries.get(BYTES_FILE)
        return entry.data if entry is not None and entry.kind == "file" else b""


def _parents(path):
    """The directories above ``path``, outermost first: "a/b/c" -> ["a", "a/b"]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:index + 1]) for index in range(len(parts))]


class VolumeBackend:
    """Volume and snapshot contents (file trees) by handle. Thread safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._volumes = {}  # volume handle -> {"tree": FileTree, "source_snapshot": handle or None, "snapshot_data_missing": bool}
        self._snapshots = {}  # snapshot handle -> {"tree": FileTree, "source_volume": handle or None, "size_bytes": int or None}

    # ---------------------------------------------------------------- volumes

    def create_volume(self, handle, data=b""):
        """A new volume holding ``data`` (what CreateVolume without a content source makes: empty)."""
        with self._lock:
            self._volumes[volume_key(handle)] = {"tree": FileTree.from_bytes(data) if data else FileTree(), "source_snapshot": None,
                                                 "snapshot_data_missing": False}

    def ensure_volume(self, handle):
        """Make an empty volume unless the backend holds one (a file share or host directory exists once named)."""
        with self._lock:
            self._volumes.setdefault(volume_key(handle), {"tree": FileTree(), "source_snapshot": None, "snapshot_data_missing": False})

    def restore_volume(self, snapshot_handle, volume_handle):
        """A new volume holding a copy of the snapshot's tree; whether the backend held that snapshot.

        An unknown snapshot gives an empty volume flagged ``snapshot_data_missing``.
        """
        with self._lock:
            snapshot = self._snapshots.get(snapshot_handle)
            self._volumes[volume_key(volume_handle)] = {"tree": snapshot["tree"].copy() if snapshot else FileTree(),
                                                        "source_snapshot": snapshot_handle, "snapshot_data_missing": snapshot is None}
            return snapshot is not None

    def write_volume(self, handle, data):
        """Replace what the volume holds with one file, BYTES_FILE, holding ``data``; creates the volume when unknown."""
        self._replace_tree(handle, FileTree.from_bytes(data))

    def read_volume(self, handle):
        """The content of the volume's BYTES_FILE (b"" without one), or None when the backend has no such volume."""
        with self._lock:
            entry = self._volumes.get(volume_key(handle))
            return entry["tree"].read_bytes() if entry else None

    def volume_files(self, handle):
        """The volume's file tree as {relative path: (mode, data)} (see the module's docstring), or None when the backend has no such volume."""
        with self._lock:
            entry = self._volumes.get(volume_key(handle))
            return entry["tree"].files() if entry else None

    def put_volume_files(self, handle, files):
        """Replace the volume's content with ``files`` ({relative path: (mode, data)}); creates the volume when unknown.

        Raises FileTreeError (a ValueError) for a path outside the volume, a bad mode or data that is not bytes.
        """
        self._replace_tree(handle, FileTree.from_files(files))

    def volume_tree(self, handle):
        """A snapshot of the volume's FileTree (later writes do not change it; contents are shared, not copied), or None."""
        with self._lock:
            entry = self._volumes.get(volume_key(handle))
            return entry["tree"].copy() if entry else None

    def put_entry(self, handle, path, entry):
        """Write one file, directory or link into the volume (tar -x, member by member: what it replaces is freed at once)."""
        with self._lock:
            self._volumes.setdefault(volume_key(handle), {"tree": FileTree(), "source_snapshot": None, "snapshot_data_missing": False})
            self._volumes[volume_key(handle)]["tree"].put(path, entry)

    def volume_entry(self, handle, path):
        """The stored entry at ``path`` of the volume, or None."""
        with self._lock:
            entry = self._volumes.get(volume_key(handle))
            return entry["tree"].get(path) if entry else None

    def replace_volume_tree(self, handle, tree):
        """Replace the volume's content with a FileTree."""
        self._replace_tree(handle, tree)

    def _replace_tree(self, handle, tree):
        with self._lock:
            entry = self._volumes.setdefault(volume_key(handle), {"tree": None, "source_snapshot": None, "snapshot_data_missing": False})
            entry["tree"] = tree

    def delete_volume(self, handle):
        """Forget the volume (DeleteVolume); whether it existed."""
        with self._lock:
            return self._volumes.pop(volume_key(handle), None) is not None

    def has_volume(self, handle):
        with self._lock:
            return volume_key(handle) in self._volumes

    def volumes(self):
        """[{handle, size, source_snapshot, snapshot_data_missing}] sorted by handle; ``size`` is the bytes of file content."""
        with self._lock:
            return [{"handle": handle, "size": entry["tree"].size(), "source_snapshot": entry["source_snapshot"],
                     "snapshot_data_missing": entry["snapshot_data_missing"]} for handle, entry in sorted(self._volumes.items())]

    # -------------------------------------------------------------- snapshots

    def take_snapshot(self, volume_handle, snapshot_handle, size_bytes=None):
        """Copy the volume's tree under ``snapshot_handle`` (CreateSnapshot); a volume never written is empty."""
        with self._lock:
            volume = self._volumes.get(volume_key(volume_handle))
            self._snapshots[snapshot_handle] = {"tree": volume["tree"].copy() if volume else FileTree(),
                                                "source_volume": volume_key(volume_handle), "size_bytes": size_bytes}

    def write_snapshot(self, handle, data, size_bytes=None):
        """A snapshot made outside any cluster (a cloud snapshot a pre-provisioned VolumeSnapshotContent refers to), holding BYTES_FILE."""
        with self._lock:
            self._snapshots[handle] = {"tree": FileTree.from_bytes(data), "source_volume": None, "size_bytes": size_bytes}

    def read_snapshot(self, handle):
        """The content of the snapshot's BYTES_FILE (b"" without one), or None when the backend has no such snapshot."""
        with self._lock:
            entry = self._snapshots.get(handle)
            return entry["tree"].read_bytes() if entry else None

    def snapshot_files(self, handle):
        """The snapshot's file tree as {relative path: (mode, data)}, or None when the backend has no such snapshot."""
        with self._lock:
            entry = self._snapshots.get(handle)
            return entry["tree"].files() if entry else None

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
        """[{handle, size, source_volume, size_bytes}] sorted by handle; ``size`` is the bytes of file content."""
        with self._lock:
            return [{"handle": handle, "size": entry["tree"].size(), "source_volume": entry["source_volume"], "size_bytes": entry["size_bytes"]}
                    for handle, entry in sorted(self._snapshots.items())]

    def snapshot_handles(self):
        with self._lock:
            return sorted(self._snapshots)


def persistent_volume_handle(volume):
    """The backend key of a PersistentVolume's storage, or None for kinds the backend does not hold.

    csi.volumeHandle or awsElasticBlockStore.volumeID for disks; for file systems with no handle of their
    own, one made from where they live: ``nfs://<server><path>``, ``hostpath://<node><path>`` and
    ``local://<node><path>`` (the node of the PV's node affinity, "" without one).
    """
    spec = (volume or {}).get("spec") or {}
    handle = (spec.get("csi") or {}).get("volumeHandle") or (spec.get("awsElasticBlockStore") or {}).get("volumeID")
    if handle:
        return volume_key(handle)
    if (spec.get("nfs") or {}).get("server"):
        return "nfs://%s%s" % (spec["nfs"]["server"], _absolute(spec["nfs"].get("path")))
    for kind in ("hostPath", "local"):
        if (spec.get(kind) or {}).get("path"):
            return "%s://%s%s" % (kind.lower(), _affinity_hostname(spec), _absolute(spec[kind]["path"]))
    return None


def is_directory_handle(handle):
    """Whether a handle names a directory of a file server or a node (nfs, hostPath, local), which exists once a PV names it."""
    return str(handle or "").startswith(DIRECTORY_HANDLE_SCHEMES)


def _absolute(path):
    return posixpath.normpath("/" + (path or "").lstrip("/"))


def _affinity_hostname(spec):
    """The kubernetes.io/hostname a PV's required node affinity pins it to, or ""."""
    for term in (((spec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []):
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") == "kubernetes.io/hostname" and expression.get("operator") == "In" and len(expression.get("values") or []) == 1:
                return expression["values"][0]
    return ""

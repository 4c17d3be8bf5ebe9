"""A small client for the emulator's /_kubesim control API, for tests and benchmarks."""

import io
import json
import ssl
import urllib.error
import urllib.request
from urllib.parse import quote

from kubesim.tar_format import tree_archive_chunks, tree_from_archive
from kubesim.volume_backend import FileTree


class ControlClient:
    def __init__(self, url, ca_cert=None):
        self.url = url.rstrip("/")
        self._context = ssl.create_default_context(cafile=ca_cert) if url.startswith("https") else None

    def _call(self, method, route, body=None, query=""):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request("%s/_kubesim/%s%s" % (self.url, route, query), data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self._context, timeout=60) as response:
            return json.loads(response.read() or b"{}")

    def _call_raw(self, method, route, data=None, query=""):
        """Bytes in and out; None when the backend holds no such volume or snapshot (other errors raise HTTPError)."""
        request = urllib.request.Request("%s/_kubesim/%s%s" % (self.url, route, query), data=data, method=method,
                                         headers={"Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                details = json.loads(body).get("details") or {}
            except ValueError:
                details = {}
            if error.code == 404 and details.get("kind") in ("volume", "snapshot"):
                return None
            error.msg = "%s: %s" % (error.msg, body.decode("utf-8", "replace"))
            raise

    def audit(self, since=0):
        """Request records ordered by "seq" (shared with exec_log()); ``since`` is a position in that list."""
        return self._call("GET", "audit", query="?since=%d" % since)["records"]

    def clear_audit(self):
        self._call("DELETE", "audit")

    def add_fault(self, **rule):
        return self._call("POST", "faults", rule)

    def faults(self):
        """The fault rules with how often each has fired (a latency rule fires when the request arrives, before it sleeps)."""
        return self._call("GET", "faults")["rules"]

    def clear_faults(self):
        return self._call("DELETE", "faults")

    def compact(self):
        self._call("POST", "compact")

    def settle(self, timeout=10):
        return self._call("POST", "settle", query="?timeout=%s" % timeout)["settled"]

    def configure(self, **settings):
        return self._call("PUT", "settings", settings)

    def dump(self):
        return self._call("GET", "dump")["objects"]

    def seed(self, objects):
        return self._call("POST", "seed", {"objects": objects})["created"]

    def add_exec_script(self, **rule):
        return self._call("POST", "exec/scripts", rule)

    def exec_log(self):
        """Executed commands ordered by "seq" (taken when each started; "end_seq" when it ended)."""
        return self._call("GET", "exec/log")["records"]

    # ---- volume contents (the emulator's VolumeBackend)

    def volumes(self):
        """[{handle, size, source_snapshot, snapshot_data_missing}] for every volume the backend holds."""
        return self._call("GET", "volumes")["volumes"]

    def write_volume(self, handle, data):
        """Replace the data of the volume with this CSI volumeHandle or EBS volume id."""
        return json.loads(self._call_raw("PUT", "volumes/" + quote(handle, safe=""), _bytes(data)))

    def read_volume(self, handle):
        """The volume's data, or None when the backend has no such volume."""
        return self._call_raw("GET", "volumes/" + quote(handle, safe=""))

    def delete_volume(self, handle):
        return json.loads(self._call_raw("DELETE", "volumes/" + quote(handle, safe="")))["deleted"]

    def write_volume_of_pv(self, pv_name, data):
        """Replace the data of a PersistentVolume's disk; answers {handle, size}."""
        return json.loads(self._call_raw("PUT", "persistentvolumes/%s/data" % quote(pv_name, safe=""), _bytes(data)))

    def read_volume_of_pv(self, pv_name):
        """The data of a PersistentVolume's disk, or None when the backend has none."""
        return self._call_raw("GET", "persistentvolumes/%s/data" % quote(pv_name, safe=""))

    def write_volume_for_claim(self, namespace, claim, data):
        """Replace the data of the disk bound to a claim (PVC -> PV -> handle); answers {handle, size}."""
        return json.loads(self._call_raw("PUT", "persistentvolumeclaims/%s/%s/data" % (quote(namespace, safe=""), quote(claim, safe="")), _bytes(data)))

    def volume_data_for_claim(self, namespace, claim):
        """The data of the disk bound to a claim (PVC -> PV -> csi.volumeHandle or awsElasticBlockStore.volumeID), or None."""
        return self._call_raw("GET", "persistentvolumeclaims/%s/%s/data" % (quote(namespace, safe=""), quote(claim, safe="")))

    def claim_files(self, namespace, claim):
        """The file tree of the volume bound to a claim, {relative path: (mode, data)} (kubesim.volume_backend explains the shape)."""
        return files_from_tar(self._call_raw("GET", "persistentvolumeclaims/%s/%s/files" % (quote(namespace, safe=""), quote(claim, safe=""))))

    def write_claim_files(self, namespace, claim, files):
        """Replace the tree of the volume bound to a claim with ``files`` ({relative path: (mode, data)}); answers {handle, size}."""
        return json.loads(self._call_raw("PUT", "persistentvolumeclaims/%s/%s/files" % (quote(namespace, safe=""), quote(claim, safe="")),
                                         tar_from_files(files)))

    def snapshots(self):
        """[{handle, size, source_volume, size_bytes}] for every snapshot the backend holds."""
        return self._call("GET", "snapshots")["snapshots"]

    def snapshot_handles(self):
        return [snapshot["handle"] for snapshot in self.snapshots()]

    def write_snapshot(self, handle, data, size_bytes=None):
        """A snapshot made outside the cluster, for a pre-provisioned VolumeSnapshotContent to name."""
        query = "?size_bytes=%d" % size_bytes if size_bytes is not None else ""
        return json.loads(self._call_raw("PUT", "snapshots/" + quote(handle, safe=""), _bytes(data), query=query))

    def read_snapshot(self, handle):
        """The snapshot's data, or None when the backend has no such snapshot."""
        return self._call_raw("GET", "snapshots/" + quote(handle, safe=""))

    def delete_snapshot(self, handle):
        return json.loads(self._call_raw("DELETE", "snapshots/" + quote(handle, safe="")))["deleted"]


def tar_from_files(files):
    """A tar archive (bytes) of a {relative path: (mode, data)} tree."""
    return b"".join(bytes(chunk) for chunk in tree_archive_chunks(FileTree.from_files(files), 1 << 20))


def files_from_tar(archive):
    """The {relative path: (mode, data)} tree a tar archive (bytes) holds."""
    return tree_from_archive(io.BytesIO(archive)).files()


def _bytes(data):
    return data.encode() if isinstance(data, str) else bytes(data)

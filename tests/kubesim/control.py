"""The test-control API under /_kubesim/: faults, audit log, settings, seeding, exec scripts, volume contents.

Tests and benchmarks drive the emulator through it over HTTP, so it works the
same whether the emulator runs in the test process or as a separate one.

Volume contents (raw bytes in and out, ``application/octet-stream``):

- ``GET volumes``: every volume the backend holds, ``{"volumes": [{handle, size, source_snapshot, snapshot_data_missing}]}``.
- ``GET|PUT|DELETE volumes/<handle>``: one volume's data by CSI volumeHandle or EBS volume id (percent-encode a ``/``).
- ``GET|PUT persistentvolumes/<name>/data``: the data of a PV's disk (csi.volumeHandle or awsElasticBlockStore.volumeID).
- ``GET|PUT persistentvolumeclaims/<namespace>/<name>/data``: the same through the claim's bound PV.
- ``GET|PUT persistentvolumes/<name>/files`` and ``persistentvolumeclaims/<namespace>/<name>/files``: the volume's
  whole file tree as a tar archive (``application/x-tar``), GET as ``tar -c .`` writes it, PUT replacing the tree.
- ``GET snapshots``: every snapshot, ``{"snapshots": [{handle, size, source_volume, size_bytes}]}``.
- ``GET|PUT|DELETE snapshots/<handle>``: one snapshot's data; PUT makes a snapshot outside any cluster
  (``?size_bytes=`` sets the restoreSize a pre-provisioned content reports).

Reads answer 404 with ``details.kind`` "volume" or "snapshot" when the backend holds no such data; the by-PV
and by-claim routes answer the handle they resolved in the ``X-Kubesim-Volume-Handle`` header.
"""

import io
import json
from urllib.parse import unquote

from kubesim import errors
from kubesim.tar_format import TarError, tree_archive_chunks, tree_from_archive
from kubesim.volume_backend import FileTreeError, persistent_volume_handle, volume_key

OCTET_STREAM = "application/octet-stream"
TAR = "application/x-tar"


class ControlApi:
    def __init__(self, cluster):
        self.cluster = cluster

    def handle(self, handler, method, segments, query, raw_body):
        route = "/".join(unquote(segment) for segment in segments)
        if segments[:1] in (["volumes"], ["snapshots"], ["persistentvolumes"], ["persistentvolumeclaims"]):
            return self._volume_data(handler, method, route, segments, query, raw_body)
        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError as exc:
            raise errors.bad_request("control request body must be JSON: %s" % exc) from exc
        cluster = self.cluster
        if route == "audit":
            if method == "DELETE":
                cluster.audit.clear()
                return handler.send_json(200, {})
            since = int(query.get("since") or 0)
            records = cluster.audit.records(since)
            return handler.send_json(200, {"records": records, "next": since + len(records)})
        if route == "faults":
            if method == "POST":
                try:
                    cluster.faults.add(**body)
                except (TypeError, ValueError) as exc:
                    raise errors.bad_request("bad fault rule: %s" % exc) from exc
            elif method == "DELETE":
                cluster.faults.clear()
            return handler.send_json(200, {"rules": cluster.faults.rules()})
        if route == "compact" and method == "POST":
            cluster.store.compact()
            return handler.send_json(200, {})
        if route == "settle" and method == "POST":
            settled = cluster.settle(float(query.get("timeout") or 10))
            return handler.send_json(200 if settled else 504, {"settled": settled})
        if route == "settings":
            if method in ("PUT", "PATCH", "POST"):
                cluster.configure(body)
            return handler.send_json(200, cluster.describe_settings())
        if route == "dump" and method == "GET":
            return handler.send_json(200, {"objects": cluster.store.dump(), "resourceVersion": str(cluster.store.resource_version)})
        if route == "seed" and method == "POST":
            created = cluster.seed(body.get("objects") or [])
            return handler.send_json(200, {"created": created})
        if route.startswith("exec"):
            return cluster.exec_control(handler, method, route, body)
        raise errors.resource_not_found()

    # ------------------------------------------------------------ volume contents

    def _volume_data(self, handler, method, route, segments, query, raw_body):
        backend = self.cluster.volume_backend
        if route == "volumes" and method == "GET":
            return handler.send_json(200, {"volumes": backend.volumes()})
        if route == "snapshots" and method == "GET":
            return handler.send_json(200, {"snapshots": backend.snapshots()})
        if route.startswith("volumes/") and len(route) > len("volumes/"):
            return self._volume(handler, method, volume_key(route[len("volumes/"):]), raw_body)
        if route.startswith("snapshots/") and len(route) > len("snapshots/"):
            return self._snapshot(handler, method, route[len("snapshots/"):], query, raw_body)
        if segments[0] == "persistentvolumes" and len(segments) == 3 and segments[2] in ("data", "files"):
            volume = self._find("persistentvolumes", None, unquote(segments[1]))
            serve = self._volume if segments[2] == "data" else self._files
            return serve(handler, method, self._handle_of(volume), raw_body, resolved=True)
        if segments[0] == "persistentvolumeclaims" and len(segments) == 4 and segments[3] in ("data", "files"):
            namespace, name = unquote(segments[1]), unquote(segments[2])
            claim = self._find("persistentvolumeclaims", namespace, name)
            volume_name = (claim.get("spec") or {}).get("volumeName")
            if not volume_name:
                raise errors.bad_request('persistentvolumeclaim "%s/%s" is not bound to a volume (spec.volumeName is empty)' % (namespace, name))
            serve = self._volume if segments[3] == "data" else self._files
            return serve(handler, method, self._handle_of(self._find("persistentvolumes", None, volume_name)), raw_body, resolved=True)
        raise errors.resource_not_found()

    def _files(self, handler, method, handle, raw_body, resolved=True):
        """A volume's tree as a tar archive: GET writes one, PUT replaces the tree with the archive's members."""
        backend = self.cluster.volume_backend
        headers = {"X-Kubesim-Volume-Handle": handle} if resolved else None
        backend.ensure_volume(handle)
        if method == "GET":
            archive = b"".join(bytes(chunk) for chunk in tree_archive_chunks(backend.volume_tree(handle), 1 << 20))
            return handler.send_json(200, archive, content_type=TAR, headers=headers)
        if method == "PUT":
            try:
                tree = tree_from_archive(io.BytesIO(raw_body))
            except (TarError, FileTreeError) as exc:
                raise errors.bad_request("the body must be a tar archive of the volume's files: %s" % exc) from exc
            backend.replace_volume_tree(handle, tree)
            return handler.send_json(200, {"handle": handle, "size": tree.size()}, headers=headers)
        raise errors.method_not_allowed()

    def _find(self, plural, namespace, name):
        rtype = self.cluster.registry.preferred("", plural)
        found = self.cluster.store.find(rtype, namespace, name)
        if found is None:
            raise errors.not_found("", plural, name)
        return found

    @staticmethod
    def _handle_of(volume):
        handle = persistent_volume_handle(volume)
        if not handle:
            raise errors.bad_request('persistentvolume "%s" has no volume in the backend: it holds CSI and EBS disks (spec.csi.volumeHandle, '
                                     "spec.awsElasticBlockStore.volumeID) and nfs, hostPath and local file systems" % volume["metadata"]["name"])
        return handle

    def _volume(self, handler, method, handle, raw_body, resolved=False):
        backend = self.cluster.volume_backend
        headers = {"X-Kubesim-Volume-Handle": handle} if resolved else None
        if method == "GET":
            data = backend.read_volume(handle)
            if data is None:
                raise _data_not_found("volume", handle)
            return handler.send_json(200, data, content_type=OCTET_STREAM, headers=headers)
        if method == "PUT":
            backend.write_volume(handle, raw_body)
            return handler.send_json(200, {"handle": handle, "size": len(raw_body)}, headers=headers)
        if method == "DELETE" and not resolved:
            return handler.send_json(200, {"deleted": backend.delete_volume(handle)})
        raise errors.method_not_allowed()

    def _snapshot(self, handler, method, handle, query, raw_body):
        backend = self.cluster.volume_backend
        if method == "GET":
            data = backend.read_snapshot(handle)
            if data is None:
                raise _data_not_found("snapshot", handle)
            return handler.send_json(200, data, content_type=OCTET_STREAM)
        if method == "PUT":
            try:
                size_bytes = int(query["size_bytes"]) if query.get("size_bytes") else None
            except ValueError as exc:
                raise errors.bad_request("size_bytes must be an integer: %s" % exc) from exc
            backend.write_snapshot(handle, raw_body, size_bytes=size_bytes)
            return handler.send_json(200, {"handle": handle, "size": len(raw_body), "size_bytes": size_bytes})
        if method == "DELETE":
            return handler.send_json(200, {"deleted": backend.delete_snapshot(handle)})
        raise errors.method_not_allowed()


def _data_not_found(kind, handle):
    return errors.ApiError(404, "NotFound", '%s "%s" not found in the volume backend' % (kind, handle), {"kind": kind, "name": handle})

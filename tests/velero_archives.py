"""Backups as Velero writes them, built by tests to prove we read them (restore, verify)."""

import io
import json
import tarfile


def velero_archive(objects):
    """A tarball as Velero writes it: directory entries, ./ prefixes, indented JSON. ``objects``: [(path, obj)]."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        def add(name, data, directory=False):
            info = tarfile.TarInfo("./" + name)
            if directory:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                return
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("metadata/version", b"1.1.0")
        for path, obj in objects:
            add(path.rsplit("/", 1)[0], None, directory=True)
            add(path, json.dumps(obj, indent=2).encode())
    return buffer.getvalue()

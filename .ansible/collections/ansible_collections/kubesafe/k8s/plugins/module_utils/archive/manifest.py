# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""This collection's backup manifest (``<name>-manifest.json``), and the checks of a backup's files against it.

The backup engine writes the manifest before velero-backup.json: the size and
SHA-256 of every other file, the objects per resource, and the size of the
uncompressed tar.  Verify and restore check what they read against it (the
same functions here); ``ManifestCheckedLocation`` does it while the files are
read, so a restore reads each file once and refuses before its first write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ReadOnlyStream
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import SECRET_ANNOTATION
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound

# On velero-backup.json of a backup made by this collection: a backup that carries it
# and has no manifest lost it (a Velero-made backup never has one).
MANIFEST_ANNOTATION = "kubesafe.k8s/manifest"
# What else tells a backup of ours (made before the annotation existed) from Velero's.
_OUR_ANNOTATIONS = (MANIFEST_ANNOTATION, SECRET_ANNOTATION)


class IntegrityError(KubesafeError):
    """A backup's file does not match its manifest, or the manifest is missing or unreadable."""


def manifest_file_name(name):
    return velero_format.file_names(name)["manifest"].rsplit("/", 1)[-1]


def load_manifest(location, name):
    """(manifest, problem): (None, None) when the backup has no manifest; (None, why) when it is unreadable."""
    key = velero_format.file_names(name)["manifest"]
    file_name = manifest_file_name(name)
    try:
        manifest = json.loads(location.get_bytes(key))
    except ObjectNotFound:
        return None, None
    except ValueError as exc:
        return None, "%s is not valid JSON: %s" % (file_name, exc)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None, "%s does not list the backup's files" % file_name
    if manifest.get("backup") not in (None, name):
        return None, "%s is the manifest of backup %r" % (file_name, manifest.get("backup"))
    return manifest, None


def made_by_this_collection(location, name, backup):
    """Whether velero-backup.json (``backup``, decoded) or the backup's files say this collection wrote backup ``name``."""
    annotations = ((backup or {}).get("metadata") or {}).get("annotations") or {}
    files = velero_format.file_names(name)
    return any(key in annotations for key in _OUR_ANNOTATIONS) or location.exists(files["contents_encrypted"]) \
        or location.exists(files["encryption_identity"])


def file_problem(file_name, expected, size, sha256):
    """Why a file of ``size`` bytes and ``sha256`` is not what the manifest entry ``expected`` records, or None."""
    expected = expected if isinstance(expected, dict) else {}
    if expected.get("size") is not None and size != expected["size"]:
        return "%s has %d bytes, the manifest says %d (truncated or replaced)" % (file_name, size, expected["size"])
    if expected.get("sha256") and sha256 != expected["sha256"]:
        return "%s has SHA-256 %s, the manifest says %s (its content changed)" % (file_name, sha256, expected["sha256"])
    return None


def count_problems(manifest, counts):
    """How the objects per resource read from the archive (``counts``) differ from the manifest's counts and totalItems."""
    problems = []
    expected = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    for group_resource in sorted(set(expected) | set(counts)):
        if expected.get(group_resource, 0) != counts.get(group_resource, 0):
            problems.append("%s: %d objects in the archive, the manifest says %d"
                            % (group_resource, counts.get(group_resource, 0), expected.get(group_resource, 0)))
    total = sum(counts.values())
    if manifest.get("totalItems") is not None and manifest["totalItems"] != total:
        problems.append("%d objects in the archive, the manifest's totalItems says %d" % (total, manifest["totalItems"]))
    return problems


def max_tar_bytes(manifest):
    """The uncompressed tar size the manifest records (None for manifests written before it was recorded)."""
    value = (manifest or {}).get("tarBytes")
    return value if isinstance(value, int) and value >= 0 else None


class _CheckedStream(ReadOnlyStream):
    """Reads a file the manifest lists, hashing as it goes: refuses once more bytes come than recorded, and at the end a mismatch."""

    def __init__(self, stream, file_name, expected, report):
        self._stream = stream
        self._file_name = file_name
        self._expected = expected
        self._report = report
        self._hash = hashlib.sha256()
        self._size = 0
        self._closed = False
        self.checked = False

    def read(self, size=-1):
        data = self._stream.read(size)
        self._hash.update(data)
        self._size += len(data)
        limit = self._expected.get("size")
        if isinstance(limit, int) and self._size > limit:
            self.checked = True
            self._report("%s has more than the %d bytes the manifest says (replaced or appended to)" % (self._file_name, limit))
        elif (not data and size != 0 or size is None or size < 0) and not self.checked:
            # b"" is the end; read() without a size returns all that is left.
            self.checked = True
            problem = file_problem(self._file_name, self._expected, self._size, self._hash.hexdigest())
            if problem:
                self._report(problem)
        return data

    def finish(self):
        """Read to the end (what a consumer leaves after the data it needs) so that the whole file is checked."""
        if self._closed and not self.checked:
            self.checked = True
            self._report("%s was closed before its end was read, so it could not be checked" % self._file_name)
        while not self.checked:
            self.read(1024 * 1024)

    def close(self):
        self._closed = True
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


class ManifestCheckedLocation:
    """A location whose reads of backup ``name``'s files are checked against its manifest (size and SHA-256).

    A listed file is checked as it is read (``open_read``: while streaming, and to its
    end by ``finish()``); a file of the backup directory the manifest does not list is
    refused, as are velero-backup.json and the manifest itself, which are not in it.
    With ``strict`` a mismatch raises IntegrityError naming the file; otherwise it is
    kept in ``problems`` (the caller warns).  Everything else goes to the location as is.
    """

    def __init__(self, location, name, manifest, strict=True):
        self._location = location
        self._name = name
        self._prefix = velero_format.backup_dir(name)
        self._files = manifest["files"]
        self._unlisted_ok = {"velero-backup.json", manifest_file_name(name)}
        self._strict = strict
        self._open = []
        self.problems = []

    def __getattr__(self, attribute):
        return getattr(self._location, attribute)

    def _report(self, problem):
        message = "backup '%s' does not match its manifest: %s" % (self._name, problem)
        if message not in self.problems:
            self.problems.append(message)
        if self._strict:
            raise IntegrityError(message)

    def _expected(self, key):
        """The manifest entry of ``key``; None for keys that are not checked."""
        if not key.startswith(self._prefix):
            return None
        file_name = key[len(self._prefix):]
        if file_name in self._unlisted_ok:
            return None
        expected = self._files.get(file_name)
        if not isinstance(expected, dict):
            self._report("%s is not listed in the manifest (added after the backup)" % file_name)
            return None
        return expected

    def get_bytes(self, key):
        data = self._location.get_bytes(key)
        expected = self._expected(key)
        if expected is not None:
            problem = file_problem(key[len(self._prefix):], expected, len(data), hashlib.sha256(data).hexdigest())
            if problem:
                self._report(problem)
        return data

    def open_read(self, key):
        expected = self._expected(key)
        try:
            stream = self._location.open_read(key)
        except ObjectNotFound:
            if expected is None:
                raise
            self._report("%s is missing (the manifest lists it)" % key[len(self._prefix):])
            raise
        if expected is None:
            return stream
        checked = _CheckedStream(stream, key[len(self._prefix):], expected, self._report)
        self._open.append(checked)
        return checked

    def finish(self):
        """Check the files opened so far to their ends (call while they are open); raises a mismatch when strict."""
        for stream in self._open:
            stream.finish()

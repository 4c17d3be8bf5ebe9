# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every backup location is: the Location interface, its keys and prefixes, ObjectNotFound.

Keys are ``/``-separated paths relative to the location (``backups/B/B.tar.gz``);
prefixes name directories (``backups`` and ``backups/`` are the same, ``""``
is the whole location), so ``backups/B`` never matches ``backups/B2``.
Writes are all-or-nothing: a reader never sees a partial object under a key.
The local directory (locations.py) and S3 (storage/s3.py) implement it;
``locations.open_location`` picks one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import LocationError

MIN_PART_SIZE_MB = 5  # the S3 minimum for every part but the last
MAX_PART_SIZE_MB = 5120
# The kinds of unfinished writes Location.list_partial gives.
PARTIAL_FILE = "temporary file of an unfinished write"
PARTIAL_UPLOAD = "multipart upload not completed"


class ObjectNotFound(LocationError):
    """The key does not exist in the location."""


def _clean_path(text, what):
    """Relative path segments; refuses absolute paths and '..' so nothing escapes the location."""
    text = "" if text is None else str(text)
    parts = [part for part in text.replace("\\", "/").split("/") if part not in ("", ".")]
    if text.startswith("/") or ".." in parts:
        raise LocationError("invalid %s %r: use a relative path inside the location, without '..'" % (what, text))
    return parts


def check_key(key):
    """The key of an object as a clean relative path."""
    parts = _clean_path(key, "key")
    if not parts or str(key).endswith("/"):
        raise LocationError("invalid key %r: name an object, such as backups/NAME/NAME.tar.gz" % (key,))
    return "/".join(parts)


def check_prefix(prefix):
    """A directory prefix ending in '/', or '' for the whole location."""
    parts = _clean_path(prefix, "prefix")
    return "/".join(parts) + "/" if parts else ""


class Location:
    """Interface of a backup location; keys and prefixes as described in this module's docstring."""

    url = None

    def open_write(self, key):
        """Context manager yielding a binary writable stream; commits on normal exit, aborts on exception."""
        raise NotImplementedError

    def open_read(self, key):
        """A binary readable stream of the object (streamed, not loaded whole); ObjectNotFound if missing."""
        raise NotImplementedError

    def put_bytes(self, key, data):
        with self.open_write(key) as stream:
            stream.write(data)

    def get_bytes(self, key):
        with contextlib.closing(self.open_read(key)) as stream:
            return stream.read()

    def exists(self, key):
        raise NotImplementedError

    def size(self, key):
        """Size in bytes; ObjectNotFound if missing."""
        raise NotImplementedError

    def list(self, prefix=""):
        """Iterator of (key, size) of every object under the directory ``prefix``, recursively."""
        raise NotImplementedError

    def list_dirs(self, prefix=""):
        """Iterator of the names of the directories directly under ``prefix`` (backup names under 'backups')."""
        raise NotImplementedError

    def delete(self, key):
        """Delete one object; a missing one is fine."""
        raise NotImplementedError

    def delete_prefix(self, prefix):
        """Delete everything under the directory ``prefix``, unfinished writes included (not the whole location: '' is refused)."""
        raise NotImplementedError

    def list_partial(self, prefix=""):
        """Iterator of the unfinished writes under ``prefix`` (what a killed process leaves), which ``list`` does not show.

        Each is {"key": where it is (local) or the key it was to become (S3), "target": the key being written,
        "size": bytes so far, "last_written": aware UTC datetime, "kind": PARTIAL_FILE or PARTIAL_UPLOAD}.
        """
        raise NotImplementedError

    def delete_partial(self, partial):
        """Remove one unfinished write given by ``list_partial``; one already gone is fine."""
        raise NotImplementedError

    def check(self, write=False):
        """Raise LocationError unless the location can be read (and written when ``write``)."""
        raise NotImplementedError

    def retention(self, prefix):
        """The object lock still protecting objects under ``prefix``, or None.

        {"until": newest retain-until date (aware datetime, or None), "mode": GOVERNANCE|COMPLIANCE|None,
        "legal_hold": bool}. Only S3 has object lock; a directory never is locked.
        """
        del prefix
        return None

    def last_modified(self, prefix):
        """The newest modification time (aware UTC datetime) of anything under ``prefix``, uploads in progress included; None if empty."""
        raise NotImplementedError

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The objects a restore writes, by their backed-up uid, kept on disk so memory does not grow with the backup.

A restore needs, for every object it writes: whether an owner named by an
ownerReference is part of the restore (to skip what a controller recreates, and
to wait for owners), the owner's new uid in the target cluster (to rewrite the
reference), and the namespaces and claims the restore touches.  In dicts that is
about 800 bytes an object; at a million objects, most of a gigabyte.  SQLite (in
the standard library) keeps it in the restore's private temp directory with a
bounded page cache; lookups cost microseconds next to the milliseconds of the
API write they serve.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sqlite3

_INSERT_BATCH = 5000
# SQLite's page cache, in KiB (a negative cache_size is KiB): the index's memory whatever its size.
_CACHE_KIB = 16384


class RestoredUidIndex:
    """Backed-up uid -> (group_resource, namespace, name), whether it is restored, and its uid in the target cluster.

    ``uid in index`` is true for objects the restore writes (not discarded): what
    ``rules.skip_reason`` takes as ``restored_uids``.  Used from one thread.
    """

    def __init__(self, directory):
        self._db = sqlite3.connect(os.path.join(directory, "restored-uids.sqlite"), isolation_level=None)
        # The file is scratch space of one run in a private directory: durability would only cost time.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE", "cache_size=-%d" % _CACHE_KIB):
            self._db.execute("PRAGMA " + pragma)
        self._db.execute("CREATE TABLE objects (uid TEXT PRIMARY KEY, group_resource TEXT NOT NULL, namespace TEXT NOT NULL, "
                         "name TEXT NOT NULL, restored INTEGER NOT NULL DEFAULT 1, new_uid TEXT) WITHOUT ROWID")
        self._pending = []
        self._pending_new_uids = []

    def close(self):
        self._db.close()

    # ------------------------------------------------------------ filling (pass 1)

    def add(self, uid, group_resource, namespace, name):
        self._pending.append((uid, group_resource, namespace or "", name))
        if len(self._pending) >= _INSERT_BATCH:
            self._flush()

    def _flush(self):
        if self._pending:
            # A uid twice in one archive (a hand-made one): the last item wins, as a dict would have it.
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO objects (uid, group_resource, namespace, name) VALUES (?, ?, ?, ?)", self._pending)
            self._db.execute("COMMIT")
            self._pending = []
        if self._pending_new_uids:
            # In the order they were set: a uid set twice keeps the last value.
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE objects SET new_uid = ? WHERE uid = ?", self._pending_new_uids)
            self._db.execute("COMMIT")
            self._pending_new_uids = []

    # ------------------------------------------------------------ restored uids (set-like)

    def __contains__(self, uid):
        if uid is None:
            return False
        self._flush()
        return self._db.execute("SELECT 1 FROM objects WHERE uid = ? AND restored = 1", (uid,)).fetchone() is not None

    def discard(self, uid):
        """The object will not be written after all (skipped PV, owner never created)."""
        if uid is not None:
            self._flush()
            self._db.execute("UPDATE objects SET restored = 0 WHERE uid = ?", (uid,))

    def __len__(self):
        self._flush()
        return self._db.execute("SELECT count(*) FROM objects").fetchone()[0]

    # ------------------------------------------------------------ new uids

    def set_new_uid(self, uid, new_uid):
        # Batched like add: one statement per object, each a transaction of its own, cost the restore's main thread more
        # than preparing the object did. Every read below writes the pending ones first.
        self._pending_new_uids.append((new_uid, uid))
        if len(self._pending_new_uids) >= _INSERT_BATCH:
            self._flush()

    def new_uid(self, uid):
        if uid is None:
            return None
        self._flush()
        row = self._db.execute("SELECT new_uid FROM objects WHERE uid = ?", (uid,)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------ what the restore touches

    def namespaces(self, except_group_resource=None):
        """Namespaces of the namespaced objects (optionally leaving one resource out)."""
        self._flush()
        rows = self._db.execute("SELECT DISTINCT namespace FROM objects WHERE namespace != '' AND group_resource != ?",
                                (except_group_resource or "",))
        return {row[0] for row in rows}

    def namespaced_group_resources(self):
        self._flush()
        return {row[0] for row in self._db.execute("SELECT DISTINCT group_resource FROM objects WHERE namespace != ''")}

    def names_of(self, group_resource):
        """(namespace, name) of every object of one resource."""
        self._flush()
        return set(self._db.execute("SELECT namespace, name FROM objects WHERE group_resource = ?", (group_resource,)))

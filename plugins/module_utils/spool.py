# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects parked on disk between the read of an archive and their turn to be restored.

A restore must create objects in dependency order while the archive holds
them in any order; keeping them in temporary files, one per group/resource,
bounds memory whatever the size of the backup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import tempfile


class Spool:
    def __init__(self, prefix="kubesafe-restore-"):
        self._directory = tempfile.mkdtemp(prefix=prefix)
        self._files = {}
        self._counts = {}

    def add(self, bucket, record):
        """Append ``record`` (JSON-serializable) to ``bucket``."""
        if bucket not in self._files:
            path = os.path.join(self._directory, "%d.jsonl" % len(self._files))
            self._files[bucket] = (path, open(path, "w", encoding="utf-8"))  # pylint: disable=consider-using-with
            self._counts[bucket] = 0
        self._files[bucket][1].write(json.dumps(record, separators=(",", ":")) + "\n")
        self._counts[bucket] += 1

    def buckets(self):
        return list(self._files)

    def count(self, bucket):
        return self._counts.get(bucket, 0)

    def read(self, bucket):
        """The records of ``bucket`` in the order they were added."""
        if bucket not in self._files:
            return
        path, stream = self._files[bucket]
        stream.flush()
        with open(path, encoding="utf-8") as reader:
            for line in reader:
                yield json.loads(line)

    def close(self):
        for _unused_path, stream in self._files.values():
            stream.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

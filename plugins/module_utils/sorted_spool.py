# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sorting more records than memory should hold: an external merge sort through a scratch directory.

Records (tuples of strings) are kept in memory up to ``memory_records``; past
that, each full batch is sorted and written to a run file, and iterating
merges the runs with what is still in memory. A backup of a million objects
thus holds what one of 100,000 holds. Runs are pickled in chunks, so that the
merge reads each run a chunk at a time; they are private files of this
process (a 0700 scratch directory), never read from anywhere else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import heapq
import itertools
import os
import pickle

from ansible_collections.kubesafe.k8s.plugins.module_utils.temp_dirs import make_temp_dir, remove_temp_dir

# About 150 bytes a record ("v1/ConfigMap", "namespace/name"): some 15 MB in memory at most.
MEMORY_RECORDS = 100000
# Records per pickled chunk of a run: what the merge holds of each run.
_CHUNK_RECORDS = 2000


class SortedSpool:
    """Add records, then iterate them in sorted order (as ``sorted()`` would); ``close()`` removes the run files.

    ``max_runs``: when that many runs are on disk, they are merged into one, so that iterating holds a chunk of
    at most ``max_runs`` runs however many records there are (None: runs are only merged by iterating).
    """

    def __init__(self, purpose, memory_records=MEMORY_RECORDS, max_runs=None):
        self._purpose = purpose
        self._memory_records = max(1, int(memory_records))
        self._max_runs = None if max_runs is None else max(2, int(max_runs))
        self._records = []
        self._runs = []
        self._files_written = 0
        self._directory = None
        self._count = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __len__(self):
        return self._count

    @property
    def spilled_runs(self):
        """How many sorted runs went to disk (0: everything fitted in memory)."""
        return len(self._runs)

    def add(self, record):
        self._records.append(record)
        self._count += 1
        if len(self._records) >= self._memory_records:
            self._spill()

    def extend(self, records):
        """add() each of ``records`` (a list)."""
        while records:
            room = self._memory_records - len(self._records)
            self._records.extend(records[:room])
            self._count += min(room, len(records))
            records = records[room:]
            if len(self._records) >= self._memory_records:
                self._spill()

    def _spill(self):
        if self._directory is None:
            self._directory = make_temp_dir(self._purpose)
        self._records.sort()
        self._runs.append(self._write_run(self._records))
        self._records = []
        if self._max_runs is not None and len(self._runs) >= self._max_runs:
            merged = self._write_run(heapq.merge(*(_read_run(path) for path in self._runs)))
            for path in self._runs:
                os.remove(path)
            self._runs = [merged]

    def _write_run(self, sorted_records):
        """A run file of ``sorted_records`` (an iterable), pickled a chunk at a time; returns its path."""
        path = os.path.join(self._directory, "run-%d.pickle" % self._files_written)
        self._files_written += 1
        records = iter(sorted_records)
        with open(path, "wb") as stream:
            while True:
                chunk = list(itertools.islice(records, _CHUNK_RECORDS))
                if not chunk:
                    break
                pickle.dump(chunk, stream, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    def __iter__(self):
        self._records.sort()
        if not self._runs:
            return iter(self._records)
        return heapq.merge(self._records, *(_read_run(path) for path in self._runs))

    def close(self):
        self._records = []
        self._runs = []
        if self._directory is not None:
            remove_temp_dir(self._directory)
            self._directory = None


def _read_run(path):
    with open(path, "rb") as stream:
        while True:
            try:
                chunk = pickle.load(stream)
            except EOFError:
                return
            yield from chunk


def distinct(records):
    """The records of a sorted iterable, each once (consecutive duplicates dropped)."""
    for record, _duplicates in itertools.groupby(records):
        yield record


def sorted_differences(left, right):
    """Compare two sorted iterables as sets, in one merge walk: yields ``(0, record)`` for each record only in
    ``left`` and ``(1, record)`` for each only in ``right``, each once, in sorted order."""
    end = object()
    left, right = distinct(left), distinct(right)
    left_record, right_record = next(left, end), next(right, end)
    while left_record is not end and right_record is not end:
        if left_record < right_record:
            yield 0, left_record
            left_record = next(left, end)
        elif right_record < left_record:
            yield 1, right_record
            right_record = next(right, end)
        else:
            left_record, right_record = next(left, end), next(right, end)
    while left_record is not end:
        yield 0, left_record
        left_record = next(left, end)
    while right_record is not end:
        yield 1, right_record
        right_record = next(right, end)

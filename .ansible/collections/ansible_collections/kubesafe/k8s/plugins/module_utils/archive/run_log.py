# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The log, warnings and errors of one backup or restore run, in Velero's log line format."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import contextlib
import gzip
import io
import time

from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound

# A run over a huge cluster must not keep a line per object in memory.
MAX_LOG_LINES = 20000


class RunLog:
    """``kind`` is ``backup`` or ``restore``; ``name`` may be set once the run knows it."""

    def __init__(self, kind, name=None):
        self.kind = kind
        self.name = name
        self.warnings = []
        self.errors = []
        self._lines = []
        self._dropped = 0

    def log(self, level, message):
        if len(self._lines) >= MAX_LOG_LINES:
            self._dropped += 1
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._lines.append('time="%s" level=%s msg="%s" %s=%s' % (stamp, level, message.replace('"', "'"), self.kind, self.name))

    def warn(self, message):
        self.warnings.append(message)
        self.log("warning", message)

    def error(self, message):
        self.errors.append(message)
        self.log("error", message)

    def gzipped(self):
        lines = list(self._lines)
        if self._dropped:
            lines.append('level=warning msg="%d more log lines were not kept"' % self._dropped)
        return gzip.compress("\n".join(lines).encode() + b"\n")


# What a failed task's message quotes, and how many errors a module result keeps (all of them are in the results file).
ERRORS_QUOTED = 5
MAX_RESULT_ERRORS = 100


def bounded_errors(errors, limit=MAX_RESULT_ERRORS, what="errors"):
    """The first ``limit`` errors (or warnings: ``what``), then one line counting the others."""
    errors = list(errors)
    if len(errors) <= limit:
        return errors
    return errors[:limit] + ["... and %d more %s (all are in the run's results file)" % (len(errors) - limit, what)]


# Objects a restore result lists without --diff or -vv (the failed ones always).
OBJECTS_SHOWN = 100


def bounded_objects(objects, limit=OBJECTS_SHOWN):
    """(the failed objects and the first ``limit`` others, in order; how many were left out)."""
    kept, others = [], 0
    for obj in objects:
        failed = obj.get("action") == "failed"
        if failed or others < limit:
            others += 0 if failed else 1
            kept.append(obj)
    return kept, len(objects) - len(kept)


def partial_failure_message(kind, result):
    """Why a ``backup`` or ``restore`` result that is not Completed fails its task, or None when it is Completed.

    Names the phase, the count of errors and the first ones (``Kind namespace/name: reason``).
    """
    phase = result.get("phase")
    if phase == "Completed":
        return None
    errors = result.get("errors") or []
    predicted = " (predicted by check mode)" if result.get("check_mode") else ""
    message = "%s '%s' is %s%s: %d error(s)" % (kind, result.get("name"), phase, predicted, len(errors))
    if errors:
        message += ", first %s: %s" % ("ones" if len(errors) > 1 else "one", "; ".join(errors[:ERRORS_QUOTED]))
        if len(errors) > ERRORS_QUOTED:
            message += "; ... and %d more" % (len(errors) - ERRORS_QUOTED)
    return message.rstrip(".") + ". Set fail_on_partial: false to accept a %s that is not Completed" % kind


def read_log(location, key, lines, notes):
    """The last ``lines`` lines (-1: all) of the gzipped run log ``key`` of ``location``, streamed.

    A missing or damaged log is a note in ``notes``, not an error: the log is a sidecar that may be lost.
    """
    kept = collections.deque(maxlen=None if lines < 0 else lines)
    try:
        with contextlib.closing(location.open_read(key)) as stream:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                for line in io.TextIOWrapper(unzipped, encoding="utf-8", errors="replace"):
                    line = line.rstrip("\n")
                    if line:
                        kept.append(line)
    except ObjectNotFound:
        notes.append("no log file (%s)" % key.rsplit("/", 1)[-1])
        return []
    except (OSError, EOFError) as exc:
        notes.append("the log file %s is not gzip-compressed: %s" % (key.rsplit("/", 1)[-1], exc))
        return list(kept)
    return list(kept)

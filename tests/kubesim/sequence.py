"""One counter shared by the audit log and the exec log, so a test can order an exec against an API request."""

import bisect
import operator
import threading


class Sequence:
    """A thread-safe, monotonically increasing counter starting at 1."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last = 0

    def next(self):
        """The next number; never handed out twice."""
        with self._lock:
            self._last += 1
            return self._last


def insert_by_seq(records, record):
    """Insert ``record`` keeping ``records`` sorted by "seq".

    Numbers are taken when something happens but records are written when it ends, so a long request or
    command can be written after a later one; sorting keeps each log in the order things happened.
    """
    bisect.insort_right(records, record, key=operator.itemgetter("seq"))

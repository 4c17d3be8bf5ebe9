"""The controller manager's queue: store events, deduplicated reconcile keys and delayed retries."""

import collections
import heapq
import itertools
import threading
import time


class WorkQueue:
    """Thread-safe; events come before keys so a burst of events collapses into one reconcile per key."""

    def __init__(self):
        self._wakeup = threading.Condition()
        self._events = collections.deque()
        self._keys = {}  # item -> None, in arrival order; a dict deduplicates
        self._delayed = []  # heap of (due monotonic time, sequence, item)
        self._sequence = itertools.count()
        self._busy = False
        self._open = False

    def open(self):
        """Start accepting events."""
        with self._wakeup:
            self._open = True

    def close(self):
        """Drop queued work and wake the worker, whose next() then answers None."""
        with self._wakeup:
            self._open = False
            self._events.clear()
            self._keys.clear()
            self._delayed.clear()
            self._wakeup.notify_all()

    def add_event(self, event):
        """Called under the store's lock, so it only appends; ignored while closed."""
        with self._wakeup:
            if self._open:
                self._events.append(event)
                self._wakeup.notify()

    def add_keys(self, items):
        """Queue (controller name, key) items; one already queued is not added twice."""
        with self._wakeup:
            for item in items:
                self._keys[item] = None
            self._wakeup.notify()

    def add_after(self, item, delay):
        """Queue an item after ``delay`` seconds."""
        with self._wakeup:
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._sequence), item))
            self._wakeup.notify()

    def next(self):
        """("event", event) or ("key", item), waiting for one; None once closed. Marks the worker busy until done()."""
        with self._wakeup:
            while self._open:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    self._keys[heapq.heappop(self._delayed)[2]] = None
                if self._events:
                    work = "event", self._events.popleft()
                elif self._keys:
                    item = next(iter(self._keys))
                    del self._keys[item]
                    work = "key", item
                else:
                    self._wakeup.wait(self._delayed[0][0] - now if self._delayed else None)
                    continue
                self._busy = True
                return work
            return None

    def done(self):
        """The work next() handed out is finished."""
        with self._wakeup:
            self._busy = False

    def idle(self):
        """No event, key or delayed key queued and nothing being worked on."""
        with self._wakeup:
            return not (self._events or self._keys or self._delayed or self._busy)

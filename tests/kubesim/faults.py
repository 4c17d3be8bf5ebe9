"""Faults a test injects (latency, error statuses, dropped connections) and the audit log of requests."""

import threading
import time

from kubesim.sequence import Sequence, insert_by_seq


class FaultRule:
    """Matches requests by verb, resource and namespace; fires ``count`` times after skipping ``after``.

    ``action`` is one of: ``latency`` (sleep ``seconds`` then serve), ``status`` (answer
    ``status`` — 429 carries Retry-After ``retry_after`` — without serving), ``drop``
    (close the connection without an answer) or ``compact`` (forget every pagination
    snapshot, as an etcd compaction does, then serve: a continue token answers 410 Expired
    from the store, as kube-apiserver does after a compaction).
    ``continued``: True matches only LISTs carrying a continue token, False only first pages.
    """

    def __init__(self, action, verbs=None, resources=None, namespaces=None, count=None, after=0, status=500, retry_after=1, seconds=0.0,
                 continued=None):
        if action not in ("latency", "status", "drop", "compact"):
            raise ValueError("fault action must be latency, status, drop or compact, not %r" % action)
        self.action = action
        self.verbs = set(verbs or ())
        self.resources = set(resources or ())
        self.namespaces = set(namespaces or ())
        self.remaining = count
        self.skip = after
        self.status = int(status)
        self.retry_after = int(retry_after)
        self.seconds = float(seconds)
        self.continued = None if continued is None else bool(continued)
        self.fired = 0

    def matches(self, verb, resource, namespace, continued=False):
        return ((not self.verbs or verb in self.verbs)
                and (not self.resources or resource in self.resources)
                and (not self.namespaces or namespace in self.namespaces)
                and (self.continued is None or self.continued == continued))

    def describe(self):
        return {"action": self.action, "verbs": sorted(self.verbs), "resources": sorted(self.resources),
                "namespaces": sorted(self.namespaces), "continued": self.continued, "remaining": self.remaining, "fired": self.fired}


class FaultInjector:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []

    def add(self, **rule):
        with self._lock:
            self._rules.append(FaultRule(**rule))

    def clear(self):
        with self._lock:
            self._rules = []

    def rules(self):
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def pick(self, verb, resource, namespace, continued=False):
        """The rule to apply to this request (``continued``: a LIST with a continue token), consuming one of its shots, or None."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(verb, resource, namespace, continued) or rule.remaining == 0:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.fired += 1
                return rule
            return None


class AuditLog:
    """Every API request with its Kubernetes verb, path, user and answer code, ordered by "seq".

    "seq" comes from the cluster's Sequence, shared with the exec log: the handler takes it when it
    commits to its answer (status line or WebSocket upgrade sent), before the client can act on it.
    """

    # How long records() waits for answers already sent to be recorded (a handler records after writing its body).
    SETTLE_SECONDS = 10

    def __init__(self, sequence=None):
        self._lock = threading.Condition()
        self._records = []
        self._answering = set()  # seqs of answers sent whose record is not appended yet
        self.sequence = sequence or Sequence()

    def answering(self):
        """The seq of an answer about to be sent; records() waits for its record, since the client may already have it."""
        with self._lock:
            seq = self.sequence.next()
            self._answering.add(seq)
            return seq

    def record(self, verb, method, path, user, code, resource="", namespace="", seconds=0.0, seq=None, impersonated_user=None):
        """Append one request; ``seq`` is taken now when the request got no answer (dropped connection).

        ``user`` is who authenticated, ``impersonated_user`` whom the request acted as (kube's audit event fields
        user and impersonatedUser)."""
        record = {"seq": seq if seq is not None else self.sequence.next(), "time": time.time(), "verb": verb, "method": method,
                  "path": path, "user": user, "code": code, "resource": resource, "namespace": namespace, "seconds": round(seconds, 6)}
        if impersonated_user is not None:
            record["impersonated_user"] = impersonated_user
        with self._lock:
            insert_by_seq(self._records, record)
            self._answering.discard(record["seq"])
            self._lock.notify_all()

    def _settle(self):
        """Wait (holding the lock) until the answers sent before now are recorded."""
        deadline = time.monotonic() + self.SETTLE_SECONDS
        waiting_for = set(self._answering)
        while waiting_for & self._answering and time.monotonic() < deadline:
            self._lock.wait(deadline - time.monotonic())

    def records(self, since=0):
        """The records from ``since`` on, once every answer sent before this call is in them: a client that read an
        answer and then asks for the log finds that request there."""
        with self._lock:
            self._settle()
            return self._records[since:]

    def clear(self):
        """Forget every request answered so far, including those whose record is still being appended."""
        with self._lock:
            self._settle()
            self._records = []

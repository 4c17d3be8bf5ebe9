# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write restored objects to the cluster: create, or decide what to do with the one already there.

One object at a time (``ObjectApplier.apply``) or one dependency tier at a time in
parallel (``apply_many``, or ``apply_stream`` for objects prepared as the
threads write). Each object gets a ``Decision``: create, update,
unchanged, recreate, skip (with the reason) or failed (with the server's
message); errors of one object never stop the others. Check mode decides the
same way but only ever GETs. Nothing is deleted except under the ``recreate``
policy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import copy
import queue
import re
import threading
import time

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.cluster_fields import strip_server_fields, with_cluster_assigned, without_restore_labels
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.merge_patch import apply_merge_patch, merge_patch_between
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import check_parallelism

POLICIES = ("none", "update", "recreate")
ACTIONS = ("create", "update", "unchanged", "recreate", "skip", "failed")

# Deleting these loses what they hold (every object of a namespace, the data of a volume).
NEVER_RECREATED = {
    "namespaces": "a Namespace is never recreated (deleting it deletes everything in it)",
    "persistentvolumes": "a PersistentVolume is never recreated (deleting it can delete the volume's data)",
    "persistentvolumeclaims": "a PersistentVolumeClaim is never recreated (deleting it can delete the volume's data)",
}

MERGE_PATCH = "application/merge-patch+json"
CONFLICT_RETRIES = 3
RECREATE_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.5
DEFAULT_PARALLELISM = 8
# Objects in flight per thread in apply_stream: enough that no thread waits for the next one, few enough to hold.
STREAM_WINDOW_PER_THREAD = 4
# kube's metadata.name rules (k8s.io/apimachinery/pkg/util/validation).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _is_authorization_refusal(error):
    """Whether a 403 is the authorizer's (kube words it 'User "<name>" cannot <verb> resource ...')."""
    message = (error.body or {}).get("message") or ""
    return '" cannot create resource "' in message


class Decision(dict):
    """What happened to one object: a dict (for module results) whose keys also read as attributes.

    Keys: action, group_resource, namespace, name, reason, new_uid, backup_uid and, when a
    diff is wanted, diff ({"before": object or None, "after": object}).
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    @property
    def changed(self):
        return self.get("action") in ("create", "update", "recreate")


def _union_by_name(current, extra):
    """current's references, then extra's whose names current lacks (ServiceAccount secrets, imagePullSecrets)."""
    merged = list(current or [])
    names = set(item.get("name") for item in merged if isinstance(item, dict))
    for item in extra or []:
        if isinstance(item, dict) and item.get("name") not in names:
            merged.append(item)
            names.add(item.get("name"))
    return merged


def merge_service_accounts(existing, desired):
    """Velero's ServiceAccount merge: the cluster's account plus the backup's secrets, imagePullSecrets,
    labels and annotations that it lacks (the cluster's value wins where both have a key)."""
    merged = copy.deepcopy(existing)
    for field in ("secrets", "imagePullSecrets"):
        references = _union_by_name(existing.get(field), desired.get(field))
        if references:
            merged[field] = references
    metadata = merged.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        wanted = dict((desired.get("metadata") or {}).get(field) or {})
        wanted.update(metadata.get(field) or {})
        if wanted:
            metadata[field] = wanted
    return merged


def describe_api_error(error):
    """The server's own words for a failed write: '422 Invalid: Service "web" is invalid: ...'."""
    body = error.body if isinstance(error.body, dict) else {}
    message = body.get("message")
    if error.status is None or not message:
        return str(error)
    return "%s %s: %s" % (error.status, error.reason or body.get("reason") or "", message)


def name_refusal(resource, name):
    """Why the API server refuses ``name`` for this resource (kube's metadata.name validation), or None.

    Namespaces and Services: an RFC 1123 label (kube takes an RFC 1035 label for Services unless
    RelaxedServiceNameValidation: the looser rule never predicts a refusal the cluster would not make).
    RBAC objects: a path segment. Everything else: an RFC 1123 subdomain.
    """
    if resource.group == "rbac.authorization.k8s.io":
        if name in (".", "..") or "/" in name or "%" in name:
            return "metadata.name %r: the API server refuses it: may not be '.' or '..' nor contain '/' or '%%'" % name
        return None
    label = resource.group == "" and resource.plural in ("namespaces", "services")
    if label:
        pattern, limit, rule = _DNS_LABEL, 63, "a lowercase RFC 1123 label: at most 63 characters of a-z, 0-9 and '-'"
    else:
        pattern, limit, rule = _DNS_SUBDOMAIN, 253, "a lowercase RFC 1123 subdomain: at most 253 characters of a-z, 0-9, '-' and '.'"
    if len(name) > limit or not pattern.match(name):
        return "metadata.name %r: the API server refuses it: a %s name must be %s, starting and ending with a letter or digit" % (
            name, resource.kind, rule)
    return None


class _CheckModeState:
    """What check mode reads once from the target to predict refusals: terminating namespaces, allocated node ports.

    Shared by the threads of ``apply_many``; node ports of Services check mode predicts created count as taken too.
    """

    def __init__(self, client):
        self.client = client
        self._lock = threading.Lock()
        self._terminating = {}
        self._node_ports = None  # node port -> (namespace, name) of the Service holding it

    def namespace_terminating(self, namespace):
        with self._lock:
            if namespace not in self._terminating:
                try:
                    found = self.client.request("GET", "/api/v1/namespaces/%s" % namespace)
                except ApiError as error:
                    if error.status != 404:
                        raise
                    found = {}  # created by the restore
                self._terminating[namespace] = bool((found.get("metadata") or {}).get("deletionTimestamp")) or \
                    (found.get("status") or {}).get("phase") == "Terminating"
            return self._terminating[namespace]

    def _allocated(self):
        if self._node_ports is None:
            self._node_ports = {}
            for page in self.client.list_pages("/api/v1/services"):
                for service in page.get("items") or []:
                    for port, _index in _explicit_node_ports(service):
                        self._node_ports[port] = (service["metadata"].get("namespace"), service["metadata"]["name"])
        return self._node_ports

    def node_port_refusal(self, decision, desired):
        with self._lock:
            allocated = self._allocated()
            for port, index in _explicit_node_ports(desired):
                holder = allocated.get(port)
                if holder is not None and holder != (decision.namespace, decision.name):
                    return ("spec.ports[%d].nodePort %d is already allocated to Service %s/%s: the API server refuses it (422 Invalid); "
                            "free the port or restore without it (preserve_nodeports: false drops node ports not set explicitly)"
                            % (index, port, holder[0], holder[1]))
        return None

    def claim_node_ports(self, decision, desired):
        with self._lock:
            allocated = self._allocated()
            for port, _index in _explicit_node_ports(desired):
                allocated.setdefault(port, (decision.namespace, decision.name))


def _explicit_node_ports(service):
    """(node port, index in spec.ports) of a Service of a type that allocates them."""
    spec = service.get("spec") or {}
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return []
    return [(int(port["nodePort"]), index) for index, port in enumerate(spec.get("ports") or [])
            if isinstance(port, dict) and port.get("nodePort")]


class _Retry(Exception):
    """The object changed under us (409): read it again and decide again."""


class ObjectApplier:
    """Apply restored objects to one cluster under one existing-object policy; safe to share between threads."""

    def __init__(self, client, existing_resource_policy="none", check_mode=False, want_diff=False, parallelism=DEFAULT_PARALLELISM,
                 recreate_timeout=RECREATE_TIMEOUT_SECONDS):
        policy = existing_resource_policy or "none"
        if policy not in POLICIES:
            raise ConfigurationError("existing_resource_policy must be one of %s, not %r" % (", ".join(POLICIES), existing_resource_policy))
        self.client = client
        self.policy = policy
        self.check_mode = bool(check_mode)
        self.want_diff = bool(want_diff)
        self.parallelism = check_parallelism(parallelism)
        self.recreate_timeout = float(recreate_timeout)
        self._sleep = time.sleep
        self._check_state = _CheckModeState(client)

    def with_policy(self, policy):
        """The same applier (cluster, check mode, diff) under another existing-object policy."""
        if policy == self.policy:
            return self
        other = copy.copy(self)
        other.policy = policy
        return other

    # ------------------------------------------------------------ entry points

    def apply_many(self, pairs):
        """Apply one dependency tier in parallel: (resource, obj, backup_uid[, restore_status]) each; decisions in input order."""
        return [decision for _pair, decision in self.apply_stream(pairs)]

    def apply_stream(self, pairs):
        """Apply ``pairs`` (an iterable, read lazily) in parallel; yields ``(pair, decision)`` in input order.

        At most a few objects per thread are in flight: the caller prepares the next objects (reads them from
        disk, maps them) while the threads write the previous ones, instead of the two taking turns.
        """
        if self.parallelism == 1:
            for pair in pairs:
                yield pair, self.apply(*pair)
            return
        # Two queues and threads of our own, not an executor: a future per object (its condition, the executor's work
        # item and thread check) cost the thread that prepares the objects about as much as preparing one.
        window = self.parallelism * STREAM_WINDOW_PER_THREAD
        work, finished = queue.SimpleQueue(), queue.SimpleQueue()
        cancelled = []  # not empty: what no thread has started yet is not applied
        threads = []
        in_flight = collections.deque()
        results = {}
        try:
            for index, pair in enumerate(pairs):
                if len(threads) < self.parallelism:
                    threads.append(threading.Thread(target=self._stream_worker, args=(work, finished, cancelled), daemon=True))
                    threads[-1].start()
                work.put((index, pair))
                in_flight.append((index, pair))
                if len(in_flight) >= window:
                    yield self._next_in_order(in_flight, finished, results)
            while in_flight:
                yield self._next_in_order(in_flight, finished, results)
        finally:
            cancelled.append(True)
            for _thread in threads:
                work.put(None)
            for thread in threads:
                thread.join()

    @staticmethod
    def _next_in_order(in_flight, finished, results):
        """(pair, decision) of the oldest object in flight, once applied; its exception is raised here."""
        index, pair = in_flight.popleft()
        while index not in results:
            done_index, decision, error = finished.get()
            results[done_index] = decision, error
        decision, error = results.pop(index)
        if error is not None:
            raise error
        return pair, decision

    def _stream_worker(self, work, finished, cancelled):
        while True:
            job = work.get()
            if job is None:
                return
            index, pair = job
            if cancelled:
                continue
            try:
                finished.put((index, self.apply(*pair), None))
            except BaseException as error:  # pylint: disable=broad-except
                # Raised in the caller's thread, at this object's turn, as a future would.
                finished.put((index, None, error))

    def apply(self, resource, obj, backup_uid=None, restore_status=False):
        """Create obj through resource (its target ApiResource), or handle the existing object per the policy.

        restore_status: after creating, write obj's status through the /status subresource.
        """
        metadata = obj.get("metadata") or {}
        decision = Decision(action=None, group_resource=resource.group_resource, namespace=metadata.get("namespace"),
                            name=metadata.get("name"), reason=None, new_uid=None, backup_uid=backup_uid)
        if self.want_diff:
            decision["diff"] = None
        if not metadata.get("name"):
            return self._finish(decision, "failed", reason="the object has no metadata.name")
        if resource.namespaced and not metadata.get("namespace"):
            return self._finish(decision, "failed", reason="the object has no metadata.namespace but %s are namespaced" % resource.group_resource)
        # Only the top level and metadata change below (namespace, status); the caller's object stays as it was.
        desired = dict(obj)
        desired["metadata"] = dict(metadata)
        if not resource.namespaced:
            desired["metadata"].pop("namespace", None)
            decision["namespace"] = None
        status = desired.pop("status", None) if restore_status else None
        if not restore_status:
            desired.pop("status", None)
        try:
            if self.check_mode:
                self._check(decision, resource, desired)
            else:
                self._write(decision, resource, desired, status)
        except ApiError as error:
            self._finish(decision, "failed", reason=self._failure_reason(resource, decision, error))
        return decision

    # ------------------------------------------------------------ check mode: GET only

    def _check(self, decision, resource, desired):
        refusal = name_refusal(resource, decision.name) or self._predicted_refusal(resource, decision, desired)
        if refusal:
            return self._finish(decision, "failed", reason=refusal + " (predicted by check mode)")
        existing = self._get(resource, decision)
        if existing is None:
            self._finish(decision, "create", before=None, after=desired)
            if resource.group_resource == "services":
                self._check_state.claim_node_ports(decision, desired)
        else:
            self._decide_existing(decision, resource, desired, existing)

    def _predicted_refusal(self, resource, decision, desired):
        """What the cluster would refuse this object for, found by reading it: a terminating namespace, a taken node port."""
        if resource.namespaced and self._check_state.namespace_terminating(decision.namespace):
            return "namespace %s is being terminated: the API server creates nothing new in it (403 Forbidden)" % decision.namespace
        if resource.group_resource == "services":
            return self._check_state.node_port_refusal(decision, desired)
        return None

    # ------------------------------------------------------------ writing

    def _write(self, decision, resource, desired, status):
        # Create first, as Velero does: into an empty cluster that is one request per object.
        for attempt in range(2):
            try:
                created = self.client.request("POST", resource.list_path(decision.namespace), body=desired)
            except ApiError as error:
                if error.status == 403 and _is_authorization_refusal(error):
                    # The API server authorizes before it looks: credentials that may read an existing object but
                    # not create one (the Namespace a Role-bound restore goes into) get 403, not 409, for it.
                    # (An admission refusal, e.g. a terminating namespace, stays a failure.)
                    existing = self._readable(resource, decision)
                    if existing is None:
                        raise
                    return self._decide_existing(decision, resource, desired, existing, status)
                if error.status != 409:
                    raise
                existing = self._get(resource, decision)
                if existing is None and attempt == 0:
                    continue  # deleted between our POST and GET: try once more
                if existing is None:
                    raise
                return self._decide_existing(decision, resource, desired, existing, status)
            self._finish(decision, "create", before=None, after=desired, new_uid=created["metadata"].get("uid"))
            if status is not None:
                self._restore_status(decision, resource, created, status)
            return decision
        return decision

    def _decide_existing(self, decision, resource, desired, existing, status=None):
        """Compare with the object in the cluster and act per the policy; conflicts re-read it and decide again."""
        for _attempt in range(CONFLICT_RETRIES + 1):
            try:
                return self._decide_once(decision, resource, desired, existing, status)
            except _Retry:
                existing = self._get(resource, decision)
                if existing is None:
                    return self._finish(decision, "failed", reason="the object was deleted while the restore was updating it")
        return self._finish(decision, "failed", reason="the object kept changing: %d conflicting writes (409) in a row" % (CONFLICT_RETRIES + 1))

    def _decide_once(self, decision, resource, desired, existing, status):
        before = strip_server_fields(existing)
        live_uid = (existing.get("metadata") or {}).get("uid")
        service_account = resource.group_resource == "serviceaccounts"
        # The backed-up state, keeping what the cluster assigned (cluster IPs, auto-assigned node ports, a bound
        # claim's volume, controllers' finalizers and annotations): keys added since the backup are not in it.
        # ServiceAccounts are merged (Velero), so only what the backup adds to the live account counts.
        after = apply_merge_patch(before, desired) if service_account else \
            with_cluster_assigned(resource.group_resource, strip_server_fields(desired), before)
        if without_restore_labels(after) == without_restore_labels(before):
            return self._finish(decision, "unchanged", before=before, after=before, new_uid=live_uid)
        if self.policy == "recreate" and not service_account:
            return self._recreate(decision, resource, desired, existing, before, status)
        if service_account:
            # Velero merges ServiceAccounts whatever the policy: the cluster's token secrets stay.
            after = merge_service_accounts(before, desired) if self.policy == "none" else self._service_account_update(before, desired)
        elif self.policy == "none":
            return self._finish(decision, "skip", before=before, after=before, new_uid=live_uid,
                                reason="already exists in the cluster and differs from the backup (existing_resource_policy is none)")
        # Keys of before that after lacks are nulled: the live object ends equal to after.
        patch = merge_patch_between(before, after)
        if not patch or without_restore_labels(after) == without_restore_labels(before):
            return self._finish(decision, "skip", before=before, after=before, new_uid=live_uid,
                                reason="already exists; its secrets, imagePullSecrets, labels and annotations already include the backup's")
        if self.check_mode:
            return self._finish(decision, "update", before=before, after=after, new_uid=live_uid)
        patch.setdefault("metadata", {})["resourceVersion"] = existing["metadata"].get("resourceVersion")
        patched = self._patch(resource, decision, patch)
        return self._finish(decision, "update", before=before, after=after, new_uid=(patched.get("metadata") or {}).get("uid") or live_uid)

    @staticmethod
    def _service_account_update(before, desired):
        """The update policy on a ServiceAccount: the backed-up state, but the cluster's secret references stay."""
        after = apply_merge_patch(before, desired)
        for field in ("secrets", "imagePullSecrets"):
            references = _union_by_name(before.get(field), desired.get(field))
            if references:
                after[field] = references
        return after

    def _patch(self, resource, decision, patch):
        try:
            return self.client.request("PATCH", self._object_path(resource, decision), body=patch, content_type=MERGE_PATCH)
        except ApiError as error:
            if error.status == 409:
                raise _Retry()
            raise

    def _recreate(self, decision, resource, desired, existing, before, status):
        live_uid = existing["metadata"].get("uid")
        refusal = NEVER_RECREATED.get(resource.group_resource)
        if refusal:
            return self._finish(decision, "skip", before=before, after=before, new_uid=live_uid,
                                reason="already exists and differs from the backup; %s, so it is left as it is" % refusal)
        if self.check_mode:
            return self._finish(decision, "recreate", before=before, after=desired)
        path = self._object_path(resource, decision)
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground", "preconditions": {"uid": live_uid}}
        try:
            self.client.request("DELETE", path, query={"propagationPolicy": "Foreground"}, body=options)
        except ApiError as error:
            # Gone already, or replaced by another object since we read it: both mean "look again".
            if error.status not in (404, 409):
                raise
        deadline = time.monotonic() + self.recreate_timeout
        while True:
            current = self._get(resource, decision)
            if current is None:
                break
            if current["metadata"].get("uid") != live_uid:
                return self._finish(decision, "failed", reason="another %s with this name appeared while it was being recreated" % resource.kind)
            if time.monotonic() >= deadline:
                finalizers = current["metadata"].get("finalizers") or []
                return self._finish(decision, "failed", reason="deleted to be recreated, but still there after %d s (finalizers: %s)"
                                    % (self.recreate_timeout, ", ".join(finalizers) or "none"))
            self._sleep(POLL_SECONDS)
        created = self.client.request("POST", resource.list_path(decision.namespace), body=desired)
        self._finish(decision, "recreate", before=before, after=desired, new_uid=created["metadata"].get("uid"))
        if status is not None:
            self._restore_status(decision, resource, created, status)
        return decision

    def _restore_status(self, decision, resource, created, status):
        """PUT the backed-up status through /status; resources without that subresource are left alone."""
        path = self._object_path(resource, decision) + "/status"
        current = created
        for attempt in range(CONFLICT_RETRIES + 1):
            body = dict(current)
            body["status"] = status
            try:
                self.client.request("PUT", path, body=body)
                return
            except ApiError as error:
                if error.status in (404, 405):
                    return
                if error.status == 409 and attempt < CONFLICT_RETRIES:
                    current = self._get(resource, decision) or current
                    continue
                decision["reason"] = "created, but its status was not restored: %s" % describe_api_error(error)
                return

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _object_path(resource, decision):
        return "%s/%s" % (resource.list_path(decision.namespace), decision.name)

    def _get(self, resource, decision):
        """The object in the cluster, or None when there is none."""
        try:
            return self.client.request("GET", self._object_path(resource, decision))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def _readable(self, resource, decision):
        """The object in the cluster, or None when there is none or it may not be read either."""
        try:
            return self._get(resource, decision)
        except ApiError as error:
            if error.status == 403:
                return None
            raise

    def _finish(self, decision, action, reason=None, before=None, after=None, new_uid=None):
        decision["action"] = action
        decision["reason"] = reason
        decision["new_uid"] = new_uid
        if self.want_diff and action != "failed":
            decision["diff"] = {"before": before, "after": strip_server_fields(after) if after is not None else None}
        return decision

    @staticmethod
    def _failure_reason(resource, decision, error):
        details = error.body.get("details") if isinstance(error.body, dict) else None
        if error.status == 404 and isinstance(details, dict) and details.get("kind") == "namespaces" and resource.namespaced:
            return "namespace %s does not exist: %s" % (details.get("name") or decision.namespace, describe_api_error(error))
        if error.status == 404 and not details:
            return "%s is not served by this cluster (%s): install its CRD or API first" % (resource.group_resource, describe_api_error(error))
        return describe_api_error(error)

"""Object storage with kube-apiserver semantics.

Objects are plain dicts and are never mutated once stored: every write stores a
new dict, so list snapshots and cached JSON stay consistent without copying.
One resourceVersion counter is shared by all resources, like etcd's revision.
"""

import base64
import bisect
import collections
import copy
import json
import queue
import random
import threading
import time
import uuid

from kubesim import errors, managed_fields, strategies

_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what apiserver's generateName uses
MAX_ANNOTATIONS_BYTES = 256 * 1024  # apimachinery's TotalAnnotationSizeLimitB
MAX_STORED_BYTES = 1536 * 1024  # etcd's default --max-request-bytes


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def to_json_bytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Entry:
    """A stored object and its JSON rendering, made once and reused by every LIST."""

    __slots__ = ("_obj", "_raw")

    def __init__(self, obj):
        self._obj = obj
        self._raw = None

    @property
    def obj(self):
        return self._obj

    @property
    def api_version(self):
        return self._obj.get("apiVersion")

    @property
    def raw(self):
        if self._raw is None:
            self._raw = to_json_bytes(self._obj)
        return self._raw


class CompactEntry(Entry):
    """An entry that keeps only its JSON (about a fifth of the dict's memory) and decodes it when read.

    For benchmarks that hold a million objects (``kubesim serve --compact-objects``): LISTs serve the bytes as they
    are; a GET or a write decodes a fresh dict, which nobody mutates (stored objects never are).
    """

    __slots__ = ("_api_version",)

    def __init__(self, obj):  # pylint: disable=super-init-not-called
        self._obj = None
        self._raw = to_json_bytes(obj)
        self._api_version = obj.get("apiVersion")

    @property
    def api_version(self):
        return self._api_version

    @property
    def obj(self):
        return json.loads(self._raw)


class Settings:
    """Behaviour switches a test may turn off to observe intermediate states."""

    def __init__(self, namespace_defaults=True, garbage_collection=True, compact_objects=False):
        # Default ServiceAccount and kube-root-ca.crt ConfigMap in every new namespace.
        self.namespace_defaults = namespace_defaults
        # Namespace finalization and ownerReference garbage collection.
        self.garbage_collection = garbage_collection
        # Objects kept as JSON bytes only (CompactEntry): a million fit in a few GiB.
        self.compact_objects = compact_objects


class Subscription:
    """A watch: events for one group/resource, fed by the store."""

    def __init__(self, group_resource):
        self.group_resource = group_resource
        self.events = queue.Queue()


class Store:
    SNAPSHOT_TTL_SECONDS = 300  # etcd compaction interval of a default kube-apiserver
    MAX_SNAPSHOTS = 256
    EVENT_HISTORY = 50000

    def __init__(self, registry, settings=None):
        self.registry = registry
        self.settings = settings or Settings()
        self.lock = threading.RLock()
        self._buckets = {}  # group_resource -> {(namespace, name): Entry}
        self._sorted_keys = {}  # group_resource -> sorted key list, dropped when keys change
        self._rv = 0
        self._uid_index = {}  # uid -> (group_resource, key)
        self._dependents = collections.defaultdict(set)  # owner uid -> {(group_resource, key)}
        self._snapshots = collections.OrderedDict()
        self._history = collections.deque(maxlen=self.EVENT_HISTORY)
        self._subscriptions = []
        self.listeners = []  # callables(event_type, rtype, obj, old); must be quick
        self.allocations = strategies.Allocations()
        self.gc_queue = queue.Queue()

    # ----------------------------------------------------------------- reads

    @property
    def resource_version(self):
        return self._rv

    def _key(self, rtype, namespace, name):
        return (namespace or "" if rtype.namespaced else "", name)

    def _entry(self, rtype, namespace, name):
        return self._buckets.get(rtype.group_resource, {}).get(self._key(rtype, namespace, name))

    def _require(self, rtype, namespace, name):
        entry = self._entry(rtype, namespace, name)
        if entry is None:
            raise errors.not_found(rtype.group, rtype.plural, name)
        return entry

    def view(self, rtype, obj):
        """The object as served at ``rtype``'s version (storage holds one version of each group/resource)."""
        if obj.get("apiVersion") == rtype.api_version:
            return obj
        shown = dict(obj)
        shown["apiVersion"] = rtype.api_version
        return shown

    def render(self, rtype, entry):
        if entry.api_version == rtype.api_version:
            return entry.raw
        return to_json_bytes(self.view(rtype, entry.obj))

    def get(self, rtype, namespace, name):
        """A private deep copy of the stored object (callers may change it)."""
        with self.lock:
            return copy.deepcopy(self.view(rtype, self._require(rtype, namespace, name).obj))

    def get_entry(self, rtype, namespace, name):
        with self.lock:
            return self._require(rtype, namespace, name)

    def find(self, rtype, namespace, name):
        """Like get, but None when absent."""
        with self.lock:
            entry = self._entry(rtype, namespace, name)
            return copy.deepcopy(self.view(rtype, entry.obj)) if entry else None

    def exists_uid(self, uid):
        return uid in self._uid_index

    def namespace_keys(self, group_resource, namespace):
        keys = self._keys(group_resource)
        start = bisect.bisect_left(keys, (namespace, ""))
        end = bisect.bisect_left(keys, (namespace + "\x00", ""))
        return keys[start:end]

    def _keys(self, group_resource):
        keys = self._sorted_keys.get(group_resource)
        if keys is None:
            keys = sorted(self._buckets.get(group_resource, {}))
            self._sorted_keys[group_resource] = keys
        return keys

    def objects(self, rtype, namespace=None):
        """Every stored object of ``rtype`` (optionally in one namespace), in key order, as stored."""
        with self.lock:
            bucket = self._buckets.get(rtype.group_resource, {})
            keys = self.namespace_keys(rtype.group_resource, namespace) if namespace and rtype.namespaced else self._keys(rtype.group_resource)
            return [bucket[key].obj for key in keys]

    def list(self, rtype, namespace=None, label_selector=None, field_selector=None, limit=0, continue_token=None):
        """One page of a LIST: (entries, list metadata dict).

        A paginated LIST reads from a snapshot taken at its first page, so later
        pages are consistent with it, as etcd reads at a fixed revision; a token
        whose snapshot is gone answers 410 Expired like a compacted revision.
        """
        scope = "%s/%s/%s" % (rtype.group, rtype.plural, namespace or "")
        if continue_token:
            snapshot_id, start, list_rv = self._decode_continue(continue_token, scope)
            with self.lock:
                snapshot = self._snapshots.get(snapshot_id)
            if snapshot is None or time.monotonic() - snapshot[0] > self.SNAPSHOT_TTL_SECONDS:
                raise errors.expired("The provided continue parameter is too old to display a consistent list result. "
                                     "You can start a new list without the continue parameter.")
            entries = snapshot[1]
        else:
            with self.lock:
                bucket = self._buckets.get(rtype.group_resource, {})
                if namespace and rtype.namespaced:
                    keys = self.namespace_keys(rtype.group_resource, namespace)
                else:
                    keys = self._keys(rtype.group_resource)
                entries = [bucket[key] for key in keys]
                list_rv = self._rv
                snapshot_id = None
                if limit and len(entries) > limit:
                    snapshot_id = uuid.uuid4().hex
                    self._snapshots[snapshot_id] = (time.monotonic(), entries)
                    while len(self._snapshots) > self.MAX_SNAPSHOTS:
                        self._snapshots.popitem(last=False)
            start = 0

        filtered = label_selector is not None or field_selector is not None
        page = []
        position = start
        while position < len(entries) and (not limit or len(page) < limit):
            position += 1
            if not filtered:
                page.append(entries[position - 1])
                continue
            obj = entries[position - 1].obj
            if label_selector is not None and not label_selector.matches((obj.get("metadata") or {}).get("labels") or {}):
                continue
            if field_selector is not None and not field_selector.matches(obj):
                continue
            page.append(entries[position - 1])
        metadata = {"resourceVersion": str(list_rv)}
        if limit and position < len(entries):
            if snapshot_id is None:
                raise errors.internal_error("pagination snapshot missing")
            metadata["continue"] = self._encode_continue(snapshot_id, position, list_rv, scope)
            if not filtered:
                metadata["remainingItemCount"] = len(entries) - position
        return page, metadata

    @staticmethod
    def _encode_continue(snapshot_id, position, list_rv, scope):
        token = {"v": "meta.k8s.io/v1", "rv": list_rv, "start": position, "snapshot": snapshot_id, "scope": scope}
        return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()

    @staticmethod
    def _decode_continue(token, scope):
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            if decoded["scope"] != scope:
                raise ValueError("continue token is for another resource")
            return decoded["snapshot"], int(decoded["start"]), int(decoded["rv"])
        except (ValueError, KeyError, TypeError) as exc:
            raise errors.bad_request("continue key is not valid: %s" % exc) from exc

    def compact(self):
        """Forget every pagination snapshot: later continue tokens answer 410, as after an etcd compaction."""
        with self.lock:
            self._snapshots.clear()

    # ---------------------------------------------------------------- writes

    def create(self, rtype, namespace, body, dry_run=False, manager=managed_fields.CONTROLLER_MANAGER):
        """POST; ``manager`` is the field manager the write is recorded for in managedFields
        (None: the body's managedFields were set by server-side apply)."""
        with self.lock:
            obj = self._prepare_create(rtype, namespace, body)
            strategies.strategy_for(rtype).apply_defaults(rtype, obj)
            if manager is not None:
                managed_fields.record_update(None, obj, rtype, manager)
            strategies.strategy_for(rtype).before_create(self, rtype, obj)
            self._check_sizes(rtype, obj, dry_run)
            if dry_run:
                return obj
            self._commit(rtype, obj, "ADDED")
            strategies.strategy_for(rtype).after_create(self, rtype, obj)
            return obj

    def _prepare_create(self, rtype, namespace, body):
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is not a JSON object")
        self._check_type_meta(rtype, body)
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        name = metadata.get("name")
        if not name:
            generate_name = metadata.get("generateName")
            if not generate_name:
                raise errors.invalid(rtype.group, rtype.kind, "", [("metadata.name", "Required value: name or generateName is required")])
            name = generate_name + "".join(random.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
            metadata["name"] = name
        if metadata.get("resourceVersion"):
            raise errors.invalid(rtype.group, rtype.kind, name, [(
                "metadata.resourceVersion", 'Invalid value: "%s": resourceVersion should not be set on objects to be created' % metadata["resourceVersion"])])
        strategies.strategy_for(rtype).validate_name(rtype, name)
        if rtype.namespaced:
            body_namespace = metadata.get("namespace")
            if body_namespace and namespace and body_namespace != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            namespace = namespace or body_namespace
            if not namespace:
                raise errors.bad_request("the namespace of the object is required")
            metadata["namespace"] = namespace
            self._check_namespace_writable(rtype, namespace, name)
        else:
            metadata.pop("namespace", None)
        if self._entry(rtype, namespace, name) is not None:
            raise errors.already_exists(rtype.group, rtype.plural, name)
        body["apiVersion"] = rtype.api_version
        body["kind"] = rtype.kind
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        for server_owned in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            metadata.pop(server_owned, None)
        if strategies.tracks_generation(rtype):
            metadata["generation"] = 1
        if rtype.has_status:
            body.pop("status", None)
        return body

    @staticmethod
    def _check_sizes(rtype, obj, dry_run):
        """ValidateAnnotationsSize, then etcd's request size limit (a dry run never reaches etcd)."""
        annotations = obj["metadata"].get("annotations") or {}
        if sum(len(str(key).encode()) + len(str(value).encode()) for key, value in annotations.items()) > MAX_ANNOTATIONS_BYTES:
            raise errors.invalid(rtype.group, rtype.kind, obj["metadata"]["name"], [(
                "metadata.annotations", "Too long: must have at most %d bytes" % MAX_ANNOTATIONS_BYTES)], reason="FieldValueTooLong")
        if not dry_run and len(to_json_bytes(obj)) > MAX_STORED_BYTES:
            # Not a Status error of kube-apiserver's own: etcd's message, passed on as an unknown 500.
            raise errors.ApiError(500, "", "etcdserver: request is too large")

    def _check_type_meta(self, rtype, body):
        api_version = body.get("apiVersion")
        if api_version and api_version != rtype.api_version:
            raise errors.bad_request("the API version in the data (%s) does not match the expected API version (%s)" % (api_version, rtype.api_version))
        kind = body.get("kind")
        if kind and kind != rtype.kind:
            raise errors.bad_request("the kind in the data (%s) does not match the expected kind (%s)" % (kind, rtype.kind))

    def _check_namespace_writable(self, rtype, namespace, name):
        namespace_type = self.registry.lookup("", "v1", "namespaces")
        entry = self._entry(namespace_type, None, namespace)
        if entry is None:
            raise errors.not_found("", "namespaces", namespace)
        if entry.obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(rtype.group, rtype.plural, name,
                                   "unable to create new content in namespace %s because it is being terminated" % namespace)

    def replace(self, rtype, namespace, name, body, subresource=None, dry_run=False, manager=managed_fields.CONTROLLER_MANAGER):
        """PUT: optimistic concurrency on metadata.resourceVersion when the body carries one."""
        with self.lock:
            old = self._require(rtype, namespace, name).obj
            if not isinstance(body, dict):
                raise errors.bad_request("the object provided is not a JSON object")
            self._check_type_meta(rtype, body)
            metadata = body.get("metadata") or {}
            if metadata.get("name") and metadata["name"] != name:
                raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (metadata["name"], name))
            if rtype.namespaced and metadata.get("namespace") and metadata["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            return self._update(rtype, old, body, subresource, dry_run, manager)

    def patch(self, rtype, namespace, name, apply_patch, subresource=None, dry_run=False, manager=managed_fields.CONTROLLER_MANAGER):
        """PATCH: ``apply_patch(current)`` returns the patched object, applied under the store lock.

        ``manager`` None: ``apply_patch`` set managedFields itself (server-side apply).
        """
        with self.lock:
            old = self._require(rtype, namespace, name).obj
            patched = apply_patch(copy.deepcopy(self.view(rtype, old)))
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch did not result in an object")
            return self._update(rtype, old, patched, subresource, dry_run, manager)

    def _update(self, rtype, old, body, subresource, dry_run, manager):
        old_meta = old["metadata"]
        name = old_meta["name"]
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != old_meta["resourceVersion"]:
            raise errors.conflict(rtype.group, rtype.plural, name)
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in body:
                new["status"] = body["status"]
            else:
                new.pop("status", None)
            if manager is None:  # server-side apply recorded its managedFields on the body
                new["metadata"].pop("managedFields", None)
                if (body.get("metadata") or {}).get("managedFields"):
                    new["metadata"]["managedFields"] = body["metadata"]["managedFields"]
        else:
            new = body
            metadata = new.setdefault("metadata", {})
            for immutable in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if immutable in old_meta:
                    metadata[immutable] = old_meta[immutable]
                else:
                    metadata.pop(immutable, None)
            metadata.pop("resourceVersion", None)
            if rtype.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            strategies.strategy_for(rtype).apply_defaults(rtype, new)
            if strategies.tracks_generation(rtype):
                metadata["generation"] = old_meta.get("generation", 1) + (1 if strategies.spec_changed(old, new) else 0)
        new["apiVersion"] = old["apiVersion"]
        new["kind"] = rtype.kind
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if manager is not None:
            managed_fields.record_update(old, new, rtype, manager, subresource)
        strategies.strategy_for(rtype).before_update(self, rtype, old, new)
        if new == old:
            return self.view(rtype, old)  # a no-op write keeps the resourceVersion, as kube-apiserver does
        self._check_sizes(rtype, new, dry_run)
        if dry_run:
            return self.view(rtype, new)
        if old_meta.get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rtype, new)
            return self.view(rtype, new)
        self._commit(rtype, new, "MODIFIED", old)
        strategies.strategy_for(rtype).after_update(self, rtype, old, new)
        return self.view(rtype, new)

    def delete(self, rtype, namespace, name, propagation=None, preconditions=None, dry_run=False):
        with self.lock:
            old = self._require(rtype, namespace, name).obj
            old_meta = old["metadata"]
            preconditions = preconditions or {}
            if preconditions.get("uid") and preconditions["uid"] != old_meta["uid"]:
                raise errors.ApiError(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                      % (preconditions["uid"], old_meta["uid"]), {"name": name, "kind": rtype.plural})
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != old_meta["resourceVersion"]:
                raise errors.conflict(rtype.group, rtype.plural, name)
            if dry_run:
                return self.view(rtype, old)
            finalizers = list(old_meta.get("finalizers") or [])
            if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            elif propagation == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            if strategies.strategy_for(rtype).deletes_gracefully or finalizers:
                if old_meta.get("deletionTimestamp") and finalizers == list(old_meta.get("finalizers") or []):
                    return self.view(rtype, old)
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = old_meta.get("deletionTimestamp") or now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                if finalizers:
                    new["metadata"]["finalizers"] = finalizers
                strategies.strategy_for(rtype).before_graceful_delete(rtype, new)
                self._commit(rtype, new, "MODIFIED", old)
                self.gc_queue.put(("finalize", rtype.group_resource, new["metadata"].get("namespace", ""), name))
                return self.view(rtype, new)
            self._remove(rtype, old)
            return self.view(rtype, old)

    def remove_finalizer(self, rtype, namespace, name, finalizer):
        """Drop one finalizer; the object goes once none is left and it is being deleted."""
        with self.lock:
            entry = self._entry(rtype, namespace, name)
            if entry is None:
                return
            finalizers = list(entry.obj["metadata"].get("finalizers") or [])
            if finalizer not in finalizers:
                return
            new = copy.deepcopy(entry.obj)
            finalizers.remove(finalizer)
            if finalizers:
                new["metadata"]["finalizers"] = finalizers
            else:
                new["metadata"].pop("finalizers", None)
            if new["metadata"].get("deletionTimestamp") and not finalizers:
                self._remove(rtype, new)
            else:
                self._commit(rtype, new, "MODIFIED", entry.obj)

    def purge(self, rtype, namespace, name):
        """Remove an object now, whatever its finalizers: the last step of a finalizing controller."""
        with self.lock:
            entry = self._entry(rtype, namespace, name)
            if entry is not None:
                self._remove(rtype, entry.obj)

    def _remove(self, rtype, obj):
        metadata = obj["metadata"]
        key = self._key(rtype, metadata.get("namespace"), metadata["name"])
        bucket = self._buckets.get(rtype.group_resource, {})
        old_entry = bucket.pop(key, None)
        if old_entry is None:
            return
        self._sorted_keys.pop(rtype.group_resource, None)
        self._uid_index.pop(metadata["uid"], None)
        self._unindex_owners(rtype.group_resource, key, old_entry.obj)
        self._rv += 1
        gone = dict(obj)
        gone["metadata"] = dict(metadata, resourceVersion=str(self._rv))
        self._publish("DELETED", rtype, gone, old_entry.obj)
        strategies.strategy_for(rtype).after_delete(self, rtype, gone)
        self.gc_queue.put(("dependents", metadata["uid"]))

    def _commit(self, rtype, obj, event_type, old=None):
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        metadata = obj["metadata"]
        key = self._key(rtype, metadata.get("namespace"), metadata["name"])
        bucket = self._buckets.setdefault(rtype.group_resource, {})
        if key not in bucket:
            self._sorted_keys.pop(rtype.group_resource, None)
        if old is not None:
            self._unindex_owners(rtype.group_resource, key, old)
        bucket[key] = CompactEntry(obj) if self.settings.compact_objects else Entry(obj)
        self._uid_index[metadata["uid"]] = (rtype.group_resource, key)
        for owner in metadata.get("ownerReferences") or []:
            self._dependents[owner.get("uid")].add((rtype.group_resource, key))
        self._publish(event_type, rtype, obj, old)

    def _unindex_owners(self, group_resource, key, obj):
        for owner in obj["metadata"].get("ownerReferences") or []:
            dependents = self._dependents.get(owner.get("uid"))
            if dependents:
                dependents.discard((group_resource, key))
                if not dependents:
                    del self._dependents[owner.get("uid")]

    def _publish(self, event_type, rtype, obj, old):
        self._history.append((self._rv, event_type, rtype.group_resource, obj))
        for subscription in self._subscriptions:
            if subscription.group_resource == rtype.group_resource:
                subscription.events.put((event_type, obj))
        for listener in self.listeners:
            listener(event_type, rtype, obj, old)

    # --------------------------------------------------------- GC and watch support

    def dependents_of(self, uid):
        """[(group_resource, key, obj)] of the objects naming ``uid`` as an owner."""
        with self.lock:
            found = []
            for group_resource, key in sorted(self._dependents.get(uid, ())):
                entry = self._buckets.get(group_resource, {}).get(key)
                if entry is not None:
                    found.append((group_resource, key, entry.obj))
            return found

    def keys_in_namespace(self, namespace):
        """[(group_resource, key)] of every object stored in ``namespace``."""
        with self.lock:
            return [(group_resource, key) for group_resource in list(self._buckets)
                    for key in self.namespace_keys(group_resource, namespace)]

    def entry_by_key(self, group_resource, key):
        return self._buckets.get(group_resource, {}).get(key)

    def subscribe(self, rtype, since_rv=None):
        """A Subscription fed with events after ``since_rv`` (replayed from history) and live ones."""
        with self.lock:
            subscription = Subscription(rtype.group_resource)
            if since_rv is not None and since_rv < self._rv:
                oldest = self._history[0][0] if self._history else self._rv + 1
                if since_rv + 1 < oldest:
                    raise errors.expired("too old resource version: %d (%d)" % (since_rv, oldest - 1))
                for event_rv, event_type, group_resource, obj in self._history:
                    if event_rv > since_rv and group_resource == rtype.group_resource:
                        subscription.events.put((event_type, obj))
            self._subscriptions.append(subscription)
            return subscription

    def unsubscribe(self, subscription):
        with self.lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def dump(self):
        """Every stored object, for seeding another emulator or inspection."""
        with self.lock:
            return [entry.obj for bucket in self._buckets.values() for entry in bucket.values()]

    def count(self):
        with self.lock:
            return sum(len(bucket) for bucket in self._buckets.values())

"""Namespace finalization and ownerReference garbage collection, run in a background thread.

Work items come from the store's ``gc_queue``:
``("dependents", uid)`` after an object is removed: delete the dependents whose owners are all gone
(background propagation) and drop references to the removed owner from the others;
``("finalize", group_resource, namespace, name)`` after a DELETE left an object terminating:
namespace content removal, foreground deletion of dependents, orphaning.
"""

import threading
import time


class GarbageCollector:
    def __init__(self, store):
        self.store = store
        self._thread = None
        self._stopping = threading.Event()
        self._busy = 0
        self._busy_lock = threading.Lock()

    def start(self):
        self._thread = threading.Thread(target=self._run, name="kubesim-gc", daemon=True)
        self._thread.start()

    def stop(self):
        self._stopping.set()
        self.store.gc_queue.put(None)
        if self._thread:
            self._thread.join(timeout=5)

    def idle(self):
        with self._busy_lock:
            return self._busy == 0 and self.store.gc_queue.empty()

    def _run(self):
        while not self._stopping.is_set():
            item = self.store.gc_queue.get()
            if item is None:
                continue
            with self._busy_lock:
                self._busy += 1
            try:
                if not self.store.settings.garbage_collection:
                    # Keep the work for when collection is switched back on.
                    time.sleep(0.05)
                    self.store.gc_queue.put(item)
                    continue
                self._handle(item)
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def _handle(self, item):
        if item[0] == "dependents":
            self._collect_dependents(item[1])
        elif item[0] == "finalize":
            self._finalize(*item[1:])

    def _rtype(self, group_resource):
        return self.store.registry.preferred(*group_resource)

    def _collect_dependents(self, owner_uid):
        store = self.store
        for group_resource, key, obj in store.dependents_of(owner_uid):
            rtype = self._rtype(group_resource)
            if rtype is None:
                continue
            owners = obj["metadata"].get("ownerReferences") or []
            if any(store.exists_uid(owner.get("uid")) for owner in owners):
                self._drop_owner_reference(rtype, obj, owner_uid)
            else:
                try:
                    store.delete(rtype, key[0] or None, key[1])
                except Exception:  # pylint: disable=broad-except
                    continue  # already gone: nothing left to collect

    def _drop_owner_reference(self, rtype, obj, owner_uid):
        def without_owner(current):
            current["metadata"]["ownerReferences"] = [ref for ref in current["metadata"].get("ownerReferences") or []
                                                      if ref.get("uid") != owner_uid]
            if not current["metadata"]["ownerReferences"]:
                del current["metadata"]["ownerReferences"]
            current["metadata"].pop("resourceVersion", None)
            return current
        try:
            self.store.patch(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"], without_owner)
        except Exception:  # pylint: disable=broad-except
            return

    def _finalize(self, group_resource, namespace, name):
        store = self.store
        rtype = self._rtype(group_resource)
        if rtype is None:
            return
        obj = store.find(rtype, namespace or None, name)
        if obj is None:
            return
        finalizers = obj["metadata"].get("finalizers") or []
        if group_resource == ("", "namespaces"):
            self._finalize_namespace(rtype, obj)
        elif "orphan" in finalizers:
            for dep_group_resource, _key, dependent in store.dependents_of(obj["metadata"]["uid"]):
                dep_type = self._rtype(dep_group_resource)
                if dep_type is not None:
                    self._drop_owner_reference(dep_type, dependent, obj["metadata"]["uid"])
            store.remove_finalizer(rtype, namespace or None, name, "orphan")
        elif "foregroundDeletion" in finalizers:
            dependents = store.dependents_of(obj["metadata"]["uid"])
            if not dependents:
                store.remove_finalizer(rtype, namespace or None, name, "foregroundDeletion")
                return
            for dep_group_resource, key, _dependent in dependents:
                dep_type = self._rtype(dep_group_resource)
                if dep_type is not None:
                    try:
                        store.delete(dep_type, key[0] or None, key[1], propagation="Foreground")
                    except Exception:  # pylint: disable=broad-except
                        continue
            self._retry_later(("finalize", group_resource, namespace, name))

    def _finalize_namespace(self, rtype, namespace_obj):
        store = self.store
        name = namespace_obj["metadata"]["name"]
        remaining = store.keys_in_namespace(name)
        for group_resource, key in remaining:
            content_type = self._rtype(group_resource)
            if content_type is None or not content_type.namespaced:
                continue
            entry = store.entry_by_key(group_resource, key)
            if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
                continue
            try:
                store.delete(content_type, name, key[1])
            except Exception:  # pylint: disable=broad-except
                continue
        if any(self._rtype(gr) is not None and self._rtype(gr).namespaced for gr, _key in store.keys_in_namespace(name)):
            self._retry_later(("finalize", rtype.group_resource, "", name))
            return

        def without_spec_finalizers(current):
            current.setdefault("spec", {})["finalizers"] = []
            return current
        with store.lock:
            if store.find(rtype, None, name) is None:
                return
            store.patch(rtype, None, name, without_spec_finalizers)
            store.purge(rtype, None, name)

    def _retry_later(self, item):
        def requeue():
            time.sleep(0.05)
            self.store.gc_queue.put(item)
        threading.Thread(target=requeue, daemon=True).start()


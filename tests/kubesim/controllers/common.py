"""Resource names, helpers and the Controller base classes shared by the emulated controllers."""

import copy
import decimal
import hashlib
import json
import random
import re

from kubesim import errors, managed_fields
from kubesim.selectors import SelectorError, label_selector_from_dict
from kubesim.store import now_rfc3339
from kubesim.volume_backend import VolumeBackend

PODS = ("", "pods")
EVENTS = ("", "events")
NODES = ("", "nodes")
PVCS = ("", "persistentvolumeclaims")
PVS = ("", "persistentvolumes")
STORAGE_CLASSES = ("storage.k8s.io", "storageclasses")
REPLICA_SETS = ("apps", "replicasets")
DEPLOYMENTS = ("apps", "deployments")
STATEFUL_SETS = ("apps", "statefulsets")
DAEMON_SETS = ("apps", "daemonsets")
CONTROLLER_REVISIONS = ("apps", "controllerrevisions")
JOBS = ("batch", "jobs")
SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
VOLUME_SNAPSHOTS = (SNAPSHOT_GROUP, "volumesnapshots")
SNAPSHOT_CONTENTS = (SNAPSHOT_GROUP, "volumesnapshotcontents")
SNAPSHOT_CLASSES = (SNAPSHOT_GROUP, "volumesnapshotclasses")

# apimachinery's rand.SafeEncodeString alphabet: hashes look like upstream's ("7d9f8c6b5").
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"


# ----------------------------------------------------------------- helpers

def meta(obj):
    """The object's metadata, {} when absent."""
    return obj.get("metadata") or {}


def namespace_and_name(obj):
    """(namespace, name); the namespace is "" for cluster-scoped objects."""
    metadata = meta(obj)
    return metadata.get("namespace", ""), metadata.get("name")


def is_deleting(obj):
    """Whether a DELETE left the object terminating (deletionTimestamp set)."""
    return bool(meta(obj).get("deletionTimestamp"))


def controller_ref(owner):
    """The ownerReference a controller puts on what it creates."""
    metadata = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": metadata["name"], "uid": metadata["uid"],
            "controller": True, "blockOwnerDeletion": True}


def controller_of(obj):
    """The ownerReference marked controller: true, or None."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def template_hash(value, collision_count=None):
    """A stable short hash shaped like upstream's ComputeHash (FNV-32a, then SafeEncodeString)."""
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if collision_count:
        payload += str(collision_count)
    number = int.from_bytes(hashlib.sha256(payload.encode()).digest()[:4], "big")
    return "".join(_SAFE_ALPHABET[ord(digit) % len(_SAFE_ALPHABET)] for digit in str(number))


def random_suffix(length):
    """Random lowercase hex, for volume and snapshot handles."""
    return "".join(random.choice("0123456789abcdef") for _ in range(length))


_QUANTITY_RE = re.compile(r"^([0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_BINARY_SUFFIXES = (("Ei", 2 ** 60), ("Pi", 2 ** 50), ("Ti", 2 ** 40), ("Gi", 2 ** 30), ("Mi", 2 ** 20), ("Ki", 2 ** 10))
_MULTIPLIERS = dict(_BINARY_SUFFIXES, k=10 ** 3, M=10 ** 6, G=10 ** 9, T=10 ** 12, P=10 ** 15, E=10 ** 18)


def quantity_bytes(text):
    """A resource quantity ("10Gi", "500M", "1.5Gi") in bytes, rounded up; None when unparsable."""
    match = _QUANTITY_RE.match(str(text or "").strip())
    if not match:
        return None
    number, suffix = decimal.Decimal(match.group(1)), match.group(2) or ""
    if suffix == "m":
        value = number / 1000
    else:
        value = number * _MULTIPLIERS.get(suffix, 1)
    return int(value.to_integral_value(rounding=decimal.ROUND_CEILING))


def format_bytes(count):
    """Bytes as the canonical binary quantity resource.NewQuantity(n, BinarySI) prints."""
    for suffix, size in _BINARY_SUFFIXES:
        if count and count % size == 0:
            return "%d%s" % (count // size, suffix)
    return str(count)


def find_condition(obj, condition_type):
    """The status condition of that type, or None."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == condition_type:
            return condition
    return None


def condition_true(obj, condition_type):
    """Whether the status condition of that type is "True"."""
    condition = find_condition(obj, condition_type)
    return bool(condition) and condition.get("status") == "True"


def _dated_condition(old_conditions, condition, with_update_time):
    """``condition`` keeping its old timestamps unless what they date changed (so re-syncs write nothing)."""
    previous = next((c for c in old_conditions or [] if c.get("type") == condition["type"]), None)
    now = now_rfc3339()
    same_status = previous is not None and previous.get("status") == condition["status"]
    condition["lastTransitionTime"] = previous.get("lastTransitionTime", now) if same_status else now
    if with_update_time:
        unchanged = same_status and (previous.get("reason"), previous.get("message")) == (condition.get("reason"), condition.get("message"))
        condition["lastUpdateTime"] = previous.get("lastUpdateTime", now) if unchanged else now
    return condition


def _condition_fields(condition_type, status, reason, message):
    condition = {"type": condition_type, "status": status}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def probed_condition(old_conditions, condition_type, status, reason=None, message=None):
    """A pod or Job condition: lastProbeTime null, lastTransitionTime."""
    condition = dict(_condition_fields(condition_type, status, reason, message), lastProbeTime=None)
    return _dated_condition(old_conditions, condition, with_update_time=False)


def progress_condition(old_conditions, condition_type, status, reason, message):
    """A Deployment condition: lastUpdateTime and lastTransitionTime."""
    return _dated_condition(old_conditions, _condition_fields(condition_type, status, reason, message), with_update_time=True)


def without_zeros(status, omit_empty):
    """Drop the zero-valued fields upstream's Go types mark omitempty."""
    return {key: value for key, value in status.items() if key not in omit_empty or value}


def selector_of(obj):
    """The object's spec.selector as a LabelSelector; None when it cannot select (invalid)."""
    selector = (obj.get("spec") or {}).get("selector")
    if not selector:
        return None
    try:
        parsed = label_selector_from_dict(selector)
    except SelectorError:
        return None
    return None if parsed.empty else parsed


BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def storage_class_of(obj):
    """The class of a claim or volume as kube's volume helpers read it: the legacy beta annotation first, then the field.

    None when neither is set (a claim the default class may be assigned to); "" is the explicit empty class.
    """
    annotations = meta(obj).get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return annotations[BETA_STORAGE_CLASS_ANNOTATION]
    return (obj.get("spec") or {}).get("storageClassName")


def labels_of(obj):
    """The object's labels, {} when absent."""
    return meta(obj).get("labels") or {}


def pod_ready(pod):
    """A Running pod whose Ready condition is True (minReadySeconds is not emulated: ready is available)."""
    return condition_true(pod, "Ready") and (pod.get("status") or {}).get("phase") == "Running"


def pod_active(pod):
    """A pod neither terminating nor finished: what workload controllers count."""
    return not is_deleting(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


# ---------------------------------------------------------------- controllers

class Controller:
    """One control loop: maps watch events to keys and reconciles a key from current state."""

    name = ""
    watches = ()  # group_resources whose events this controller reacts to

    def __init__(self, store, requeue, volume_backend=None):
        self.store = store
        self._requeue = requeue
        self.volume_backend = volume_backend if volume_backend is not None else VolumeBackend()

    def rtype(self, group_resource):
        """The ResourceType serving ``group_resource`` at its preferred version, or None."""
        return self.store.registry.preferred(*group_resource)

    def objects(self, group_resource, namespace=None):
        """Stored objects (read-only; copy before changing), [] when the resource is not served."""
        rtype = self.rtype(group_resource)
        return self.store.objects(rtype, namespace) if rtype else []

    def find(self, group_resource, namespace, name):
        """A private copy of one object, or None."""
        rtype = self.rtype(group_resource)
        return self.store.find(rtype, namespace or None, name) if rtype and name else None

    def requeue_after(self, key, seconds):
        """Reconcile ``key`` again after ``seconds``."""
        self._requeue(self.name, key, seconds)

    def keys_for(self, group_resource, event_type, obj, old):
        """The keys to reconcile because of one watch event."""
        raise NotImplementedError

    def resync_keys(self):
        """Every key, for a full relist when the controller starts or is switched back on."""
        raise NotImplementedError

    def reconcile(self, key):
        """Make the world match the object named by ``key``, from current state."""
        raise NotImplementedError

    # ---- writes

    @property
    def field_manager(self):
        """The manager named in managedFields: the kubelet's own, or kube-controller-manager's."""
        return "kubelet" if self.name == "kubelet" else managed_fields.CONTROLLER_MANAGER

    def create(self, group_resource, namespace, body):
        """POST ``body``; returns the stored object (read-only)."""
        return self.store.create(self.rtype(group_resource), namespace or None, body, manager=self.field_manager)

    def update(self, group_resource, obj):
        """PUT with the read resourceVersion: a concurrent change answers 409 and the key is retried."""
        namespace, name = namespace_and_name(obj)
        return self.store.replace(self.rtype(group_resource), namespace or None, name, obj, manager=self.field_manager)

    def delete(self, group_resource, obj):
        """DELETE with a uid precondition; already gone is fine."""
        namespace, name = namespace_and_name(obj)
        try:
            self.store.delete(self.rtype(group_resource), namespace or None, name, preconditions={"uid": meta(obj)["uid"]})
        except errors.ApiError as error:
            if error.code != 404:
                raise

    def record_event(self, involved, event_type, reason, message, component):
        """Write a core/v1 Event about ``involved``, as a controller's event recorder does; never fails the reconcile."""
        if not involved.get("kind"):
            raise ValueError("record_event needs the involved object's kind")
        metadata = meta(involved)
        now = now_rfc3339()
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": "%s.%s" % (metadata["name"], random_suffix(16)), "namespace": metadata.get("namespace") or "default"},
                 "involvedObject": {"apiVersion": involved.get("apiVersion", "v1"), "kind": involved.get("kind"), "name": metadata["name"],
                                    "namespace": metadata.get("namespace", ""), "uid": metadata.get("uid"),
                                    "resourceVersion": metadata.get("resourceVersion")},
                 "type": event_type, "reason": reason, "message": message, "source": {"component": component},
                 "firstTimestamp": now, "lastTimestamp": now, "count": 1, "reportingComponent": component, "reportingInstance": ""}
        try:
            self.create(EVENTS, event["metadata"]["namespace"], event)
        except errors.ApiError:
            pass  # events are best effort: a terminating namespace refuses them

    def write_status(self, group_resource, obj, status):
        """Write ``status`` as a controller's status update does, unless it is what is stored."""
        if obj.get("status") == status:
            return obj
        rtype = self.rtype(group_resource)
        namespace, name = namespace_and_name(obj)
        uid = meta(obj)["uid"]

        def with_status(current):
            if meta(current).get("uid") != uid:
                raise errors.conflict(rtype.group, rtype.plural, name)
            current["status"] = copy.deepcopy(status)
            return current
        return self.store.patch(rtype, namespace or None, name, with_status, subresource="status" if rtype.has_status else None,
                                manager=self.field_manager)


class PodOwnerController(Controller):  # pylint: disable=abstract-method  # the subclasses reconcile
    """Shared by controllers whose primary object owns pods (ReplicaSet, StatefulSet, DaemonSet, Job)."""

    primary = None
    kind = ""

    @property
    def watches(self):
        """The primary resource and pods."""
        return (self.primary, PODS)

    def keys_for(self, group_resource, event_type, obj, old):
        """The keys to reconcile because of one watch event."""
        if group_resource == self.primary:
            return [namespace_and_name(obj)]
        keys = []
        for pod in (obj, old):
            ref = controller_of(pod) if pod else None
            if ref and ref.get("kind") == self.kind:
                keys.append((meta(pod).get("namespace", ""), ref["name"]))
        if event_type != "DELETED" and controller_of(obj) is None and not is_deleting(obj):
            namespace = meta(obj).get("namespace")
            for owner in self.objects(self.primary, namespace):
                selector = selector_of(owner)
                if selector is not None and selector.matches(labels_of(obj)):
                    keys.append((namespace, meta(owner)["name"]))
        return keys

    def resync_keys(self):
        """Every key, for a full relist when the controller starts or is switched back on."""
        return [namespace_and_name(obj) for obj in self.objects(self.primary)]

    def claim_pods(self, owner):
        """The pods ``owner`` controls, adopting orphans its selector matches, as ClaimPods does."""
        namespace = meta(owner)["namespace"]
        uid = meta(owner)["uid"]
        selector = selector_of(owner)
        owned = []
        for pod in self.objects(PODS, namespace):
            ref = controller_of(pod)
            if ref is not None:
                if ref.get("uid") == uid:
                    owned.append(pod)
                continue
            if selector is None or is_deleting(pod) or is_deleting(owner) or not selector.matches(labels_of(pod)):
                continue
            adopted = copy.deepcopy(pod)
            adopted["metadata"].setdefault("ownerReferences", []).append(controller_ref(owner))
            owned.append(self.update(PODS, adopted))
        return owned

    def new_pod(self, owner, template, name=None, extra_labels=None, spec_changes=None):
        """Create a pod from ``template`` controlled by ``owner`` (generateName ``<owner>-`` unless named)."""
        template_meta = template.get("metadata") or {}
        metadata = {"namespace": meta(owner)["namespace"], "ownerReferences": [controller_ref(owner)]}
        if name:
            metadata["name"] = name
        else:
            metadata["generateName"] = meta(owner)["name"] + "-"
        labels = dict(template_meta.get("labels") or {}, **(extra_labels or {}))
        if labels:
            metadata["labels"] = labels
        if template_meta.get("annotations"):
            metadata["annotations"] = dict(template_meta["annotations"])
        spec = copy.deepcopy(template.get("spec") or {})
        spec.update(spec_changes or {})
        return self.create(PODS, metadata["namespace"], {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})


def affinity_node_name(pod):
    """The node a pod's required node affinity pins it to by metadata.name (DaemonSet pods), if any."""
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    for term in (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and field.get("values"):
                return field["values"][0]
    return None

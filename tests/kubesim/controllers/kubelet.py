"""The scheduler and the kubelet: bind pods to a node once their claims are bound, then run them.

The attach-detach controller's Multi-Attach check sits between the two: a pod whose ReadWriteOnce disk
(CSI or EBS) is in use by a running pod on another node stays ContainerCreating, with a Warning event
FailedAttachVolume, until that pod is gone.

An image on a registry under the reserved ".invalid" domain ("registry.invalid/app:1") cannot be pulled:
the pod stays Pending with ErrImagePull, then ImagePullBackOff, and the kubelet's events.
"""

import copy
import hashlib
import itertools
import time

from kubesim.controllers.common import (
    NODES, PODS, PVCS, PVS, SELECTED_NODE_ANNOTATION, STORAGE_CLASSES, Controller, controller_of, is_deleting, probed_condition, meta,
    namespace_and_name, storage_class_of)
from kubesim.controllers.scheduling import misfit_reason, unschedulable_message
from kubesim.store import now_rfc3339


HOST_IP = "172.18.0.2"
UNREACHABLE_REGISTRY_SUFFIX = ".invalid"
# How long after ErrImagePull the kubelet reports ImagePullBackOff.
PULL_BACKOFF_SECONDS = 0.5
POD_CIDR_PREFIX = "10.244"
# How long a Job pod "runs" before it succeeds.
JOB_POD_RUNTIME_SECONDS = 0.2


def _normalized_image(image):
    """The image reference the kubelet reports: registry and tag made explicit."""
    name = image or ""
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


class KubeletController(Controller):
    """The scheduler and the kubelet: bind pods to a node once their claims are bound, then run them."""

    name = "kubelet"
    watches = (PODS, PVCS)

    def __init__(self, store, requeue, volume_backend=None):
        super().__init__(store, requeue, volume_backend)
        self._addresses = itertools.count(10)
        self._running_since = {}  # Job pod uid -> monotonic time it started running
        self._attach_blocked = {}  # pod uid -> (key, the Multi-Attach message reported)
        self._pull_failures = {}  # pod uid -> "ErrImagePull" or "ImagePullBackOff", what its status shows

    def keys_for(self, group_resource, event_type, obj, old):
        if group_resource == PODS:
            # A pod leaving or stopping may free a disk another pod waits for.
            waiting = [key for uid, (key, _) in list(self._attach_blocked.items()) if uid != meta(obj).get("uid")]
            if event_type == "DELETED":
                self._running_since.pop(meta(obj).get("uid"), None)
                self._attach_blocked.pop(meta(obj).get("uid"), None)
                self._pull_failures.pop(meta(obj).get("uid"), None)
                return waiting
            return [namespace_and_name(obj)] + waiting
        if event_type == "DELETED" or (obj.get("status") or {}).get("phase") != "Bound":
            return []
        namespace, claim_name = namespace_and_name(obj)
        return [(namespace, meta(pod)["name"]) for pod in self.objects(PODS, namespace)
                if (pod.get("status") or {}).get("phase") == "Pending" and claim_name in self._claim_names(pod)]

    def resync_keys(self):
        return [namespace_and_name(pod) for pod in self.objects(PODS)]

    @staticmethod
    def _claim_names(pod):
        return [volume["persistentVolumeClaim"].get("claimName") for volume in (pod.get("spec") or {}).get("volumes") or []
                if volume.get("persistentVolumeClaim")]

    def reconcile(self, key):
        pod = self.find(PODS, *key)
        if pod is None or is_deleting(pod):
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Running" and self._is_job_pod(pod):
            self._finish_job_pod(key, pod)
        if phase != "Pending":
            return
        if not pod["spec"].get("nodeName"):
            self._schedule(pod)
        elif (self._unbound_claim_problem(pod, pod["spec"]["nodeName"]) is None and not self._multi_attach_blocks(key, pod)
              and not self._image_pull_fails(key, pod)):
            self._start(key, pod)

    @staticmethod
    def _is_job_pod(pod):
        return (controller_of(pod) or {}).get("kind") == "Job"

    def _schedule(self, pod):
        node_name, problem = self._pick_node(pod)
        if node_name is not None:
            problem = self._unbound_claim_problem(pod, node_name)
        if problem is not None:
            status = dict(pod.get("status") or {}, phase="Pending", conditions=[probed_condition(
                (pod.get("status") or {}).get("conditions"), "PodScheduled", "False", "Unschedulable", problem)])
            self.write_status(PODS, pod, status)
            return
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = node_name
        self.update(PODS, bound)

    def _pick_node(self, pod):
        """(the first node the pod fits, None) or (None, kube-scheduler's message)."""
        nodes = [node for node in self.objects(NODES) if not is_deleting(node)]
        volumes = self._bound_volumes(pod)
        reasons = {}
        for node in nodes:
            reason = misfit_reason(pod, node, volumes)
            if reason is None:
                return meta(node)["name"], None
            reasons[reason] = reasons.get(reason, 0) + 1
        return None, unschedulable_message(len(nodes), reasons)

    def _bound_volumes(self, pod):
        """The PersistentVolumes bound to the pod's claims."""
        volumes = []
        for claim_name in self._claim_names(pod):
            volume_name = ((self.find(PVCS, meta(pod)["namespace"], claim_name) or {}).get("spec") or {}).get("volumeName")
            volume = self.find(PVS, None, volume_name) if volume_name else None
            if volume is not None:
                volumes.append(volume)
        return volumes

    def _multi_attach_blocks(self, key, pod):
        """Whether a ReadWriteOnce disk of the pod is in use on another node; reports it once, as the attach-detach controller does."""
        message = self._multi_attach_message(pod)
        uid = meta(pod)["uid"]
        if message is None:
            self._attach_blocked.pop(uid, None)
            return False
        if self._attach_blocked.get(uid, (None, None))[1] != message:
            self.record_event(dict(pod, apiVersion="v1", kind="Pod"), "Warning", "FailedAttachVolume", message, "attachdetach-controller")
            self._write_waiting(pod, {})
        self._attach_blocked[uid] = (key, message)
        return True

    def _multi_attach_message(self, pod):
        """The attach-detach controller's Multi-Attach error for the pod's first blocked disk, or None.

        Only attachable disks (CSI, EBS) are attached to a node; a PV whose access modes include ReadWriteMany or
        ReadOnlyMany may be attached to several (IsMultiAttachAllowed).
        """
        node_name, namespace = pod["spec"]["nodeName"], meta(pod)["namespace"]
        for volume in self._bound_volumes(pod):
            volume_spec = volume.get("spec") or {}
            if not (volume_spec.get("csi") or volume_spec.get("awsElasticBlockStore")):
                continue
            if {"ReadWriteMany", "ReadOnlyMany"} & set(volume_spec.get("accessModes") or []):
                continue
            # The disk's claim is namespaced: the pods using it are in the claim's namespace, the pod's own.
            claim_ref = volume_spec.get("claimRef") or {}
            users = sorted(meta(other)["name"] for other in self.objects(PODS, claim_ref.get("namespace") or namespace)
                           if meta(other)["uid"] != meta(pod)["uid"] and (other.get("spec") or {}).get("nodeName") not in (None, "", node_name)
                           and (other.get("status") or {}).get("phase") == "Running" and claim_ref.get("name") in self._claim_names(other))
            if users:
                return 'Multi-Attach error for volume "%s" Volume is already used by pod(s) %s' % (meta(volume)["name"], ", ".join(users))
        return None

    def _host_ip(self, pod):
        """The InternalIP of the pod's node (HOST_IP for a node that reports none)."""
        node = self.find(NODES, None, pod["spec"].get("nodeName")) or {}
        addresses = [address.get("address") for address in (node.get("status") or {}).get("addresses") or [] if address.get("type") == "InternalIP"]
        return addresses[0] if addresses else HOST_IP

    def _image_pull_fails(self, key, pod):
        """Whether an image of the pod cannot be pulled (its registry is under ".invalid"); reports it as the kubelet does."""
        images = [_normalized_image(container.get("image")) for container in (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]]
        failing = next((image for image in images if image.split("/", 1)[0].endswith(UNREACHABLE_REGISTRY_SUFFIX)), None)
        if failing is None:
            return False
        uid, involved = meta(pod)["uid"], dict(pod, apiVersion="v1", kind="Pod")
        host = failing.split("/", 1)[0]
        repository, _, tag = failing.split("/", 1)[1].rpartition(":")
        cause = ('rpc error: code = Unknown desc = failed to pull and unpack image "%s": failed to resolve reference "%s": failed to do request: '
                 'Head "https://%s/v2/%s/manifests/%s": dial tcp: lookup %s: no such host' % (failing, failing, host, repository, tag, host))
        stage = self._pull_failures.get(uid)
        if stage is None:
            self.record_event(involved, "Normal", "Pulling", 'Pulling image "%s"' % failing, "kubelet")
            self.record_event(involved, "Warning", "Failed", 'Failed to pull image "%s": %s' % (failing, cause), "kubelet")
            self.record_event(involved, "Warning", "Failed", "Error: ErrImagePull", "kubelet")
            self._pull_failures[uid] = "ErrImagePull"
            self._write_waiting(pod, {"reason": "ErrImagePull", "message": cause}, failing)
            self.requeue_after(key, PULL_BACKOFF_SECONDS)
        elif stage == "ErrImagePull":
            self.record_event(involved, "Normal", "BackOff", 'Back-off pulling image "%s"' % failing, "kubelet")
            self.record_event(involved, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet")
            self._pull_failures[uid] = "ImagePullBackOff"
            self._write_waiting(pod, {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "%s"' % failing}, failing)
        return True

    def _write_waiting(self, pod, waiting, image=None):
        """The status the kubelet shows while containers cannot start: Pending, scheduled, each container waiting.

        ``waiting`` is the state of the containers using ``image``; the others (all of them without an image) are ContainerCreating.
        """
        now = now_rfc3339()
        old = pod.get("status") or {}
        conditions = old.get("conditions")
        unready = "containers with unready status: [%s]" % " ".join(container.get("name") for container in pod["spec"].get("containers") or [])
        status = {
            "phase": "Pending",
            "conditions": [probed_condition(conditions, "PodReadyToStartContainers", "False"),
                           probed_condition(conditions, "Initialized", "True"),
                           probed_condition(conditions, "Ready", "False", "ContainersNotReady", unready),
                           probed_condition(conditions, "ContainersReady", "False", "ContainersNotReady", unready),
                           probed_condition(conditions, "PodScheduled", "True")],
            "hostIP": self._host_ip(pod), "hostIPs": [{"ip": self._host_ip(pod)}], "startTime": old.get("startTime") or now,
            "qosClass": old.get("qosClass", "BestEffort"),
            "containerStatuses": [{"name": container.get("name"), "image": _normalized_image(container.get("image")), "imageID": "",
                                   "lastState": {}, "ready": False, "restartCount": 0, "started": False,
                                   "state": {"waiting": waiting if image and _normalized_image(container.get("image")) == image
                                             else {"reason": "ContainerCreating"}}} for container in pod["spec"].get("containers") or []],
        }
        self.write_status(PODS, pod, status)

    def _unbound_claim_problem(self, pod, node_name):
        """Why the pod cannot start yet because of its PersistentVolumeClaims, or None."""
        namespace = meta(pod)["namespace"]
        for claim_name in self._claim_names(pod):
            claim = self.find(PVCS, namespace, claim_name)
            if claim is None:
                return 'persistentvolumeclaim "%s" not found' % claim_name
            if (claim.get("status") or {}).get("phase") == "Bound":
                continue
            storage_class = self.find(STORAGE_CLASSES, None, storage_class_of(claim))
            if (storage_class or {}).get("volumeBindingMode") == "WaitForFirstConsumer":
                if SELECTED_NODE_ANNOTATION not in (meta(claim).get("annotations") or {}):
                    claim["metadata"].setdefault("annotations", {})[SELECTED_NODE_ANNOTATION] = node_name
                    self.update(PVCS, claim)
                return "waiting for volume binding"
            return "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        return None

    def _start(self, key, pod):
        now = now_rfc3339()
        spec = pod["spec"]
        old_status = pod.get("status") or {}
        host_ip = self._host_ip(pod)
        pod_ip = host_ip if spec.get("hostNetwork") else self._next_pod_ip()
        conditions = [{"type": condition_type, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                      for condition_type in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
        status = {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "startTime": now,
            "qosClass": old_status.get("qosClass", "BestEffort"),
            "containerStatuses": [self._container_status(pod, container, {"running": {"startedAt": now}}, True)
                                  for container in spec.get("containers") or []],
        }
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [self._container_status(pod, container, self._terminated(pod, container, now), False)
                                               for container in spec["initContainers"]]
        self.write_status(PODS, pod, status)
        if self._is_job_pod(pod):
            self._running_since[meta(pod)["uid"]] = time.monotonic()
            self.requeue_after(key, JOB_POD_RUNTIME_SECONDS)

    def _finish_job_pod(self, key, pod):
        started = self._running_since.setdefault(meta(pod)["uid"], time.monotonic())
        remaining = started + JOB_POD_RUNTIME_SECONDS - time.monotonic()
        if remaining > 0:
            self.requeue_after(key, remaining)
            return
        now = now_rfc3339()
        status = copy.deepcopy(pod["status"])
        conditions = status.get("conditions") or []
        status["phase"] = "Succeeded"
        status["conditions"] = [
            probed_condition(conditions, "PodReadyToStartContainers", "False"),
            probed_condition(conditions, "Initialized", "True", "PodCompleted"),
            probed_condition(conditions, "Ready", "False", "PodCompleted"),
            probed_condition(conditions, "ContainersReady", "False", "PodCompleted"),
            probed_condition(conditions, "PodScheduled", "True"),
        ]
        status["containerStatuses"] = [self._container_status(pod, container, self._terminated(pod, container, now), False)
                                       for container in pod["spec"].get("containers") or []]
        self._running_since.pop(meta(pod)["uid"], None)
        self.write_status(PODS, pod, status)

    @staticmethod
    def _container_id(pod, container):
        return "containerd://" + hashlib.sha256((meta(pod)["uid"] + container.get("name", "")).encode()).hexdigest()

    def _terminated(self, pod, container, now):
        started = (pod.get("status") or {}).get("startTime") or now
        return {"terminated": {"containerID": self._container_id(pod, container), "exitCode": 0, "reason": "Completed",
                               "startedAt": started, "finishedAt": now}}

    def _container_status(self, pod, container, state, running):
        image = _normalized_image(container.get("image"))
        digest = hashlib.sha256(image.encode()).hexdigest()
        return {"containerID": self._container_id(pod, container), "image": image,
                "imageID": "%s@sha256:%s" % (image.rsplit(":", 1)[0] if "@" not in image else image.split("@")[0], digest),
                "lastState": {}, "name": container.get("name"), "ready": running, "restartCount": 0, "started": running,
                "state": state}

    def _next_pod_ip(self):
        number = next(self._addresses) % (254 * 256)
        return "%s.%d.%d" % (POD_CIDR_PREFIX, number // 254, number % 254 + 1)

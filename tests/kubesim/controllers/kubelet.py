"""The scheduler and the kubelet: bind pods to a node once their claims are bound, then run them."""

import copy
import hashlib
import itertools
import time

from kubesim.controllers.common import (
    NODES, PODS, PVCS, SELECTED_NODE_ANNOTATION, STORAGE_CLASSES, affinity_node_name, Controller, controller_of, is_deleting, labels_of,
    probed_condition, meta, namespace_and_name, storage_class_of)
from kubesim.store import now_rfc3339


HOST_IP = "172.18.0.2"
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

    def keys_for(self, group_resource, event_type, obj, old):
        if group_resource == PODS:
            if event_type == "DELETED":
                self._running_since.pop(meta(obj).get("uid"), None)
                return []
            return [namespace_and_name(obj)]
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
        elif self._unbound_claim_problem(pod, pod["spec"]["nodeName"]) is None:
            self._start(key, pod)

    @staticmethod
    def _is_job_pod(pod):
        return (controller_of(pod) or {}).get("kind") == "Job"

    def _schedule(self, pod):
        node_name = self._pick_node(pod)
        problem = "0/%d nodes are available: 1 node(s) didn't match Pod's node affinity/selector." % len(self.objects(NODES))
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
        spec = pod.get("spec") or {}
        node_selector = spec.get("nodeSelector") or {}
        pinned = affinity_node_name(pod)
        for node in self.objects(NODES):
            if (node.get("spec") or {}).get("unschedulable") or is_deleting(node):
                continue
            if pinned and meta(node)["name"] != pinned:
                continue
            if node_selector.items() <= labels_of(node).items():
                return meta(node)["name"]
        return None

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
        pod_ip = HOST_IP if spec.get("hostNetwork") else self._next_pod_ip()
        conditions = [{"type": condition_type, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                      for condition_type in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
        status = {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}],
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

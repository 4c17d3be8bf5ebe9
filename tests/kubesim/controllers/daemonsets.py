"""DaemonSet controller: one pod per eligible Node."""

import collections
import copy

from kubesim.controllers.common import (
    DAEMON_SETS, NODES, PODS, affinity_node_name, controller_of, is_deleting, labels_of, meta, pod_ready, PodOwnerController, without_zeros)
from kubesim.controllers.statefulsets import current_revision


_DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


class DaemonSetController(PodOwnerController):
    """One pod per eligible Node, pinned by node affinity on metadata.name as upstream does."""

    name = "daemonset"
    primary = DAEMON_SETS
    kind = "DaemonSet"

    @property
    def watches(self):
        return (DAEMON_SETS, PODS, NODES)

    def keys_for(self, group_resource, event_type, obj, old):
        if group_resource == NODES:
            return self.resync_keys()
        return super().keys_for(group_resource, event_type, obj, old)

    def reconcile(self, key):
        daemon_set = self.find(DAEMON_SETS, *key)
        if daemon_set is None or is_deleting(daemon_set):
            return
        _revision, revision_hash = current_revision(self, daemon_set)
        nodes = self._eligible_nodes(daemon_set)
        by_node = collections.defaultdict(list)
        for pod in self.claim_pods(daemon_set):
            if not is_deleting(pod):
                by_node[self._target_node(pod)].append(pod)
        for node_name in nodes:
            pods = by_node.get(node_name) or []
            outdated = [pod for pod in pods if labels_of(pod).get("controller-revision-hash") != revision_hash]
            if outdated and all(pod_ready(pod) for pod in pods):
                for pod in outdated:
                    self.delete(PODS, pod)  # RollingUpdate: the replacement follows on the DELETED event
            if not pods:
                self._create_pod(daemon_set, node_name, revision_hash)
        for node_name, pods in by_node.items():
            if node_name not in nodes:
                for pod in pods:
                    self.delete(PODS, pod)
        self.write_status(DAEMON_SETS, daemon_set, self._status(daemon_set, nodes, revision_hash))

    def _eligible_nodes(self, daemon_set):
        node_selector = ((daemon_set["spec"].get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
        return [meta(node)["name"] for node in self.objects(NODES)
                if node_selector.items() <= labels_of(node).items() and not is_deleting(node)]

    @staticmethod
    def _target_node(pod):
        spec = pod.get("spec") or {}
        if spec.get("nodeName"):
            return spec["nodeName"]
        return affinity_node_name(pod)

    def _create_pod(self, daemon_set, node_name, revision_hash):
        template = daemon_set["spec"].get("template") or {}
        template_spec = template.get("spec") or {}
        tolerations = copy.deepcopy(template_spec.get("tolerations") or [])
        tolerations.extend(toleration for toleration in _DAEMON_TOLERATIONS if toleration not in tolerations)
        affinity = copy.deepcopy(template_spec.get("affinity") or {})
        affinity.setdefault("nodeAffinity", {})["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
        labels = {"controller-revision-hash": revision_hash, "pod-template-generation": str(meta(daemon_set).get("generation", 1))}
        self.new_pod(daemon_set, template, extra_labels=labels, spec_changes={"tolerations": tolerations, "affinity": affinity})

    def _status(self, daemon_set, nodes, revision_hash):
        uid = meta(daemon_set)["uid"]
        pods = [pod for pod in self.objects(PODS, meta(daemon_set)["namespace"])
                if (controller_of(pod) or {}).get("uid") == uid and not is_deleting(pod)]
        scheduled = {self._target_node(pod) for pod in pods} & set(nodes)
        ready = sum(1 for pod in pods if pod_ready(pod))
        status = {
            "currentNumberScheduled": len(scheduled),
            "desiredNumberScheduled": len(nodes),
            "numberMisscheduled": len({self._target_node(pod) for pod in pods} - set(nodes)),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": max(len(nodes) - ready, 0),
            "updatedNumberScheduled": sum(1 for pod in pods if labels_of(pod).get("controller-revision-hash") == revision_hash),
            "observedGeneration": meta(daemon_set).get("generation", 1),
        }
        return without_zeros(status, ("numberAvailable", "numberUnavailable", "updatedNumberScheduled", "observedGeneration"))

"""ReplicaSet and Deployment controllers: pods from a template, and one ReplicaSet per Deployment template."""

import copy
import decimal

from kubesim import errors
from kubesim.controllers.common import (
    DEPLOYMENTS, PODS, REPLICA_SETS, Controller, controller_of, controller_ref, is_deleting, labels_of, progress_condition, meta, namespace_and_name,
    pod_active, pod_ready, PodOwnerController, selector_of, template_hash, without_zeros)


REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


class ReplicaSetController(PodOwnerController):
    """spec.replicas pods from the template, adopting matching orphans; extra pods deleted least useful first."""

    name = "replicaset"
    primary = REPLICA_SETS
    kind = "ReplicaSet"

    def reconcile(self, key):
        replica_set = self.find(REPLICA_SETS, *key)
        if replica_set is None or is_deleting(replica_set):
            return
        spec = replica_set.get("spec") or {}
        wanted = spec.get("replicas", 1)
        active = [pod for pod in self.claim_pods(replica_set) if pod_active(pod)]
        template = spec.get("template") or {}
        for _ in range(wanted - len(active)):
            self.new_pod(replica_set, template)
        if len(active) > wanted:
            # Upstream deletes the least useful first: unscheduled, then not ready, then the newest.
            newest_first = sorted(active, key=lambda pod: meta(pod).get("creationTimestamp", ""), reverse=True)
            ranked = sorted(newest_first, key=lambda pod: (bool((pod.get("spec") or {}).get("nodeName")), pod_ready(pod)))
            for pod in ranked[:len(active) - wanted]:
                self.delete(PODS, pod)
        self.write_status(REPLICA_SETS, replica_set, self._status(replica_set))

    def _status(self, replica_set):
        uid = meta(replica_set)["uid"]
        pods = [pod for pod in self.objects(PODS, meta(replica_set)["namespace"])
                if (controller_of(pod) or {}).get("uid") == uid and pod_active(pod)]
        template_labels = ((replica_set["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = sum(1 for pod in pods if pod_ready(pod))
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(1 for pod in pods if template_labels.items() <= labels_of(pod).items()),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": meta(replica_set).get("generation", 1),
        }
        return without_zeros(status, ("fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"))


class DeploymentController(Controller):
    """One ReplicaSet per pod template; a template change rolls to a new one and scales the old ones to 0 at once."""

    name = "deployment"
    watches = (DEPLOYMENTS, REPLICA_SETS)

    def keys_for(self, group_resource, event_type, obj, old):
        if group_resource == DEPLOYMENTS:
            return [namespace_and_name(obj)]
        keys = []
        for replica_set in (obj, old):
            ref = controller_of(replica_set) if replica_set else None
            if ref and ref.get("kind") == "Deployment":
                keys.append((meta(replica_set).get("namespace", ""), ref["name"]))
        if event_type != "DELETED" and controller_of(obj) is None:
            namespace = meta(obj).get("namespace")
            keys.extend((namespace, meta(deployment)["name"]) for deployment in self.objects(DEPLOYMENTS, namespace)
                        if selector_of(deployment) is not None and selector_of(deployment).matches(labels_of(obj)))
        return keys

    def resync_keys(self):
        return [namespace_and_name(obj) for obj in self.objects(DEPLOYMENTS)]

    def reconcile(self, key):
        deployment = self.find(DEPLOYMENTS, *key)
        if deployment is None or is_deleting(deployment):
            return
        replica_sets = self._claim_replica_sets(deployment)
        template = deployment["spec"].get("template") or {}
        current = next((rs for rs in replica_sets if self._template_without_hash(rs) == template), None)
        revisions = [int(meta(rs).get("annotations", {}).get(REVISION_ANNOTATION, "0") or 0) for rs in replica_sets]
        next_revision = str(max(revisions + [0]) + 1)
        wanted = deployment["spec"].get("replicas", 1)
        if current is None and deployment["spec"].get("paused"):
            # Paused: a changed template is not rolled out; the ReplicaSets stay as they are.
            newest = max(replica_sets, key=lambda rs: int(meta(rs).get("annotations", {}).get(REVISION_ANNOTATION, "0") or 0), default=None)
            self.write_status(DEPLOYMENTS, deployment, self._status(deployment, newest))
            return
        if current is None:
            current = self._create_replica_set(deployment, template, next_revision)
            if current is None:
                return
            replica_sets.append(current)
        else:
            current = self._sync_replica_set(current, wanted, next_revision, deployment, revisions)
        for replica_set in replica_sets:
            if replica_set is not current and replica_set["spec"].get("replicas", 1) != 0:
                scaled = copy.deepcopy(replica_set)
                scaled["spec"]["replicas"] = 0
                self.update(REPLICA_SETS, scaled)
        revision = meta(current).get("annotations", {}).get(REVISION_ANNOTATION)
        if (meta(deployment).get("annotations") or {}).get(REVISION_ANNOTATION) != revision:
            annotated = copy.deepcopy(deployment)
            annotated["metadata"].setdefault("annotations", {})[REVISION_ANNOTATION] = revision
            deployment = self.update(DEPLOYMENTS, annotated)
        self.write_status(DEPLOYMENTS, deployment, self._status(deployment, current))

    def _claim_replica_sets(self, deployment):
        namespace, uid = meta(deployment)["namespace"], meta(deployment)["uid"]
        selector = selector_of(deployment)
        owned = []
        for replica_set in self.objects(REPLICA_SETS, namespace):
            ref = controller_of(replica_set)
            if ref is not None:
                if ref.get("uid") == uid:
                    owned.append(copy.deepcopy(replica_set))
            elif selector is not None and not is_deleting(replica_set) and selector.matches(labels_of(replica_set)):
                adopted = copy.deepcopy(replica_set)
                adopted["metadata"].setdefault("ownerReferences", []).append(controller_ref(deployment))
                owned.append(self.update(REPLICA_SETS, adopted))
        return owned

    @staticmethod
    def _template_without_hash(replica_set):
        template = copy.deepcopy(replica_set["spec"].get("template") or {})
        labels = (template.get("metadata") or {}).get("labels")
        if labels is not None:
            labels.pop("pod-template-hash", None)
        return template

    def _create_replica_set(self, deployment, template, revision):
        metadata = meta(deployment)
        collision_count = (deployment.get("status") or {}).get("collisionCount")
        pod_hash = template_hash(template, collision_count)
        name = "%s-%s" % (metadata["name"], pod_hash)
        pod_template = copy.deepcopy(template)
        pod_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
        selector = copy.deepcopy(deployment["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        replicas = deployment["spec"].get("replicas", 1)
        body = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": name, "namespace": metadata["namespace"], "labels": dict(pod_template["metadata"]["labels"]),
                "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                "deployment.kubernetes.io/max-replicas": str(replicas + self._max_surge(deployment, replicas)),
                                REVISION_ANNOTATION: revision},
                "ownerReferences": [controller_ref(deployment)],
            },
            "spec": {"replicas": replicas, "minReadySeconds": deployment["spec"].get("minReadySeconds", 0),
                     "selector": selector, "template": pod_template},
        }
        try:
            return self.create(REPLICA_SETS, metadata["namespace"], body)
        except errors.ApiError as error:
            if error.reason != "AlreadyExists":
                raise
        # A ReplicaSet of that name that is not this template's: hash again with a bumped collisionCount.
        status = copy.deepcopy(deployment.get("status") or {})
        status["collisionCount"] = (collision_count or 0) + 1
        self.write_status(DEPLOYMENTS, deployment, status)
        return None

    def _sync_replica_set(self, replica_set, wanted, next_revision, deployment, revisions):
        changed = copy.deepcopy(replica_set)
        annotations = changed["metadata"].setdefault("annotations", {})
        if int(annotations.get(REVISION_ANNOTATION, "0") or 0) < max(revisions + [0]):
            annotations[REVISION_ANNOTATION] = next_revision  # a rollback to this template makes it the newest revision
        annotations["deployment.kubernetes.io/desired-replicas"] = str(wanted)
        annotations["deployment.kubernetes.io/max-replicas"] = str(wanted + self._max_surge(deployment, wanted))
        changed["spec"]["replicas"] = wanted
        return self.update(REPLICA_SETS, changed) if changed != replica_set else replica_set

    @staticmethod
    def _rolling_value(deployment, field, replicas, round_up):
        strategy = deployment["spec"].get("strategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return 0
        value = (strategy.get("rollingUpdate") or {}).get(field, "25%")
        if isinstance(value, str) and value.endswith("%"):
            scaled = decimal.Decimal(int(value[:-1]) * replicas) / 100
            return int(scaled.to_integral_value(rounding=decimal.ROUND_CEILING if round_up else decimal.ROUND_FLOOR))
        return int(value)

    def _max_surge(self, deployment, replicas):
        return self._rolling_value(deployment, "maxSurge", replicas, round_up=True)

    @staticmethod
    def _conditions(old_conditions, minimum_available, complete, replica_set_name, paused=False):
        if minimum_available:
            available = progress_condition(old_conditions, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available = progress_condition(old_conditions, "Available", "False", "MinimumReplicasUnavailable",
                                           "Deployment does not have minimum availability.")
        timed_out = any(c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded" for c in old_conditions or [])
        if paused and not timed_out:
            # checkPausedConditions: a paused Deployment reports Progressing Unknown, never overwriting a timeout.
            progressing = progress_condition(old_conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif complete:
            progressing = progress_condition(old_conditions, "Progressing", "True", "NewReplicaSetAvailable",
                                             'ReplicaSet "%s" has successfully progressed.' % replica_set_name)
        else:
            progressing = progress_condition(old_conditions, "Progressing", "True", "ReplicaSetUpdated",
                                             'ReplicaSet "%s" is progressing.' % replica_set_name)
        return [available, progressing]

    def _status(self, deployment, current):
        uid = meta(deployment)["uid"]
        replica_sets = [rs for rs in self.objects(REPLICA_SETS, meta(deployment)["namespace"]) if (controller_of(rs) or {}).get("uid") == uid]
        if current is not None:
            current = next((rs for rs in replica_sets if meta(rs)["uid"] == meta(current)["uid"]), current)

        def total(field, sets=replica_sets):
            return sum((rs.get("status") or {}).get(field, 0) for rs in sets)
        wanted = deployment["spec"].get("replicas", 1)
        available = total("availableReplicas")
        updated = total("replicas", [current] if current is not None else [])
        old_status = deployment.get("status") or {}
        minimum_available = available >= wanted - self._rolling_value(deployment, "maxUnavailable", wanted, round_up=False)
        complete = current is not None and updated == wanted and total("availableReplicas", [current]) == wanted and total("replicas") == wanted
        status = {
            "observedGeneration": meta(deployment).get("generation", 1),
            "replicas": total("replicas"),
            "updatedReplicas": updated,
            "readyReplicas": total("readyReplicas"),
            "availableReplicas": available,
            "unavailableReplicas": max(sum(rs["spec"].get("replicas", 1) for rs in replica_sets) - available, 0),
            "conditions": self._conditions(old_status.get("conditions"), minimum_available, complete, meta(current or deployment)["name"],
                                           paused=bool(deployment["spec"].get("paused"))),
        }
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        return without_zeros(status, ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"))

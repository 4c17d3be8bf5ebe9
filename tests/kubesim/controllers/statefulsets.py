"""StatefulSet controller and the ControllerRevision history it shares with DaemonSets."""

import copy

from kubesim.controllers.common import (
    CONTROLLER_REVISIONS, PODS, PVCS, STATEFUL_SETS, controller_of, controller_ref, is_deleting, labels_of, meta, pod_ready, PodOwnerController,
    template_hash, without_zeros)


def current_revision(controller, owner):
    """(revision name, hash) of a StatefulSet's or DaemonSet's template; its ControllerRevision created or renumbered.

    ControllerRevisions are named ``<owner>-<hash>`` as upstream names them.
    """
    template = owner["spec"].get("template") or {}
    revision_hash = template_hash(template, (owner.get("status") or {}).get("collisionCount"))
    name = "%s-%s" % (meta(owner)["name"], revision_hash)
    namespace, uid = meta(owner)["namespace"], meta(owner)["uid"]
    owned = [rev for rev in controller.objects(CONTROLLER_REVISIONS, namespace) if (controller_of(rev) or {}).get("uid") == uid]
    newest = max([rev.get("revision", 0) for rev in owned] + [0])
    existing = next((rev for rev in owned if meta(rev)["name"] == name), None)
    if existing is None:
        labels = dict((template.get("metadata") or {}).get("labels") or {}, **{"controller.kubernetes.io/hash": revision_hash})
        controller.create(CONTROLLER_REVISIONS, namespace, {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [controller_ref(owner)]},
            "data": {"spec": {"template": dict(copy.deepcopy(template), **{"$patch": "replace"})}},
            "revision": newest + 1,
        })
    elif existing.get("revision", 0) < newest:
        renumbered = copy.deepcopy(existing)
        renumbered["revision"] = newest + 1  # going back to an old template makes its revision the newest
        controller.update(CONTROLLER_REVISIONS, renumbered)
    return name, revision_hash


class StatefulSetController(PodOwnerController):
    """Ordinal pods and their PersistentVolumeClaims, OrderedReady or Parallel, rolling updates from the top."""

    name = "statefulset"
    primary = STATEFUL_SETS
    kind = "StatefulSet"

    def reconcile(self, key):
        stateful_set = self.find(STATEFUL_SETS, *key)
        if stateful_set is None or is_deleting(stateful_set):
            return
        spec = stateful_set["spec"]
        set_name = meta(stateful_set)["name"]
        update_revision, _hash = current_revision(self, stateful_set)
        pods = {meta(pod)["name"]: pod for pod in self.claim_pods(stateful_set) if not is_deleting(pod)}
        wanted = spec.get("replicas", 1)
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        for ordinal in range(wanted):
            pod_name = "%s-%d" % (set_name, ordinal)
            if pod_name in pods:
                if ordered and not pod_ready(pods[pod_name]):
                    break
                continue
            self._ensure_claims(stateful_set, ordinal)
            pods[pod_name] = self._create_pod(stateful_set, ordinal, update_revision)
            if ordered:
                break
        for pod_name, pod in sorted(pods.items(), key=lambda item: -self._ordinal(item[0])):
            if self._ordinal(pod_name) >= wanted:
                self.delete(PODS, pod)
                del pods[pod_name]
                if ordered:
                    break
        self._roll(stateful_set, pods, update_revision)
        self.write_status(STATEFUL_SETS, stateful_set, self._status(stateful_set, update_revision))

    @staticmethod
    def _ordinal(pod_name):
        return int(pod_name.rsplit("-", 1)[1]) if pod_name.rsplit("-", 1)[-1].isdigit() else -1

    def _ensure_claims(self, stateful_set, ordinal):
        spec = stateful_set["spec"]
        namespace, set_name = meta(stateful_set)["namespace"], meta(stateful_set)["name"]
        retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        selector_labels = (spec.get("selector") or {}).get("matchLabels") or {}
        for claim_template in spec.get("volumeClaimTemplates") or []:
            template_meta = claim_template.get("metadata") or {}
            claim_name = "%s-%s-%d" % (template_meta.get("name"), set_name, ordinal)
            if self.find(PVCS, namespace, claim_name) is not None:
                continue
            metadata = {"name": claim_name, "namespace": namespace,
                        "labels": dict(template_meta.get("labels") or {}, **selector_labels)}
            if template_meta.get("annotations"):
                metadata["annotations"] = dict(template_meta["annotations"])
            if retention.get("whenDeleted") == "Delete":
                metadata["ownerReferences"] = [controller_ref(stateful_set)]
            self.create(PVCS, namespace, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
                                          "spec": copy.deepcopy(claim_template.get("spec") or {})})

    def _create_pod(self, stateful_set, ordinal, revision):
        spec = stateful_set["spec"]
        set_name = meta(stateful_set)["name"]
        pod_name = "%s-%d" % (set_name, ordinal)
        template = spec.get("template") or {}
        claim_volumes = [{"name": (claim.get("metadata") or {}).get("name"), "persistentVolumeClaim": {
            "claimName": "%s-%s-%d" % ((claim.get("metadata") or {}).get("name"), set_name, ordinal)}}
            for claim in spec.get("volumeClaimTemplates") or []]
        claim_names = {volume["name"] for volume in claim_volumes}
        volumes = [volume for volume in (template.get("spec") or {}).get("volumes") or [] if volume.get("name") not in claim_names]
        changes = {"hostname": pod_name, "volumes": claim_volumes + copy.deepcopy(volumes)}
        if spec.get("serviceName"):
            changes["subdomain"] = spec["serviceName"]
        if not changes["volumes"]:
            del changes["volumes"]
        labels = {"statefulset.kubernetes.io/pod-name": pod_name, "apps.kubernetes.io/pod-index": str(ordinal),
                  "controller-revision-hash": revision}
        return self.new_pod(stateful_set, template, name=pod_name, extra_labels=labels, spec_changes=changes)

    def _roll(self, stateful_set, pods, update_revision):
        """RollingUpdate: replace the highest-ordinal outdated pod once every pod is ready."""
        strategy = stateful_set["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" or not all(pod_ready(pod) for pod in pods.values()):
            return
        partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
        outdated = [name for name, pod in pods.items()
                    if labels_of(pod).get("controller-revision-hash") != update_revision and self._ordinal(name) >= partition]
        if outdated:
            self.delete(PODS, pods[max(outdated, key=self._ordinal)])

    def _status(self, stateful_set, update_revision):
        uid = meta(stateful_set)["uid"]
        pods = [pod for pod in self.objects(PODS, meta(stateful_set)["namespace"])
                if (controller_of(pod) or {}).get("uid") == uid and not is_deleting(pod)]
        old_status = stateful_set.get("status") or {}
        current = old_status.get("currentRevision") or update_revision
        updated = sum(1 for pod in pods if labels_of(pod).get("controller-revision-hash") == update_revision)
        wanted = stateful_set["spec"].get("replicas", 1)
        if updated == wanted == len(pods):
            current = update_revision
        ready = sum(1 for pod in pods if pod_ready(pod))
        status = {
            "observedGeneration": meta(stateful_set).get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": ready,
            "currentReplicas": sum(1 for pod in pods if labels_of(pod).get("controller-revision-hash") == current),
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": current,
            "updateRevision": update_revision,
            "collisionCount": old_status.get("collisionCount", 0),
        }
        return without_zeros(status, ("readyReplicas", "currentReplicas", "updatedReplicas"))


# What the DaemonSet controller adds to every pod so node conditions do not evict it.

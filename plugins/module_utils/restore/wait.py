# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait after a restore: workloads ready, claims bound, jobs running, CRDs served.

Every pending target is read again every half second (a few GETs at a time)
until it is ready, has failed for good, or the overall timeout passes. The
answer says, per object, whether it became ready, how long it took, and if
not, what state it was left in. A Job counts once it runs (its end may be
hours away); a suspended Job is not waited for at all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError

POLL_SECONDS = 0.5
POLL_THREADS = 8

# group resource -> (API path prefix, plural, kind)
WAITABLE = {
    "deployments.apps": ("/apis/apps/v1", "deployments", "Deployment"),
    "statefulsets.apps": ("/apis/apps/v1", "statefulsets", "StatefulSet"),
    "daemonsets.apps": ("/apis/apps/v1", "daemonsets", "DaemonSet"),
    "persistentvolumeclaims": ("/api/v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    "jobs.batch": ("/apis/batch/v1", "jobs", "Job"),
}


def is_waitable(group_resource):
    """Whether wait_for knows when objects of this group resource are ready."""
    return group_resource in WAITABLE


class _Failed(Exception):
    """The object reached a state it will not recover from (a failed Job): stop waiting for it."""


class _NotWaited(Exception):
    """Nothing to wait for, by the object's own spec (a suspended Job): reported as skipped, not as a failure."""


# _poll's answer for an object that is not waited for (ready and skipped in the report).
SKIPPED = "skipped"


def _conditions(obj):
    return dict((item.get("type"), item) for item in (obj.get("status") or {}).get("conditions") or () if isinstance(item, dict))


def _observed(obj):
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or (observed is not None and observed >= generation)


def _deployment_state(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = spec.get("replicas", 1)
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    progressing = _conditions(obj).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        raise _Failed("rollout stuck: %s" % (progressing.get("message") or "progress deadline exceeded"))
    ready = _observed(obj) and updated == available == wanted
    return ready, "%d of %d replicas available, %d updated%s" % (
        available, wanted, updated, "" if _observed(obj) else ", the controller has not seen the latest spec")


def _statefulset_state(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = spec.get("replicas", 1)
    ready_replicas, updated = status.get("readyReplicas", 0), status.get("updatedReplicas", 0)
    revisions_match = status.get("currentRevision") and status.get("currentRevision") == status.get("updateRevision")
    ready = _observed(obj) and ready_replicas == wanted and (revisions_match or updated == wanted)
    return ready, "%d of %d replicas ready, %d updated" % (ready_replicas, wanted, updated)


def _daemonset_state(obj):
    status = obj.get("status") or {}
    desired, number_ready = status.get("desiredNumberScheduled"), status.get("numberReady", 0)
    if desired is None:
        return False, "the controller has not scheduled it yet"
    return _observed(obj) and number_ready == desired, "%d of %d pods ready" % (number_ready, desired)


def _claim_state(obj):
    phase = (obj.get("status") or {}).get("phase") or "Pending"
    if phase == "Lost":
        raise _Failed("phase Lost: its PersistentVolume %s is gone" % ((obj.get("spec") or {}).get("volumeName") or ""))
    if phase == "Bound":
        return True, "Bound"
    class_name = (obj.get("spec") or {}).get("storageClassName")
    hint = " (storage class %s)" % class_name if class_name else " (no storage class; needs a matching PersistentVolume)"
    return False, "phase %s%s" % (phase, hint)


def _job_state(obj):
    """A Job has recovered once it runs (a pod running or one succeeded) or has completed, not when it finishes."""
    conditions = _conditions(obj)
    failed = conditions.get("Failed") or {}
    if failed.get("status") == "True":
        raise _Failed("failed: %s" % (failed.get("message") or failed.get("reason") or "the Job failed"))
    status = obj.get("status") or {}
    if (conditions.get("Complete") or {}).get("status") == "True":
        return True, "complete"
    if (obj.get("spec") or {}).get("suspend"):
        raise _NotWaited("suspended (spec.suspend is true): no pod runs until it is resumed, not waited for")
    active, succeeded, failed_pods = status.get("active", 0), status.get("succeeded", 0), status.get("failed", 0)
    # "active" counts pending pods too (unschedulable ones, images still pulling); "ready" (Kubernetes 1.24+) counts
    # the running ones, so "active" alone is trusted only where the API server does not report "ready".
    running = status.get("ready") if "ready" in status else active
    if running or succeeded:
        return True, "running: %d active, %d succeeded" % (active, succeeded)
    details = ["%d pending" % active] if active else []
    details += ["%d failed" % failed_pods] if failed_pods else []
    return False, "no pod started" + (" (%s)" % ", ".join(details) if details else "")


STATES = {
    "Deployment": _deployment_state,
    "StatefulSet": _statefulset_state,
    "DaemonSet": _daemonset_state,
    "PersistentVolumeClaim": _claim_state,
    "Job": _job_state,
}


def _target_path(target):
    prefix, plural, _kind = WAITABLE[target["group_resource"]]
    return "%s/namespaces/%s/%s/%s" % (prefix, target["namespace"], plural, target["name"])


def _poll(client, target):
    """(ready, reason, final): one look at the target; ready is SKIPPED for an object not waited for."""
    kind = WAITABLE[target["group_resource"]][2]
    try:
        obj = client.request("GET", _target_path(target))
    except ApiError as error:
        if error.status == 404:
            return False, "not found", False
        return False, "cannot read it: %s" % error, False
    try:
        ready, reason = STATES[kind](obj)
    except _Failed as failure:
        return False, str(failure), True
    except _NotWaited as not_waited:
        return SKIPPED, str(not_waited), True
    return ready, reason, ready


def _poll_until(targets, look, timeout_seconds, describe_timeout, progress=None):
    """Look at every pending target each round (a few at a time) until each is final or time is up.

    ``progress(done, total, pending)``, when given, hears after the first round and each round that finished
    a target which targets are left, each as (target, last reason), so that a long wait says what it waits for.
    """
    started = time.monotonic()
    deadline = started + max(float(timeout_seconds), 0.0)
    results = [None] * len(targets)
    last = [(False, "not checked yet")] * len(targets)
    pending = list(range(len(targets)))
    first_round = True
    with ThreadPoolExecutor(max_workers=max(1, min(POLL_THREADS, len(targets)))) as pool:
        while pending:
            round_started = time.monotonic()
            answers = list(pool.map(lambda index: look(targets[index]), pending))
            still = []
            for index, (ready, reason, final) in zip(pending, answers):
                if final:
                    results[index] = (ready, reason, time.monotonic() - started)
                else:
                    last[index] = (ready, reason)
                    still.append(index)
            if progress is not None and (len(still) < len(pending) or first_round):
                progress(len(targets) - len(still), len(targets), [(targets[index], last[index][1]) for index in still])
            pending, first_round = still, False
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(max(0.0, min(POLL_SECONDS - (time.monotonic() - round_started), deadline - time.monotonic())))
    waited = time.monotonic() - started
    for index in pending:
        results[index] = (False, describe_timeout(last[index][1], waited), waited)
    return results


def describe_pending(pending, shown=5):
    """``Deployment shop/web: 1 of 3 replicas available; ...`` for the first ``shown`` of (target, reason) pairs, then a count."""
    parts = ["%s %s: %s" % (WAITABLE[target["group_resource"]][2], "/".join(part for part in (target.get("namespace"), target["name"]) if part),
                            reason) for target, reason in pending[:shown]]
    if len(pending) > shown:
        parts.append("... and %d more" % (len(pending) - shown))
    return "; ".join(parts)


def wait_for(client, targets, timeout_seconds, progress=None):
    """Wait until each target (dicts or Decisions with group_resource, namespace, name) is ready.

    Only waitable kinds (Deployments, StatefulSets, DaemonSets, PVCs, Jobs) are waited for;
    others are left out of the answer. Returns, in the targets' order, a list of
    {kind, group_resource, namespace, name, ready, skipped, reason, seconds}: reason says why an
    object is not ready (e.g. "not ready after 300s: 1 of 3 replicas available, 1 updated"), or why
    it was skipped (ready and skipped: a suspended Job); it is None for a ready object.
    ``progress(ready, total, pending)``: see ``_poll_until``.
    """
    targets = [target for target in targets if is_waitable(target.get("group_resource"))]
    if not targets:
        return []
    results = _poll_until(targets, lambda target: _poll(client, target), timeout_seconds,
                          lambda reason, waited: "not ready after %gs: %s" % (max(float(timeout_seconds), 0.0), reason), progress)
    report = []
    for target, (ready, reason, seconds) in zip(targets, results):
        skipped = ready == SKIPPED
        report.append({"kind": WAITABLE[target["group_resource"]][2], "group_resource": target["group_resource"],
                       "namespace": target.get("namespace"), "name": target["name"], "ready": bool(ready), "skipped": skipped,
                       "reason": reason if skipped or not ready else None, "seconds": round(seconds, 2)})
    return report


# ------------------------------------------------------------------ CRDs

def _crd_identity(crd):
    """(name, group, plural, served versions) of a CRD object or of a name like "widgets.example.com"."""
    if isinstance(crd, str):
        return crd, None, None, None
    spec = crd.get("spec") or {}
    versions = [item.get("name") for item in spec.get("versions") or () if item.get("served", True) and item.get("name")]
    if not versions and spec.get("version"):
        versions = [spec["version"]]  # apiextensions.k8s.io/v1beta1
    plural = (spec.get("names") or {}).get("plural")
    return (crd.get("metadata") or {}).get("name") or "%s.%s" % (plural, spec.get("group")), spec.get("group"), plural, versions


def _crd_served(client, crd):
    name, group, plural, versions = _crd_identity(crd)
    if not versions:
        try:
            live = client.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s" % name)
        except ApiError as error:
            if error.status == 404:
                return False, "the CustomResourceDefinition does not exist", False
            return False, "cannot read the CustomResourceDefinition: %s" % error, False
        name, group, plural, versions = _crd_identity(live)
        if not versions:
            return False, "it serves no version", False
    for version in versions:
        # Discovery, which every authenticated user may read: a LIST would need the right to list the resource
        # cluster-wide, and the API server answers 403 before it knows whether the resource is served.
        try:
            document = client.request("GET", "/apis/%s/%s" % (group, version))
        except ApiError as error:
            if error.status in (404, 503):
                return False, "%s/%s %s not served yet" % (group, version, plural), False
            return False, "cannot read the discovery of %s/%s: %s" % (group, version, error), False
        if plural not in {item.get("name") for item in document.get("resources") or ()}:
            return False, "%s/%s %s not served yet" % (group, version, plural), False
    return True, "served", True


def wait_for_crds(client, crds, timeout_seconds):
    """Wait until the API server serves every version of each CRD (CRD objects, or CRD names to look up).

    Returns, in order, a list of {name, ready, reason, seconds}.
    """
    crds = list(crds)
    if not crds:
        return []
    results = _poll_until(crds, lambda crd: _crd_served(client, crd), timeout_seconds,
                          lambda reason, waited: "not served after %.0f s: %s" % (waited, reason))
    return [{"name": _crd_identity(crd)[0], "ready": ready, "reason": None if ready else reason, "seconds": round(seconds, 2)}
            for crd, (ready, reason, seconds) in zip(crds, results)]

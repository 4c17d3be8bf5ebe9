"""Job controller: pods until completions succeed, then Complete. CronJobs are not scheduled at all."""

import copy

from kubesim.controllers.common import (
    JOBS, PODS, condition_true, is_deleting, probed_condition, meta, pod_active, pod_ready, PodOwnerController, without_zeros)
from kubesim.store import now_rfc3339


class JobController(PodOwnerController):
    """Pods up to parallelism until completions succeed; then Complete. CronJobs are not scheduled at all."""

    name = "job"
    primary = JOBS
    kind = "Job"

    def reconcile(self, key):
        job = self.find(JOBS, *key)
        if job is None or is_deleting(job):
            return
        if self._default_selector(job):
            return  # the update's event brings the job back
        if condition_true(job, "Complete") or condition_true(job, "Failed"):
            return
        spec = job["spec"]
        pods = self.claim_pods(job)
        succeeded = sum(1 for pod in pods if (pod.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for pod in pods if (pod.get("status") or {}).get("phase") == "Failed")
        active = [pod for pod in pods if pod_active(pod)]
        completions, parallelism = spec.get("completions"), spec.get("parallelism", 1)
        complete = succeeded >= completions if completions is not None else succeeded > 0 and not active
        over_limit = failed > spec.get("backoffLimit", 6)
        if over_limit:
            for pod in active:
                self.delete(PODS, pod)
            active = []
        elif not complete and not spec.get("suspend"):
            wanted = parallelism if completions is None else min(parallelism, completions - succeeded)
            if completions is None and succeeded:
                wanted = 0
            for _ in range(wanted - len(active)):
                active.append(self.new_pod(job, spec.get("template") or {}))
        outcome = "Complete" if complete else "Failed" if over_limit else None
        self.write_status(JOBS, job, self._status(job, active, succeeded, failed, outcome))

    def _default_selector(self, job):
        """What the Job strategy does at create: a selector on the job's uid and those labels on the template."""
        spec = job["spec"]
        if spec.get("manualSelector") or spec.get("selector"):
            return False
        defaulted = copy.deepcopy(job)
        uid, name = meta(job)["uid"], meta(job)["name"]
        defaulted["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = defaulted["spec"].setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name})
        self.update(JOBS, defaulted)
        return True

    @staticmethod
    def _status(job, active, succeeded, failed, outcome):
        old_status = job.get("status") or {}
        conditions = old_status.get("conditions")
        status = {
            "startTime": old_status.get("startTime") or now_rfc3339(),
            "active": len(active),
            "ready": sum(1 for pod in active if pod_ready(pod)),
            "succeeded": succeeded,
            "failed": failed,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
        if outcome == "Complete":
            message = "Reached expected number of succeeded pods"
            status["completionTime"] = old_status.get("completionTime") or now_rfc3339()
            status["conditions"] = [
                probed_condition(conditions, "SuccessCriteriaMet", "True", "CompletionsReached", message),
                probed_condition(conditions, "Complete", "True", "CompletionsReached", message)]
        elif outcome == "Failed":
            message = "Job has reached the specified backoff limit"
            status["conditions"] = [
                probed_condition(conditions, "FailureTarget", "True", "BackoffLimitExceeded", message),
                probed_condition(conditions, "Failed", "True", "BackoffLimitExceeded", message)]
        return without_zeros(status, ("active", "succeeded", "failed"))

"""Volume snapshots with freeze hooks: kubesafe.k8s.backup against the kubernetes.core loop a user would hand-write.

A fresh emulator process (controllers on, snapshot CRDs installed) holds N
claims, each mounted by a pod whose annotations freeze and unfreeze it. Both
runs go through ansible-playbook against the same claims:

- kubesafe.k8s.backup with snapshot_volumes: the namespace's objects, then per
  pod freeze / VolumeSnapshot / unfreeze, contents retained, all recorded;
- the loop: per claim, k8s_exec freeze, k8s create VolumeSnapshot, k8s_info
  until readyToUse, k8s_exec unfreeze; it records and retains nothing, so it
  does less than the module.
"""

import json
import os

from bench import playbooks
from bench.emulator_process import EmulatorProcess
from bench.report import log

import volume_workloads

NAMESPACE = "vols"


def _objects(claims):
    objects = volume_workloads.csi_storage() + [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for number in range(claims):
        for obj in volume_workloads.database(namespace=NAMESPACE, claim="data-%d" % number, annotations=volume_workloads.freeze_annotations()):
            if obj["kind"] == "Pod":
                obj["metadata"]["name"] = "db-%d" % number
            if obj["kind"] != "Namespace":
                objects.append(obj)
    return objects


def _module_plays(kubeconfig, location):
    return [{"name": "kubesafe.k8s.backup with volume snapshots", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Back up the namespace with its volumes", "kubesafe.k8s.backup": {
            "kubeconfig": kubeconfig, "name": "volumes", "location": location, "included_namespaces": [NAMESPACE],
            "snapshot_volumes": True, "parallelism": 4}, "register": "result"},
        {"name": "Save the result", "ansible.builtin.copy": {"content": "{{ result.backup | to_json }}", "dest": location + "/result.json"}}]}]


def _loop_plays(kubeconfig, claims, workdir):
    per_claim = os.path.join(workdir, "snapshot-one-claim.yml")
    exec_args = {"kubeconfig": kubeconfig, "namespace": NAMESPACE, "pod": "db-{{ item }}", "container": "db"}
    tasks = [
        {"name": "Freeze", "kubernetes.core.k8s_exec": dict(exec_args, command="/sbin/fsfreeze --freeze /var/lib/postgresql/data")},
        {"name": "Snapshot", "kubernetes.core.k8s": {"kubeconfig": kubeconfig, "state": "present", "definition": {
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "loop-{{ item }}", "namespace": NAMESPACE},
            "spec": {"volumeSnapshotClassName": "csi-snap", "source": {"persistentVolumeClaimName": "data-{{ item }}"}}}}},
        {"name": "Wait until ready", "kubernetes.core.k8s_info": {
            "kubeconfig": kubeconfig, "api_version": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "namespace": NAMESPACE, "name": "loop-{{ item }}"},
         "register": "snapshot", "until": "snapshot.resources and snapshot.resources[0].status.readyToUse | default(false)",
         "retries": 60, "delay": 1},
        {"name": "Unfreeze", "kubernetes.core.k8s_exec": dict(exec_args, command="/sbin/fsfreeze --unfreeze /var/lib/postgresql/data")},
    ]
    with open(per_claim, "w", encoding="utf-8") as stream:
        json.dump(tasks, stream)
    return [{"name": "kubernetes.core loop", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Snapshot every claim", "ansible.builtin.include_tasks": per_claim, "loop": list(range(claims))}]}]


def bench_volumes(claims, workdir, with_loop=True):
    """{"claims", "module_seconds", "module_peak_rss_mib", "loop_seconds", "speedup", "snapshots", "hooks"}."""
    log("volumes: %d claims with freeze hooks" % claims)
    emulator = EmulatorProcess()
    try:
        emulator.seed(volume_workloads.snapshot_crds())
        emulator.seed(_objects(claims))
        if not emulator.control.settle(300):
            raise RuntimeError("the emulator did not settle")
        location = os.path.join(workdir, "volumes-module")
        run = playbooks.run_playbook(_module_plays(emulator.kubeconfig, location), os.path.join(workdir, "volumes-module-play"),
                                     os.environ, timeout=900, module_rss=True)
        if run is None or run.returncode != 0:
            raise RuntimeError("the volume backup playbook failed:\n%s" % (run.output[-4000:] if run else "timed out"))
        with open(os.path.join(location, "result.json"), encoding="utf-8") as stream:
            result = json.load(stream)
        completed = sum(1 for record in result["volume_snapshots"] if record["phase"] == "Completed")
        succeeded = sum(1 for hook in result["hooks"] if hook["status"] == "succeeded")
        if completed != claims or succeeded != 2 * claims:
            raise RuntimeError("the module took %d snapshots and ran %d hooks, %d and %d expected" % (completed, succeeded, claims, 2 * claims))
        module = next((m for m in run.modules if m["module"] == playbooks.BACKUP_MODULE_FILE), {})
        loop = None
        if with_loop:
            log("volumes: kubernetes.core loop")
            loop = playbooks.run_playbook(_loop_plays(emulator.kubeconfig, claims, workdir), os.path.join(workdir, "volumes-loop-play"),
                                          os.environ, timeout=1800)
        loop_seconds = loop.seconds if loop is not None and loop.returncode == 0 else None
        if loop is not None and loop.returncode != 0:
            log("volumes: the loop failed:\n%s" % loop.output[-2000:])
        return {"claims": claims, "module_seconds": run.seconds, "module_process_seconds": module.get("seconds"),
                "module_peak_rss_mib": module.get("peak_rss_mib"), "loop_seconds": loop_seconds,
                "speedup": loop_seconds / run.seconds if loop_seconds else None, "snapshots": completed, "hooks": succeeded}
    finally:
        emulator.stop()


def volume_text(volumes):
    if not volumes:
        return ""
    loop = "%.1f s" % volumes["loop_seconds"] if volumes["loop_seconds"] else "not measured"
    speedup = "%.1fx faster" % volumes["speedup"] if volumes["speedup"] else "-"
    return ("\nVolume snapshots with freeze/unfreeze hooks, %d claims (ansible-playbook wall time):\n"
            "  kubesafe.k8s.backup snapshot_volumes: %.1f s (module process %.1f s, peak RSS %.0f MiB), %d snapshots, %d hooks\n"
            "  kubernetes.core loop (k8s_exec, k8s, k8s_info until ready, k8s_exec per claim): %s; the module is %s\n"
            % (volumes["claims"], volumes["module_seconds"], volumes["module_process_seconds"] or 0, volumes["module_peak_rss_mib"] or 0,
               volumes["snapshots"], volumes["hooks"], loop, speedup))

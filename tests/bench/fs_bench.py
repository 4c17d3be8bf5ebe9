"""File-system volume backup: MB/s of backup and restore through pods/exec and restic, against a raw exec ``tar -c``.

A fresh emulator process holds one NFS claim of ``--fs-volume-mib`` MiB of
incompressible files, mounted by a running pod. bench/fs_worker.py, in a
process of its own (its peak RSS is the controller's), reads the claim with
a raw exec ``tar -c`` to nothing (the baseline: the exec stream alone), backs
it up twice with method fs (the second uploads only what changed: nothing),
and restores it into a new namespace; restic alone, fed from memory, shows
how much of the time is restic's own. Targets: backup and restore at least
0.7x the baseline; second backup under 1 % of the volume; RSS under 200 MiB.
"""

import json
import os
import subprocess
import sys
import tempfile

from bench.emulator_process import EmulatorProcess
from bench.report import log

MIB = 1024 * 1024
NAMESPACE = "fsbench"
FILE_MIB = 16
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def _objects():
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "nfs"}, "provisioner": "example.com/nfs"},
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "nfs-bench"},
         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], "persistentVolumeReclaimPolicy": "Retain",
                  "storageClassName": "nfs", "nfs": {"server": "nfs.example.com", "path": "/bench"},
                  "claimRef": {"namespace": NAMESPACE, "name": "data"}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NAMESPACE},
         "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "nfs", "volumeName": "nfs-bench",
                  "resources": {"requests": {"storage": "1Gi"}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader", "namespace": NAMESPACE},
         "spec": {"containers": [{"name": "app", "image": "busybox:1.36.1", "volumeMounts": [{"name": "data", "mountPath": "/mnt/data"}]}],
                  "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "standard"}, "provisioner": "ebs.csi.aws.com"},
    ]


def bench_fs(volume_mib):
    emulator = EmulatorProcess()
    try:
        emulator.seed(_objects())
        if not emulator.control.settle(60):
            raise RuntimeError("the emulator did not settle")
        files = {"file-%03d.bin" % number: (0o644, os.urandom(FILE_MIB * MIB)) for number in range(max(1, volume_mib // FILE_MIB))}
        emulator.control.write_claim_files(NAMESPACE, "data", files)
        del files
        with tempfile.TemporaryDirectory(prefix="kubesafe-fs-bench-") as directory:
            env = dict(os.environ, PYTHONPATH=os.path.dirname(BENCH_DIR))
            result = subprocess.run([sys.executable, os.path.join(BENCH_DIR, "fs_worker.py"), emulator.kubeconfig, directory],
                                    capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise RuntimeError("fs_worker failed (%d): %s" % (result.returncode, result.stderr[-4000:]))
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        emulator.stop()
    raw = figures["raw_bytes"] / MIB / figures["raw_seconds"]
    figures.update(volume_mib=volume_mib, raw_mib_s=raw, backup_mib_s=figures["backup_bytes"] / MIB / figures["backup_seconds"],
                   restore_mib_s=figures["backup_bytes"] / MIB / figures["restore_seconds"],
                   second_added_percent=100.0 * figures["second_bytes_added"] / figures["backup_bytes"])
    figures.update(backup_ratio=figures["backup_mib_s"] / raw, restore_ratio=figures["restore_mib_s"] / raw,
                   restic_alone_backup_mib_s=figures["raw_bytes"] / MIB / figures["restic_alone_backup_seconds"],
                   restic_alone_dump_mib_s=figures["raw_bytes"] / MIB / figures["restic_alone_dump_seconds"])
    log("fs backup: %.0f MiB/s (raw exec tar -c %.0f MiB/s, %.2fx), restore %.0f MiB/s (%.2fx), second backup added %.3f %%, peak RSS %.0f MiB"
        % (figures["backup_mib_s"], raw, figures["backup_ratio"], figures["restore_mib_s"], figures["restore_ratio"],
           figures["second_added_percent"], figures["peak_rss_mib"]))
    return figures


def fs_text(figures):
    if not figures:
        return ""
    return ("\nFile-system volume backup (%d MiB, restic, through pods/exec)\n"
            "  raw exec tar -c read to nothing  %8.1f MiB/s\n"
            "  backup (tar -c -> restic backup) %8.1f MiB/s  %.2fx  (target >= 0.7x)\n"
            "  restore (restic dump -> tar -x)  %8.1f MiB/s  %.2fx  (target >= 0.7x)\n"
            "  restic alone (no exec): backup   %8.1f MiB/s, dump %.1f MiB/s\n"
            "  second backup uploaded           %8.3f %%      (target < 1 %%)\n"
            "  controller peak RSS              %8.0f MiB     (target < 200 MiB)\n"
            "  (MiB/s of the data stream; with the mover pod and restic's start: backup %.1f s, restore %.1f s in all)\n"
            % (figures["volume_mib"], figures["raw_mib_s"], figures["backup_mib_s"], figures["backup_ratio"], figures["restore_mib_s"],
               figures["restore_ratio"], figures["restic_alone_backup_mib_s"], figures["restic_alone_dump_mib_s"],
               figures["second_added_percent"], figures["peak_rss_mib"], figures["backup_total_seconds"],
               figures["restore_total_seconds"]))

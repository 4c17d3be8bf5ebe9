"""The file-system backup benchmark's controller: one process, so that its peak RSS is the engine's alone.

    python fs_worker.py KUBECONFIG DIRECTORY

Against a claim the emulator holds (bench/fs_bench.py seeds it), in order:
a raw exec ``tar -c`` of the claim read to nothing (the baseline); a backup
with method fs; a second backup of the unchanged claim; a restore of the
first into a new namespace; and restic alone, fed as many random bytes from
this process and dumped to nothing (how fast restic itself is here). Prints
the figures as JSON.
"""

import json
import os
import sys
import time

import collection_path  # noqa: F401  pylint: disable=unused-import

# pylint: disable=wrong-import-position
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.pod_exec import exec_in_pod  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions, run_restore  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.backup import VolumeSettings  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.restic import ResticRepositories  # noqa: E402

from bench.rss_interpreter import own_peak_rss_mib  # noqa: E402

NAMESPACE, POD, MOUNT, PASSWORD = "fsbench", "reader", "/mnt/data", "bench-password"
CHUNK = 1024 * 1024


def raw_read(client):
    """Seconds and bytes of ``tar -c`` of the claim over exec, read and dropped."""
    received = [0]

    def drop(chunk):
        received[0] += len(chunk)
    started = time.perf_counter()
    result = exec_in_pod(client, NAMESPACE, POD, None, ["tar", "-c", "-C", MOUNT, "."], 3600, stdout_sink=drop)
    if not result.succeeded:
        raise RuntimeError("raw tar -c failed: %s" % (result.error or result.stderr))
    return time.perf_counter() - started, received[0]


def restic_alone(location, size):
    """Seconds of restic backup --stdin of ``size`` random bytes made here, and of its dump to nothing: restic's own speed."""
    repositories = ResticRepositories(location, PASSWORD)
    repositories.ensure("restic-alone")

    def feed(write):
        for _chunk in range(size // CHUNK):
            write(os.urandom(CHUNK))
    started = time.perf_counter()
    summary = repositories.backup("restic-alone", "random.bin", ["bench"], feed)
    backup_seconds = time.perf_counter() - started

    def drop(read):
        while read(CHUNK):
            pass
    started = time.perf_counter()
    repositories.dump("restic-alone", summary["snapshot_id"], "random.bin", drop)
    return backup_seconds, time.perf_counter() - started


def backup(client, location, name):
    options = BackupOptions(name=name, included_namespaces=[NAMESPACE],
                            volumes=VolumeSettings(snapshot_volumes=True, method="fs", fs_password=PASSWORD))
    result = run_backup(client, location, options)
    [record] = result["volume_snapshots"]
    if record["phase"] != "Completed":
        raise RuntimeError("the fs backup failed: %s" % record.get("error"))
    return record


def restore(client, location, name):
    options = RestoreOptions(backup=name, name=name + "-restore", included_namespaces=[NAMESPACE], namespace_mapping={NAMESPACE: "fsbench-restored"},
                             included_resources=["persistentvolumeclaims", "namespaces"], storage_class_mapping={"nfs": "standard"})
    options.set_fs_backup(PASSWORD)
    result = run_restore(client, location, options)
    [filled] = [entry for entry in result["volumes"] if entry["kind"] == "file-system restore"]
    if filled["phase"] != "Completed":
        raise RuntimeError("the fs restore failed: %s" % filled.get("error"))
    return filled


def main(argv=None):
    kubeconfig, directory = (argv or sys.argv[1:])[:2]
    client = KubeClient(**connection_options({"kubeconfig": kubeconfig}))
    location = open_location(directory, None)
    raw_seconds, raw_bytes = raw_read(client)
    first = backup(client, location, "fs-1")
    second = backup(client, location, "fs-2")
    filled = restore(client, location, "fs-1")
    alone_backup_seconds, alone_dump_seconds = restic_alone(location, raw_bytes)
    sys.stdout.write(json.dumps({
        "raw_seconds": raw_seconds, "raw_bytes": raw_bytes,
        "backup_seconds": first["stream_seconds"], "backup_total_seconds": first["duration_seconds"], "backup_bytes": first["bytes"],
        "backup_bytes_added": first["bytes_added"], "second_seconds": second["duration_seconds"], "second_bytes_added": second["bytes_added"],
        "restore_seconds": filled["stream_seconds"], "restore_total_seconds": filled["duration_seconds"],
        "restic_alone_backup_seconds": alone_backup_seconds, "restic_alone_dump_seconds": alone_dump_seconds,
        "peak_rss_mib": own_peak_rss_mib(),
    }) + "\n")


if __name__ == "__main__":
    main()

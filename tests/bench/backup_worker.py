"""Run one backup with the engine in this process and print its figures as JSON.

A process of its own, so that its peak RSS (ru_maxrss) is the backup's alone,
imports included, as the module process's would be.

    python backup_worker.py KUBECONFIG DIRECTORY NAME [--parallelism N] [--profile FILE]
"""

import time

PROCESS_STARTED = time.perf_counter()

# pylint: disable=wrong-import-position
import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

import collection_path  # noqa: F401,E402  pylint: disable=unused-import

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location  # noqa: E402

from bench.rss_interpreter import own_peak_rss_mib  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("kubeconfig")
    parser.add_argument("directory")
    parser.add_argument("name")
    parser.add_argument("--parallelism", type=int, default=BackupOptions().parallelism)
    parser.add_argument("--profile", help="write cProfile statistics of the backup to this file")
    args = parser.parse_args(argv)
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    client = KubeClient(**connection_options({"kubeconfig": args.kubeconfig}))
    result = run_backup(client, open_location(args.directory, None), BackupOptions(name=args.name, parallelism=args.parallelism))
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    sys.stdout.write(json.dumps({
        "seconds": seconds,
        "process_seconds": time.perf_counter() - PROCESS_STARTED,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "items": result["items_backed_up"],
        "phase": result["phase"],
        "errors": result["errors"],
        "peak_rss_mib": own_peak_rss_mib(),
        "archive_bytes": result["archive"]["size"],
    }) + "\n")


if __name__ == "__main__":
    main()

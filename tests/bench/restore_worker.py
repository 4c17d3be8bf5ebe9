"""Run one restore with the engine in this process and print its figures as JSON.

A process of its own, so that its peak RSS (ru_maxrss) is the restore's alone,
imports included, as the module process's would be.

    python restore_worker.py KUBECONFIG DIRECTORY BACKUP NAME [--parallelism N] [--profile FILE]
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

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location  # noqa: E402

from bench.rss_interpreter import own_peak_rss_mib  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions, run_restore  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("kubeconfig")
    parser.add_argument("directory")
    parser.add_argument("backup")
    parser.add_argument("name")
    parser.add_argument("--parallelism", type=int, default=RestoreOptions().parallelism)
    parser.add_argument("--profile", help="write cProfile statistics of the restore to this file")
    args = parser.parse_args(argv)
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    client = KubeClient(**connection_options({"kubeconfig": args.kubeconfig}))
    result = run_restore(client, open_location(args.directory, None), RestoreOptions(backup=args.backup, name=args.name, parallelism=args.parallelism))
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    sys.stdout.write(json.dumps({
        "seconds": seconds,
        "process_seconds": time.perf_counter() - PROCESS_STARTED,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "created": result["totals"].get("create", 0),
        "totals": result["totals"],
        "counts": result["counts"],
        "phase": result["phase"],
        "errors": result["errors"][:20],
        "peak_rss_mib": own_peak_rss_mib(),
    }) + "\n")


if __name__ == "__main__":
    main()

"""Run one backup with the engine in this process and print its figures as JSON (for peak RSS of a backup process alone)."""

import json
import resource
import sys
import time

import collection_path  # noqa: F401  pylint: disable=unused-import

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup_engine import BackupOptions, run_backup  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.k8s_client import KubeClient, connection_options  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.locations import open_location  # noqa: E402


def main(kubeconfig, directory, name):
    started = time.perf_counter()
    client = KubeClient(**connection_options({"kubeconfig": kubeconfig}))
    result = run_backup(client, open_location(directory, None), BackupOptions(name=name))
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(json.dumps({"seconds": seconds, "items": result["items_backed_up"], "phase": result["phase"],
                                 "peak_rss_mib": peak_kib / 1024.0, "archive_bytes": result["archive"]["size"]}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])

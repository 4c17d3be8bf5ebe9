"""``make bench``: backup throughput against a raw LIST and a k8s_info playbook, restore against raw POSTs, in one run.

For each size: a fresh emulator process (controllers off) is seeded with that
many generated objects (bench/workload.py), then, against the same objects:

1. raw paginated LIST of the resource types a backup reads (bench/raw_list.py),
   sequentially (the baseline of the targets) and with the backup's parallelism;
2. the backup engine in a subprocess of its own (bench/backup_worker.py):
   seconds, objects/s, peak RSS, archive size;
3. ansible-playbook running kubesafe.k8s.backup: wall time with Ansible's
   overhead, and the module process's peak RSS (bench/rss_interpreter.py);
4. ansible-playbook running a k8s_info loop over the same kinds that writes one
   YAML file per kind (bench/playbooks.py), what a user would hand-write today.

1 and 2 run --repeats times, interleaved, after one warm-up LIST; the table
shows medians, results.json every run. Discovery is part of the backup (it
must find the resource types) but not of the baseline (which is handed them).

Then, before the k8s_info loop (which gets what is left of --budget), the last
engine backup is restored into fresh emulator processes: raw parallel POSTs of
the same objects, the engine, and the kubesafe.k8s.restore module (see
bench/restore_bench.py).

Last, volume snapshots with freeze hooks against a kubernetes.core loop
(bench/volume_bench.py, --volume-claims), and file-system backup and restore
of one volume through pods/exec and restic against a raw exec tar
(bench/fs_bench.py, --fs-volume-mib).
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
import collection_path  # noqa: E402

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options  # noqa: E402

from bench import playbooks, report, restore_bench  # noqa: E402
from bench.emulator_process import EmulatorProcess  # noqa: E402
from bench.raw_list import PARALLELISM, backed_up_resources, raw_list, served_size  # noqa: E402
from bench.raw_post import PARALLELISM as RESTORE_PARALLELISM  # noqa: E402
from bench.report import log, table_row  # noqa: E402
from bench.volume_bench import bench_volumes, volume_text  # noqa: E402
from bench.fs_bench import bench_fs, fs_text  # noqa: E402
from bench.workload import NAMESPACES, seed_workload  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS_FILE = os.path.join(collection_path.REPO, "tests", "output", "bench", "results.json")
# A namespace every emulator has and the generated workload leaves empty.
EMPTY_NAMESPACE = "kube-public"
# make bench should finish within 15 minutes on a 2-core machine; the k8s_info loop gets what is left of this.
DEFAULT_BUDGET_SECONDS = 14 * 60
DEFAULT_K8S_INFO_TIMEOUT = 600
# Restore rounds per size go on (up to --repeats) while they fit in this; one round at 100k objects takes about 150 s.
DEFAULT_RESTORE_SECONDS = 120


def run_engine_backup(kubeconfig, directory, name, profile=None, keep=False):
    command = [sys.executable, os.path.join(BENCH_DIR, "backup_worker.py"), kubeconfig, directory, name]
    if profile:
        command += ["--profile", profile]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(BENCH_DIR))
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError("backup_worker failed (%d): %s" % (result.returncode, result.stderr[-4000:]))
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["phase"] != "Completed":
        raise RuntimeError("the benchmark backup ended %s: %s" % (figures["phase"], figures["errors"]))
    if not keep:
        shutil.rmtree(os.path.join(directory, "backups", name), ignore_errors=True)
    return figures


def bench_size(size, args, workdir, deadline):
    started = time.perf_counter()
    emulator = EmulatorProcess("--no-controllers")
    try:
        log("%d objects: seeding the emulator" % size)
        seed_started = time.perf_counter()
        seed_workload(emulator, size, namespaces=args.namespaces)
        seed_seconds = time.perf_counter() - seed_started
        client = KubeClient(**connection_options({"kubeconfig": emulator.kubeconfig}))
        resources, discovery_seconds = backed_up_resources(client)
        # Also the warm-up: the first LIST of each type is slower on the emulator's side.
        objects, served_bytes = served_size(client, resources)
        log("%d objects: %d in the emulator over %d resource types; LIST and engine backup, %d rounds"
            % (size, objects, len(resources), args.repeats))
        # The last round's backup is kept for the restore benchmark.
        rounds = [measure_round(client, resources, emulator, objects, os.path.join(workdir, "engine"), "engine-%d-%d" % (size, index),
                                keep=index == args.repeats - 1)
                  for index in range(args.repeats)]
        rows = list_and_engine_rows(rounds, objects, discovery_seconds, len(resources))
        raw_sequential = rows[0]["seconds"]
        if args.profile:
            profile = os.path.join(os.path.dirname(RESULTS_FILE), "backup-%d.prof" % size)
            run_engine_backup(emulator.kubeconfig, os.path.join(workdir, "engine"), "profile-%d" % size, profile=profile)
            log("cProfile statistics of a %d-object backup: %s" % (size, profile))
        rows.append(floor_row(size, workdir, raw_sequential))
        rows.append(fixed_cost_row(emulator, size, workdir, raw_sequential))
        rows.append(module_row(emulator, objects, size, workdir, raw_sequential))
        restore = None
        if not args.skip_restore:
            restore = restore_bench.restore_size(size, os.path.join(workdir, "engine"), "engine-%d-%d" % (size, args.repeats - 1), objects,
                                                 args, workdir, deadline)
        shutil.rmtree(os.path.join(workdir, "engine"), ignore_errors=True)
        k8s_info = k8s_info_row(args, emulator, resources, objects, size, workdir, deadline)
        rows.append(k8s_info)
        if k8s_info.get("seconds"):
            for row in rows:
                if row["measure"] in (report.ENGINE_MEASURE, report.MODULE_MEASURE):
                    row["k8s_info_speedup"] = k8s_info["seconds"] / row["seconds"]
            k8s_info["vs_raw_list"] = k8s_info["seconds"] / raw_sequential
        results = {"generated": size, "objects": objects, "resource_types": len(resources), "seed_seconds": seed_seconds,
                   "archive_bytes": rounds[-1]["engine"]["archive_bytes"], "served_bytes": served_bytes, "rows": rows, "rounds": rounds}
        if restore:
            rows.extend(restore.pop("rows"))
            results["restore"] = restore
        results["seconds"] = time.perf_counter() - started
        return results
    finally:
        emulator.stop()


def measure_round(client, resources, emulator, objects, directory, name, keep=False):
    """One sequential raw LIST, one parallel raw LIST and one engine backup (kept if ``keep``), back to back."""
    sequential = raw_list(client, resources)
    parallel = raw_list(client, resources, parallelism=PARALLELISM)
    engine = run_engine_backup(emulator.kubeconfig, directory, name, keep=keep)
    for listed in (sequential[0], parallel[0], engine["items"]):
        if listed != objects:
            raise RuntimeError("%d objects expected, %d listed or backed up: the emulator's content changed" % (objects, listed))
    return {"raw_list_sequential_seconds": sequential[1], "raw_list_parallel_seconds": parallel[1], "engine": engine}


def list_and_engine_rows(rounds, objects, discovery_seconds, resource_types):
    raw_sequential = statistics.median(r["raw_list_sequential_seconds"] for r in rounds)
    raw_parallel = statistics.median(r["raw_list_parallel_seconds"] for r in rounds)
    engine_seconds = statistics.median(r["engine"]["seconds"] for r in rounds)
    return [
        table_row(report.RAW_SEQUENTIAL_MEASURE, objects, raw_sequential, vs_raw_list=1.0),
        table_row(report.RAW_PARALLEL_MEASURE % PARALLELISM, objects, raw_parallel, vs_raw_list=raw_parallel / raw_sequential),
        table_row(report.DISCOVERY_MEASURE, None, discovery_seconds, resource_types=resource_types),
        table_row(report.ENGINE_MEASURE, objects, engine_seconds, max(r["engine"]["peak_rss_mib"] for r in rounds),
                  vs_raw_list=engine_seconds / raw_sequential, vs_raw_list_parallel=engine_seconds / raw_parallel,
                  archive_bytes=rounds[-1]["engine"]["archive_bytes"],
                  cpu_seconds=statistics.median(r["engine"]["cpu_seconds"] for r in rounds),
                  process_seconds=statistics.median(r["engine"]["process_seconds"] for r in rounds)),
    ]


def module_row(emulator, objects, size, workdir, raw_sequential):
    """ansible-playbook running kubesafe.k8s.backup once."""
    log("%d objects: ansible-playbook with kubesafe.k8s.backup" % size)
    location = os.path.join(workdir, "module")
    name = "module-%d" % size
    run = playbooks.run_playbook(playbooks.backup_plays(emulator.kubeconfig, location, name),
                                 os.path.join(workdir, "module-play-%d" % size), os.environ, timeout=600, module_rss=True)
    if run is None or run.returncode != 0:
        raise RuntimeError("the kubesafe.k8s.backup playbook failed:\n%s" % (run.output[-4000:] if run else "timed out"))
    with open(os.path.join(location, "backups", name, "velero-backup.json"), encoding="utf-8") as stream:
        backed_up = json.load(stream)["status"]["progress"]["itemsBackedUp"]
    if backed_up != objects:
        raise RuntimeError("the module backed up %d objects, %d expected" % (backed_up, objects))
    shutil.rmtree(location, ignore_errors=True)
    module = next((m for m in run.modules if m["module"] == playbooks.BACKUP_MODULE_FILE), {})
    return table_row(report.MODULE_MEASURE, objects, run.seconds, module.get("peak_rss_mib"), vs_raw_list=run.seconds / raw_sequential,
                     module_process_seconds=module.get("seconds"), playbook_tree_peak_rss_mib=run.tree_peak_rss_mib)


def floor_row(size, workdir, raw_sequential):
    """ansible-playbook with one ping task: Ansible's own start and finish, which every playbook row includes."""
    run = playbooks.run_playbook(playbooks.ping_plays(), os.path.join(workdir, "ping-play-%d" % size), os.environ, timeout=300)
    if run is None or run.returncode != 0:
        raise RuntimeError("the ping playbook failed:\n%s" % (run.output[-4000:] if run else "timed out"))
    return table_row(report.PLAYBOOK_FLOOR_MEASURE, None, run.seconds, vs_raw_list=run.seconds / raw_sequential)


def fixed_cost_row(emulator, size, workdir, raw_sequential):
    """ansible-playbook backing up one empty namespace of the same cluster: what a backup playbook costs before its
    first object (Ansible, the module's imports, discovery, one empty LIST per resource type, the sidecars)."""
    location = os.path.join(workdir, "fixed-cost")
    run = playbooks.run_playbook(playbooks.backup_plays(emulator.kubeconfig, location, "fixed-cost-%d" % size, included_namespaces=[EMPTY_NAMESPACE]),
                                 os.path.join(workdir, "fixed-cost-play-%d" % size), os.environ, timeout=300)
    if run is None or run.returncode != 0:
        raise RuntimeError("the backup playbook of an empty namespace failed:\n%s" % (run.output[-4000:] if run else "timed out"))
    shutil.rmtree(location, ignore_errors=True)
    return table_row(report.FIXED_COST_MEASURE, None, run.seconds, vs_raw_list=run.seconds / raw_sequential)


def k8s_info_row(args, emulator, resources, objects, size, workdir, deadline):
    if args.skip_k8s_info:
        return table_row(report.K8S_INFO_MEASURE, objects, None, not_measured="skipped (--skip-k8s-info)")
    timeout = min(args.k8s_info_timeout, deadline - time.perf_counter())
    if timeout < 30:
        return table_row(report.K8S_INFO_MEASURE, objects, None, not_measured="no time left in the %d s budget" % args.budget)
    log("%d objects: ansible-playbook with the k8s_info loop (stopped after %.0f s)" % (size, timeout))
    directory = os.path.join(workdir, "k8s-info-%d" % size)
    os.makedirs(directory)
    run = playbooks.run_playbook(playbooks.k8s_info_plays(emulator.kubeconfig, resources, directory),
                                 os.path.join(workdir, "k8s-info-play-%d" % size), os.environ, timeout=timeout)
    if run is None:
        return table_row(report.K8S_INFO_MEASURE, objects, None,
                         not_measured="did not finish within %.0f s (stopped; limit: --k8s-info-timeout, --budget)" % timeout)
    if run.returncode != 0:
        raise RuntimeError("the k8s_info playbook failed:\n%s" % run.output[-4000:])
    if len(os.listdir(directory)) != len(resources):
        raise RuntimeError("the k8s_info playbook wrote %d files, one per kind (%d) expected" % (len(os.listdir(directory)), len(resources)))
    written = sum(os.path.getsize(os.path.join(directory, name)) for name in os.listdir(directory))
    shutil.rmtree(directory, ignore_errors=True)
    # The playbook's peak: ansible-playbook holds every registered object, and it is the largest process of the run.
    return table_row(report.K8S_INFO_MEASURE, objects, run.seconds, run.tree_peak_rss_mib, yaml_bytes=written)


def environment():
    def version(module):
        try:
            return __import__(module).__version__
        except (ImportError, AttributeError):
            return None
    commit = subprocess.run(["git", "-C", collection_path.REPO, "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(), "ansible_core": version("ansible"),
            "kubernetes": version("kubernetes"), "git_commit": commit or None,
            # Other work on the machine skews the figures: the load average says whether there was any.
            "load_average_at_start": os.getloadavg(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main(argv=None):
    parser = argparse.ArgumentParser(description="kubesafe.k8s backup and restore benchmarks (see tests/bench/run.py)")
    parser.add_argument("--sizes", default="10000,100000", help="generated object counts, comma-separated (default: 10000,100000)")
    parser.add_argument("--skip-k8s-info", action="store_true", help="do not run the hand-written kubernetes.core loops (k8s_info, volume snapshots)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of raw LIST and engine backup per size, and at most as many of raw POSTs and engine restore; medians are shown")
    parser.add_argument("--skip-restore", action="store_true", help="do not benchmark restores")
    parser.add_argument("--skip-restore-module", action="store_true", help="do not run the kubesafe.k8s.restore playbook")
    parser.add_argument("--restore-seconds", type=float, default=DEFAULT_RESTORE_SECONDS,
                        help="per size, start another round of raw POSTs and engine restore (up to --repeats) only if the rounds so far"
                             " and one more fit in this many seconds")
    parser.add_argument("--k8s-info-timeout", type=float, default=DEFAULT_K8S_INFO_TIMEOUT,
                        help="stop the k8s_info loop after this many seconds, and report it as not measured")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS,
                        help="seconds the whole run may take; the k8s_info loop gets at most what is left")
    parser.add_argument("--profile", action="store_true", help="also write cProfile statistics of one engine backup and one engine restore per size")
    parser.add_argument("--volume-claims", type=int, default=30,
                        help="claims of the volume snapshot benchmark (module against a kubernetes.core loop); 0 skips it")
    parser.add_argument("--fs-volume-mib", type=int, default=256,
                        help="MiB of the volume of the file-system backup benchmark (restic through pods/exec); 0 skips it")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (playbooks, outputs)")
    parser.add_argument("--namespaces", type=int, default=NAMESPACES, help="namespaces the generated objects are spread over (default: %d)" % NAMESPACES)
    parser.add_argument("--scale", type=int, metavar="N",
                        help="one run at N objects (e.g. 1000000) over 100 namespaces: emulators keep objects as JSON bytes"
                             " (--compact-objects), one round, no k8s_info loop and no volume benchmark; not part of make test")
    args = parser.parse_args(argv)
    if args.scale:
        args.sizes, args.repeats, args.skip_k8s_info, args.volume_claims, args.fs_volume_mib = str(args.scale), 1, True, 0, 0
        args.namespaces = args.namespaces if args.namespaces != NAMESPACES else 100
        # Seeding, two restores and the playbooks of a million objects take far longer than the default budget.
        args.budget = max(args.budget, 4 * 3600)
        args.restore_seconds = max(args.restore_seconds, 3600)
        EmulatorProcess.common_args = ("--compact-objects",)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    deadline = time.perf_counter() + args.budget
    workdir = tempfile.mkdtemp(prefix="kubesafe-bench-")
    os.makedirs(os.path.dirname(RESULTS_FILE), exist_ok=True)
    results = {"environment": environment(), "parallelism": PARALLELISM, "restore_parallelism": RESTORE_PARALLELISM, "sizes": []}
    try:
        for size in sizes:
            results["sizes"].append(bench_size(size, args, workdir, deadline))
        if args.volume_claims:
            results["volumes"] = bench_volumes(args.volume_claims, workdir, with_loop=not args.skip_k8s_info)
        if args.fs_volume_mib:
            results["fs_volume"] = bench_fs(args.fs_volume_mib)
    finally:
        if args.keep:
            log("work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    results["seconds"] = args.budget - (deadline - time.perf_counter())
    results["targets"] = [{"target": target, "size": size, "measured": measured, "verdict": verdict}
                          for target, size, measured, verdict in report.targets(results)]
    with open(RESULTS_FILE, "w", encoding="utf-8") as stream:
        json.dump(results, stream, indent=2)
    sys.stdout.write(report.table(results))
    sys.stdout.write(volume_text(results.get("volumes")))
    sys.stdout.write(fs_text(results.get("fs_volume")))
    sys.stdout.write(report.targets_text(results))
    sys.stdout.write(report.notes(results, args.repeats, os.path.relpath(RESULTS_FILE, collection_path.REPO)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Restore throughput against raw parallel POSTs of the same objects, in the same run as the backup figures.

For one size, from the backup the benchmark made of the seeded emulator, each
into a fresh emulator process with --no-controllers (so that nothing but the
restore writes; the workload's CRD is in the backup):

1. raw parallel POSTs of the objects the restore creates (bench/raw_post.py):
   the baseline of the target;
2. the restore engine in a subprocess of its own (bench/restore_worker.py):
   seconds, objects/s, peak RSS;
3. ansible-playbook running kubesafe.k8s.restore: wall time with Ansible's
   overhead, and the module process's peak RSS (bench/rss_interpreter.py),
   when it fits in what is left of the run's budget.

1 and 2 run in interleaved rounds, up to --repeats of them while they fit in
--restore-seconds (at 100k objects one round takes minutes); the table shows
medians, results.json every round.
"""

import json
import os
import statistics
import subprocess
import sys
import time

import collection_path

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location  # noqa: E402

from bench import playbooks, report  # noqa: E402
from bench.emulator_process import EmulatorProcess  # noqa: E402
from bench.raw_post import PARALLELISM, existing_objects, postable_objects, raw_post  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(collection_path.REPO, "tests", "output", "bench")
# What a module restore may take over the engine's median (Ansible's start, the result's JSON), to decide whether it fits.
MODULE_OVERHEAD_FACTOR = 1.3
MODULE_OVERHEAD_SECONDS = 30


def _client(emulator):
    return KubeClient(**connection_options({"kubeconfig": emulator.kubeconfig}))


def run_engine_restore(kubeconfig, directory, backup, name, profile=None):
    command = [sys.executable, os.path.join(BENCH_DIR, "restore_worker.py"), kubeconfig, directory, backup, name]
    if profile:
        command += ["--profile", profile]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(BENCH_DIR))
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError("restore_worker failed (%d): %s" % (result.returncode, result.stderr[-4000:]))
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["phase"] != "Completed":
        raise RuntimeError("the benchmark restore ended %s: %s" % (figures["phase"], figures["errors"]))
    return figures


def _check_created(what, created, expected, totals=None):
    if created != expected:
        raise RuntimeError("%s created %d objects, the baseline POSTs %d (restore totals: %s): the two no longer restore the same objects;"
                           " make tests/bench/raw_post.py skip what the restore skips" % (what, created, expected, totals))


def measure_round(tiers, baseline_objects, directory, backup, name):
    """Raw POSTs into one fresh emulator, then an engine restore into another, back to back."""
    emulator = EmulatorProcess("--no-controllers")
    try:
        posted, post_seconds = raw_post(_client(emulator), tiers)
    finally:
        emulator.stop()
    if posted != baseline_objects:
        raise RuntimeError("%d POSTs expected, %d done" % (baseline_objects, posted))
    emulator = EmulatorProcess("--no-controllers")
    try:
        engine = run_engine_restore(emulator.kubeconfig, directory, backup, name)
    finally:
        emulator.stop()
    _check_created("the engine restore", engine["created"], baseline_objects, engine["totals"])
    return {"raw_post_seconds": post_seconds, "engine": engine}


def restore_size(size, directory, backup, backup_items, args, workdir, deadline):
    """Rows and figures of the restore benchmark for one size; ``backup``, in the local location ``directory``, holds ``backup_items``."""
    started = time.perf_counter()
    emulator = EmulatorProcess("--no-controllers")
    try:
        existing = existing_objects(_client(emulator))
    finally:
        emulator.stop()
    prepare_started = time.perf_counter()
    tiers = postable_objects(open_location(directory, None), backup, existing)
    prepare_seconds = time.perf_counter() - prepare_started
    baseline_objects = sum(len(tier) for tier in tiers)
    report.log("%d objects: restore of %d backed-up objects: %d POSTs; raw POSTs and engine restore, up to %d rounds in %.0f s"
               % (size, backup_items, baseline_objects, args.repeats, args.restore_seconds))
    rounds = []
    for index in range(args.repeats):
        round_started = time.perf_counter()
        rounds.append(measure_round(tiers, baseline_objects, directory, backup, "engine-restore-%d-%d" % (size, index)))
        now = time.perf_counter()
        if now - started + (now - round_started) > args.restore_seconds:
            break
    del tiers
    rows = restore_rows(rounds, baseline_objects, prepare_seconds)
    if args.profile:
        profile = os.path.join(RESULTS_DIR, "restore-%d.prof" % size)
        emulator = EmulatorProcess("--no-controllers")
        try:
            run_engine_restore(emulator.kubeconfig, directory, backup, "profile-restore-%d" % size, profile=profile)
        finally:
            emulator.stop()
        report.log("cProfile statistics of a %d-object restore: %s" % (size, profile))
    rows.append(module_row(size, directory, backup, baseline_objects, rows, args, workdir, deadline))
    return {"backup_items": backup_items, "baseline_objects": baseline_objects, "existing_in_fresh_emulator": len(existing),
            "prepare_seconds": prepare_seconds, "engine_totals": rounds[-1]["engine"]["totals"], "rows": rows, "rounds": rounds,
            "seconds": time.perf_counter() - started}


def restore_rows(rounds, baseline_objects, prepare_seconds):
    raw_seconds = statistics.median(r["raw_post_seconds"] for r in rounds)
    engine_seconds = statistics.median(r["engine"]["seconds"] for r in rounds)
    return [
        report.table_row(report.RAW_POST_MEASURE % PARALLELISM, baseline_objects, raw_seconds, vs_raw_post=1.0,
                         rounds=len(rounds), prepare_seconds=prepare_seconds),
        report.table_row(report.RESTORE_ENGINE_MEASURE, rounds[-1]["engine"]["created"], engine_seconds,
                         max(r["engine"]["peak_rss_mib"] for r in rounds), vs_raw_post=engine_seconds / raw_seconds, rounds=len(rounds),
                         cpu_seconds=statistics.median(r["engine"]["cpu_seconds"] for r in rounds),
                         process_seconds=statistics.median(r["engine"]["process_seconds"] for r in rounds)),
    ]


def module_row(size, directory, backup, baseline_objects, rows, args, workdir, deadline):
    """ansible-playbook running kubesafe.k8s.restore once, into a fresh emulator, when it fits in the budget."""
    raw_seconds, engine_seconds = rows[0]["seconds"], rows[1]["seconds"]
    if args.skip_restore_module:
        return report.table_row(report.RESTORE_MODULE_MEASURE, baseline_objects, None, not_measured="skipped (--skip-restore-module)")
    needed = engine_seconds * MODULE_OVERHEAD_FACTOR + MODULE_OVERHEAD_SECONDS
    if deadline - time.perf_counter() < needed:
        return report.table_row(report.RESTORE_MODULE_MEASURE, baseline_objects, None,
                                not_measured="about %.0f s needed, not left in the %d s budget (--budget)" % (needed, args.budget))
    report.log("%d objects: ansible-playbook with kubesafe.k8s.restore" % size)
    name = "module-restore-%d" % size
    emulator = EmulatorProcess("--no-controllers")
    try:
        run = playbooks.run_playbook(playbooks.restore_plays(emulator.kubeconfig, directory, backup, name),
                                     os.path.join(workdir, "restore-play-%d" % size), os.environ, timeout=max(600, needed * 3),
                                     module_rss=True)
    finally:
        emulator.stop()
    if run is None or run.returncode != 0:
        raise RuntimeError("the kubesafe.k8s.restore playbook failed:\n%s" % (run.output[-4000:] if run else "timed out"))
    with open(os.path.join(directory, "restores", name, "restore-%s-report.json" % name), encoding="utf-8") as stream:
        restored = json.load(stream)
    _check_created("the kubesafe.k8s.restore module", restored["totals"].get("create", 0), baseline_objects, restored["totals"])
    module = next((m for m in run.modules if m["module"] == playbooks.RESTORE_MODULE_FILE), {})
    return report.table_row(report.RESTORE_MODULE_MEASURE, baseline_objects, run.seconds, module.get("peak_rss_mib"),
                            vs_raw_post=run.seconds / raw_seconds, module_process_seconds=module.get("seconds"),
                            playbook_tree_peak_rss_mib=run.tree_peak_rss_mib)

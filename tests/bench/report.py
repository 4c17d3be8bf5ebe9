"""The benchmark table, the verdict on the issue's targets, and progress lines."""

import sys
import time

RAW_LIST_TARGET = 1.25
PLAYBOOK_RAW_LIST_TARGET = 1.5
RAW_POST_TARGET = 1.2
K8S_INFO_TARGET = 20.0
PEAK_RSS_TARGET_MIB = 300.0
PEAK_RSS_TARGET_SIZE = 100000

_COLUMNS = ("size", "measure", "objects", "seconds", "objects/s", "peak RSS MiB", "vs baseline", "vs k8s_info loop")
_FORMAT = "%7s  %-46s %8s %9s %10s %13s %12s %17s\n"


def log(message):
    """A progress line on stderr (the table goes to stdout)."""
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


def table_row(measure, objects, seconds, peak_rss_mib=None, **extra):
    """One row of the table (and of results.json); extra keys go to results.json."""
    row = {"measure": measure, "objects": objects, "seconds": seconds,
           "objects_per_second": objects / seconds if seconds and objects else None, "peak_rss_mib": peak_rss_mib}
    row.update(extra)
    return row


def _number(value, pattern):
    return "-" if value is None else pattern % value


def _k8s_info_column(row):
    if row["measure"] == K8S_INFO_MEASURE:
        return "1.0x" if row.get("seconds") else "not measured"
    return _number(row.get("k8s_info_speedup"), "%.1fx faster")


def _vs_baseline(row):
    """Backup rows against the sequential raw LIST, restore rows against the parallel raw POSTs."""
    return _number(row.get("vs_raw_list", row.get("vs_raw_post")), "%.2fx")


def table(results):
    """The printed table: one block of rows per size."""
    lines = [_FORMAT % _COLUMNS]
    for size in results["sizes"]:
        for row in size["rows"]:
            lines.append(_FORMAT % (
                size["generated"], row["measure"], _number(row.get("objects"), "%d"), _number(row.get("seconds"), "%.2f"),
                _number(row.get("objects_per_second"), "%.0f"), _number(row.get("peak_rss_mib"), "%.0f"),
                _vs_baseline(row), _k8s_info_column(row)))
        lines.append("%7s  workload: %d objects (%d generated, %d the emulator's own) of %d resource types, %.0f bytes of JSON each "
                     "on average; archive %.1f MB (every object stored twice, as Velero does)\n"
                     % ("", size["objects"], size["generated"], size["objects"] - size["generated"], size["resource_types"],
                        size["served_bytes"] / float(size["objects"]), size["archive_bytes"] / 1e6))
        restore = size.get("restore")
        if restore:
            totals = restore["engine_totals"]
            lines.append("%7s  restore: of the backup's %d objects, %d are created (by the restore, and by the baseline's POSTs); the restore"
                         " leaves %s (already in a fresh cluster, or never restored)\n"
                         % ("", restore["backup_items"], restore["baseline_objects"],
                            ", ".join("%d %s" % (count, action) for action, count in sorted(totals.items()) if action != "create") or "none"))
        lines.append("\n")
    return "".join(lines)


RAW_SEQUENTIAL_MEASURE = "raw paginated LIST, sequential (baseline)"
RAW_PARALLEL_MEASURE = "raw paginated LIST, %d in parallel"
DISCOVERY_MEASURE = "API discovery (in backup, not in baseline)"
ENGINE_MEASURE = "backup, engine in a subprocess"
MODULE_MEASURE = "backup, ansible-playbook kubesafe.k8s.backup"
PLAYBOOK_FLOOR_MEASURE = "ansible-playbook of one ping task (the floor)"
FIXED_COST_MEASURE = "backup playbook of one empty namespace (fixed cost)"
K8S_INFO_MEASURE = "ansible-playbook k8s_info loop + YAML files"
RAW_POST_MEASURE = "raw POSTs, %d in parallel (restore baseline)"
RESTORE_ENGINE_MEASURE = "restore, engine in a subprocess"
RESTORE_MODULE_MEASURE = "restore, ansible-playbook kubesafe.k8s.restore"


def _restore_targets(size, rows):
    engine = rows.get(RESTORE_ENGINE_MEASURE)
    if not engine:
        return [("restore <= %.2gx raw parallel POST time (engine)" % RAW_POST_TARGET, size["generated"], "-", "NOT MEASURED: skipped (--skip-restore)")]
    ratio = engine["vs_raw_post"]
    verdicts = [("restore <= %.2gx raw parallel POST time (engine)" % RAW_POST_TARGET, size["generated"], "%.2fx" % ratio,
                 "PASS" if ratio <= RAW_POST_TARGET else "MISS")]
    if size["generated"] >= PEAK_RSS_TARGET_SIZE:
        module = rows.get(RESTORE_MODULE_MEASURE)
        measured = module if module and module.get("peak_rss_mib") is not None else engine
        rss = measured["peak_rss_mib"]
        what = "module process" if measured is module else "engine process"
        verdicts.append(("restore peak RSS < %.0f MiB at %dk objects (%s)" % (PEAK_RSS_TARGET_MIB, size["generated"] // 1000, what),
                         size["generated"], "%.0f MiB" % rss, "PASS" if rss < PEAK_RSS_TARGET_MIB else "MISS"))
    return verdicts


def targets(results):
    """[(target, size, measured text, verdict)]: PASS, MISS or NOT MEASURED."""
    verdicts = []
    for size in results["sizes"]:
        rows = dict((row["measure"], row) for row in size["rows"])
        engine = rows.get(ENGINE_MEASURE)
        if engine:
            ratio = engine["vs_raw_list"]
            verdicts.append(("backup <= %.2fx raw LIST time (engine vs sequential LIST)" % RAW_LIST_TARGET, size["generated"],
                             "%.2fx" % ratio, "PASS" if ratio <= RAW_LIST_TARGET else "MISS"))
        module = rows.get(MODULE_MEASURE)
        if module and module.get("seconds") is not None:
            ratio = module["vs_raw_list"]
            verdicts.append(("backup <= %.2gx raw LIST time (ansible-playbook vs sequential LIST)" % PLAYBOOK_RAW_LIST_TARGET, size["generated"],
                             "%.2fx" % ratio, "PASS" if ratio <= PLAYBOOK_RAW_LIST_TARGET else "MISS"))
        k8s_info = rows.get(K8S_INFO_MEASURE)
        label = ">= %.0fx faster than the k8s_info loop (playbook vs playbook)" % K8S_INFO_TARGET
        if module and k8s_info and k8s_info.get("seconds") is not None:
            speedup = module["k8s_info_speedup"]
            verdicts.append((label, size["generated"], "%.1fx" % speedup, "PASS" if speedup >= K8S_INFO_TARGET else "MISS"))
        else:
            reason = (k8s_info or {}).get("not_measured") or ("the module playbook was not run" if not module else "skipped (--skip-k8s-info)")
            verdicts.append((label, size["generated"], "-", "NOT MEASURED: %s" % reason))
        if size["generated"] >= PEAK_RSS_TARGET_SIZE:
            measured = module if module and module.get("peak_rss_mib") is not None else engine
            if measured:
                rss = measured["peak_rss_mib"]
                what = "module process" if measured is module else "engine process"
                verdicts.append(("backup peak RSS < %.0f MiB at %dk objects (%s)" % (PEAK_RSS_TARGET_MIB, size["generated"] // 1000, what),
                                 size["generated"], "%.0f MiB" % rss, "PASS" if rss < PEAK_RSS_TARGET_MIB else "MISS"))
        verdicts.extend(_restore_targets(size, rows))
    if not any(size["generated"] >= PEAK_RSS_TARGET_SIZE for size in results["sizes"]):
        verdicts.append(("peak RSS < %.0f MiB at %dk objects (backup and restore)" % (PEAK_RSS_TARGET_MIB, PEAK_RSS_TARGET_SIZE // 1000), PEAK_RSS_TARGET_SIZE,
                         "-", "NOT MEASURED: no size of %d or more in --sizes" % PEAK_RSS_TARGET_SIZE))
    return verdicts


def _fixed_costs(results):
    """(size, "S s = R x the LIST") of the backup playbook of an empty namespace, per size."""
    for size in results["sizes"]:
        row = next((row for row in size["rows"] if row["measure"] == FIXED_COST_MEASURE), None)
        if row and row.get("seconds") is not None:
            yield size["generated"], "%.2f s = %.2fx the LIST" % (row["seconds"], row["vs_raw_list"])


def targets_text(results):
    lines = ["Targets:\n"]
    for target, size, measured, verdict in targets(results):
        lines.append("  %-72s %7s  %9s  %s\n" % (target, size, measured, verdict))
    return "".join(lines)


def notes(results, repeats, results_file):
    """How to read the table."""
    parallel = ["%d: %.2fx" % (size["generated"], row["vs_raw_list_parallel"]) for size in results["sizes"]
                for row in size["rows"] if row["measure"] == ENGINE_MEASURE]
    lines = [
        "Notes:",
        "- Raw LIST and engine backup: medians of %d interleaved rounds, after a warm-up LIST; every round is in %s." % (repeats, results_file),
        "- Baseline: the sequential raw LIST (KubeClient.list_pages, limit 500, JSON-decoded, objects counted and dropped) of",
        "  the resource types the backup reads. %d parallel LISTs are no faster here: JSON decoding holds the GIL. Engine" % results["parallelism"],
        "  backup vs the parallel LIST: %s." % (", ".join(parallel) or "-"),
        "- The backup's time includes API discovery and the extra LISTs of namespaces and CRDs; the baseline's does not.",
        "- Engine: from creating the client to the committed backup (or the restore's report), in a subprocess (imports excluded);",
        "  peak RSS is that process's VmHWM (imports included; not its ru_maxrss, which keeps the peak of the benchmark process it",
        "  was started from across exec). ansible-playbook rows: wall time of the whole ansible-playbook run.",
        "- kubesafe.k8s.backup and .restore peak RSS: the module process alone (ru_maxrss via wait4, tests/bench/rss_interpreter.py).",
        "- The backup playbook's time before its first object (the ping floor, the module's start and imports, discovery, an",
        "  empty LIST per resource type, the sidecars): %s. The playbook target leaves the objects the rest of 1.5x the LIST."
        % (", ".join("%d: %s" % (size, fixed) for size, fixed in _fixed_costs(results)) or "-"),
        "- k8s_info loop peak RSS: the largest process of the ansible-playbook run (ru_maxrss of ansible-playbook via wait4,",
        "  which covers every descendant it waited for): an ansible-playbook process holding every registered object.",
    ]
    restored = [size for size in results["sizes"] if size.get("restore")]
    if restored:
        rows = [dict((row["measure"], row) for row in size["rows"]) for size in restored]
        raw_post_rows = [next(row for measure, row in by_measure.items() if measure.startswith("raw POSTs")) for by_measure in rows]
        lines += [
            "- Restore: from the last engine backup, each measure into a fresh emulator process (--no-controllers: nothing but the",
            "  restore writes). Raw POSTs and engine restore: medians of interleaved rounds (rounds per size: %s), as many as"
            % ", ".join("%d: %d" % (size["generated"], row["rounds"]) for size, row in zip(restored, raw_post_rows)),
            "  fit in --restore-seconds; the kubesafe.k8s.restore playbook runs once.",
            "- Restore baseline: KubeClient.request POSTs of the objects the restore creates (the same count, checked), %d threads"
            % results["restore_parallelism"],
            "  (the restore's parallelism), CRDs, then namespaces, then the rest. Only the POSTs are timed: reading the archive and",
            "  stripping server-set fields (uid, resourceVersion, ..., status, Service clusterIPs and nodePorts) happens before",
            "  the clock starts (%s); the restore's time includes reading the archive, its rules, discovery and the record."
            % ", ".join("%d: %.1f s" % (size["generated"], row["prepare_seconds"]) for size, row in zip(restored, raw_post_rows)),
        ]
        lines += ["- %s at %d: not measured, %s" % (RESTORE_MODULE_MEASURE, size["generated"], by_measure[RESTORE_MODULE_MEASURE]["not_measured"])
                  for size, by_measure in zip(restored, rows) if by_measure[RESTORE_MODULE_MEASURE].get("not_measured")]
    return "".join(line + "\n" for line in lines)

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the restore records of a location: ``list_restores`` with filters, ``describe_restore`` for one.

A restore leaves ``restores/<name>/`` in the location of its backup:
``restore-<name>-results.gz`` (Velero's errors and warnings document),
``restore-<name>-logs.gz`` (the run log) and, from this collection,
``restore-<name>-report.json`` (the module's result). Velero writes the first
two for its restores too, so records Velero wrote are listed as well, with
what their files hold. Any file may be missing: a record is never trusted to
be complete (writing it is best effort), and what is missing is named in
``notes``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.run_log import read_log
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError, ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound
from ansible_collections.kubesafe.k8s.plugins.module_utils.suggestions import names_hint

RESTORES_DIR = "restores"
FORMAT_KUBESAFE = "kubesafe"
FORMAT_VELERO = "velero"
# Restore names quoted in a "does not exist" message.
_NAMES_SHOWN = 10


def record_files(name):
    """Keys of a restore record's files."""
    prefix = "%s/%s/restore-%s-" % (RESTORES_DIR, name, name)
    return {"results": prefix + "results.gz", "logs": prefix + "logs.gz", "report": prefix + "report.json"}


def _check_name(name):
    if not isinstance(name, str) or not name.strip() or "/" in name or name.strip() in (".", ".."):
        raise ConfigurationError("name %r is not a restore name: give the name of a directory under restores/" % (name,))
    return name.strip()


def _read_report(location, key, notes):
    try:
        report = json.loads(location.get_bytes(key))
    except ObjectNotFound:
        return None
    except ValueError as exc:
        notes.append("%s is not valid JSON (%s): phase and counts unknown" % (key.rsplit("/", 1)[-1], exc))
        return None
    if not isinstance(report, dict):
        notes.append("%s does not hold a restore report: phase and counts unknown" % key.rsplit("/", 1)[-1])
        return None
    return report


def _read_results(location, key, notes):
    try:
        results = velero_format.gunzip_json(location.get_bytes(key), key.rsplit("/", 1)[-1])
    except ObjectNotFound:
        return None
    except BackupFormatError as exc:
        notes.append(str(exc))
        return None
    return results if isinstance(results, dict) else None


def _summary(location, name, files, want_details):
    keys = record_files(name)
    notes = []
    # ``files`` is the listing already made: a file that is not there costs no request.
    report = _read_report(location, keys["report"], notes) if keys["report"].rsplit("/", 1)[-1] in files else None
    results = _read_results(location, keys["results"], notes) if keys["results"].rsplit("/", 1)[-1] in files else None
    report = report or {}
    if results is not None:
        error_messages = velero_format.result_messages(results.get("errors"))
        warning_messages = velero_format.result_messages(results.get("warnings"))
    else:
        error_messages = [str(message) for message in report.get("errors") or []]
        warning_messages = [str(message) for message in report.get("warnings") or []]
        notes.append("no readable results file: messages come from the report" if report else
                     "no readable results file: errors and warnings unknown")
    if not report:
        notes.append("no report (a restore Velero made, or its record could not be written): phase, backup and counts unknown")
    summary = {
        "name": name,
        "format": FORMAT_KUBESAFE if report else FORMAT_VELERO,
        "backup": report.get("backup"),
        "phase": report.get("phase"),
        "start_timestamp": report.get("start_timestamp"),
        "completion_timestamp": report.get("completion_timestamp"),
        "duration_seconds": report.get("duration_seconds"),
        "totals": report.get("totals") or {},
        "errors": len(error_messages),
        "warnings": len(warning_messages),
        "files": files,
    }
    if want_details:
        summary.update({
            "counts": report.get("counts") or {},
            "error_messages": error_messages,
            "warning_messages": warning_messages,
            "failed_objects": [obj for obj in report.get("objects") or [] if obj.get("action") == "failed"],
            "waits": report.get("waits") or [],
            "volumes": report.get("volumes") or [],
            "hooks": report.get("hooks") or [],
            "notes": notes,
        })
    return summary


def _record_files(location, name=None):
    """{restore name: {file name: size}} of the directories under restores/ (only ``name``'s when given)."""
    prefix = "%s/%s" % (RESTORES_DIR, name) if name else RESTORES_DIR
    records = {}
    for key, size in location.list(prefix):
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != RESTORES_DIR:
            continue
        records.setdefault(parts[1], {})["/".join(parts[2:])] = size
    return records


def list_restores(location, name=None, backup=None, phase=None):
    """Summaries of the restore records, newest first (records without a start time last, by name)."""
    if name is not None:
        name = _check_name(name)
    phases = None if phase is None else set([phase] if isinstance(phase, str) else phase)
    summaries = []
    for record_name, files in sorted(_record_files(location, name).items()):
        summary = _summary(location, record_name, files, want_details=False)
        if backup and summary["backup"] != backup:
            continue
        if phases is not None and summary["phase"] not in phases:
            continue
        summaries.append(summary)
    dated = sorted((s for s in summaries if s["start_timestamp"]), key=lambda s: (s["start_timestamp"], s["name"]), reverse=True)
    return dated + [s for s in summaries if not s["start_timestamp"]]


def describe_restore(location, name, log_lines=0):
    """One restore record in detail; ``log_lines``: the last lines of its log (0: none, -1: all)."""
    name = _check_name(name)
    files = _record_files(location, name).get(name)
    if not files:
        hint = (names_hint(name, location.list_dirs(RESTORES_DIR), "restores", shown=_NAMES_SHOWN)
                or "the location holds no restore records: check location (and location_config)")
        raise ObjectNotFound("restore '%s' does not exist in %s (%s)" % (name, location.url, hint))
    summary = _summary(location, name, files, want_details=True)
    if log_lines:
        summary["log"] = read_log(location, record_files(name)["logs"], log_lines, summary["notes"])
    return summary

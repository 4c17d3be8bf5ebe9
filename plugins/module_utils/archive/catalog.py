# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the backups of a location: ``list_backups`` with filters, ``describe_backup`` for one.

Backups this collection wrote and backups Velero wrote read the same way:
everything comes from ``velero-backup.json`` and the sidecars, and any
sidecar may be missing (older Velero versions do not write all of them).
A directory under ``backups/`` without ``velero-backup.json`` is an
interrupted run, or one being written right now: it is not a backup, and is
listed only when asked for (``include_incomplete``), so that it can be found
and pruned. Unfinished writes count: a run killed while it was still
writing its tarball leaves only a temporary file (or an S3 multipart upload
that was never completed), and that is an incomplete backup too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import contextlib
import datetime
import json
import os
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.run_log import read_log
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import BACKUP_ANNOTATION
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError, ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import (
    DEFAULT_LOCATION, Location, ObjectNotFound, open_location, resolve_location_config)
from ansible_collections.kubesafe.k8s.plugins.module_utils.paths import user_path
from ansible_collections.kubesafe.k8s.plugins.module_utils.suggestions import names_hint

BACKUPS_DIR = "backups"
FORMAT_KUBESAFE = "kubesafe"
FORMAT_VELERO = "velero"
MARKER_FILE = "velero-backup.json"
# velero-backup.json files read at once: listing a bucket costs one GET per backup.
READ_PARALLELISM = 8
# Backup names quoted in a "does not exist" message.
_NAMES_SHOWN = 10
INCOMPLETE_PROBLEM = ("velero-backup.json is missing: the backup was interrupted before its commit, "
                      "or is being written right now")


# ---------------------------------------------------------------- options


def check_backup_name(name):
    """``name`` as a directory name under backups/; raises ConfigurationError otherwise."""
    if not isinstance(name, str) or not name.strip() or "/" in name or name.strip() in (".", ".."):
        raise ConfigurationError("name %r is not a backup name: give the name of a directory under backups/, such as nightly-20240101020000"
                                 % (name,))
    return name.strip()


def _label_text(value):
    """A label value as written in YAML: ``true`` stays ``true``, not ``True``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _check_labels(labels):
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise ConfigurationError("labels must be a mapping of label names to values, such as {schedule: nightly}, not %r" % (labels,))
    return dict((str(key), _label_text(value)) for key, value in labels.items())


def _check_phases(phase):
    if phase is None:
        return None
    phases = [phase] if isinstance(phase, str) else list(phase)
    unknown = [value for value in phases if value not in velero_format.BACKUP_PHASES]
    if unknown:
        raise ConfigurationError("phase %s is not a backup phase; use one of %s"
                                 % (", ".join(repr(value) for value in unknown), ", ".join(velero_format.BACKUP_PHASES)))
    return set(phases) or None


def _check_age(value, what):
    if value is None or value == "":
        return None
    duration = velero_format.parse_go_duration(value, what)
    if duration < datetime.timedelta():
        raise ConfigurationError("%s '%s' is negative: give an age such as 24h or 168h" % (what, value))
    return duration


# ---------------------------------------------------------------- reading the location


class _AbsentDirectory(Location):
    """A local location that does not exist: it holds no backups, and reading it must not create it."""

    def __init__(self, path):
        self.url = user_path(path)

    def list(self, prefix=""):
        return iter(())

    def list_dirs(self, prefix=""):
        return iter(())

    def list_partial(self, prefix=""):
        return iter(())


def open_location_to_read(location, config=None):
    """``open_location`` for readers: a missing local directory is an empty location, not created."""
    location = (location or DEFAULT_LOCATION).strip()
    if "://" not in location and not os.path.exists(user_path(location)):
        resolve_location_config(config, use_environment=False)  # still catches misspelt options
        return _AbsentDirectory(location)
    return open_location(location, config)


def _backup_files(location, name=None):
    """{backup name: {file name: size}} of the directories under backups/ (only ``name``'s when given)."""
    prefix = velero_format.backup_dir(name) if name else BACKUPS_DIR
    backups = {}
    for key, size in location.list(prefix):
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != BACKUPS_DIR:
            continue  # an object directly under backups/ is not a backup
        backups.setdefault(parts[1], {})["/".join(parts[2:])] = size
    return backups


def _partial_writes(location, name=None):
    """{backup name: [unfinished writes]} under backups/ (only ``name``'s when given); see Location.list_partial."""
    prefix = velero_format.backup_dir(name) if name else BACKUPS_DIR
    partial = {}
    for write in location.list_partial(prefix):
        parts = write["key"].split("/")
        if len(parts) >= 3 and parts[0] == BACKUPS_DIR:
            partial.setdefault(parts[1], []).append(write)
    return partial


def _partial_entry(name, write):
    """An unfinished write as reported: the file it was to become, relative to the backup's directory."""
    inside = velero_format.backup_dir(name)
    target = write.get("target") or write["key"]
    return {"file": target[len(inside):] if target.startswith(inside) else target, "size": write["size"], "kind": write["kind"],
            "last_written": velero_format.format_timestamp(write["last_written"])}


def _describe_incomplete(location, name, files, partial, now):
    """What an incomplete backup directory holds: committed files, unfinished writes, when it was last written and how long ago."""
    written = location.last_modified(velero_format.backup_dir(name))
    return {
        "files": dict(sorted(files.items())),
        "partial_files": [_partial_entry(name, write) for write in partial],
        "last_written": velero_format.format_timestamp(written) if written else None,
        "age": velero_format.format_go_duration(max(now - written, datetime.timedelta())) if written else None,
    }


def _read_marker(location, name, files):
    """(the Backup object, None) or (None, why there is none) for one backup directory."""
    if MARKER_FILE not in files:
        return None, INCOMPLETE_PROBLEM
    key = velero_format.file_names(name)["metadata"]
    try:
        data = location.get_bytes(key)
    except ObjectNotFound:
        return None, "velero-backup.json was deleted while reading the location"
    try:
        return velero_format.decode_backup(data, expected_name=name, what=key), None
    except BackupFormatError as exc:
        return None, str(exc)


def _read_markers(location, backups):
    """{name: (backup, problem)}, reading the velero-backup.json files in parallel (one request each on S3)."""
    names = sorted(backups)
    if len(names) <= 1:
        return dict((name, _read_marker(location, name, backups[name])) for name in names)
    with ThreadPoolExecutor(max_workers=min(READ_PARALLELISM, len(names))) as pool:
        results = pool.map(lambda name: _read_marker(location, name, backups[name]), names)
        return dict(zip(names, results))


# ---------------------------------------------------------------- summaries


def _time(value, what):
    """(normalised text, aware datetime) of a timestamp; a malformed one is kept as text, with no time."""
    if not value:
        return None, None
    try:
        parsed = velero_format.parse_timestamp(value, what)
    except BackupFormatError:
        return value, None
    return velero_format.format_timestamp(parsed), parsed


def _selector_text(selector):
    if not isinstance(selector, dict):
        return None
    return velero_format.label_selector_to_string(selector) or None


def _summary(name, files, backup, problem, now, location=None, partial=()):
    """The summary of one backup directory (``_time`` is kept for sorting and filtering, then removed).

    An incomplete one (``backup`` None) also says what it holds (``_describe_incomplete``; needs ``location``).
    """
    manifest_file = velero_format.file_names(name)["manifest"].rsplit("/", 1)[-1]
    summary = {
        "name": name,
        "complete": backup is not None,
        "format": FORMAT_KUBESAFE if manifest_file in files else FORMAT_VELERO,
        "size": sum(files.values()) + sum(write["size"] for write in partial),
        "problem": problem,
        "_time": None,
    }
    if backup is None:
        if location is not None:
            summary.update(_describe_incomplete(location, name, files, partial, now))
        summary.update({
            "phase": None, "start_timestamp": None, "completion_timestamp": None, "expiration": None, "expired": False,
            "ttl": None, "storage_location": None, "labels": {}, "items_backed_up": 0, "total_items": 0,
            "warnings": 0, "errors": 0, "failure_reason": None, "included_namespaces": [], "excluded_namespaces": [],
            "included_resources": [], "excluded_resources": [], "include_cluster_resources": None, "label_selector": None,
            "or_label_selectors": [], "snapshot_volumes": None, "format_version": None, "encryption": None,
        })
        return summary
    metadata = backup.get("metadata") or {}
    spec = backup.get("spec") or {}
    status = backup.get("status") or {}
    progress = status.get("progress") or {}
    # Written by the backup module when the backup is encrypted: none, secrets or all.
    summary["encryption"] = (metadata.get("annotations") or {}).get(BACKUP_ANNOTATION, "none")
    labels = metadata.get("labels") or {}
    start, start_time = _time(status.get("startTimestamp"), "status.startTimestamp")
    completion = _time(status.get("completionTimestamp"), "status.completionTimestamp")[0]
    expiration, expiration_time = _time(status.get("expiration"), "status.expiration")
    # A backup that never started (FailedValidation) has no start: its creation time dates it.
    summary["_time"] = start_time or _time(metadata.get("creationTimestamp"), "metadata.creationTimestamp")[1]
    summary.update({
        "phase": status.get("phase") or "New",  # Velero's empty phase
        "start_timestamp": start,
        "completion_timestamp": completion,
        "expiration": expiration,
        "expired": expiration_time is not None and expiration_time <= now,
        "ttl": spec.get("ttl"),
        "storage_location": spec.get("storageLocation") or labels.get(velero_format.STORAGE_LOCATION_LABEL),
        "labels": dict(labels),
        "items_backed_up": progress.get("itemsBackedUp") or 0,
        "total_items": progress.get("totalItems") or 0,
        "warnings": status.get("warnings") or 0,
        "errors": status.get("errors") or 0,
        "failure_reason": status.get("failureReason"),
        # Velero reads an empty include list as everything.
        "included_namespaces": list(spec.get("includedNamespaces") or ["*"]),
        "excluded_namespaces": list(spec.get("excludedNamespaces") or []),
        "included_resources": list(spec.get("includedResources") or ["*"]),
        "excluded_resources": list(spec.get("excludedResources") or []),
        "include_cluster_resources": spec.get("includeClusterResources"),
        "label_selector": _selector_text(spec.get("labelSelector")),
        "or_label_selectors": [text for text in (_selector_text(s) for s in spec.get("orLabelSelectors") or []) if text],
        "snapshot_volumes": spec.get("snapshotVolumes"),
        "format_version": status.get("formatVersion"),
    })
    return summary


def _matches(summary, labels, phases, newer_than, older_than, now):
    if phases is not None and summary["phase"] not in phases:
        return False
    if any(summary["labels"].get(key) != value for key, value in labels.items()):
        return False
    when = summary["_time"]
    if (newer_than is not None or older_than is not None) and when is None:
        return False  # an age filter cannot keep a backup of unknown age
    if newer_than is not None and when < now - newer_than:
        return False
    if older_than is not None and when >= now - older_than:
        return False
    return True


def _sorted(summaries):
    """Newest first; backups of unknown age (incomplete ones) last, by name."""
    dated = sorted((s for s in summaries if s["_time"] is not None), key=lambda s: (s["_time"], s["name"]), reverse=True)
    undated = sorted((s for s in summaries if s["_time"] is None), key=lambda s: s["name"])
    return dated + undated


def _public(summary):
    return dict((key, value) for key, value in summary.items() if not key.startswith("_"))


def list_backups(location, name=None, labels=None, newer_than=None, older_than=None, phase=None, include_incomplete=False, now=None):
    """Summaries of the backups in ``location``, newest first.

    ``name``: only that backup. ``labels``: a dict, every label must match.
    ``newer_than`` / ``older_than``: Go durations (``24h``) relative to ``now``,
    compared with the start time. ``phase``: a phase or a list of phases.
    Incomplete directories (no velero-backup.json, or an unreadable one) are
    left out unless ``include_incomplete``; they have no phase, labels or age,
    so only the name filter can keep them.
    """
    name = check_backup_name(name) if name is not None else None
    labels = _check_labels(labels)
    phases = _check_phases(phase)
    newer_than = _check_age(newer_than, "newer_than")
    older_than = _check_age(older_than, "older_than")
    now = now or velero_format.utc_now()

    backups = _backup_files(location, name)
    partial = _partial_writes(location, name) if include_incomplete else {}
    for backup_name in partial:
        backups.setdefault(backup_name, {})
    markers = _read_markers(location, backups)
    summaries = []
    for backup_name, files in backups.items():
        backup, problem = markers[backup_name]
        if backup is None and not include_incomplete:
            continue
        summary = _summary(backup_name, files, backup, problem, now, location, partial.get(backup_name, ()))
        if _matches(summary, labels, phases, newer_than, older_than, now):
            summaries.append(summary)
    return [_public(summary) for summary in _sorted(summaries)]


# ---------------------------------------------------------------- the backup a restore, diff or verify reads

LATEST = "latest"


def resolve_backup(location, name, options_hint="backup and location"):
    """(name, Backup object of velero-backup.json) for ``name``, or for ``latest``: the newest Completed backup.

    A PartiallyFailed backup lacks what failed at backup time: it is taken only when named (see
    ``partial_backup_warning``); other phases never. ``options_hint`` names the options to check
    in the "does not exist" message.
    """
    name = (name or LATEST).strip()
    if name == LATEST:
        summaries = list_backups(location, phase=velero_format.RESTORABLE_PHASES)
        completed = [b for b in summaries if b["phase"] == "Completed"]
        if not completed:
            partial = [b["name"] for b in summaries]
            raise ConfigurationError("backup 'latest': no Completed backup in %s%s" % (location.url, (
                " (PartiallyFailed ones, which lack what failed at backup time: %s; name one in backup to take it anyway)"
                % ", ".join(partial[:_NAMES_SHOWN])) if partial else ""))
        name = completed[0]["name"]
    files = velero_format.file_names(name)
    try:
        # Listing first: a local location that does not exist holds nothing, and is not created by reading.
        if files["metadata"] not in {key for key, _size in location.list(velero_format.backup_dir(name))}:
            raise ObjectNotFound(files["metadata"])
        backup = velero_format.decode_backup(location.get_bytes(files["metadata"]), expected_name=name)
    except ObjectNotFound:
        existing = names_hint(name, location.list_dirs(BACKUPS_DIR), "backups", shown=_NAMES_SHOWN)
        raise ConfigurationError("backup '%s' does not exist in %s (no %s; %s): check %s" % (
            name, location.url, MARKER_FILE, existing or "the location holds no backups", options_hint))
    phase = (backup.get("status") or {}).get("phase")
    if phase not in velero_format.RESTORABLE_PHASES:
        raise ConfigurationError("backup '%s' has phase %s: only %s backups hold a complete archive"
                                 % (name, phase, " or ".join(velero_format.RESTORABLE_PHASES)))
    return name, backup


def partial_backup_warning(name, backup):
    """The warning for reading a PartiallyFailed backup (named explicitly), or None for a Completed one."""
    status = backup.get("status") or {}
    if status.get("phase") != "PartiallyFailed":
        return None
    return ("backup '%s' is PartiallyFailed (%s error(s) at backup time): the objects its errors name are not in it; "
            "read them with backup_info (error_messages) or in %s" % (name, status.get("errors") or "unknown",
                                                                      velero_format.file_names(name)["results"]))


# ---------------------------------------------------------------- describing one backup


def _not_found(location, name):
    hint = (names_hint(name, location.list_dirs(BACKUPS_DIR), "backups", shown=_NAMES_SHOWN)
            or "the location holds no backups: check location (and location_config)")
    return ObjectNotFound("backup '%s' does not exist in %s (%s)" % (name, location.url, hint))


def _entry(key, entry):
    """A resource list entry (``apps/v1/Deployment``, ``shop/web``) as a dict."""
    api_version, _sep, kind = key.rpartition("/")
    namespace, _sep, name = entry.rpartition("/")
    return {"api_version": api_version, "kind": kind, "namespace": namespace or None, "name": name}


def _resource_list_from_archive(location, key):
    """The resource list rebuilt from the tarball: the fallback when the sidecar is missing (reads the whole archive)."""
    resource_list = {}
    with contextlib.closing(location.open_read(key)) as stream:
        for item in ArchiveReader(stream, source=key):
            api_version, kind = item.obj.get("apiVersion"), item.obj.get("kind")
            # An item without apiVersion/kind (not written by Velero or us) is counted under its group/resource.
            list_key = velero_format.resource_list_key(api_version, kind) if api_version and kind else item.group_resource
            resource_list.setdefault(list_key, []).append("%s/%s" % (item.namespace, item.name) if item.namespace else item.name)
    return resource_list


def _read_resource_list(location, name, files, notes):
    keys = velero_format.file_names(name)
    resource_list_key, contents_key = keys["resource_list"], keys["contents"]
    if resource_list_key.rsplit("/", 1)[-1] in files:
        try:
            resource_list = velero_format.gunzip_json(location.get_bytes(resource_list_key), resource_list_key)
            if isinstance(resource_list, dict):
                return resource_list
            notes.append("%s does not hold a resource list (a JSON object)" % resource_list_key)
        except BackupFormatError as exc:
            notes.append(str(exc))
    if contents_key.rsplit("/", 1)[-1] not in files:
        if keys["contents_encrypted"].rsplit("/", 1)[-1] in files:
            notes.append("the resource list sidecar is missing and the archive is encrypted: counts are unknown")
        else:
            notes.append("the backup has no tarball (%s): it holds no objects" % contents_key)
        return None
    notes.append("the resource list sidecar is missing or unreadable: counts were read from the tarball")
    try:
        return _resource_list_from_archive(location, contents_key)
    except BackupFormatError as exc:
        notes.append(str(exc))
        return None


def _read_sidecar(location, key, files, notes, default):
    if key.rsplit("/", 1)[-1] not in files:
        return default
    try:
        return velero_format.gunzip_json(location.get_bytes(key), key)
    except BackupFormatError as exc:
        notes.append(str(exc))
        return default


def _read_manifest(location, key, files, notes):
    if key.rsplit("/", 1)[-1] not in files:
        return None
    try:
        manifest = json.loads(location.get_bytes(key))
    except ValueError as exc:
        notes.append("%s is not valid JSON: %s" % (key, exc))
        return None
    return manifest if isinstance(manifest, dict) else None


def describe_backup(location, name, include_contents=False, contents_limit=None, now=None, log_lines=0):
    """The summary of backup ``name`` plus everything known about it.

    Adds ``annotations``, ``spec`` and ``status`` (from velero-backup.json),
    ``files`` (name: size), ``resource_counts`` (per resource, as the backup
    result counts them: ``deployments.apps``) and ``namespace_counts``, ``warning_messages`` and
    ``error_messages`` (the results sidecar), ``volume_snapshots``,
    ``manifest`` (this collection's, None for Velero's backups), ``notes``
    (sidecars missing or unreadable) and, with ``include_contents``,
    ``contents`` (at most ``contents_limit`` entries) and ``contents_truncated``;
    with ``log_lines``, ``log``: the last lines of the run log (-1: all of it).
    Raises ObjectNotFound when the location has no such backup directory.
    """
    name = check_backup_name(name)
    if contents_limit is not None and contents_limit < 0:
        raise ConfigurationError("contents_limit must be 0 or more, got %s" % contents_limit)
    now = now or velero_format.utc_now()
    files = _backup_files(location, name).get(name)
    partial = _partial_writes(location, name).get(name, [])
    if not files and not partial:
        raise _not_found(location, name)
    files = files or {}
    backup, problem = _read_marker(location, name, files)
    details = _public(_summary(name, files, backup, problem, now, location, partial))
    keys = velero_format.file_names(name)
    notes = []
    metadata = (backup or {}).get("metadata") or {}
    details["annotations"] = dict(metadata.get("annotations") or {})
    details["spec"] = (backup or {}).get("spec") or {}
    details["status"] = (backup or {}).get("status") or {}
    details["files"] = dict(sorted(files.items()))

    resource_list = _read_resource_list(location, name, files, notes)
    manifest = _read_manifest(location, keys["manifest"], files, notes)
    resource_counts = collections.Counter()
    namespace_counts = collections.Counter()
    entries = []
    for key in sorted(resource_list or {}):
        names = resource_list[key] or []
        resource_counts[velero_format.guess_group_resource(key)] += len(names)
        for entry in sorted(names):
            entry = _entry(key, entry)
            entries.append(entry)
            if entry["namespace"]:
                namespace_counts[entry["namespace"]] += 1
    # Keyed as the backup module's result (``deployments.apps``): the manifest's counts, exact, when there is one.
    manifest_counts = (manifest or {}).get("counts")
    details["resource_counts"] = dict(sorted((manifest_counts if isinstance(manifest_counts, dict) else resource_counts).items()))
    details["namespace_counts"] = dict(sorted(namespace_counts.items()))

    results = _read_sidecar(location, keys["results"], files, notes, None)
    if results is None and keys["results"].rsplit("/", 1)[-1] not in files:
        notes.append("the results sidecar is missing: warning and error messages are unknown")
    results = results if isinstance(results, dict) else {}
    details["warning_messages"] = velero_format.result_messages(results.get("warnings"))
    details["error_messages"] = velero_format.result_messages(results.get("errors"))
    try:
        details["volume_snapshots"] = volume_records.read_records(location, name)
    except BackupFormatError as exc:
        details["volume_snapshots"] = []
        notes.append("the volume snapshots are unknown: %s" % exc)
    details["manifest"] = manifest
    if log_lines:
        details["log"] = read_log(location, keys["logs"], log_lines, notes)
    details["notes"] = notes
    if include_contents:
        limit = len(entries) if contents_limit is None else contents_limit
        details["contents"] = entries[:limit]
        details["contents_truncated"] = len(entries) > limit
    return details

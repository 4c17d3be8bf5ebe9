# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleting backups: expired ones, those a keep policy does not keep, and the debris of interrupted runs.

``run_prune(location, PruneOptions(...), check_mode)`` decides with ``retention``
and deletes with ``delete_backup``; every backup considered ends up in one
list of the result, with the reasons: ``deleted`` (would be, in check mode),
``kept``, ``locked`` (S3 Object Lock retention or legal hold still active:
never deleted) and ``failed``.

Deleting a backup removes ``velero-backup.json`` first: from then on the
backup is no longer listed as complete (nor restorable), even if the rest of
the deletion fails; what is left is debris that a later run with
``include_incomplete`` removes. Restores of a deleted backup (the
``restores/<r>/`` records whose report names it) go too, as Velero's backup
deletion removes the restores that reference the backup; the records of
restores Velero made name no backup in the bucket (Velero keeps that in the
Restore object in its cluster) and are left alone.

Named deletion (``names``, ``velero backup delete NAME``) deletes exactly the
backups named, whatever the other rules would say of them or of the others,
in the same order (snapshots, marker, the rest); a name the location does not
hold refuses the whole run before anything is deleted, naming the closest
names it holds.

The debris rule (``include_incomplete``, off by default) deletes directories
without ``velero-backup.json`` (unfinished writes included: temporary files,
S3 multipart uploads never completed) and unfinished writes under
``restores/``, once nothing was written there for ``incomplete_older_than``
(24h by default): a backup still running writes its tarball continuously,
so it is never that old.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import difflib
import json

from ansible_collections.kubesafe.k8s.plugins.module_utils.ops import retention

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import INCOMPLETE_PROBLEM, check_backup_name, list_backups
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError, ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.deletion import delete_recorded_snapshots

RESTORES_DIR = "restores"
DEFAULT_INCOMPLETE_OLDER_THAN = "24h"


class PruneOptions:
    """What to delete; raises ConfigurationError naming the option when a value is wrong."""

    def __init__(self, expired=True, keep_last=None, keep_hourly=None, keep_daily=None, keep_weekly=None, keep_monthly=None,
                 keep_yearly=None, timezone="UTC", labels=None, include_incomplete=False,
                 incomplete_older_than=DEFAULT_INCOMPLETE_OLDER_THAN, delete_restores=True, names=None):
        self.names = _check_names(names)
        self.expired = bool(expired)
        self.keep = dict((rule, retention.check_keep(rule, value)) for rule, value in zip(retention.KEEP_RULES, (
            keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly)))
        self.policy = retention.policy_is_set(self.keep)
        self.timezone_name = timezone or "UTC"
        self.timezone = retention.check_timezone(self.timezone_name)
        self.labels = labels
        self.include_incomplete = bool(include_incomplete)
        self.incomplete_older_than = velero_format.parse_go_duration(incomplete_older_than or DEFAULT_INCOMPLETE_OLDER_THAN,
                                                                     "incomplete_older_than")
        if self.incomplete_older_than < datetime.timedelta():
            raise ConfigurationError("incomplete_older_than '%s' is negative: give an age such as 24h" % incomplete_older_than)
        self.delete_restores = bool(delete_restores)
        if self.names:
            # Exactly the named backups: a rule that picks others would contradict that.
            mixed = [rule for rule in retention.KEEP_RULES if self.keep[rule] is not None]
            mixed += ["include_incomplete"] if self.include_incomplete else []
            mixed += ["labels"] if labels else []
            if mixed:
                raise ConfigurationError("names deletes exactly the backups it names: leave out %s, or run them in a prune of their own"
                                         % ", ".join(mixed))
        elif not (self.expired or self.policy or self.include_incomplete):
            raise ConfigurationError("nothing to prune: set expired: true, a keep rule (%s) or include_incomplete: true"
                                     % ", ".join(retention.KEEP_RULES))


def _check_names(names):
    """The backup names to delete, in order, once each; raises ConfigurationError naming ``names``."""
    if names is None:
        return []
    if isinstance(names, str):
        names = names.split(",")
    checked = []
    for name in names:
        try:
            name = check_backup_name(name)
        except ConfigurationError as exc:
            raise ConfigurationError("names: %s" % exc)
        if name not in checked:
            checked.append(name)
    return checked


def nearest_names(name, existing, count=3):
    """The ``count`` names of ``existing`` closest to ``name`` (a typo), else the newest ones."""
    close = difflib.get_close_matches(name, existing, n=count, cutoff=0.6)
    return close or list(existing)[:count]


# ---------------------------------------------------------------- deleting one backup


def read_volume_snapshots(location, name):
    """(the backup's snapshot records, warnings)."""
    try:
        return volume_records.read_records(location, name), []
    except BackupFormatError as exc:
        return [], ["the volume snapshots of backup '%s' are unknown (%s): check the provider for snapshots left behind" % (name, exc)]


def delete_backup(location, name):
    """Delete backup ``name``: velero-backup.json first, so a half-deleted backup never looks complete; then the rest.

    Files already removed (by hand, or by an earlier interrupted deletion) are fine.
    """
    name = check_backup_name(name)
    location.delete(velero_format.file_names(name)["metadata"])
    location.delete_prefix(velero_format.backup_dir(name))


def restores_by_backup(location):
    """{backup name: [restore names]} from the reports of restores/<r>/ this collection wrote."""
    found = {}
    for restore in location.list_dirs(RESTORES_DIR):
        key = "%s/%s/restore-%s-report.json" % (RESTORES_DIR, restore, restore)
        try:
            report = json.loads(location.get_bytes(key))
        except (ObjectNotFound, ValueError):
            continue  # a Velero restore, or no report: which backup it restored is unknown
        if isinstance(report, dict) and isinstance(report.get("backup"), str):
            found.setdefault(report["backup"], []).append(restore)
    return found


# ---------------------------------------------------------------- deciding


def _entry(backup, reasons):
    entry = {
        "name": backup["name"],
        "complete": backup["complete"],
        "phase": backup.get("phase"),
        "start_timestamp": backup.get("start_timestamp"),
        "expiration": backup.get("expiration"),
        "size": backup.get("size"),
        "reasons": reasons,
    }
    if not backup["complete"]:
        entry.update((key, backup.get(key)) for key in ("last_written", "age", "partial_files"))
    return entry


def _complete_decision(backup, options, expired, policy_kept):
    """(delete reasons, keep reasons) of a complete backup."""
    name = backup["name"]
    delete, keep = [], []
    kept_by = policy_kept.get(name, []) if policy_kept is not None else []
    if name in expired:
        reason = expired[name]
        if kept_by:
            reason += " (the keep rules would keep it: %s; set expired: false to let them decide alone)" % ", ".join(kept_by)
        delete.append(reason)
    if policy_kept is not None and not kept_by:
        if retention.counts_toward_keep(backup):
            delete.append("not kept by the keep rules")
        else:
            delete.append("not kept by the keep rules: a %s backup does not count toward them" % (backup.get("phase") or "phase-less"))
    if not delete:
        keep.extend(kept_by)
        if backup.get("expiration"):
            keep.append("expires at %s" % backup["expiration"] if options.expired else "expiry not applied (expired: false)")
        elif options.expired:
            keep.append("no expiration recorded")
    return delete, keep


def _incomplete_decision(location, backup, options, now):
    """(delete reasons, keep reasons) of a directory without a readable velero-backup.json."""
    if backup.get("problem") != INCOMPLETE_PROBLEM:
        return [], ["velero-backup.json is unreadable (%s): left for inspection, never deleted by prune" % backup.get("problem")]
    written = location.last_modified(velero_format.backup_dir(backup["name"]))
    if written is None:
        return [], ["incomplete and empty"]
    age = now - written
    when = velero_format.format_timestamp(written)
    unfinished = len(backup.get("partial_files") or [])
    held = " and %d unfinished write(s)" % unfinished if unfinished else ""
    if age >= options.incomplete_older_than:
        return ["incomplete debris: no velero-backup.json%s, last written at %s (older than %s)"
                % (held, when, velero_format.format_go_duration(options.incomplete_older_than))], []
    return [], ["incomplete, last written at %s (younger than %s): may be a backup in progress"
                % (when, velero_format.format_go_duration(options.incomplete_older_than))]


def _lock_entry(entry, lock):
    until = lock["until"]
    parts = []
    if until is not None:
        parts.append("%s retention until %s" % (lock["mode"] or "object lock", velero_format.format_timestamp(until)))
    if lock["legal_hold"]:
        parts.append("legal hold on")
    entry = dict(entry)
    entry.update({
        "locked_until": velero_format.format_timestamp(until) if until is not None else None,
        "lock_mode": lock["mode"],
        "legal_hold": lock["legal_hold"],
        "message": "locked (%s): not deleted" % ", ".join(parts),
    })
    return entry


# ---------------------------------------------------------------- the run

# restic prune rewrites packs; bounded so that a huge repository cannot hold the play forever (the next prune goes on).
RESTIC_PRUNE_TIMEOUT_SECONDS = 3600


class PruneRun:
    """One prune of a location; ``run()`` returns the result document."""

    def __init__(self, location, options, check_mode=False, now=None, csi=None, ebs=None, fs_repositories=None):
        """``csi``/``ebs``: CsiSnapshots / EbsSnapshots that delete the backups' snapshots; None leaves them, with a warning.
        ``fs_repositories``: the location's ResticRepositories, which forget the file-system backups' snapshots; None keeps
        a backup that has some (it needs the repositories' password)."""
        self.location = location
        self.fs_repositories = fs_repositories
        self._forgotten_in = set()  # namespaces whose repositories lost snapshots: restic prune runs there at the end
        self.csi = csi
        self.ebs = ebs
        self.options = options
        self.check_mode = check_mode
        self.now = now or velero_format.utc_now()
        self.result = {"location": location.url, "check_mode": check_mode, "deleted": [], "kept": [], "locked": [], "failed": [],
                       "unfinished_writes": [], "warnings": []}
        self._restores = None

    def run(self):
        if self.options.names:
            return self._run_named()
        options = self.options
        backups = list_backups(self.location, labels=options.labels, include_incomplete=options.include_incomplete, now=self.now)
        complete = [backup for backup in backups if backup["complete"]]
        expired = retention.select_expired(complete, self.now) if options.expired else {}
        policy_kept = None
        if options.policy:
            policy_kept = retention.select_by_policy(complete, now=self.now, timezone=options.timezone, **options.keep)
        for backup in backups:
            if backup["complete"]:
                delete, keep = _complete_decision(backup, options, expired, policy_kept)
            else:
                delete, keep = _incomplete_decision(self.location, backup, options, self.now)
            if delete:
                self._delete(_entry(backup, delete))
            else:
                self.result["kept"].append(_entry(backup, keep))
        if options.include_incomplete:
            self._delete_unfinished_writes(RESTORES_DIR)
        if self._forgotten_in:
            self._prune_repositories()
        return self.result

    def _run_named(self):
        """Delete exactly the named backups (complete or not); an unknown name refuses the run before any delete."""
        backups = list_backups(self.location, include_incomplete=True, now=self.now)
        by_name = dict((backup["name"], backup) for backup in backups)
        unknown = [name for name in self.options.names if name not in by_name]
        if unknown:
            existing = [backup["name"] for backup in backups]
            if not existing:
                raise ConfigurationError("names: %s: the location %s holds no backups: check location (and location_config)"
                                         % (", ".join("'%s'" % name for name in unknown), self.location.url))
            raise ConfigurationError("names: no backup %s in %s, nothing was deleted; %s" % (
                ", ".join("'%s'" % name for name in unknown), self.location.url,
                "; ".join("nearest to '%s': %s" % (name, ", ".join(nearest_names(name, existing))) for name in unknown)))
        for name in self.options.names:
            self._delete(_entry(by_name[name], ["named in names"]))
        if self._forgotten_in:
            self._prune_repositories()
        return self.result

    def _forget_fs_snapshots(self, name, snapshots):
        """Forget the restic snapshots of a backup's file-system backups (all tagged with its name); raises KubesafeError."""
        namespaces = sorted({record["namespace"] for record in snapshots if record.get("method") == volume_records.FS and record.get("namespace")})
        if not namespaces:
            return []
        if self.fs_repositories is None:
            raise KubesafeError("backup kept: it has file-system volume backups in restic repositories, which need fs_backup_password "
                                "(or encryption_passphrase, when the backup was encrypted with one) to forget")
        forgotten = []
        for namespace in namespaces:
            if not self.fs_repositories.exists(namespace):
                continue
            ids = [snapshot["id"] for snapshot in self.fs_repositories.snapshots(namespace, ["backup=%s" % name])]
            self.fs_repositories.forget(namespace, ids)
            forgotten.extend("restic snapshot %s (%s)" % (snapshot_id[:8], self.fs_repositories.url(namespace)) for snapshot_id in ids)
            self._forgotten_in.add(namespace)
        return forgotten

    def _prune_repositories(self):
        """restic prune where snapshots were forgotten: the data no snapshot uses leaves the location."""
        self.result["restic_prune"] = []
        for namespace in sorted(self._forgotten_in):
            entry = {"namespace": namespace, "repository": self.fs_repositories.url(namespace)}
            try:
                output = self.fs_repositories.prune(namespace, timeout=RESTIC_PRUNE_TIMEOUT_SECONDS)
                entry["summary"] = [line for line in output.splitlines() if line.startswith(("total prune", "remaining", "repacking", "removing"))
                                    or "to delete" in line or "to repack" in line][-8:]
            except KubesafeError as exc:
                entry["error"] = str(exc)
                self.result["warnings"].append("restic prune of %s failed (its forgotten snapshots' data stays until the next prune): %s"
                                               % (entry["repository"], exc))
            self.result["restic_prune"].append(entry)

    def _delete_unfinished_writes(self, prefix):
        """Temporary files (S3: uploads) that a killed run left outside backups/, such as a restore's record, past the debris age."""
        for partial in self.location.list_partial(prefix):
            if self.now - partial["last_written"] < self.options.incomplete_older_than:
                continue
            entry = {"key": partial["key"], "target": partial.get("target"), "kind": partial["kind"], "size": partial["size"],
                     "last_written": velero_format.format_timestamp(partial["last_written"])}
            if not self.check_mode:
                try:
                    self.location.delete_partial(partial)
                except KubesafeError as exc:
                    self.result["failed"].append(dict(entry, name=partial["key"], error=str(exc)))
                    continue
            self.result["unfinished_writes"].append(entry)

    def _delete(self, entry):
        name = entry["name"]
        try:
            lock = self.location.retention(velero_format.backup_dir(name))
            if lock is not None:
                self.result["locked"].append(_lock_entry(entry, lock))
                return
            snapshots, warnings = read_volume_snapshots(self.location, name)
            restores = self._restores_of(name)
            if not self.check_mode:
                # Snapshots first: one the provider refuses to delete keeps the backup that records it, for the next prune.
                deleted_snapshots, snapshot_warnings, failures = delete_recorded_snapshots(snapshots, csi=self.csi, ebs=self.ebs)
                warnings.extend(snapshot_warnings)
                if not failures:
                    deleted_snapshots.extend(self._forget_fs_snapshots(name, snapshots))
                entry["snapshots_deleted"] = deleted_snapshots
                if failures:
                    raise KubesafeError("backup kept: %s" % "; ".join(failures))
                delete_backup(self.location, name)
                restores, restore_warnings = self._delete_restores(restores)
                warnings.extend(restore_warnings)
            elif snapshots:
                warnings.extend(_snapshot_preview(name, snapshots))
        except KubesafeError as exc:
            failed = dict(entry)
            failed["error"] = str(exc)
            self.result["failed"].append(failed)
            return
        entry["restores"] = restores
        entry["warnings"] = warnings
        self.result["warnings"].extend(warnings)
        self.result["deleted"].append(entry)

    def _restores_of(self, name):
        if not self.options.delete_restores:
            return []
        if self._restores is None:
            self._restores = restores_by_backup(self.location)
        return sorted(self._restores.get(name, []))

    def _delete_restores(self, restores):
        deleted, warnings = [], []
        for restore in restores:
            prefix = "%s/%s/" % (RESTORES_DIR, restore)
            if self.location.retention(prefix) is not None:
                warnings.append("the record of restore '%s' is under object lock: left in %s" % (restore, prefix))
                continue
            self.location.delete_prefix(prefix)
            deleted.append(restore)
        return deleted, warnings


def _snapshot_preview(name, snapshots):
    """Check mode: the snapshots that would be deleted, without calling a provider."""
    taken = volume_records.completed(snapshots)
    if not taken:
        return []
    return ["backup '%s': its %d volume snapshot(s) would be deleted: %s" % (name, len(taken), ", ".join(volume_records.describe(r) for r in taken))]


def run_prune(location, options, check_mode=False, now=None, csi=None, ebs=None, fs_repositories=None):
    """Prune ``location`` by ``options`` (a PruneOptions); returns {location, check_mode, deleted, kept, locked, failed, unfinished_writes,
    warnings, and restic_prune when restic repositories were pruned}."""
    return PruneRun(location, options, check_mode, now, csi=csi, ebs=ebs, fs_repositories=fs_repositories).run()

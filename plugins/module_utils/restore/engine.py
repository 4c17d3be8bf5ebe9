# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restore run: read a backup, select, plan tiers, apply them in parallel, wait, report.

The steps follow Velero's restore (collect, order, sanitize, transform,
create, wait) and go further where Ansible users need it: check mode with
diffs (to review a restore before it writes), ownerReferences rewritten to
the new owners (so that garbage collection keeps the restored children),
existing-object policies, and parallel tiers (a large restore finishes in
its time window). The archive is read once and its objects parked on disk
(spool), so memory stays bounded whatever the backup's size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import concurrent.futures
import fnmatch
import gc
import json
import time

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import catalog as backup_catalog

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader, item_path_problem
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import manifest as backup_manifest
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.discovery import discover
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import (
    decrypt_secret, hide_secret_values, keys_for_backup, open_backup_contents, read_encryption_header)
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError, LocationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.apply import ObjectApplier
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.order import restore_order
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.rules import RestoreContext, needs_reprovisioning, restore_labels, sanitize, skip_reason
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.transforms import transform
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.wait import describe_pending, is_waitable, wait_for, wait_for_crds
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import (
    LabelFilter, NamespaceFilter, ResourceFilter, SelectionOptions, as_list, check_namespace_name)
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.run_log import RunLog
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.spool import Spool
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.uid_index import RestoredUidIndex
from ansible_collections.kubesafe.k8s.plugins.module_utils.temp_dirs import sweep_stale
from ansible_collections.kubesafe.k8s.plugins.module_utils.hooks import pod_hooks
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.csi import SnapshotError
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.restore import VolumeRestore
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.mover import MoverSettings

# Labels a controller sets per pod set or revision: a recreated pod may carry other values.
CONTROLLER_SET_LABELS = ("pod-template-hash", "controller-revision-hash", "controller-uid", "batch.kubernetes.io/controller-uid",
                         "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index")
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
WORKLOADS = ("deployments.apps", "statefulsets.apps", "daemonsets.apps", "persistentvolumeclaims", "jobs.batch")
MAX_REPORTED_OBJECTS = 2000


class RestoreOptions(SelectionOptions):
    """What to restore and how; defaults follow Velero."""

    def __init__(self, backup=backup_catalog.LATEST, name=None, included_namespaces=None, excluded_namespaces=None, included_resources=None,
                 excluded_resources=None, include_cluster_resources=None, label_selector=None, or_label_selectors=None,
                 names=None, namespace_mapping=None, storage_class_mapping=None, registry_mapping=None, resource_modifiers=None,
                 existing_resource_policy="none", preserve_nodeports=False, restore_status=None, wait=False, wait_timeout=300,
                 parallelism=8, decryption_keys=None, restore_pvs=True, ebs_config=None, ebs_factory=None, hooks=None,
                 allow_unverified=False):
        if existing_resource_policy not in ("none", "update", "recreate"):
            raise ConfigurationError("existing_resource_policy must be none, update or recreate, not %r" % existing_resource_policy)
        super().__init__(included_namespaces=included_namespaces, excluded_namespaces=excluded_namespaces,
                         included_resources=included_resources, excluded_resources=excluded_resources,
                         include_cluster_resources=include_cluster_resources, label_selector=label_selector,
                         or_label_selectors=or_label_selectors, parallelism=parallelism)
        self.backup = backup or backup_catalog.LATEST
        self.name = name
        self.names = as_list(names, "names")
        self.namespace_mapping = dict(namespace_mapping or {})
        # A target the API refuses would fail every object of its namespace, after other namespaces were written.
        for source, target in self.namespace_mapping.items():
            check_namespace_name(source, "namespace_mapping key")
            check_namespace_name(target, "namespace_mapping (target of %s)" % source)
        self.storage_class_mapping = dict(storage_class_mapping or {})
        self.registry_mapping = dict(registry_mapping or {})
        self.resource_modifiers = list(resource_modifiers or [])
        self.existing_resource_policy = existing_resource_policy
        self.preserve_nodeports = bool(preserve_nodeports)
        self.restore_status = as_list(restore_status, "restore_status")
        self.wait = bool(wait)
        self.wait_timeout = int(wait_timeout)
        if self.wait_timeout < 0:
            raise ConfigurationError("wait_timeout must be 0 or more seconds, not %s" % wait_timeout)
        # DecryptionKeys (encryption.py) for encrypted backups; None: no key given.
        self.decryption_keys = decryption_keys
        # Velero's restorePVs: volumes come back from their snapshots; false restores claims without data.
        self.restore_pvs = bool(restore_pvs)
        self.ebs_config = ebs_config
        self.ebs_factory = ebs_factory
        self.hooks = pod_hooks.prepare_restore_hooks(hooks or [])  # besides the pods' own annotations; checked before any write
        # Restore a backup of ours whose manifest is lost or does not match its files (warnings instead of a refusal).
        self.allow_unverified = bool(allow_unverified)
        self.set_fs_backup()

    def set_fs_backup(self, password=None, mover=None, mover_timeout="5m", timeout="4h"):
        """File-system backups: the repositories' password (None: derived from the decryption passphrase) and the mover."""
        self.fs_password = password
        self.fs_mover = MoverSettings(mover, velero_format.parse_go_duration(mover_timeout or "5m", "fs_mover_timeout").total_seconds(),
                                      velero_format.parse_go_duration(timeout or "4h", "fs_timeout").total_seconds())


def _name_pattern_matches(patterns, resource, namespace, name):
    """``names`` patterns: ``kind/namespace/name`` or ``kind/name`` (cluster-scoped), globs allowed; kind as for resources."""
    kinds = {resource.kind.lower(), resource.plural.lower(), resource.group_resource.lower()}
    for pattern in patterns:
        parts = pattern.split("/")
        if len(parts) == 3:
            kind, pattern_namespace, pattern_name = parts
        elif len(parts) == 2:
            kind, pattern_namespace, pattern_name = parts[0], None, parts[1]
        else:
            raise ConfigurationError("names: %r is not kind/namespace/name or kind/name (e.g. deployment/shop/web)" % pattern)
        if not any(fnmatch.fnmatchcase(candidate, kind.lower()) for candidate in kinds):
            continue
        if pattern_namespace is not None and not fnmatch.fnmatchcase(namespace or "", pattern_namespace):
            continue
        if fnmatch.fnmatchcase(name, pattern_name):
            return True
    return False


class _TargetTypes:
    """Resources served by the target cluster, to write backed-up objects through."""

    def __init__(self, client):
        self.client = client
        self.refresh()

    def refresh(self):
        self.resources, self.warnings = discover(self.client)
        resources = self.resources
        self._by_group_resource = collections.defaultdict(dict)
        for resource in resources:
            self._by_group_resource[resource.group_resource][resource.version] = resource

    def pick(self, group_resource, version):
        """The backed-up version when served, else the target's preferred one, else None."""
        versions = self._by_group_resource.get(group_resource) or {}
        if version in versions:
            return versions[version]
        preferred = [r for r in versions.values() if r.preferred]
        return preferred[0] if preferred else None


class RestoreRun:
    def __init__(self, client, location, options, check_mode=False, want_diff=False):
        self.client = client
        self.location = location
        self.options = options
        self.check_mode = check_mode
        self.want_diff = want_diff
        self.namespace_filter = NamespaceFilter(options.included_namespaces, options.excluded_namespaces)
        self.resource_filter = ResourceFilter(options.included_resources, options.excluded_resources, default_excluded=())
        self.label_filter = LabelFilter(options.label_selector, options.or_label_selectors)
        self._resource_matches_cache = {}
        self.started = velero_format.utc_now_seconds()
        self.backup_name = None
        self.name = options.name
        self.run_log = RunLog("restore", self.name)
        self.warnings, self.errors = self.run_log.warnings, self.run_log.errors
        self.log, self.warn = self.run_log.log, self.run_log.warn
        self.counts = collections.defaultdict(collections.Counter)  # group_resource -> action -> n
        self._failed_crds = set()  # names of CRDs this restore could not write: not waited for
        self.objects = []
        self._wait_targets = []  # {group_resource, namespace, name} of each workload and claim written, for the wait
        self.skipped_kinds = collections.Counter()
        self.waits = []
        self._uids = None  # RestoredUidIndex of the objects this restore writes, on disk while it runs
        self._restored_pvs = set()
        self._pv_skip_reasons = {}
        self.volumes = None
        self.hook_results = []
        self._hooked_pods = {}  # (namespace, name) -> restored pod with post hooks
        self._created_hooked_pods = []
        self._recreated_hooked_pods = []  # (namespace, label selector, hooks): pods a controller recreates under new names
        self._target_namespaces = set()
        self._related_namespaces = None  # namespaces of the restored objects, for Velero's related cluster-scoped objects
        self._archive_kinds = {}  # group_resource -> _ItemKind of its first item, for the resource-name check
        self.reads = location  # the backup's files are read through this (checked against the manifest when there is one)
        self.manifest = None
        self.integrity = {"verified": False, "detail": "not read"}
        self._kinds = {"namespaces": "Namespace"}  # group_resource -> Kind, as the backed-up objects name it

    # ---------------------------------------------------------------- reporting

    def record(self, decision):
        action = decision["action"]
        if decision.get("diff") and decision["group_resource"] == "secrets":
            # Secret values never reach a result, report or diff.
            before, after = decision["diff"].get("before"), decision["diff"].get("after")
            decision = dict(decision, diff={"before": hide_secret_values(before, after), "after": hide_secret_values(after, before)})
        self.counts[decision["group_resource"]][action] += 1
        hooked = self._hooked_pods.get((decision.get("namespace"), decision.get("name"))) if decision["group_resource"] == "pods" else None
        if hooked is not None and action in ("create", "recreate"):
            self._created_hooked_pods.append(hooked)
        if action == "failed" and decision["group_resource"] == CRDS:
            self._failed_crds.add(decision.get("name"))
        if action == "failed":
            self.run_log.error("%s %s: %s" % (self._kind_of(decision), _where(decision), decision.get("reason")))
        elif action == "skip" and decision.get("reason") and "exists" in decision["reason"]:
            self.warn("%s %s: %s" % (decision["group_resource"], _where(decision), decision["reason"]))
        if self.options.wait and decision["group_resource"] in WORKLOADS and action in ("create", "update", "recreate"):
            # Every restored workload is waited for, not only those the bounded object list below keeps
            # (remembered only when there is a wait: a million-object restore without one keeps nothing per object).
            self._wait_targets.append({"group_resource": decision["group_resource"], "namespace": decision.get("namespace"),
                                       "name": decision.get("name")})
        # Check mode reports every object, a run the skipped and failed ones and the first others (bounded either way).
        notable = self.check_mode or action in ("failed", "skip")
        if len(self.objects) < MAX_REPORTED_OBJECTS * 50 and (notable or len(self.objects) < MAX_REPORTED_OBJECTS):
            self.objects.append(dict(decision))

    def _kind_of(self, decision):
        """The Kind that errors name objects by (``Secret shop/db: ...``), as a user knows them; else the resource."""
        return decision.get("kind") or self._kinds.get(decision["group_resource"]) or decision["group_resource"]

    # ---------------------------------------------------------------- the run

    def run(self):
        started_clock = time.monotonic()
        for path in sweep_stale():
            self.log("info", "removed %s, the scratch directory of an interrupted run" % path)
        self._resolve_backup()
        self.name = self.name or "%s-%s" % (self.backup_name, self.started.strftime("%Y%m%d%H%M%S"))
        self.run_log.name = self.name
        velero_format.validate_backup_name(self.name, "restore name")
        context = RestoreContext(
            backup_name=self.backup_name, restore_name=self.name, namespace_mapping=self.options.namespace_mapping,
            storage_class_mapping=self.options.storage_class_mapping, registry_mapping=self.options.registry_mapping,
            resource_modifiers=self.options.resource_modifiers, preserve_nodeports=self.options.preserve_nodeports,
            restore_status=self.options.restore_status)
        self.volumes = VolumeRestore(self.client, volume_records.read_records(self.reads, self.backup_name), self.backup_name, self.name,
                                     restore_pvs=self.options.restore_pvs, ebs_config=self.options.ebs_config,
                                     ebs_factory=self.options.ebs_factory, check_mode=self.check_mode,
                                     run_log=self.run_log, parallelism=self.options.parallelism)
        # Before any write: the files of fs-backed claims need restic and the repositories' password.
        self.volumes.prepare_fs(self.location, self.options.fs_password, (self.options.decryption_keys or None) and
                                self.options.decryption_keys.passphrase, self.options.fs_mover)
        targets = _TargetTypes(self.client)
        for warning in targets.warnings:
            self.warn(warning)
        applier = ObjectApplier(self.client, existing_resource_policy=self.options.existing_resource_policy,
                                check_mode=self.check_mode, want_diff=self.want_diff, parallelism=self.options.parallelism)
        with Spool() as spool:
            self._uids = RestoredUidIndex(spool.directory)
            try:
                self._read(spool)
                # Before the first write: a resource name that is neither in the backup nor served by the target is a typo.
                for unknown in self.resource_filter.check_known(list(self._archive_kinds.values()) + targets.resources,
                                                                "in the backup or served by the target cluster"):
                    self.warn("excluded_resources: '%s' is neither in the backup nor served by the target cluster" % unknown)
                self._apply(spool, context, targets, applier)
            finally:
                self._uids.close()
        if (self._created_hooked_pods or self._recreated_hooked_pods) and not self.check_mode:
            self._run_post_hooks()
        if self.options.wait and not self.check_mode:
            self._wait()
        phase = "PartiallyFailed" if self.errors or [w for w in self.waits if not w["ready"]] else "Completed"
        result = self._result(phase, started_clock)
        if not self.check_mode:
            try:
                self._write_record(result)
            except (LocationError, OSError) as exc:
                # The record is best effort: the phase says what happened in the cluster, whatever the location did.
                self.warn("the restore record under %s/restores/%s/ was not written: %s" % (self.location.url.rstrip("/"), self.name, exc))
        return result

    def _resolve_backup(self):
        name, backup = backup_catalog.resolve_backup(self.location, self.options.backup)
        files = velero_format.file_names(name)
        partial = backup_catalog.partial_backup_warning(name, backup)
        if partial:
            self.warn(partial)
        self.backup_name = name
        self.files = files
        self._check_manifest(backup)
        # An encrypted backup without the right keys fails here, before anything is read or written.
        self.encryption = read_encryption_header(self.location, name)
        self.keys = keys_for_backup(self.reads, name, self.encryption, self.options.decryption_keys)

    def _check_manifest(self, backup):
        """Read the backup through its manifest (every file checked as it is read), or say why it cannot be verified."""
        name = self.backup_name
        manifest, problem = backup_manifest.load_manifest(self.location, name)
        override = "allow_unverified=true (role variable restore_allow_unverified)"
        if manifest is not None:
            self.manifest = manifest
            self.reads = backup_manifest.ManifestCheckedLocation(self.location, name, manifest, strict=not self.options.allow_unverified)
            self.integrity = {"verified": True, "detail": "every file read matched %s (size and SHA-256)"
                                                          % backup_manifest.manifest_file_name(name)}
            return
        if problem is None and not backup_manifest.made_by_this_collection(self.location, name, backup):
            self.integrity = {"verified": False, "detail": "no manifest: made by Velero, its files cannot be checked"}
            self.warn("backup '%s' has no %s (made by Velero?): restored unverified, its files cannot be checked against checksums"
                      % (name, backup_manifest.manifest_file_name(name)))
            return
        why = problem or "%s is missing" % backup_manifest.manifest_file_name(name)
        if not self.options.allow_unverified:
            raise backup_manifest.IntegrityError(
                "backup '%s' cannot be verified: %s; nothing was restored. If the backup's files are intact and only the manifest "
                "was lost, restore with %s" % (name, why, override))
        self.integrity = {"verified": False, "detail": "UNVERIFIED (allow_unverified): %s" % why}
        self.warn("UNVERIFIED restore of backup '%s' (allow_unverified): %s; its files may be damaged or tampered with" % (name, why))

    # ---------------------------------------------------------------- selection (pass 1)

    def _selected(self, item):
        obj = item.obj
        namespace = item.namespace
        if namespace and not self.namespace_filter.matches(namespace):
            return False
        if item.group_resource == "namespaces" and not self.namespace_filter.matches(obj["metadata"]["name"]):
            return False
        if not self._resource_matches(item):
            return False
        if self.label_filter.active and item.group_resource != "namespaces" and \
                not self.label_filter.matches((obj.get("metadata") or {}).get("labels") or {}):
            return False
        if self.options.names:
            return _name_pattern_matches(self.options.names, _ItemKind(item), namespace, obj["metadata"]["name"])
        return True

    def _resource_matches(self, item):
        # The filter sees the resource and the object's kind only: one answer per pair.
        kind = item.obj.get("kind", "")
        if not isinstance(kind, str):
            return self.resource_filter.matches(_ItemKind(item))
        key = (item.group_resource, kind)
        matches = self._resource_matches_cache.get(key)
        if matches is None:
            matches = self._resource_matches_cache[key] = self.resource_filter.matches(_ItemKind(item))
        return matches

    def _read(self, spool):
        include_cluster = self.options.include_cluster_resources
        narrowed = self.namespace_filter.is_narrowed
        # Every item is read (and decrypted) before the first write: a wrong key or a file that does not match the
        # manifest fails with the cluster untouched.
        counts = collections.Counter()
        with open_backup_contents(self.reads, self.backup_name, self.keys, self.encryption) as stream:
            try:
                self._read_items(spool, stream, counts, include_cluster, narrowed)
            except KubesafeError:
                # A damaged archive is reported as not matching its manifest when it does not.
                self._finish_checked_reads()
                raise
            self._finish_checked_reads()
        if self.manifest is not None:
            for problem in backup_manifest.count_problems(self.manifest, counts):
                self._integrity_problem("backup '%s' does not match its manifest: %s" % (self.backup_name, problem))

    def _finish_checked_reads(self):
        if self.manifest is None:
            return
        try:
            self.reads.finish()
        except backup_manifest.IntegrityError:
            pass  # in reads.problems
        for problem in self.reads.problems:
            self._integrity_problem(problem)

    def _integrity_problem(self, problem):
        if not self.options.allow_unverified:
            raise backup_manifest.IntegrityError("%s; nothing was restored" % problem)
        if self.integrity["verified"]:
            self.integrity = {"verified": False, "detail": "UNVERIFIED (allow_unverified): %s" % problem}
        message = "UNVERIFIED restore (allow_unverified): %s" % problem
        if message not in self.warnings:
            self.warn(message)

    def _refuse(self, item, problem):
        """An item whose path and content disagree is never written: counted as failed, with the reason."""
        namespace = self.options.namespace_mapping.get(item.namespace, item.namespace)
        self.record({"group_resource": item.group_resource, "namespace": namespace, "name": item.name, "action": "failed",
                     "reason": "refused, not written: %s" % problem})

    def _read_items(self, spool, stream, counts, include_cluster, narrowed):
        for item in ArchiveReader(stream, max_tar_bytes=backup_manifest.max_tar_bytes(self.manifest)):
            counts[item.group_resource] += 1
            if item.group_resource not in self._archive_kinds:
                self._archive_kinds[item.group_resource] = _ItemKind(item)
            problem = item_path_problem(item)
            if problem:
                # The path decides what a filter selects: a refusal is reported only where the restore would write.
                if (not item.namespace or self.namespace_filter.matches(item.namespace)) and self._resource_matches(item):
                    self._refuse(item, problem)
                continue
            if not self._selected(item):
                continue
            cluster_scoped = not item.namespace and item.group_resource != "namespaces"
            if cluster_scoped and include_cluster is False:
                continue
            uid = item.obj["metadata"].get("uid")
            if uid:
                self._uids.add(uid, item.group_resource, item.namespace, item.obj["metadata"]["name"])
            # Cluster-scoped items under a namespace filter wait for pass 2 to learn whether they relate.
            related_only = cluster_scoped and include_cluster is None and narrowed
            obj = item.obj
            if item.group_resource == "secrets":
                obj = decrypt_secret(obj, self.keys, "backup '%s'" % self.backup_name, self.encryption)
            spool.add(item.group_resource, {"version": item.version, "related_only": related_only, "obj": obj})

    # ---------------------------------------------------------------- apply (pass 2)

    def _apply(self, spool, context, targets, applier):
        # Preparing objects allocates many short-lived ones; the cyclic collector would run
        # thousands of times for nothing (the backup engine does the same).
        thresholds = gc.get_threshold()
        gc.set_threshold(50000, 20, 100)
        try:
            self._apply_tiers(spool, context, targets, applier)
        finally:
            gc.set_threshold(*thresholds)

    def _apply_tiers(self, spool, context, targets, applier):
        order = restore_order(spool.buckets())
        restored_uids = self._uids
        deferred = []
        self._decide_persistent_volumes(spool, restored_uids)
        for group_resource in order:
            self._ensure_namespaces_before(group_resource, spool, context, applier, targets)
            # A tier is written while it is read and prepared; the next tier starts once every object of this one is written.
            self._apply_objects(applier, self._prepared(group_resource, context, targets, restored_uids, spool, deferred))
            if group_resource == CRDS and spool.count(CRDS) and not self.check_mode:
                self._wait_for_crds(spool, targets)
            if group_resource == "persistentvolumes" and not self.check_mode:
                self._reclaim_released_volumes(targets, context)
            if group_resource == "persistentvolumeclaims" and not self.check_mode:
                # The claims' files come back before any pod of the backup is created.
                self.volumes.fill_claims()
        self._apply_deferred(deferred, context, targets, restored_uids, applier, spool)
        if not self.check_mode:
            self.volumes.fill_claims()  # claims deferred until their owners existed

    def _prepared(self, group_resource, context, targets, restored_uids, spool, deferred):
        """The objects of ``group_resource`` to write, prepared one by one; those waiting for owners go to ``deferred``."""
        for record in spool.read(group_resource):
            prepared = self._prepare(group_resource, record, context, targets, restored_uids, spool)
            if prepared == "defer":
                deferred.append((group_resource, record))
            elif prepared is not None:
                yield prepared

    def _decide_persistent_volumes(self, spool, restored_uids):
        """Which PVs come back: those with an EBS snapshot (rewritten to a new volume) and Retain ones; not those with a CSI
        snapshot (their claims are provisioned from it), nor a Delete one without a snapshot (its disk is gone; Velero skips it)."""
        for record in spool.read("persistentvolumes"):
            name = record["obj"]["metadata"]["name"]
            decision = self.volumes.pv_decision(record["obj"])
            if decision is not None and not decision[0]:
                self._pv_skip_reasons[name] = decision[1]
            elif decision is None and needs_reprovisioning(record["obj"]):
                self._pv_skip_reasons[name] = "reclaimPolicy Delete and no volume snapshot: the claim gets a new volume"
            else:
                self._restored_pvs.add(name)
                continue
            restored_uids.discard(record["obj"]["metadata"].get("uid"))

    def _prepare(self, group_resource, record, context, targets, restored_uids, spool):
        """The object to write and its target resource, None when skipped, or "defer" until owners exist."""
        obj = record["obj"]
        metadata = obj.get("metadata") or {}
        source_namespace = metadata.get("namespace")
        if obj.get("kind"):
            self._kinds.setdefault(group_resource, obj["kind"])
        decision = {"group_resource": group_resource, "namespace": context.namespace_mapping.get(source_namespace, source_namespace),
                    "name": metadata.get("name")}
        if record.get("related_only") and not self._is_related(group_resource, obj, spool):
            return None
        if group_resource == "persistentvolumes" and metadata.get("name") not in self._restored_pvs:
            self.record(dict(decision, action="skip", reason=self._pv_skip_reasons.get(metadata.get("name"), "not restored")))
            return None
        reason = skip_reason(group_resource, obj, restored_uids)
        if reason:
            if group_resource == "pods" and not self.check_mode:
                self._hooks_for_recreated_pod(obj, source_namespace, decision["namespace"])
            self.record(dict(decision, action="skip", reason=reason))
            return None
        target = targets.pick(group_resource, record.get("version") or obj.get("apiVersion", "").rsplit("/", 1)[-1])
        if target is None:
            self.skipped_kinds["%s (%s)" % (group_resource, obj.get("apiVersion"))] += 1
            self.record(dict(decision, action="skip", reason="the target cluster does not serve %s" % group_resource))
            return None
        scope_problem = _kind_and_scope_problem(target, group_resource, obj, source_namespace)
        if scope_problem:
            self.record(dict(decision, action="failed", reason="refused, not written: %s" % scope_problem))
            return None
        if target.version != obj.get("apiVersion", "").rsplit("/", 1)[-1]:
            self.log("info", "%s %s restored at %s (backed up at %s)" % (group_resource, metadata.get("name"), target.api_version, obj.get("apiVersion")))
        backup_uid = metadata.get("uid")
        owners = metadata.get("ownerReferences") or []
        if any(ref.get("uid") in restored_uids and self._uids.new_uid(ref.get("uid")) is None for ref in owners):
            return "defer"
        # The record was decoded from the spool for this call: sanitize and transform may change it in place.
        desired = sanitize(group_resource, obj, context, restored_pv_names=self._restored_pvs, copy_input=False)
        desired = transform(group_resource, desired, context, copy_input=False)
        try:
            desired = self._prepare_volume_and_pod(group_resource, desired, source_namespace)
        except (SnapshotError, ConfigurationError) as exc:
            self.record(dict(decision, action="failed", reason=str(exc)))
            return None
        desired = restore_labels(desired, context.backup_name, context.restore_name)
        desired["apiVersion"] = target.api_version
        self._rewrite_owner_references(desired)
        if desired.get("metadata", {}).get("namespace"):
            self._target_namespaces.add(desired["metadata"]["namespace"])
        return target, desired, backup_uid, "status" in desired

    def _prepare_volume_and_pod(self, group_resource, desired, source_namespace):
        if group_resource == "persistentvolumes":
            return self.volumes.prepare_pv(desired)
        if group_resource == "persistentvolumeclaims":
            return self.volumes.prepare_claim(desired, source_namespace)
        if group_resource == "pods":
            # Option hooks select pods by their namespace in the backup, before any mapping.
            try:
                desired = pod_hooks.add_restore_init_containers(desired, self.options.hooks, namespace=source_namespace)
                hooked = pod_hooks.restore_post_hooks_for_pod(desired, self.options.hooks, namespace=source_namespace)
            except KubesafeError as exc:
                self.run_log.error("Pod %s/%s: restore hooks: %s (the pod is restored without them)" % (
                    source_namespace, desired["metadata"]["name"], exc))
                return desired
            if hooked:
                self._hooked_pods[(desired["metadata"]["namespace"], desired["metadata"]["name"])] = (desired, hooked)
        return desired

    def _hooks_for_recreated_pod(self, pod, source_namespace, namespace):
        """A pod its controller recreates still gets its restore exec hooks: in the new pod of its name (StatefulSet), or in
        one new pod of the same template per backed-up pod (ReplicaSet, DaemonSet, ...), found by the template's labels."""
        try:
            hooks = pod_hooks.restore_post_hooks_for_pod(pod, self.options.hooks, namespace=source_namespace)
        except KubesafeError as exc:
            self.run_log.error("Pod %s/%s: restore hooks: %s" % (source_namespace, pod["metadata"]["name"], exc))
            return
        if not hooks:
            return
        owner = next((ref for ref in pod["metadata"].get("ownerReferences") or [] if ref.get("controller")), {})
        if owner.get("kind") == "StatefulSet":
            self._created_hooked_pods.append(({"metadata": {"namespace": namespace, "name": pod["metadata"]["name"]}}, hooks))
            return
        labels = {key: value for key, value in (pod["metadata"].get("labels") or {}).items() if key not in CONTROLLER_SET_LABELS}
        if not labels:
            self.warn("restore hooks of pod %s/%s not run: %s %s recreates it under another name and its pods have no labels to "
                      "find them by" % (source_namespace, pod["metadata"]["name"], owner.get("kind"), owner.get("name")))
            return
        selector = ",".join("%s=%s" % item for item in sorted(labels.items()))
        self._recreated_hooked_pods.append((namespace, selector, hooks))

    def _run_post_hooks(self):
        """Exec hooks in restored pods, once each runs; bounded by the wait timeout so a restore never hangs."""
        def run_pod_hooks(pod_and_hooks):
            pod, hooks = pod_and_hooks
            # A StatefulSet's pod appears once its controller gets to it.
            self._wait_for_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], self.options.wait_timeout)
            return pod_hooks.run_restore_post_hooks(self.client, pod["metadata"]["namespace"], pod["metadata"]["name"], hooks,
                                                    self.options.wait_timeout)

        with concurrent.futures.ThreadPoolExecutor(self.options.parallelism) as pool:
            runs = list(pool.map(run_pod_hooks, self._created_hooked_pods + self._pods_for_recreated_hooks()))
        for run in runs:
            self.hook_results.extend(run.results)
            for result in run.results:
                if result["status"] == "succeeded":
                    continue
                message = "Pod %s/%s: restore hook %s %s: %s" % (
                    result["namespace"], result["pod"], pod_hooks.command_text(result["command"]), result["status"],
                    result.get("error") or "exit code %s" % result.get("exit_code"))
                if result["on_error"] == "Fail":
                    self.run_log.error(message)
                else:
                    self.warn(message)

    def _pods_for_recreated_hooks(self):
        """One distinct new pod per backed-up pod of a template, waiting (within the wait timeout) for the controller to make them."""
        wanted = collections.defaultdict(list)
        for namespace, selector, hooks in self._recreated_hooked_pods:
            wanted[(namespace, selector)].append(hooks)
        assigned = []
        deadline = time.monotonic() + self.options.wait_timeout
        for (namespace, selector), hook_lists in sorted(wanted.items()):
            names = []
            while True:
                names = sorted(pod["metadata"]["name"] for page in self.client.list_pages(
                    "/api/v1/namespaces/%s/pods" % namespace, query={"labelSelector": selector})
                    for pod in page.get("items") or [] if not pod["metadata"].get("deletionTimestamp"))
                if len(names) >= len(hook_lists) or time.monotonic() >= deadline:
                    break
                time.sleep(0.5)
            if len(names) < len(hook_lists):
                self.warn("restore hooks of %d pod(s) with labels %s in %s not run: only %d such pod(s) appeared within %ds"
                          % (len(hook_lists) - len(names), selector, namespace, len(names), self.options.wait_timeout))
            assigned.extend(({"metadata": {"namespace": namespace, "name": name}}, hooks) for name, hooks in zip(names, hook_lists))
        return assigned

    def _wait_for_pod(self, namespace, name, timeout_seconds):
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            try:
                self.client.request("GET", "/api/v1/namespaces/%s/pods/%s" % (namespace, name))
                return
            except ApiError as exc:
                if exc.status != 404:
                    raise
            time.sleep(0.5)

    def _reclaim_released_volumes(self, targets, context):
        """A Retain PV left Released by the lost claim keeps that claim's uid and would never bind the restored claim.

        Clearing the stale uid is what an administrator does by hand; it is done only when the
        PV still names the claim being restored.
        """
        pv_type = targets.pick("persistentvolumes", "v1")
        for name in sorted(self._restored_pvs):
            try:
                pv = self.client.request("GET", "%s/%s" % (pv_type.list_path(), name))
            except ApiError:
                continue
            claim = (pv.get("spec") or {}).get("claimRef") or {}
            restored = (claim.get("namespace"), claim.get("name"))
            wanted = {(context.namespace_mapping.get(ns, ns), claim_name) for (ns, claim_name) in self._uids.names_of("persistentvolumeclaims")}
            if (pv.get("status") or {}).get("phase") != "Released" or restored not in wanted or not claim.get("uid"):
                continue
            self.client.request("PATCH", "%s/%s" % (pv_type.list_path(), name), body={"spec": {"claimRef": {"uid": None, "resourceVersion": None}}},
                                content_type="application/merge-patch+json")
            self.log("info", "persistentvolume %s was Released by the lost claim %s/%s: freed for the restored claim" % ((name,) + restored))

    def _rewrite_owner_references(self, desired):
        kept = []
        for ref in desired.get("metadata", {}).get("ownerReferences") or []:
            new_uid = self._uids.new_uid(ref.get("uid"))
            if new_uid:
                kept.append(dict(ref, uid=new_uid))
        if kept:
            desired["metadata"]["ownerReferences"] = kept
        else:
            desired.get("metadata", {}).pop("ownerReferences", None)

    def _is_related(self, group_resource, obj, spool):
        """Velero's related cluster-scoped objects, for a restore with a namespace filter."""
        if self._related_namespaces is None:
            self._related_namespaces = self._uids.namespaces()
        restored_namespaces = self._related_namespaces
        if group_resource == CRDS:
            return obj["metadata"]["name"] in self._uids.namespaced_group_resources()
        if group_resource == "persistentvolumes":
            return ((obj.get("spec") or {}).get("claimRef") or {}).get("namespace") in restored_namespaces
        if group_resource == "clusterrolebindings.rbac.authorization.k8s.io":
            return any(s.get("kind") == "ServiceAccount" and s.get("namespace") in restored_namespaces for s in obj.get("subjects") or [])
        if group_resource == "clusterroles.rbac.authorization.k8s.io":
            for record in spool.read("clusterrolebindings.rbac.authorization.k8s.io"):
                binding = record["obj"]
                if (binding.get("roleRef") or {}).get("name") == obj["metadata"]["name"] and \
                        self._is_related("clusterrolebindings.rbac.authorization.k8s.io", binding, spool):
                    return True
        return False

    def _ensure_namespaces_before(self, group_resource, spool, context, applier, targets):
        """A restore creates each target namespace even when the backup has no Namespace object for it (Velero)."""
        if group_resource != "namespaces" and not getattr(self, "_namespaces_checked", False) and group_resource not in (CRDS,):
            self._namespaces_checked = True
            wanted = {context.namespace_mapping.get(namespace, namespace) for namespace in self._uids.namespaces(except_group_resource="namespaces")}
            from_backup = {context.namespace_mapping.get(r["obj"]["metadata"]["name"], r["obj"]["metadata"]["name"]) for r in spool.read("namespaces")}
            namespace_type = targets.pick("namespaces", "v1")
            missing = sorted(wanted - from_backup)
            batch = [(namespace_type, restore_labels({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                                                     context.backup_name, context.restore_name), None, False) for namespace in missing]
            # These namespaces are only made to exist: an existing one is left as it is, whatever the policy
            # (update would strip its labels and annotations down to the bare object above).
            self._apply_objects(applier.with_policy("none"), batch)

    def _apply_objects(self, applier, batch):
        """Write ``batch`` (a list, or a generator read as the objects are written) and record each decision."""
        for (_target, _desired, backup_uid, _status), decision in applier.apply_stream(batch):
            decision = dict(decision) if not isinstance(decision, dict) else decision
            # new_uid is the object's uid in the cluster, also for existing (skipped, unchanged) ones.
            if backup_uid and decision.get("new_uid"):
                self._uids.set_new_uid(backup_uid, decision["new_uid"])
            elif backup_uid and self.check_mode and decision["action"] != "failed":
                # In check mode nothing is created: dependents are still planned against their owner.
                self._uids.set_new_uid(backup_uid, backup_uid)
            self.record(decision)

    def _wait_for_crds(self, spool, targets):
        # A CRD the restore failed to create (e.g. 403) will not come by waiting; the failure is already recorded.
        crds = [record["obj"] for record in spool.read(CRDS) if (record["obj"].get("metadata") or {}).get("name") not in self._failed_crds]
        wait_for_crds(self.client, crds, timeout_seconds=60)
        targets.refresh()

    def _apply_deferred(self, deferred, context, targets, restored_uids, applier, spool):
        """Objects whose owners are restored after them: apply in rounds as owners appear."""
        while deferred:
            waiting, batch = [], []
            for group_resource, record in deferred:
                prepared = self._prepare(group_resource, record, context, targets, restored_uids, spool)
                if prepared == "defer":
                    waiting.append((group_resource, record))
                elif prepared is not None:
                    batch.append(prepared)
            if not batch and waiting:
                # Owners that never got created (skipped or failed): restore without those references.
                for group_resource, record in waiting:
                    for ref in record["obj"]["metadata"].get("ownerReferences") or []:
                        restored_uids.discard(ref.get("uid"))
                deferred = waiting
                continue
            self._apply_objects(applier, batch)
            deferred = waiting

    # ---------------------------------------------------------------- wait and report

    def _wait(self):
        targets = self._wait_targets
        if targets:
            waitable = [target for target in targets if is_waitable(target["group_resource"])]
            self.run_log.log("info", "waiting up to %ss for %d workload(s) and claim(s) to be ready" % (self.options.wait_timeout, len(waitable)))
            self.waits = wait_for(self.client, targets, timeout_seconds=self.options.wait_timeout, progress=self._wait_progress)
        for wait in self.waits:
            if not wait["ready"]:
                self.run_log.error("%s %s/%s: %s" % (wait["kind"], wait["namespace"], wait["name"], wait["reason"]))

    def _wait_progress(self, ready, total, pending):
        """What a long wait waits for, in the log: ready x of y, the first ones not ready and why."""
        message = "ready %d of %d" % (ready, total)
        if pending:
            message += "; not ready: %s" % describe_pending(pending)
        self.run_log.log("info", message)

    def _result(self, phase, started_clock):
        actions = collections.Counter()
        for per_resource in self.counts.values():
            actions.update(per_resource)
        return {
            "name": self.name,
            "backup": self.backup_name,
            "location": self.location.url,
            "phase": phase,
            "start_timestamp": velero_format.format_timestamp(self.started),
            "completion_timestamp": velero_format.format_timestamp(velero_format.utc_now_seconds()),
            "duration_seconds": round(time.monotonic() - started_clock, 3),
            "counts": {gr: dict(sorted(c.items())) for gr, c in sorted(self.counts.items())},
            "totals": dict(sorted(actions.items())),
            "skipped_kinds": dict(self.skipped_kinds),
            "objects": self.objects,
            "waits": self.waits,
            "volumes": self.volumes.created if self.volumes is not None else [],
            "hooks": self.hook_results,
            "warnings": self.warnings,
            "errors": self.errors,
            "integrity": dict(self.integrity),
            "check_mode": self.check_mode,
        }

    def _write_record(self, result):
        """restores/<name>/: Velero's results and logs, and our report, so a Velero BSL stays Available."""
        prefix = "restores/%s/" % self.name
        results = velero_format.results_sidecar(velero_format.Result(velero=self.errors), velero_format.Result(velero=self.warnings))
        self.location.put_bytes(prefix + "restore-%s-results.gz" % self.name, velero_format.gzip_json(results))
        self.location.put_bytes(prefix + "restore-%s-logs.gz" % self.name, self.run_log.gzipped())
        self.location.put_bytes(prefix + "restore-%s-report.json" % self.name, json.dumps(result, indent=2, sort_keys=True).encode())


class _ItemKind:
    """An archive item seen as a resource for the selection filters (kind from the object)."""

    def __init__(self, item):
        group_resource = item.group_resource
        self.plural, _sep, self.group = group_resource.partition(".")
        self.group_resource = group_resource
        self.kind = item.obj.get("kind", "")
        self.short_names = ()


def _kind_and_scope_problem(target, group_resource, obj, namespace):
    """Why an object must not be written through ``target`` (the resource of its archive path), or None.

    Its path decides where it goes: a kind that is not the resource's would be written as another
    resource, a namespaced object from a ``cluster/`` path (or the reverse) into another scope.
    """
    where = "%s/%s" % (namespace, obj["metadata"]["name"]) if namespace else obj["metadata"]["name"]
    if obj.get("kind") != target.kind:
        return "%s %s holds a %s, but %s are %s objects" % (group_resource, where, obj.get("kind"), group_resource, target.kind)
    if target.namespaced and not namespace:
        return "%s %s is stored under cluster/, but %s are namespaced" % (group_resource, where, group_resource)
    if not target.namespaced and namespace:
        return "%s %s is stored under namespaces/%s/, but %s are cluster-scoped" % (group_resource, where, namespace, group_resource)
    return None


def _where(decision):
    return "%s/%s" % (decision["namespace"], decision["name"]) if decision.get("namespace") else decision.get("name")


def run_restore(client, location, options, check_mode=False, want_diff=False):
    """Restore a backup from ``location`` into the cluster behind ``client``; returns the result document."""
    return RestoreRun(client, location, options, check_mode, want_diff).run()

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup run: discover, select, stream every object into a Velero-layout archive, commit.

Order of the files written: the tarball, the sidecars, our manifest, and
``velero-backup.json`` last, as the commit marker, because Velero and every
reader here take a backup to exist once that file does. A run that fails
before the marker removes what it wrote, so nothing half-written ever looks
like a backup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import contextlib
import gc
import hashlib
import json
import time

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import (
    COMPRESS_LEVELS, DEFAULT_COMPRESS_LEVEL, ArchiveWriter, HashingWriter)
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.manifest import MANIFEST_ANNOTATION
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.collector import ListTask, PageCollector, Relisted
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.discovery import discover, listable
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import EncryptionSettings, encrypt_secret, encrypting_writer
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError, LocationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import MAX_RELISTS, ApiError, ListExpiredError
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.related import RelatedItems
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.run_log import RunLog
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import (
    LabelFilter, NamespaceFilter, ResourceFilter, SelectionOptions, is_excluded_by_label)
from ansible_collections.kubesafe.k8s.plugins.module_utils.temp_dirs import sweep_stale
# The backup's clock, under a name of this module so that tests can fix the time of a backup.
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.velero_format import utc_now_seconds as _utcnow
from ansible_collections.kubesafe.k8s.plugins.module_utils.version import COLLECTION_VERSION
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.backup import VolumeBackup, VolumeSettings
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.restic import ResticRepositories, repository_password
from ansible_collections.kubesafe.k8s.plugins.module_utils.hooks import pod_hooks

CRD_LIST_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
FORBIDDEN = 403


class BackupOptions(SelectionOptions):
    """What to back up; the defaults are Velero's."""

    def __init__(self, name=None, name_prefix="backup", included_namespaces=None, excluded_namespaces=None,
                 included_resources=None, excluded_resources=None, include_cluster_resources=None,
                 label_selector=None, or_label_selectors=None, ttl="720h0m0s", labels=None,
                 storage_location="default", snapshot_volumes=False, parallelism=4, page_size=500, encryption=None, volumes=None,
                 compression_level=DEFAULT_COMPRESS_LEVEL):
        super().__init__(included_namespaces=included_namespaces, excluded_namespaces=excluded_namespaces,
                         included_resources=included_resources, excluded_resources=excluded_resources,
                         include_cluster_resources=include_cluster_resources, label_selector=label_selector,
                         or_label_selectors=or_label_selectors, parallelism=parallelism)
        self.name = name
        self.name_prefix = name_prefix
        self.ttl = ttl or "720h0m0s"
        self.labels = dict(labels or {})
        self.storage_location = storage_location or "default"
        # VolumeSettings (volume_backup.py): snapshots and hooks; snapshot_volumes alone means the defaults.
        self.volumes = volumes or VolumeSettings(snapshot_volumes=snapshot_volumes)
        self.snapshot_volumes = self.volumes.snapshot_volumes
        # An unpaginated LIST (limit 0) would hold a whole resource in memory.
        if page_size is None or int(page_size) < 1:
            raise ConfigurationError("page_size (backup_page_size in the backup role) must be at least 1 object per LIST page, not %s"
                                     % page_size)
        self.page_size = int(page_size)
        if compression_level not in COMPRESS_LEVELS:
            raise ConfigurationError("compression_level (backup_compression_level in the backup role) must be a gzip level from 0 to 9, not %s"
                                     % compression_level)
        self.compression_level = compression_level
        # EncryptionSettings (encryption.py); None: not encrypted.
        self.encryption = encryption or EncryptionSettings.none()


class BackupRun:
    def __init__(self, client, location, options, check_mode=False, item_sink=None):
        """``item_sink``: in check mode, an object whose ``add_item`` (ArchiveWriter's signature) receives
        every object the backup would store, e.g. to compare them with something else."""
        self.client = client
        self.location = location
        self.options = options
        self.check_mode = check_mode
        self.namespace_filter = NamespaceFilter(options.included_namespaces, options.excluded_namespaces)
        self.resource_filter = ResourceFilter(options.included_resources, options.excluded_resources)
        self.label_filter = LabelFilter(options.label_selector, options.or_label_selectors)
        self.ttl = velero_format.parse_go_duration(options.ttl)
        self.started = _utcnow()
        self.name = options.name or velero_format.default_backup_name(options.name_prefix, self.started)
        velero_format.validate_backup_name(self.name)
        self.files = velero_format.file_names(self.name)
        self.prefix = velero_format.backup_dir(self.name).rstrip("/")
        self.counts = collections.Counter()
        self.namespace_counts = collections.Counter()
        self.relists = collections.Counter()  # group_resource -> LISTs started over after their continue token expired
        self.resource_list = velero_format.ResourceListBuilder()
        self.related = RelatedItems()
        self.run_log = RunLog("backup", self.name)
        self.warnings, self.errors = self.run_log.warnings, self.run_log.errors
        self.log, self.warn, self.fail_item = self.run_log.log, self.run_log.warn, self.run_log.error
        self._archive = item_sink if check_mode else None
        # Always there: Velero runs the hook annotations of backed-up pods even without snapshots.
        self._prepare_fs_repositories(location, options, check_mode)
        self.volumes = VolumeBackup(client, options.volumes, self.name, self.run_log, options.parallelism, check_mode)
        self._selected_namespaces = set()
        self._crd_names = set()
        self._seen_uids = collections.defaultdict(set)
        # What the credentials may not read (403): {resource, namespace, verb, reason, counted_as}.
        self.skipped_resources = []

    @staticmethod
    def _prepare_fs_repositories(location, options, check_mode):
        """The restic repositories of file-system backups; a missing password fails now when the options ask for them."""
        volumes = options.volumes
        try:
            password = repository_password(volumes.fs_password, options.encryption.passphrase)
        except ConfigurationError as exc:
            if volumes.configures_fs:
                raise
            volumes.fs_unavailable = str(exc)  # pod annotations may still ask: those volumes fail with this reason
            return
        if not check_mode:
            volumes.fs_repositories = ResticRepositories(location, password)

    # ---------------------------------------------------------------- the run

    def run(self):
        started_clock = time.monotonic()
        for path in sweep_stale():
            self.log("info", "removed %s, the scratch directory of an interrupted run" % path)
        if not self.check_mode:
            self._check_name_is_free()
        resources, discovery_warnings = discover(self.client)
        for warning in discovery_warnings:
            self.warn(warning)
        for unknown in self.resource_filter.check_known(resources, "served by the cluster"):
            self.warn("excluded_resources: '%s' is not served by the cluster" % unknown)
        selected = [r for r in resources if r.preferred and listable(r) and self.resource_filter.matches(r)]
        self._crd_names = self._list_crd_names()
        namespaces = self._namespaces()
        self.log("info", "backing up %d resource types in %d namespaces" % (len(selected), len(self._selected_namespaces)))

        if self.check_mode:
            self._collect(selected, namespaces)
            self.resource_list.close()
            self.volumes.run()
            return self._result(started_clock, "Completed" if not self.errors else "PartiallyFailed", archive=None, files={})
        return self._write(selected, namespaces, started_clock)

    def _check_name_is_free(self):
        """Backups are never overwritten, and the debris of an interrupted one holds its name until removed."""
        committed = next(iter(self.location.list(self.prefix)), None)
        try:
            partial = next(iter(self.location.list_partial(self.prefix)), None)
        except LocationError as exc:
            # Listing S3 uploads needs s3:ListBucketMultipartUploads, which a policy for Velero does not grant.
            self.log("info", "unfinished writes under %s/ could not be listed: %s" % (self.prefix, exc))
            partial = None
        if committed is None and partial is None:
            return
        if self.location.exists(self.files["metadata"]):
            raise ConfigurationError("backup '%s' already exists in %s: choose another name (backups are never overwritten)"
                                     % (self.name, self.location.url))
        written = self.location.last_modified(self.prefix)
        raise ConfigurationError(
            "backup '%s' cannot be written: an incomplete backup holds the name in %s (%s/ has no velero-backup.json commit marker; "
            "last written at %s). It is the debris of an interrupted backup, or a backup of that name still running. "
            "Once no backup is running, clear it with the prune module's debris rule (include_incomplete: true, with "
            "incomplete_older_than shorter than its age; role prune: prune_include_incomplete), or delete %s/ from the location; "
            "or choose another name" % (self.name, self.location.url, self.prefix,
                                        velero_format.format_timestamp(written) if written else "an unknown time", self.prefix))

    # ---------------------------------------------------------------- what the credentials may not read

    def _skip_forbidden(self, resource, namespace, verb, exc, asked, announce=True):
        """Record a 403 in skipped_resources and say it: never a crash, never a silent hole.

        ``asked``: the refused objects are part of what the options select (a namespaced resource of a selected
        namespace, or a cluster-scoped one when include_cluster_resources selects them all): the backup lacks them,
        so it is PartiallyFailed. Otherwise (the cluster-scoped objects Velero's rule adds to a namespace-scoped
        backup because they relate to its items, which the user did not ask for): Completed, with a warning. A
        Role-bound ServiceAccount that backs up its namespace thus gets a Completed backup whose skips are listed.
        ``announce``: False when the caller words the error itself.
        """
        reason = (exc.body or {}).get("message") if isinstance(exc, ApiError) else None
        entry = {"resource": resource, "namespace": namespace, "verb": verb, "reason": reason or str(exc),
                 "counted_as": "error" if asked else "warning"}
        self.skipped_resources.append(entry)
        if not announce:
            return
        where = "in namespace %s" % namespace if namespace else "at the cluster scope"
        message = "%s %s: skipped, the credentials may not %s it: %s" % (resource, where, verb, entry["reason"])
        if asked:
            self.fail_item(message)
        else:
            self.warn(message + " (cluster-scoped objects related to the backed-up items; set include_cluster_resources: false "
                                "to not look for them)")

    def _list_crd_names(self):
        try:
            return {crd["metadata"]["name"] for page in self.client.list_pages_relisting(CRD_LIST_PATH) for crd in page.get("items") or []}
        except ApiError as exc:
            if exc.status != FORBIDDEN:
                raise
            # Only needed to relate custom resources to their CRDs; when all cluster resources are asked for,
            # the LIST of CRDs among them fails again and is counted there.
            if self._cluster_scope() == "related":
                self._skip_forbidden("customresourcedefinitions.apiextensions.k8s.io", None, "list", exc, asked=False)
            return set()

    def _read_named_namespaces(self, forbidden):
        """Without the right to list namespaces, read the ones included_namespaces names (a Role in a namespace
        may grant get on that namespace); globs cannot be resolved that way."""
        if self.namespace_filter.selects_all or any(c in pattern for pattern in self.namespace_filter.included for c in "*?["):
            raise KubesafeError(
                "the credentials may not list namespaces (%s), so the namespaces to back up cannot be found: name them in "
                "included_namespaces (backup_included_namespaces in the backup role) without globs, or grant list on "
                "namespaces (docs/rbac/backup-cluster.yml)" % ((forbidden.body or {}).get("message") or forbidden))
        self.log("info", "the credentials may not list namespaces: reading the %d named ones" % len(self.namespace_filter.included))
        namespaces = {}
        for name in self.namespace_filter.included:
            try:
                namespaces[name] = self.client.request("GET", "/api/v1/namespaces/%s" % name)
            except ApiError as exc:
                if exc.status == FORBIDDEN:
                    self._skip_forbidden("namespaces", name, "get", exc, asked=True)
                elif exc.status != 404:
                    raise
        return namespaces

    def _list_namespaces(self):
        namespaces = {}
        try:
            for page in self.client.list_pages_relisting("/api/v1/namespaces"):
                for namespace in page.get("items") or []:
                    namespaces[namespace["metadata"]["name"]] = namespace
        except ApiError as exc:
            if exc.status != FORBIDDEN:
                raise
            return self._read_named_namespaces(exc)
        return namespaces

    def _namespaces(self):
        namespaces = self._list_namespaces()
        for pattern in self.namespace_filter.unmatched_patterns(namespaces):
            self.warn("included namespace pattern '%s' matches no namespace" % pattern)
        for name, namespace in sorted(namespaces.items()):
            if not self.namespace_filter.matches(name):
                continue
            if is_excluded_by_label(namespace):
                self.log("info", "namespace %s is labelled %s=true: skipped" % (name, "velero.io/exclude-from-backup"))
                continue
            self._selected_namespaces.add(name)
        return namespaces

    def _write(self, selected, namespaces, started_clock):
        encryption = self.options.encryption
        contents = self.files["contents_encrypted" if encryption.mode == "all" else "contents"]
        try:
            with self.location.open_write(contents) as stream:
                hashing = HashingWriter(stream)
                # Mode all: the tarball is age-encrypted as it streams out; the hash is of the stored bytes.
                with (encrypting_writer(hashing, encryption) if encryption.mode == "all" else contextlib.nullcontext(hashing)) as sink:
                    with ArchiveWriter(sink, self.options.compression_level) as self._archive:
                        self._collect(selected, namespaces)
            archive = {"size": hashing.size, "sha256": hashing.sha256}
            self.volumes.run()
            phase = "PartiallyFailed" if self.errors else "Completed"
            files = self._write_sidecars(archive, phase)
        except Exception as exc:
            self.resource_list.close()
            self._remove_partial_backup()
            if isinstance(exc, KubesafeError):
                raise
            raise KubesafeError("backup '%s' failed and was not committed: %s" % (self.name, exc)) from exc
        return self._result(started_clock, phase, archive, files)

    def _remove_partial_backup(self):
        with contextlib.suppress(Exception):
            self.location.delete_prefix(self.prefix)
        # Snapshots of a backup that is never committed would be found by nobody.
        for warning in self.volumes.discard():
            self.warn(warning)

    # ---------------------------------------------------------------- collection

    def _collect(self, selected, namespaces):
        # Decoding pages allocates millions of short-lived objects, freed by reference counting (JSON
        # holds no cycles); the cyclic collector would run thousands of times for nothing: a tenth of
        # the CPU at 100k objects, even with raised thresholds. Peak RSS is unchanged (measured).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._collect_all(selected, namespaces)
        finally:
            if was_enabled:
                gc.enable()

    def _collect_all(self, selected, namespaces):
        namespaced = [r for r in selected if r.namespaced]
        scopes = [None] if self.namespace_filter.selects_all else sorted(self._selected_namespaces)
        tasks = [ListTask(resource, scope, selector) for resource in namespaced for scope in scopes
                 for selector in self.label_filter.api_selectors()]
        self._consume(tasks)
        self._take_namespaces(selected, namespaces)
        self._take_cluster_scoped(selected)

    def _consume(self, tasks):
        for task, payload in PageCollector(self.client, tasks, self.options.parallelism, self.options.page_size):
            if isinstance(payload, Relisted):
                self._relisted(task, payload)
                continue
            if isinstance(payload, Exception):
                self._list_failed(task, payload)
                continue
            self._take_items(task.resource, payload)

    def _relisted(self, task, relisted):
        self.relists[task.resource.group_resource] += 1
        self.warn("%s: the LIST's continue token expired (410 Expired), listed again from the start (re-list %d of %d); "
                  "objects already stored are not stored twice (%s)" % (task.describe(), relisted.number, MAX_RELISTS, relisted.error))

    def _list_failed(self, task, exc):
        if isinstance(exc, ListExpiredError):
            self.fail_item("%s: list failed: %s. Raise page_size (backup_page_size in the backup role, now %d) so a LIST needs "
                           "fewer requests, or back up fewer resources per run" % (task.describe(), exc, self.options.page_size))
        elif isinstance(exc, ApiError) and exc.status == 404 and task.namespace:
            self.warn("could not list %s: the namespace is gone (%s)" % (task.describe(), exc))
        elif isinstance(exc, (ApiError, KubesafeError)):
            if isinstance(exc, ApiError) and exc.status == FORBIDDEN:
                # Namespaced LISTs cover the selected namespaces; cluster-scoped ones run only when all are asked for.
                self._skip_forbidden(task.resource.group_resource, task.namespace, "list", exc, asked=True, announce=False)
            # "Kind namespace/*: ...", as a restore names objects: the * is every object the LIST would have returned.
            where = "%s/*" % (task.namespace or "*") if task.resource.namespaced else "*"
            self.fail_item("%s %s: could not list %s: %s" % (task.resource.kind, where, task.describe(), exc))
        else:
            raise exc

    def _take(self, resource, obj, related=False):
        """Write one object to the archive (or count it in check mode) if the rules keep it."""
        self._take_items(resource, (obj,), related)

    def _take_items(self, resource, objects, related=False):
        """Write objects of one resource (a LIST page) to the archive, or count them in check mode, if the rules keep them.

        One call per page: what depends only on the resource is looked up once, not per object (a million times in
        a large backup).
        """
        group_resource = resource.group_resource
        namespaced = resource.namespaced
        selected_namespaces = self._selected_namespaces
        # OR selectors list a resource once per selector; keep each object once.
        seen = self._seen_uids[group_resource] if len(self.label_filter.selectors) > 1 or related else None
        add_item = self._archive.add_item if self._archive is not None else None
        encrypt = self.options.encryption.mode == "secrets" and group_resource == "secrets"
        api_version, kind, version = resource.api_version, resource.kind, resource.version
        stored_names = []  # for the resource list, added once per page
        namespace_counts = self.namespace_counts
        observe_related, observe_volumes, crd_names = self.related.observe, self.volumes.observe, self._crd_names
        taken = 0
        for obj in objects:
            metadata = obj.get("metadata") or {}
            namespace = metadata.get("namespace") if namespaced else None
            if namespaced and namespace not in selected_namespaces:
                continue
            if is_excluded_by_label(obj):
                self.log("info", "%s %s/%s is labelled velero.io/exclude-from-backup=true: skipped" % (group_resource, namespace, metadata.get("name")))
                continue
            if metadata.get("deletionTimestamp"):
                self.log("info", "%s %s/%s is being deleted: skipped" % (group_resource, namespace, metadata.get("name")))
                continue
            if seen is not None:
                if metadata.get("uid") in seen:
                    continue
                seen.add(metadata.get("uid"))
            # LIST items carry no apiVersion/kind; stored items must, as Velero writes them.
            obj["apiVersion"] = api_version
            obj["kind"] = kind
            if add_item is not None:
                add_item(group_resource, version, namespace, metadata["name"], encrypt_secret(obj, self.options.encryption) if encrypt else obj, preferred=True)
            taken += 1
            if namespace:
                namespace_counts[namespace] += 1
                observe_related(resource, obj, crd_names)
                observe_volumes(group_resource, obj)
                stored_names.append("%s/%s" % (namespace, metadata["name"]))
            else:
                stored_names.append(metadata["name"])
        if taken:
            self.counts[group_resource] += taken
            self.resource_list.add_entries(api_version, kind, stored_names)

    def _take_namespaces(self, selected, namespaces):
        namespace_resource = next((r for r in selected if r.group_resource == "namespaces"), None)
        if namespace_resource is None:
            return
        for name in sorted(self._selected_namespaces):
            namespace = namespaces[name]
            labels = (namespace.get("metadata") or {}).get("labels") or {}
            # Velero keeps a namespace that matches the selector or holds selected items.
            if not self.label_filter.active or self.label_filter.matches(labels) or name in self.related.namespaces_with_items:
                self._take(namespace_resource, namespace)

    def _cluster_scope(self):
        """all, related or none: Velero's include_cluster_resources rule."""
        wanted = self.options.include_cluster_resources
        if wanted is True or (wanted is None and not self.namespace_filter.is_narrowed):
            return "all"
        return "related" if wanted is None else "none"

    def _take_cluster_scoped(self, selected):
        scope = self._cluster_scope()
        cluster_types = [r for r in selected if not r.namespaced and r.group_resource != "namespaces"]
        if scope == "all":
            self._consume([ListTask(r, None, selector) for r in cluster_types for selector in self.label_filter.api_selectors()])
        elif scope == "related":
            by_name = {r.group_resource: r for r in cluster_types}
            self._take_related_by_name(by_name.get("persistentvolumes"), self.related.persistent_volumes)
            self._take_related_by_name(by_name.get("customresourcedefinitions.apiextensions.k8s.io"), self.related.crds)
            self._take_related_bindings(by_name.get("clusterrolebindings.rbac.authorization.k8s.io"), by_name.get("clusterroles.rbac.authorization.k8s.io"))

    def _take_related_by_name(self, resource, names):
        if resource is None:
            return
        for name in sorted(names):
            try:
                obj = self.client.request("GET", "%s/%s" % (resource.list_path(), name))
            except ApiError as exc:
                if exc.status == 404:
                    self.warn("%s %s is referenced by a backed-up item but does not exist" % (resource.group_resource, name))
                    continue
                if exc.status == FORBIDDEN:
                    self._skip_forbidden("%s/%s" % (resource.group_resource, name), None, "get", exc, asked=False)
                    continue
                self.fail_item("%s %s: could not read it: %s" % (resource.kind, name, exc))
                continue
            self._take(resource, obj, related=True)

    def _take_related_bindings(self, bindings, roles):
        if bindings is None or not self.related.service_accounts:
            return
        role_names = set()
        try:
            for page in self.client.list_pages_relisting(bindings.list_path()):
                for binding in page.get("items") or []:
                    if self.related.binding_names_service_account(binding):
                        self._take(bindings, binding, related=True)
                        if (binding.get("roleRef") or {}).get("kind") == "ClusterRole":
                            role_names.add(binding["roleRef"]["name"])
        except ApiError as exc:
            if exc.status != FORBIDDEN:
                raise
            self._skip_forbidden(bindings.group_resource, None, "list", exc, asked=False)
            return
        self._take_related_by_name(roles, role_names)

    # ---------------------------------------------------------------- commit

    def _spec_options(self):
        options = self.options
        return {
            "ttl": velero_format.format_go_duration(self.ttl),
            "included_namespaces": self.namespace_filter.included,
            "excluded_namespaces": self.namespace_filter.excluded,
            "included_resources": self.resource_filter.included,
            "excluded_resources": self.resource_filter.excluded,
            "include_cluster_resources": options.include_cluster_resources,
            "label_selector": options.label_selector,
            "or_label_selectors": [selector.text for selector in self.label_filter.selectors] if options.or_label_selectors else [],
            "snapshot_volumes": options.snapshot_volumes,
            "default_volumes_to_fs_backup": options.volumes.default_volumes_to_fs_backup,
            "hooks": pod_hooks.backup_hooks_to_velero(options.volumes.hooks) if options.volumes.hooks else None,
        }

    def _status(self, phase, completed):
        total = sum(self.counts.values())
        records = self.volumes.records
        hook_results = self.volumes.hook_results
        tried = [record for record in records if record.get("phase") != volume_records.SKIPPED]
        return {
            "volume_snapshots_attempted": sum(1 for record in tried if record["method"] == volume_records.EBS),
            "volume_snapshots_completed": sum(1 for record in tried if record["method"] == volume_records.EBS
                                              and record["phase"] == volume_records.COMPLETED),
            "csi_volume_snapshots_attempted": sum(1 for record in tried if record["method"] == volume_records.CSI),
            "csi_volume_snapshots_completed": sum(1 for record in tried if record["method"] == volume_records.CSI
                                                  and record["phase"] == volume_records.COMPLETED),
            "hooks_attempted": len(hook_results),
            "hooks_failed": sum(1 for result in hook_results if result["status"] != "succeeded"),
            "phase": phase,
            "start_timestamp": self.started,
            "completion_timestamp": completed,
            "expiration": self.started + self.ttl,
            "total_items": total,
            "items_backed_up": total,
            "warnings": len(self.warnings),
            "errors": len(self.errors),
        }

    def _write_sidecars(self, archive, phase):
        encryption = self.options.encryption
        files = {self.files["contents_encrypted" if encryption.mode == "all" else "contents"]: archive}

        def put(key, data):
            self.location.put_bytes(key, data)
            files[key] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

        # Streamed: at a million objects the names alone are tens of megabytes.
        with self.location.open_write(self.files["resource_list"]) as stream:
            hashing = HashingWriter(stream)
            self.resource_list.write_gzip(hashing)
        files[self.files["resource_list"]] = {"size": hashing.size, "sha256": hashing.sha256}
        wrapped_identity = encryption.wrapped_identity()
        if wrapped_identity is not None:
            put(self.files["encryption_identity"], wrapped_identity)
        results = velero_format.results_sidecar(velero_format.Result(velero=self.errors), velero_format.Result(velero=self.warnings))
        put(self.files["results"], velero_format.gzip_json(results))
        sidecars = dict(velero_format.EMPTY_SIDECARS)
        if self.volumes.records:
            records = self.volumes.records
            sidecars.update(volume_snapshots=volume_records.native_snapshots_sidecar(records, self.name),
                            volume_info=volume_records.volume_info_sidecar(records))
            sidecars["pod_volume_backups"] = volume_records.pod_volume_backups_sidecar(records, self.name, self.options.storage_location)
            if volume_records.csi_contents_sidecar(records):
                sidecars["csi_volume_snapshot_contents"] = volume_records.csi_contents_sidecar(records)
        for sidecar, content in sorted(sidecars.items()):
            put(self.files[sidecar], velero_format.gzip_json(content))
        completed = _utcnow()
        self.log("info", "backed up %d items, phase %s" % (sum(self.counts.values()), phase))
        put(self.files["logs"], self.run_log.gzipped())
        manifest = self._manifest(files, phase, completed)
        put(self.files["manifest"], json.dumps(manifest, indent=2, sort_keys=True).encode())
        marker = velero_format.backup_object(self.name, self.options.storage_location, self._spec_options(),
                                             self._status(phase, completed), self.options.labels,
                                             annotations=dict(encryption.backup_annotations(),
                                                              **{MANIFEST_ANNOTATION: self.files["manifest"].rsplit("/", 1)[-1]}))
        self.location.put_bytes(self.files["metadata"], json.dumps(marker, indent=2).encode())
        self._completed = completed
        return files

    def _manifest(self, files, phase, completed):
        try:
            version = self.client.version()
        except KubesafeError:
            version = {}
        return {
            "apiVersion": "kubesafe.k8s/v1",
            "kind": "BackupManifest",
            "backup": self.name,
            "phase": phase,
            "tool": {"name": "kubesafe.k8s", "version": COLLECTION_VERSION},
            "cluster": {"server": self.client.server_url, "version": version.get("gitVersion")},
            "options": self._spec_options(),
            "startTimestamp": velero_format.format_timestamp(self.started),
            "completionTimestamp": velero_format.format_timestamp(completed),
            "counts": dict(sorted(self.counts.items())),
            "totalItems": sum(self.counts.values()),
            "tarBytes": self._archive.tar_bytes,
            "files": {key.rsplit("/", 1)[-1]: info for key, info in sorted(files.items())},
            "encryption": self.options.encryption.header(),
            "volumeSnapshots": self._volume_records(),
            "skippedResources": self.skipped_resources,
        }

    def _volume_records(self):
        """Snapshot records without the copies of the contents (those are in the csi sidecar)."""
        records = self.volumes.records
        return [{key: value for key, value in record.items() if key != "content"} for record in records]

    def _result(self, started_clock, phase, archive, files):
        completed = getattr(self, "_completed", None) or _utcnow()
        return {
            "name": self.name,
            "location": self.location.url,
            "phase": phase,
            "start_timestamp": velero_format.format_timestamp(self.started),
            "completion_timestamp": velero_format.format_timestamp(completed),
            "expiration": velero_format.format_timestamp(self.started + self.ttl),
            "duration_seconds": round(time.monotonic() - started_clock, 3),
            "items_backed_up": sum(self.counts.values()),
            "resource_counts": dict(sorted(self.counts.items())),
            "namespace_counts": dict(sorted(self.namespace_counts.items())),
            "relists": dict(sorted(self.relists.items())),
            "skipped_resources": self.skipped_resources,
            "namespaces": sorted(self._selected_namespaces),
            "warnings": self.warnings,
            "errors": self.errors,
            "archive": archive,
            "files": {key.rsplit("/", 1)[-1]: info for key, info in sorted(files.items())},
            "encryption": self.options.encryption.header(),
            "volume_snapshots": self._volume_records(),
            "hooks": self.volumes.hook_results,
            "check_mode": self.check_mode,
        }


def run_backup(client, location, options, check_mode=False):
    """Back up the cluster behind ``client`` into ``location``; returns the result document."""
    return BackupRun(client, location, options, check_mode).run()

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hooks and volume snapshots of a backup run.

While the objects stream into the archive, the run hands every pod and claim
to ``observe``; only pods with hooks and bound claims are kept (small). After
the stream, ``run`` works pod by pod, as Velero does: the pod's pre hooks
(e.g. freeze a database), snapshots of the claims it mounts, its post hooks
(always, even when a snapshot failed), then the remaining claims. Running
this after the objects are read keeps the freeze window to the snapshots.

A failed snapshot or a failed ``on_error: Fail`` hook is an error of the run
(the backup ends PartiallyFailed, its objects still stored); a volume no
method can snapshot is a warning and a skipped record.

File-system backup (method ``fs``, fs_copy.py) copies a claim's files into
the backup location instead; it is chosen by ``volume_snapshot_method`` or,
as in Velero, by the pod annotations ``backup.velero.io/backup-volumes``
(opt-in) and ``backup.velero.io/backup-volumes-excludes`` (opt-out, with
``default_volumes_to_fs_backup``), which work without ``snapshot_volumes``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures
import threading

from ansible_collections.kubesafe.k8s.plugins.module_utils.hooks import pod_hooks
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.csi import CsiSnapshots, SnapshotError
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.deletion import delete_recorded_snapshots
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.inventory import ClaimVolume, choose_method
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.mover import MOVER_LABEL, RUN_LABEL, MoverSettings, sweep_movers

METHODS = ("auto", "csi", "ebs", "fs", "none")
FS_OPT_IN_ANNOTATION = "backup.velero.io/backup-volumes"
FS_OPT_OUT_ANNOTATION = "backup.velero.io/backup-volumes-excludes"


def _now():
    return velero_format.format_timestamp(velero_format.utc_now())


class VolumeSettings:
    """The backup's volume and hook options, checked."""

    def __init__(self, snapshot_volumes=False, method=None, csi_snapshot_class=None, csi_snapshot_timeout="10m", ebs_config=None,
                 hooks=None, ebs_factory=None, default_volumes_to_fs_backup=False, fs_mover=None, fs_mover_timeout="5m",
                 fs_timeout="4h", fs_password=None, fs_from_snapshot=True):
        self.snapshot_volumes = bool(snapshot_volumes)
        self.default_volumes_to_fs_backup = bool(default_volumes_to_fs_backup)
        self.mover = MoverSettings(
            fs_mover, velero_format.parse_go_duration(fs_mover_timeout or "5m", "fs_mover_timeout").total_seconds(),
            velero_format.parse_go_duration(fs_timeout or "4h", "fs_timeout").total_seconds())
        # Copy CSI volumes from a fresh snapshot (crash-consistent, hooks around the snapshot) when the driver can snapshot.
        self.fs_from_snapshot = bool(fs_from_snapshot)
        # The restic repositories' password; None: derived from the encryption passphrase (restic.repository_password).
        self.fs_password = fs_password
        # ResticRepositories of the backup location, set by the backup run; else why there are none.
        self.fs_repositories = None
        self.fs_unavailable = "file-system backups need the backup location's restic repositories"
        self.method = method if method not in (None, "") else "auto"
        choices = self.method.values() if isinstance(self.method, dict) else [self.method]
        for choice in choices:
            if choice not in METHODS:
                raise ConfigurationError("volume_snapshot_method: %r is not one of %s (give one method, or a dict of storage class or "
                                         "CSI driver: method)" % (choice, ", ".join(METHODS)))
        self.csi_snapshot_class = csi_snapshot_class
        self.csi_timeout = velero_format.parse_go_duration(csi_snapshot_timeout or "10m", "csi_snapshot_timeout").total_seconds()
        self.ebs_config = ebs_config
        self.hooks = pod_hooks.prepare_backup_hooks(hooks or [])  # validated once: a bad entry fails before anything runs
        # Builds the EBS client from ebs_config; a parameter so the engine stays importable without boto3.
        self.ebs_factory = ebs_factory

    @property
    def configures_fs(self):
        """True when the options themselves ask for file-system backups (annotations can still ask at run time)."""
        methods = self.method.values() if isinstance(self.method, dict) else [self.method]
        return self.default_volumes_to_fs_backup or (self.snapshot_volumes and "fs" in methods)


class VolumeBackup:
    def __init__(self, client, settings, backup_name, run_log, parallelism=4, check_mode=False):
        self.client = client
        self.settings = settings
        self.backup_name = backup_name
        self.backup_label = velero_format.label_value(backup_name)
        self.run_log = run_log
        self.parallelism = max(1, int(parallelism))
        self.check_mode = check_mode
        self.records = []
        self.hook_results = []
        self._pods = []
        self._claims = {}
        self._claim_users = {}  # (namespace, claim) -> [(pod volume name, pod annotations, node, phase)]
        self._lock = threading.Lock()
        self._csi = None
        self._ebs = None

    # ------------------------------------------------------------ observation

    def observe(self, group_resource, obj):
        """Called for every stored object; keeps what the volume phase needs."""
        if group_resource == "pods":
            if self._has_hooks(obj):
                self._pods.append(obj)
            self._observe_claim_users(obj)
        elif group_resource == "persistentvolumeclaims":
            spec = obj.get("spec") or {}
            if spec.get("volumeName"):
                metadata = obj["metadata"]
                self._claims[(metadata["namespace"], metadata["name"])] = {
                    "metadata": {"namespace": metadata["namespace"], "name": metadata["name"]},
                    "spec": {key: spec.get(key) for key in ("volumeName", "storageClassName", "accessModes", "volumeMode", "resources")},
                    "status": {"capacity": (obj.get("status") or {}).get("capacity")}}

    def _observe_claim_users(self, pod):
        metadata, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        annotations = metadata.get("annotations") or {}
        kept = {key: annotations[key] for key in (FS_OPT_IN_ANNOTATION, FS_OPT_OUT_ANNOTATION) if key in annotations}
        for volume in spec.get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                self._claim_users.setdefault((metadata["namespace"], claim), []).append(
                    (volume.get("name"), kept, spec.get("nodeName"), (pod.get("status") or {}).get("phase"), metadata.get("name")))

    def _fs_by_annotation(self, key):
        """True when a pod mounting the claim asks for a file-system backup of it (Velero's opt-in and opt-out)."""
        for volume_name, annotations, _node, _phase, _pod in self._claim_users.get(key, ()):
            if volume_name in _annotation_list(annotations.get(FS_OPT_IN_ANNOTATION)):
                return True
            if self.settings.default_volumes_to_fs_backup and volume_name not in _annotation_list(annotations.get(FS_OPT_OUT_ANNOTATION)):
                return True
        return False

    def _node_of(self, volume):
        """The node a ReadWriteOnce claim is attached to (its running user's), where its mover must run; else None."""
        if "ReadWriteOnce" not in volume.access_modes:
            return None
        for _volume_name, _annotations, node, phase, _pod in self._claim_users.get((volume.namespace, volume.claim), ()):
            if node and phase == "Running":
                return node
        return None

    def _has_hooks(self, pod):
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        if not self.settings.hooks and not any(key.endswith("hook.backup.velero.io/command") for key in annotations):
            return False  # the common case, decided without parsing anything
        try:
            return any(pod_hooks.backup_hooks_for_pod(pod, self.settings.hooks, phase) for phase in ("pre", "post"))
        except KubesafeError:
            return True  # the volume phase reports the bad hook

    # ------------------------------------------------------------ the phase

    def run(self):
        if self.check_mode:
            self._preview()
            return
        if not self._pods and not self._claims:
            return
        volumes = self._volumes()
        taken = set()
        work = []
        for pod in sorted(self._pods, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
            claims = [key for key in _claims_of(pod) if key in volumes and key not in taken]
            taken.update(claims)
            work.append((pod, [volumes[key] for key in claims]))
        rest = [volume for key, volume in sorted(volumes.items()) if key not in taken]
        self._sweep_movers({key[0] for key, (_volume, method) in volumes.items() if method == volume_records.FS})
        with concurrent.futures.ThreadPoolExecutor(self.parallelism) as pool:
            list(pool.map(lambda item: self._pod_with_hooks(*item), work))
            list(pool.map(self._snapshot, rest))
        self.records.sort(key=lambda record: (record.get("namespace") or "", record.get("claim") or ""))

    def _preview(self):
        """Check mode: the hooks that would run and the volumes that would be snapshotted (phase Planned); only reads."""
        for pod in sorted(self._pods, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
            for phase in ("pre", "post"):
                try:
                    hooks = pod_hooks.backup_hooks_for_pod(pod, self.settings.hooks, phase)
                except KubesafeError as exc:
                    self.run_log.error("Pod %s/%s: %s hooks: %s" % (pod["metadata"]["namespace"], pod["metadata"]["name"], phase, exc))
                    continue
                for hook in hooks:
                    self.hook_results.append({"namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"],
                                              "container": hook.container, "command": hook.command, "phase": phase,
                                              "source": hook.source, "on_error": hook.on_error, "status": "planned"})
        if self._claims:
            for volume, method in self._volumes().values():
                record = volume_records.new_record(volume, method)
                record["phase"] = "Planned"
                self.records.append(record)
        self.records.sort(key=lambda record: (record.get("namespace") or "", record.get("claim") or ""))

    def _volumes(self):
        """(namespace, claim) -> (ClaimVolume, method) for every claim with a volume, skipping those no method takes."""
        volumes = {}
        for key, claim in sorted(self._claims.items()):
            by_annotation = self._fs_by_annotation(key)
            if not (self.settings.snapshot_volumes or by_annotation):
                continue
            volume_name = claim["spec"]["volumeName"]
            try:
                pv = self.client.request("GET", "/api/v1/persistentvolumes/%s" % volume_name)
            except ApiError as exc:
                self.run_log.error("PersistentVolumeClaim %s/%s: could not read its PersistentVolume %s: %s" % (key[0], key[1], volume_name, exc))
                continue
            volume = ClaimVolume(claim, pv)
            method, reason = choose_method(volume, "fs" if by_annotation else self.settings.method)
            if method is None:
                record = volume_records.new_record(volume, "none")
                record.update(phase=volume_records.SKIPPED, reason=reason)
                self.records.append(record)
                self.run_log.warn("volume of claim %s/%s not snapshotted: %s" % (key[0], key[1], reason))
                continue
            volumes[key] = (volume, method)
        return volumes

    # ------------------------------------------------------------ one pod

    def _pod_with_hooks(self, pod, volumes):
        pre = self._run_hooks(pod, "pre")
        if pre is not None and pre.fatal:
            for volume, method in volumes:
                record = volume_records.new_record(volume, method)
                record.update(phase=volume_records.SKIPPED, reason="a pre hook of pod %s failed" % pod["metadata"]["name"])
                self._add(record)
            self._run_log_error("Pod %s/%s: its volumes are not snapshotted: its pre hook failed" % (pod["metadata"]["namespace"], pod["metadata"]["name"]))
            return
        pending = [self._start(volume, method) for volume, method in volumes]
        self._run_hooks(pod, "post")
        for started in pending:
            self._finish(*started)

    def _run_hooks(self, pod, phase):
        try:
            hooks = pod_hooks.backup_hooks_for_pod(pod, self.settings.hooks, phase)
        except KubesafeError as exc:
            self._run_log_error("Pod %s/%s: %s hooks: %s" % (pod["metadata"]["namespace"], pod["metadata"]["name"], phase, exc))
            return _FAILED_HOOKS
        if not hooks:
            return None
        run = pod_hooks.run_hooks(self.client, pod, hooks)
        with self._lock:
            self.hook_results.extend(run.results)
        for result in run.results:
            if result["status"] == "succeeded":
                continue
            message = "Pod %s/%s: %s hook %s in container %s %s: %s" % (
                result["namespace"], result["pod"], phase, pod_hooks.command_text(result["command"]), result["container"], result["status"],
                result.get("error") or "exit code %s" % result.get("exit_code"))
            if result["on_error"] == "Fail":
                self._run_log_error(message)
            else:
                with self._lock:
                    self.run_log.warn(message)
        return run

    def _run_log_error(self, message):
        with self._lock:
            self.run_log.error(message)

    def _add(self, record):
        with self._lock:
            self.records.append(record)

    def discard(self):
        """Delete the snapshots taken for a backup that is not committed; returns warnings for those left."""
        _deleted, warnings, failures = delete_recorded_snapshots(self.records, csi=self._csi, ebs=self._ebs)
        return warnings + ["%s; delete it by hand" % failure for failure in failures]

    # ------------------------------------------------------------ snapshots

    def _snapshot(self, item):
        self._finish(*self._start(*item))

    def _start(self, volume, method):
        """Take the snapshot (the point in time); (record, handle to finish or None)."""
        record = volume_records.new_record(volume, method)
        record["started"] = _now()
        try:
            if method == volume_records.FS:
                snapshot = self._start_fs_snapshot(volume, record)
                if snapshot is None:
                    self._copy_files(volume, record)
                    return record, None
                return record, (volume, snapshot)
            if method == volume_records.CSI:
                return record, self._start_csi(volume, record)
            return record, self._start_ebs(volume, record)
        except KubesafeError as exc:
            self._fail(record, exc)
            return record, None

    def _finish(self, record, pending):
        if pending is not None:
            try:
                if record["method"] == volume_records.FS:
                    self._finish_fs_snapshot(record, *pending)
                    self._add(record)
                    return
                if record["method"] == volume_records.CSI:
                    self._finish_csi(record, pending)
                else:
                    self._finish_ebs(record, pending)
                record.update(phase=volume_records.COMPLETED, completed=_now())
                with self._lock:
                    self.run_log.log("info", "snapshot of claim %s/%s: %s" % (record["namespace"], record["claim"], record["snapshot_handle"]))
            except KubesafeError as exc:
                self._fail(record, exc)
        self._add(record)

    def _fail(self, record, exc):
        record.update(phase=volume_records.FAILED, error=str(exc), completed=_now())
        what = "the file-system backup of its volume" if record["method"] == volume_records.FS else "the snapshot of its volume (%s)" % record["method"]
        self._run_log_error("PersistentVolumeClaim %s/%s: %s failed: %s" % (record["namespace"], record["claim"], what, exc))

    # ------------------------------------------------------------ file-system backups

    def _sweep_movers(self, namespaces):
        if not namespaces:
            return
        deleted, errors = sweep_movers(self.client, namespaces)
        for name in deleted:
            self.run_log.log("info", "deleted mover pod %s, left by an interrupted run" % name)
        for error in errors:
            self.run_log.warn(error)

    def _start_fs_snapshot(self, volume, record):
        """A VolumeSnapshot of a CSI claim to copy the files from (Velero's data mover design), or None to copy the claim itself."""
        if not (self.settings.fs_from_snapshot and volume.is_csi):
            return None
        try:
            csi = self._csi_api()
            class_name = csi.class_for(volume.driver)
        except KubesafeError as exc:
            with self._lock:
                self.run_log.log("info", "claim %s/%s: files copied from the claim itself, not a snapshot (%s)" % (volume.namespace, volume.claim, exc))
            return None
        if self.settings.fs_repositories is None:
            raise ConfigurationError(self.settings.fs_unavailable)
        record.update(from_snapshot=True, snapshot_class=class_name)
        snapshot = csi.start(volume.namespace, volume.claim, class_name, self.backup_name, self.backup_label)
        return csi.wait(snapshot, ready=False)

    def _finish_fs_snapshot(self, record, volume, snapshot):
        """Copy the files of a temporary claim made from the snapshot, then delete the claim, the snapshot and its content."""
        csi = self._csi_api()
        namespace = volume.namespace
        temporary = None
        content_name = (snapshot.get("status") or {}).get("boundVolumeSnapshotContentName")
        try:
            snapshot = csi.wait(snapshot, ready=True)
            content_name = snapshot["status"].get("boundVolumeSnapshotContentName")
            temporary = self._create_temporary_claim(volume, snapshot)
            self._copy_files(volume, record, mount_claim=temporary)
        except KubesafeError as exc:
            self._fail(record, exc)
        finally:
            for warning in self._remove_snapshot_copy(csi, namespace, temporary, snapshot, content_name):
                with self._lock:
                    self.run_log.warn(warning)

    def _create_temporary_claim(self, volume, snapshot):
        name = "kubesafe-fs-%s" % snapshot["metadata"]["name"][len("kubesafe-"):][-50:]
        source = {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": snapshot["metadata"]["name"]}
        body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": volume.namespace, "labels": {MOVER_LABEL: "true", RUN_LABEL: self.backup_label}},
                "spec": {"accessModes": volume.access_modes or ["ReadWriteOnce"], "storageClassName": volume.storage_class or None,
                         "resources": {"requests": {"storage": (snapshot.get("status") or {}).get("restoreSize") or volume.size}},
                         "dataSource": source, "dataSourceRef": source}}
        try:
            self.client.request("POST", "/api/v1/namespaces/%s/persistentvolumeclaims" % volume.namespace, body=body)
        except ApiError as exc:
            raise SnapshotError("could not create a claim from the snapshot of %s/%s to copy its files: %s" % (volume.namespace, volume.claim, exc))
        return name

    def _remove_snapshot_copy(self, csi, namespace, temporary, snapshot, content_name):
        warnings = []
        if temporary:
            try:
                self.client.request("DELETE", "/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (namespace, temporary))
            except ApiError as exc:
                if exc.status != 404:
                    warnings.append("could not delete the temporary claim %s/%s: %s" % (namespace, temporary, exc))
        try:
            csi.delete_snapshot_object(namespace, snapshot["metadata"]["name"])
            if content_name:
                csi.delete_content(content_name)  # a class with deletionPolicy Retain would keep it
        except KubesafeError as exc:
            warnings.append("could not delete the temporary snapshot of %s: %s" % (namespace, exc))
        return warnings

    def _copy_files(self, volume, record, mount_claim=None):
        """The claim's files into its namespace's restic repository (between the pod's hooks, as Velero does)."""
        from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.fs_copy import back_up_claim  # pylint: disable=import-outside-toplevel
        if self.settings.fs_repositories is None:
            raise ConfigurationError(self.settings.fs_unavailable)
        fields = back_up_claim(self.client, self.settings.fs_repositories, self.settings.mover, self.backup_label, self.backup_name,
                               volume.namespace, volume.claim, node_name=None if mount_claim else self._node_of(volume),
                               mount_claim=mount_claim)
        warning = fields.pop("warning", None)
        if warning:
            with self._lock:
                self.run_log.warn(warning)
        record.update(fields)
        record.update(phase=volume_records.COMPLETED, completed=_now(), snapshot_handle=fields["snapshot_id"])
        with self._lock:
            self.run_log.log("info", "file-system backup of claim %s/%s: restic snapshot %s, %d bytes read, %d bytes added" % (
                record["namespace"], record["claim"], fields["snapshot_id"], fields["bytes"], fields["bytes_added"]))

    def _csi_api(self):
        with self._lock:
            if self._csi is None:
                csi = CsiSnapshots(self.client, self.settings.csi_snapshot_class, self.settings.csi_timeout)
                if not csi.served():
                    raise SnapshotError("the cluster does not serve snapshot.storage.k8s.io/v1 (install the external-snapshotter CRDs "
                                        "and controller), or choose volume_snapshot_method ebs for EBS volumes")
                self._csi = csi
            return self._csi

    def _start_csi(self, volume, record):
        csi = self._csi_api()
        record["snapshot_class"] = csi.class_for(volume.driver)
        # Where the content lives: prune and verify must look for it in this cluster, not another one.
        record["cluster_id"] = csi.cluster_id()
        snapshot = csi.start(volume.namespace, volume.claim, record["snapshot_class"], self.backup_name, self.backup_label)
        return csi.wait(snapshot, ready=False)

    def _finish_csi(self, record, snapshot):
        csi = self._csi_api()
        snapshot = csi.wait(snapshot, ready=True)
        content = csi.keep(snapshot, self.backup_label)
        status = content.get("status") or {}
        record.update(snapshot_handle=status.get("snapshotHandle"), content_name=content["metadata"]["name"],
                      restore_size=status.get("restoreSize"), snapshot_name=snapshot["metadata"]["name"],
                      content=_trimmed(content))

    def _ebs_api(self):
        with self._lock:
            if self._ebs is None:
                if self.settings.ebs_factory is None:
                    raise ConfigurationError("EBS snapshots need boto3 on the host running the module")
                self._ebs = self.settings.ebs_factory(self.settings.ebs_config or {})
            return self._ebs

    def _start_ebs(self, volume, record):
        ebs = self._ebs_api()
        region = ebs.region(volume.region)
        tags = {"kubesafe.k8s/backup": self.backup_name, "velero.io/backup": self.backup_name,
                "kubesafe.k8s/cluster": self.client.get_server_host(), "kubesafe.k8s/persistent-volume": volume.persistent_volume,
                "kubesafe.k8s/claim": "%s/%s" % (volume.namespace, volume.claim)}
        description = "kubesafe.k8s backup %s of PV %s (claim %s/%s)" % (self.backup_name, volume.persistent_volume, volume.namespace, volume.claim)
        # Not waiting for completion: the point in time is fixed once EC2 accepts the call, so post hooks can run.
        snapshot = ebs.create_snapshot(volume.volume_id, description, tags, region=region, wait=False)
        record.update(snapshot_handle=snapshot["snapshot_id"], region=snapshot.get("region") or region,
                      availability_zone=snapshot.get("availability_zone") or volume.availability_zone,
                      volume_type=snapshot.get("volume_type"), iops=snapshot.get("iops"), size_gib=snapshot.get("size_gib"),
                      encrypted=snapshot.get("encrypted"))
        return snapshot

    def _finish_ebs(self, record, snapshot):
        ebs = self._ebs_api()
        ebs.wait_for_snapshot(snapshot["snapshot_id"], region=record["region"])
        copy_region = ebs.settings.get("copy_to_region")
        if copy_region and copy_region != record["region"]:
            copy = ebs.copy_snapshot(snapshot["snapshot_id"], record["region"], copy_region,
                                     description="copy of %s for kubesafe.k8s backup %s" % (snapshot["snapshot_id"], self.backup_name))
            record["copies"] = [{"region": copy["region"], "snapshot_id": copy["snapshot_id"]}]


class _FailedHooks:
    """Hooks that could not even be read count as a failed pre hook: no snapshot without its freeze."""
    fatal = True
    results = ()


_FAILED_HOOKS = _FailedHooks()


def _annotation_list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _claims_of(pod):
    namespace = pod["metadata"]["namespace"]
    return [(namespace, volume["persistentVolumeClaim"]["claimName"]) for volume in (pod.get("spec") or {}).get("volumes") or []
            if (volume.get("persistentVolumeClaim") or {}).get("claimName")]


def _trimmed(content):
    """The content as Velero's sidecar lists it, without server-managed metadata noise."""
    metadata = content.get("metadata") or {}
    return {"apiVersion": content.get("apiVersion"), "kind": content.get("kind"),
            "metadata": {key: metadata[key] for key in ("name", "labels", "uid", "creationTimestamp") if key in metadata},
            "spec": content.get("spec"), "status": content.get("status")}

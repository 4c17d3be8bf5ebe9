#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: restore
short_description: Restore a backup (ours or Velero's) into a Kubernetes cluster
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Restores the objects of a backup in dependency order - CRDs first (waiting until they are served), then Velero's
    priorities (namespaces, storage classes, volumes, claims, service accounts, secrets, config maps, ...), then the
    rest - creating the objects of each tier in parallel.
  - Objects are sanitized as Velero does (server-set metadata and status dropped, Service cluster IPs and
    auto-assigned node ports cleared, pods unbound from nodes, ...); objects that Kubernetes' own controllers recreate
    from their restored controller (ReplicaSets of Deployments, pods of ReplicaSets, StatefulSets, DaemonSets and Jobs,
    Jobs of CronJobs, EndpointSlices of Services, ControllerRevisions), completed pods and jobs, nodes, events and
    service-account tokens are skipped. Objects controlled by anything else (a TLS Secret of a cert-manager
    Certificate, an operator's pods) are restored.
  - ownerReferences are rewritten to the uids of the restored owners instead of being dropped.
  - Integrity before the first write - a backup made by this collection is checked against its manifest while it is
    read, before anything is written - the size and SHA-256 of every file the restore reads (the tarball, encrypted
    or not, the encryption key file, the volume snapshot sidecars) and the objects per resource. A mismatch, a file the
    manifest does not list, or a missing manifest fails the task naming the file, with nothing written (see
    I(allow_unverified)). A Velero-made backup (no manifest, and no C(kubesafe.k8s/manifest) annotation on its
    C(velero-backup.json)) is restored with a warning that it is unverified.
  - The archive path is the authority - an object whose name, namespace, API group or kind is not the one of its path
    (C(resources/<resource>/namespaces/<ns>/<name>.json), C(resources/<resource>/cluster/<name>.json)), a namespaced
    object under C(cluster/) or a cluster-scoped one under C(namespaces/), is never written; it is counted as failed
    with the reason. Filters and mappings apply to the path, which is where the object goes.
  - Hostile archives are refused before the first write, naming the entry - members with absolute paths or C(..),
    links, devices or fifos; an entry over 16 MiB (no Kubernetes object is that big); an archive inflating to more than
    the uncompressed size its manifest records. Memory stays bounded whatever the archive holds.
  - Every restored object is labelled C(velero.io/backup-name) and C(velero.io/restore-name).
  - Objects that already exist are skipped, updated or recreated as I(existing_resource_policy) says; nothing else is
    ever deleted.
  - A record of the restore (results, logs and a report) is written to the location under C(restores/<name>/).
  - Volumes snapshotted by the backup come back with their data (unless I(restore_pvs=false)). A claim with a CSI
    snapshot is created with a C(dataSource) naming a VolumeSnapshot of it (made from a pre-provisioned, C(Retain)
    VolumeSnapshotContent holding the recorded snapshot handle), so its storage class provisions a new volume from the
    snapshot; its old PersistentVolume is not restored. An EBS snapshot becomes a new EBS volume in the target
    availability zone (see I(ebs_config)) and the PersistentVolume is rewritten to it.
  - A PersistentVolume with C(reclaimPolicy=Delete) and no snapshot is not restored (its disk is gone with the
    claim); the claim gets a new, empty volume, as with Velero. Retain volumes are restored as they were.
  - Restore hooks, as Velero's - the pod annotations C(init.hook.restore.velero.io/container-image),
    C(container-name), C(command) add an init container to the restored pod; C(post.hook.restore.velero.io/command),
    C(container), C(on-error), C(exec-timeout), C(wait-timeout), C(wait-for-ready) run a command in the pod once its
    container runs. I(hooks) gives the same for pods selected by namespace and labels. Pods a controller recreates are
    not restored themselves; their exec hooks run in the recreated pod of the same name (StatefulSet), or once in each
    new pod of the same template, found by its labels (ReplicaSet, DaemonSet).
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.ebs
  - kubesafe.k8s.location
  - kubesafe.k8s.decryption
  - kubesafe.k8s.fs_backup
options:
  backup:
    description: Name of the backup to restore, or C(latest) for the newest complete one in the location.
    type: str
    default: latest
  name:
    description: Name of the restore. Defaults to the backup name followed by C(-YYYYMMDDhhmmss).
    type: str
  included_namespaces:
    description: Namespaces of the backup to restore (globs). A list or a comma-separated string.
    type: list
    elements: str
    default: ['*']
  excluded_namespaces:
    description: Namespaces to leave out (globs); an exclude wins over any include.
    type: list
    elements: str
    default: []
  included_resources:
    description: Resources to restore, by plural, kind, C(kind.group) or C(plural.group), or C(*).
    type: list
    elements: str
    default: ['*']
  excluded_resources:
    description: Resources to leave out.
    type: list
    elements: str
    default: []
  include_cluster_resources:
    description:
      - C(true) restores every cluster-scoped object of the backup, C(false) none.
      - Unset restores all of them without a namespace filter, and otherwise only those related to the restored
        namespaces (their PVs, the CRDs of their custom resources, ClusterRoleBindings of their ServiceAccounts and
        those bindings' ClusterRoles).
    type: bool
  label_selector:
    description: Restore only objects matching this label selector.
    type: str
  or_label_selectors:
    description: Restore objects matching any of these label selectors. Cannot be used with I(label_selector).
    type: list
    elements: str
  names:
    description:
      - Restore only these objects, as C(kind/namespace/name) or C(kind/name) for cluster-scoped ones; globs allowed,
        e.g. C(deployment/shop/web), C(configmap/shop/*), C(crd/*.example.com).
    type: list
    elements: str
  namespace_mapping:
    description:
      - Restore namespace C(old) as C(new), for each C(old) C(new) pair. PersistentVolume claim references and
        (Cluster)RoleBinding subjects follow. The source namespace is not restored as well.
    type: dict
    default: {}
  storage_class_mapping:
    description: Rename storage classes of claims, volumes and StatefulSet claim templates, C(old) to C(new).
    type: dict
    default: {}
  registry_mapping:
    description:
      - Rewrite container image registries, C(old) prefix to C(new), e.g. C(docker.io) to C(registry.internal/mirror).
        Images without a registry count as C(docker.io).
    type: dict
    default: {}
  resource_modifiers:
    description:
      - Changes applied to matching objects before they are created, like Velero's resource modifiers. Each entry has
        C(conditions) (C(group_resource) or kind, C(namespaces), C(name_regex), C(label_selector)) and C(patches)
        (JSON patch operations; a string value that parses as JSON is used as that value, so C("2") is the number 2),
        C(merge_patches) or C(strategic_patches).
    type: list
    elements: dict
    default: []
  existing_resource_policy:
    description:
      - What to do with an object that already exists and differs from the backup. C(none) leaves it and warns
        (ServiceAccounts still get the backed-up secrets and image pull secrets added, as Velero does), C(update)
        patches it to the backed-up state, C(recreate) deletes and creates it (never for Namespaces,
        PersistentVolumes and PersistentVolumeClaims).
      - With C(update) the object ends equal to the backup - keys added since the backup are removed - except for what
        the cluster assigned, which is kept (Service cluster IPs, IP families and auto-assigned node ports, a bound
        claim's volume, a pod's node and token volume, a Job's generated selector, finalizers, the bookkeeping
        annotations of Kubernetes' controllers, status and server metadata). ServiceAccounts are merged as under
        C(none), the backup's labels and annotations winning. The patch carries the resourceVersion read, so a
        concurrent change is read again and decided anew.
      - An object that differs only in what the cluster assigned, or in the restore labels, is C(unchanged).
    type: str
    choices: [none, update, recreate]
    default: none
  preserve_nodeports:
    description: Keep every Service node port; by default only explicitly set ones are kept.
    type: bool
    default: false
  restore_status:
    description: Resources (group/resource names) whose status is restored as well.
    type: list
    elements: str
    default: []
  wait:
    description:
      - Wait until restored Deployments, StatefulSets and DaemonSets are ready, claims bound and Jobs running.
      - A Job counts once it runs (a pod running, or one succeeded) or has completed, not when it finishes; a suspended
        Job (C(spec.suspend) true) runs no pod until resumed and is not waited for (reported as skipped, not a failure).
        A failed Job or a stuck rollout ends its wait at once.
      - "Each wait not met is in I(waits) and in I(errors) as C(Kind namespace/name: why), for example
        C(Deployment shop/web: not ready after 300s: 1 of 3 replicas available, 1 updated) or
        C(Job shop/migrate: not ready after 300s: no pod started (1 pending)), and the restore is C(PartiallyFailed)."
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait in all when I(wait) is set.
    type: int
    default: 300
  parallelism:
    description: How many objects of one tier are written at once, and how many pods' restore hooks run at once.
    type: int
    default: 8
  restore_pvs:
    description:
      - Restore volumes from the backup's snapshots (Velero's C(restorePVs)). With C(false), claims are restored
        without their data.
    type: bool
    default: true
  allow_unverified:
    description:
      - Restore a backup made by this collection whose manifest (C(<backup>-manifest.json)) is missing or unreadable, or
        whose files do not match it, with loud warnings instead of refusing it. For the day the manifest itself is lost
        or damaged; the restored objects may then be damaged or tampered with.
      - Without it, such a restore fails before its first write, naming the file. A backup written by Velero has no
        manifest and is restored with a warning that it is unverified, with or without this option.
    type: bool
    default: false
  fail_on_partial:
    description:
      - Fail the task when the restore is not C(Completed) (C(PartiallyFailed) - objects the cluster refused, waits not
        met). The message names the phase, the count of errors and the first ones as C(Kind namespace/name) and the reason;
        the result is returned all the same. In check mode the predicted phase counts (node ports already allocated, a
        terminating target namespace, names the cluster refuses).
      - With C(false) such a restore is returned as changed, with a warning.
    type: bool
    default: true
  hooks:
    description:
      - Restore hooks for the restored pods selected by namespace and labels, as Velero's C(spec.hooks.resources).
        Pod annotations win over these.
      - Exec hooks wait for their container to run (at most their I(wait_timeout), else I(wait_timeout) of the
        restore), so a restore never hangs on a pod that does not start.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the hook set, used in results and messages.
        type: str
        required: true
      included_namespaces:
        description: Namespaces (of the backup, before any mapping) whose pods get the hooks; globs allowed. All by default.
        type: list
        elements: str
      excluded_namespaces:
        description: Namespaces left out; globs allowed.
        type: list
        elements: str
      label_selector:
        description: Only pods matching this label selector.
        type: str
      post:
        description: Hooks in order; each is an C(exec) or an C(init) entry.
        type: list
        elements: dict
        suboptions:
          exec:
            description:
              - A command run in the restored pod - C(container) (default the first), C(command) (list or string),
                C(on_error) (C(Continue), the default, or C(Fail)), C(exec_timeout) (Go duration, default C(30s)),
                C(wait_timeout) (Go duration), C(wait_for_ready) (bool, wait for the container to be ready too).
            type: dict
          init:
            description:
              - Init containers added before the pod's own - C(init_containers), a list of container specs.
            type: dict
attributes:
  check_mode:
    support: full
    description: Reads the cluster and the backup and reports for every object whether it would be created, updated,
      left unchanged or skipped, and why; nothing is written to the cluster or the location.
  diff_mode:
    support: full
    description: Shows the before and after of every object that would be created or changed.
requirements:
  - kubernetes
  - boto3 (for S3 locations)
  - pyrage (to restore encrypted backups)
"""

EXAMPLES = r"""
- name: Restore the newest backup in ./backups
  kubesafe.k8s.restore:

- name: Restore one namespace of a named backup from S3 under a new name, waiting for the workloads
  kubesafe.k8s.restore:
    backup: nightly-20261125020000
    location: s3://my-backups/prod
    included_namespaces: [shop]
    namespace_mapping:
      shop: shop-restored
    storage_class_mapping:
      gp2: gp3
    wait: true

- name: Preview, object by object, what a restore over existing objects would change
  kubesafe.k8s.restore:
    backup: latest
    existing_resource_policy: update
  check_mode: true
  diff: true

- name: Restore a single Deployment
  kubesafe.k8s.restore:
    names: [deployment/shop/web]

- name: Restore an encrypted backup with the age private key kept outside the backup job
  kubesafe.k8s.restore:
    backup: nightly-20261125020000
    decryption_identity_file: /secure/backup-key.txt
"""

RETURN = r"""
restore:
  description: What the restore did (or would do, in check mode).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the restore.
      type: str
    backup:
      description: Name of the restored backup.
      type: str
    phase:
      description:
        - C(Completed), or C(PartiallyFailed) when some objects failed or did not become ready (the task fails unless
          I(fail_on_partial) is C(false)).
      type: str
    counts:
      description: Per resource, the number of objects per action (create, update, unchanged, recreate, skip, failed).
      type: dict
    totals:
      description: Number of objects per action.
      type: dict
    objects:
      description:
        - Every object with its action and reason in check mode; otherwise the skipped and failed ones and the first
          2000 others. C(new_uid) is the object's uid in the cluster.
        - Without C(--diff) or C(-vv), the failed objects and the first 100 others only (I(objects_not_shown) counts
          the rest), so that C(-v) prints a short result; the restore record (M(kubesafe.k8s.restore_info)) has them all.
      type: list
      elements: dict
    objects_not_shown:
      description: How many objects I(objects) leaves out (0 with C(--diff) or C(-vv)).
      type: int
    skipped_kinds:
      description: Resources of the backup the target cluster does not serve, with object counts.
      type: dict
    waits:
      description:
        - Readiness of restored workloads when I(wait) is set, one entry per object - C(kind), C(group_resource),
          C(namespace), C(name), C(ready), C(skipped) (not waited for, e.g. a suspended Job; C(ready) is then true),
          C(reason) (why it is not ready, or why it was skipped; null when ready) and C(seconds).
      type: list
      elements: dict
    warnings:
      description:
        - Warnings, e.g. objects that already existed; without C(--diff) or C(-vv), the first 100, then a line counting
          the others.
      type: list
      elements: str
    errors:
      description:
        - Objects that could not be restored, as C(Kind namespace/name) and the reason with the server's reason; the first 100,
          then a line counting the others (all are in the restore's results file).
      type: list
      elements: str
    duration_seconds:
      description: Wall-clock duration of the run.
      type: float
    volumes:
      description:
        - What was made to bring volumes back - VolumeSnapshots (C(namespace), C(name), C(content), C(snapshot_handle))
          and EBS volumes (C(volume_id), C(snapshot_id), C(availability_zone), C(persistent_volume)).
      type: list
      elements: dict
    hooks:
      description: One entry per restore hook run, with the same keys as the backup module's I(hooks) result.
      type: list
      elements: dict
    integrity:
      description:
        - Whether the backup's files were checked against its manifest - C(verified) (true when every file read
          matched) and C(detail) (why not, e.g. a Velero-made backup or a restore with I(allow_unverified)).
      type: dict
    check_mode:
      description: Whether this was a check-mode preview.
      type: bool
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.run_log import bounded_errors, bounded_objects
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions, run_restore

CHANGING_ACTIONS = ("create", "update", "recreate")
OPTIONS = ("backup", "name", "included_namespaces", "excluded_namespaces", "included_resources", "excluded_resources",
           "include_cluster_resources", "label_selector", "or_label_selectors", "names", "namespace_mapping", "storage_class_mapping",
           "registry_mapping", "resource_modifiers", "existing_resource_policy", "preserve_nodeports", "restore_status", "wait",
           "wait_timeout", "parallelism", "restore_pvs", "ebs_config", "hooks", "allow_unverified")


def _diffs(result):
    diffs = []
    for obj in result["objects"]:
        diff = obj.get("diff")
        if diff and obj["action"] in CHANGING_ACTIONS:
            header = "%s %s" % (obj["group_resource"], "/".join(part for part in (obj.get("namespace"), obj.get("name")) if part))
            diffs.append({"before": diff.get("before") or {}, "after": diff.get("after") or {},
                          "before_header": header, "after_header": header})
    return diffs


def main():
    argument_spec = dict(
        backup=dict(type="str", default="latest"),
        name=dict(type="str"),
        names=dict(type="list", elements="str"),
        namespace_mapping=dict(type="dict", default={}),
        storage_class_mapping=dict(type="dict", default={}),
        registry_mapping=dict(type="dict", default={}),
        resource_modifiers=dict(type="list", elements="dict", default=[]),
        existing_resource_policy=dict(type="str", choices=["none", "update", "recreate"], default="none"),
        preserve_nodeports=dict(type="bool", default=False),
        restore_status=dict(type="list", elements="str", default=[]),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        parallelism=dict(type="int", default=8),
        restore_pvs=dict(type="bool", default=True),
        fail_on_partial=dict(type="bool", default=True),
        allow_unverified=dict(type="bool", default=False),
    )
    module = KubesafeModule(argument_spec, groups=("selection", "k8s_auth", "location", "decryption", "ebs", "restore_hooks", "fs_backup"),
                            uses_cluster=True)
    params = module.params
    with module.failing_on_errors(phase="Failed"):
        client = module.kube_client()
        location = open_location(params["location"], params["location_config"])
        options = RestoreOptions(**dict((key, params[key]) for key in OPTIONS))
        options.ebs_factory = module.ebs_factory
        options.decryption_keys = module.decryption_keys()
        options.set_fs_backup(params["fs_backup_password"], params["fs_mover"], params["fs_mover_timeout"], params["fs_timeout"])
        result = run_restore(client, location, options, check_mode=module.check_mode, want_diff=module._diff)
    module.warn_all(result["warnings"], limit=50)
    output = dict(changed=any(result["totals"].get(action) for action in CHANGING_ACTIONS), restore=result)
    if module._diff:
        output["diff"] = _diffs(result)
    for obj in result["objects"]:
        obj.pop("diff", None)
    # A result is printed whole with -v: per-object lists only with --diff or -vv (the record has them all).
    if not (module._diff or module._verbosity >= 2):
        result["objects"], result["objects_not_shown"] = bounded_objects(result["objects"])
        result["warnings"] = bounded_errors(result["warnings"], what="warnings")
    else:
        result["objects_not_shown"] = 0
    module.exit_by_phase("restore", result, **output)


if __name__ == "__main__":
    main()

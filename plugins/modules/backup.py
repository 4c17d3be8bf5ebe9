#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup
short_description: Back up a Kubernetes cluster to a directory or S3, in Velero's format
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Backs up every object of the selected resources and namespaces of a cluster into a backup that Velero can read
    (C(backups/<name>/) with the gzip tarball, the resource list, logs, results and a C(velero-backup.json) written last
    as the commit marker), plus a manifest with the size and SHA-256 of every file.
  - Objects are streamed from paginated LISTs into the archive and uploaded as they come, so memory does not grow
    with the cluster.
  - Selection follows Velero's rules, see the options. Objects labelled C(velero.io/exclude-from-backup=true), and
    namespaces with that label, are left out. Events are left out unless named in I(included_resources).
  - A backup that fails is removed and never committed; one where some resources could not be listed is committed
    with phase C(PartiallyFailed) and the reasons.
  - With I(snapshot_volumes), the volumes of the backed-up claims are snapshotted (CSI VolumeSnapshots or AWS EBS
    snapshots) and recorded in the backup, so M(kubesafe.k8s.restore) brings the data back.
  - Hooks run commands in pods around the snapshots (e.g. freeze a database), from Velero's pod annotations
    (C(pre.hook.backup.velero.io/command), C(container), C(on-error), C(timeout), and the same with C(post.)) or from I(hooks).
    For each pod, its pre hooks run, then the snapshots of the claims it mounts, then its post hooks (also when a
    snapshot failed). Hooks run also without I(snapshot_volumes), as in Velero. This happens after the objects are
    read, so a freeze lasts only as long as the snapshots.
  - A failed snapshot, or a failed hook with C(on_error=Fail), makes the backup C(PartiallyFailed); its objects are
    still all backed up.
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.location
  - kubesafe.k8s.encryption
  - kubesafe.k8s.ebs
  - kubesafe.k8s.backup_hooks
  - kubesafe.k8s.fs_backup
options:
  name:
    description:
      - Name of the backup. An existing backup of that name is never overwritten.
      - An incomplete backup (a directory without C(velero-backup.json), or unfinished writes, left by an interrupted
        run) holds its name too. The task then fails saying so, until M(kubesafe.k8s.prune) with I(include_incomplete)
        removes it or the directory is deleted.
      - Defaults to I(name_prefix) followed by C(-YYYYMMDDhhmmss) in UTC.
    type: str
  name_prefix:
    description: Prefix of the generated name when I(name) is not given.
    type: str
    default: backup
  included_namespaces:
    description:
      - Namespaces to back up; globs (C(*), C(?), C([])) allowed. A list or a comma-separated string.
      - A pattern that matches no namespace gives a warning.
    type: list
    elements: str
    default: ['*']
  excluded_namespaces:
    description: Namespaces to leave out; globs allowed. An exclude wins over any include.
    type: list
    elements: str
    default: []
  included_resources:
    description:
      - Resources to back up, by plural (C(deployments)), kind (C(Deployment)), C(kind.group) or C(plural.group)
        (C(deployments.apps)), or C(*) for all.
    type: list
    elements: str
    default: ['*']
  excluded_resources:
    description: Resources to leave out, named as for I(included_resources).
    type: list
    elements: str
    default: []
  include_cluster_resources:
    description:
      - C(true) backs up every cluster-scoped resource, C(false) none (namespace objects themselves are still kept).
      - Unset (the default) backs up all of them when no namespace filter is set, and otherwise only those related
        to the backed-up items, as Velero does - PersistentVolumes of claims, CRDs of custom resources,
        ClusterRoleBindings naming backed-up ServiceAccounts and their ClusterRoles.
    type: bool
  label_selector:
    description:
      - Back up only objects matching this label selector (Kubernetes syntax, e.g. C(app=web,tier in (a,b))).
      - A namespace object is kept when it matches or holds selected items.
    type: str
  or_label_selectors:
    description:
      - Back up objects matching any of these label selectors. Cannot be used with I(label_selector).
    type: list
    elements: str
  ttl:
    description: How long the backup is kept, as a Go duration (C(720h0m0s), C(24h), C(90m)); stored as its expiration.
    type: str
    default: 720h0m0s
  labels:
    description: Labels put on the backup (its C(velero-backup.json) metadata).
    type: dict
    default: {}
  storage_location:
    description: Name of the Velero BackupStorageLocation this location is known as, recorded in the backup.
    type: str
    default: default
  parallelism:
    description: How many resource LISTs, and how many pods' hooks and snapshots, run at once.
    type: int
    default: 4
  page_size:
    description:
      - Objects per LIST request (the C(limit) of each page); at least 1. Memory grows with it, requests shrink.
      - The API server keeps a paginated LIST's snapshot for a few minutes (until etcd compacts, about every 5 minutes);
        a LIST that takes longer gets C(410 Expired) for its continue token. It is then listed again from the start,
        at most 3 times per resource, without storing any object twice (an object already stored keeps the copy read
        first); the re-lists are counted in I(relists) and warned about. A resource still not listed after that is an
        error naming it and the backup is C(PartiallyFailed). A larger page size makes a LIST need fewer requests.
    type: int
    default: 500
  compression_level:
    description:
      - gzip level of the backup tarball, 0 (stored) to 9. Every level reads the same, with Velero too.
      - The default, 2, compresses about 2.5 times as fast as gzip's usual 6 and writes archives about a quarter
        larger; with many objects, level 6 costs as much CPU as all the rest of a backup. Raise it when storage
        costs more than backup time.
      - With the optional Python package C(isal) installed, levels 1 to 3 are compressed by ISA-L (about 6 times as
        fast as zlib's level 2, archives slightly smaller); levels 0 and 4 to 9 always by zlib.
    type: int
    default: 2
    version_added: 0.2.0
  snapshot_volumes:
    description:
      - Snapshot the volumes of the backed-up PersistentVolumeClaims (bound ones), as Velero's C(snapshotVolumes).
      - Off by default, like Velero without a snapshot provider.
    type: bool
    default: false
  volume_snapshot_method:
    description:
      - How volumes are snapshotted. C(csi) creates VolumeSnapshots (any CSI driver with a VolumeSnapshotClass);
        C(ebs) calls the EC2 API (in-tree C(awsElasticBlockStore) volumes and C(ebs.csi.aws.com) volumes; see I(ebs_config));
        C(fs) copies the volume's files (C(tar) in a mover pod over C(pods/exec)) into an incremental, deduplicated and
        encrypted restic repository of the claim's namespace in the backup location, for any Filesystem volume (NFS,
        local-path, drivers without snapshots) and for moving data to another cluster or cloud; see I(fs_mover);
        C(none) skips; C(auto) takes csi for CSI volumes and ebs for in-tree EBS volumes.
      - One method for every volume, or a dict of storage class name or CSI driver name to method (the storage class is
        looked up first, then the driver, then the key C(*)), for example C(gp3) to C(ebs) and C(*) to C(csi).
      - A volume no method can take (e.g. an in-tree NFS volume) is skipped with a warning; its claim is still backed up.
    type: raw
    default: auto
  default_volumes_to_fs_backup:
    description:
      - Back up the files of every claim a backed-up pod mounts (method C(fs)), except the pod volumes named in its
        annotation C(backup.velero.io/backup-volumes-excludes), as Velero's C(defaultVolumesToFsBackup) (opt-out).
      - Without it, a pod's annotation C(backup.velero.io/backup-volumes) (comma-separated pod volume names) opts those
        volumes in. Either works without I(snapshot_volumes).
    type: bool
    default: false
  fs_from_snapshot:
    description:
      - For file-system backups of CSI volumes whose driver has a VolumeSnapshotClass, copy the files from a fresh
        VolumeSnapshot (through a temporary claim made from it) instead of the live claim, so the copy is
        crash-consistent and the pod's hooks run around the snapshot only (Velero's data mover design). The temporary
        claim and snapshot are deleted afterwards. Other volumes are copied from the claim itself.
    type: bool
    default: true
  csi_snapshot_class:
    description:
      - VolumeSnapshotClass of the CSI snapshots, one name or a dict of CSI driver to class name.
      - By default, the class of the volume's driver labelled C(velero.io/csi-volumesnapshot-class=true), else the one
        annotated C(snapshot.storage.kubernetes.io/is-default-class=true).
      - The snapshot's content is set to C(deletionPolicy=Retain), so it outlives the claim's namespace, and its
        VolumeSnapshot is deleted; M(kubesafe.k8s.prune) deletes the snapshot with the backup.
    type: raw
  csi_snapshot_timeout:
    description: How long to wait for a CSI snapshot to become ready to use, as a Go duration.
    type: str
    default: 10m
  fail_on_partial:
    description:
      - Fail the task when the backup is not C(Completed) (C(PartiallyFailed) - resources that could not be listed or
        read, failed hooks or snapshots). The message names the phase, the count of errors and the first ones as
        C(Kind namespace/name) and the reason; the backup is still committed (a restore takes it only when named) and the
        result returned. In check mode the predicted phase counts.
      - With C(false) such a backup is returned as changed, with a warning.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Lists what would be backed up, with counts per resource and namespace, and writes nothing.
  diff_mode:
    support: none
    description: A backup changes nothing in the cluster.
requirements:
  - kubernetes
  - boto3 (for S3 locations)
  - pyrage (for I(encryption))
"""

EXAMPLES = r"""
- name: Back up the whole cluster of the current kubeconfig context to ./backups
  kubesafe.k8s.backup:

- name: Back up two namespaces to S3 with server-side encryption, keeping it a week
  kubesafe.k8s.backup:
    name_prefix: shop-nightly
    included_namespaces: [shop, payments]
    ttl: 168h
    location: s3://my-backups/prod
    location_config:
      region: eu-west-1
      sse: aws:kms
      kms_key_id: alias/backups
  register: result

- name: Back up with the whole archive encrypted to the ops team's age public keys (the job holds no private key)
  kubesafe.k8s.backup:
    encryption: all
    encryption_recipients:
      - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p

- name: Back up with only Secret values encrypted, to a passphrase
  kubesafe.k8s.backup:
    encryption: secrets
    encryption_passphrase: "{{ vault_backup_passphrase }}"

- name: Back up the shop namespace with its volumes, freezing the database's filesystem around the snapshots
  kubesafe.k8s.backup:
    included_namespaces: [shop]
    snapshot_volumes: true
    volume_snapshot_method: {gp2-intree: ebs, "*": csi}
    ebs_config:
      region: eu-west-1
      copy_to_region: eu-central-1
    hooks:
      - name: freeze-db
        included_namespaces: [shop]
        label_selector: app=postgres
        pre:
          - command: [/sbin/fsfreeze, --freeze, /var/lib/postgresql/data]
            container: postgres
        post:
          - command: [/sbin/fsfreeze, --unfreeze, /var/lib/postgresql/data]
            container: postgres

- name: Preview what a backup of labelled objects would contain
  kubesafe.k8s.backup:
    label_selector: backup=true
  check_mode: true
"""

RETURN = r"""
backup:
  description: What the backup run did.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the backup.
      type: str
      sample: backup-20261126131500
    location:
      description: Where it is stored (no credentials).
      type: str
      sample: s3://my-backups/prod
    phase:
      description:
        - C(Completed) or C(PartiallyFailed) (some resources could not be listed, see I(errors)); the task fails on
          C(PartiallyFailed) unless I(fail_on_partial) is C(false).
      type: str
      sample: Completed
    start_timestamp:
      description: Start time, UTC.
      type: str
    completion_timestamp:
      description: Completion time, UTC.
      type: str
    expiration:
      description: When the backup expires (start + I(ttl)).
      type: str
    duration_seconds:
      description: Wall-clock duration of the run.
      type: float
    items_backed_up:
      description: Number of objects in the backup (or that would be, in check mode).
      type: int
    resource_counts:
      description: Objects per resource (group/resource, e.g. C(deployments.apps)).
      type: dict
    namespace_counts:
      description: Objects per namespace.
      type: dict
    relists:
      description:
        - Per resource (group/resource), how many times a LIST was started over because its continue token expired
          (C(410 Expired)), see I(page_size); empty when none was.
      type: dict
      sample: {"secrets": 1}
    skipped_resources:
      description:
        - What the credentials may not read (C(403 Forbidden)), each with the refused verb and the API server's reason;
          empty when nothing was refused.
        - C(counted_as=error) for objects the options select (a namespaced resource of a selected namespace, or a
          cluster-scoped one when all cluster resources are included), and the backup is C(PartiallyFailed).
          C(counted_as=warning) for the cluster-scoped objects a namespace-scoped backup looks for only because they
          relate to its items (I(include_cluster_resources) unset), and the backup stays C(Completed).
        - Without the right to list namespaces, the namespaces named in I(included_namespaces) are read one by one
          (globs then fail the backup with what to grant). The README's docs/rbac/ Roles are the least a backup needs.
      type: list
      elements: dict
      sample: [{"resource": "clusterrolebindings.rbac.authorization.k8s.io", "namespace": null, "verb": "list", "counted_as": "warning",
                "reason": "clusterrolebindings.rbac.authorization.k8s.io is forbidden: User system:serviceaccount:shop:backup cannot list ..."}]
    namespaces:
      description: Namespaces selected.
      type: list
      elements: str
    warnings:
      description: Warnings (unknown resources, globs matching nothing, missing referenced objects).
      type: list
      elements: str
    errors:
      description:
        - "What could not be backed up, as C(Kind namespace/name) and the reason (C(*) for a whole LIST that failed, e.g.
          C(Secret */*: secrets in all namespaces: list failed: 410 Expired after 3 re-lists ...)); the first 100, then a
          line counting the others (all are in the backup's results file)."
      type: list
      elements: str
    archive:
      description: Size in bytes and SHA-256 of the tarball; null in check mode.
      type: dict
    files:
      description: Size and SHA-256 of each file written, by file name.
      type: dict
    encryption:
      description:
        - How the backup is encrypted (also recorded in its manifest), null when I(encryption=none).
        - C(mode), C(format) (C(age-v1)), C(recipients) (the public keys) and C(passphrase) (whether one was used).
      type: dict
      sample: {"mode": "all", "format": "age-v1", "recipients": ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"], "passphrase": false}
    volume_snapshots:
      description:
        - One record per claim whose volume was considered, also kept in the backup's manifest.
        - C(namespace), C(claim), C(persistent_volume), C(storage_class), C(size), C(driver), C(volume_id), C(method)
          (C(csi), C(ebs), C(fs) or C(none)), C(phase) (C(Completed), C(Failed), C(Skipped); C(Planned) in check mode), C(snapshot_handle) (the CSI
          snapshot handle or the EBS snapshot ID), C(content_name) and C(cluster_id) (CSI; the uid of kube-system of the cluster holding the content),
          C(region), C(availability_zone) and C(copies) (EBS),
          C(repository), C(snapshot_id), C(archive), C(bytes) (read from the volume), C(bytes_added) (uploaded after
          deduplication and compression), C(duration_seconds) (mover included), C(stream_seconds) (the data alone),
          C(node) and C(mover) (C(fs)),
          C(error) or C(reason).
      type: list
      elements: dict
    hooks:
      description:
        - One entry per hook run, in order - C(namespace), C(pod), C(container), C(command), C(phase) (C(pre)/C(post)),
          C(source) (C(annotation) or C(hooks[<name>])), C(status) (C(succeeded), C(failed), C(timed_out); C(planned) in
          check mode, where nothing runs), C(exit_code),
          C(stdout), C(stderr) (their last 8 KiB), C(duration_seconds), C(error).
      type: list
      elements: dict
    check_mode:
      description: Whether this was a check-mode preview.
      type: bool
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.backup import VolumeSettings

SELECTION = ("included_namespaces", "excluded_namespaces", "included_resources", "excluded_resources", "include_cluster_resources",
             "label_selector", "or_label_selectors")


def main():
    argument_spec = dict(
        name=dict(type="str"),
        name_prefix=dict(type="str", default="backup"),
        ttl=dict(type="str", default="720h0m0s"),
        labels=dict(type="dict", default={}),
        storage_location=dict(type="str", default="default"),
        parallelism=dict(type="int", default=4),
        page_size=dict(type="int", default=500),
        compression_level=dict(type="int", default=2),
        snapshot_volumes=dict(type="bool", default=False),
        volume_snapshot_method=dict(type="raw", default="auto"),
        csi_snapshot_class=dict(type="raw"),
        csi_snapshot_timeout=dict(type="str", default="10m"),
        default_volumes_to_fs_backup=dict(type="bool", default=False),
        fs_from_snapshot=dict(type="bool", default=True),
        fail_on_partial=dict(type="bool", default=True),
    )
    module = KubesafeModule(argument_spec, groups=("selection", "k8s_auth", "location", "encryption", "ebs", "backup_hooks", "fs_backup"),
                            uses_cluster=True)
    params = module.params
    with module.failing_on_errors(phase="Failed"):
        client = module.kube_client()
        location = open_location(params["location"], params["location_config"])
        options = BackupOptions(
            name=params["name"], name_prefix=params["name_prefix"], ttl=params["ttl"], labels=params["labels"],
            storage_location=params["storage_location"], parallelism=params["parallelism"], page_size=params["page_size"],
            compression_level=params["compression_level"],
            encryption=module.encryption_settings(),
            volumes=VolumeSettings(snapshot_volumes=params["snapshot_volumes"], method=params["volume_snapshot_method"],
                                   csi_snapshot_class=params["csi_snapshot_class"], csi_snapshot_timeout=params["csi_snapshot_timeout"],
                                   ebs_config=params["ebs_config"], hooks=params["hooks"], ebs_factory=module.ebs_factory,
                                   default_volumes_to_fs_backup=params["default_volumes_to_fs_backup"], fs_mover=params["fs_mover"],
                                   fs_mover_timeout=params["fs_mover_timeout"], fs_timeout=params["fs_timeout"],
                                   fs_password=params["fs_backup_password"], fs_from_snapshot=params["fs_from_snapshot"]),
            **dict((key, params[key]) for key in SELECTION))
        result = run_backup(client, location, options, check_mode=module.check_mode)
    module.warn_all(result["warnings"])
    module.exit_by_phase("backup", result, changed=True, backup=result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup_info
short_description: List the backups in a directory or S3 location, or describe one
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Lists the backups stored in a location, newest first, with their phase, times, expiration, item counts, size,
    labels and what they selected; filters by name, labels, age and phase.
  - With I(name), describes that backup in detail - object counts per resource and per namespace, warning and error
    messages, volume snapshots, the manifest of the backups this collection writes, with I(log_lines) the end of its
    log (what C(velero backup logs) shows) and, with I(include_contents), every object it holds.
  - Reads backups written by Velero the same way as those written by M(kubesafe.k8s.backup).
  - Only reads the location, never the cluster, so it needs no cluster credentials. A local directory that does not
    exist is read as an empty location, and is not created.
extends_documentation_fragment:
  - kubesafe.k8s.location
options:
  name:
    description:
      - Name of the backup to describe in detail.
      - Returns an empty I(backups) list when the location has no such backup, or when it does not match the filters.
    type: str
  labels:
    description:
      - Only backups carrying all of these labels with these values (the labels given to M(kubesafe.k8s.backup)).
    type: dict
  newer_than:
    description:
      - Only backups started less than this long ago, as a Go duration (C(24h), C(90m), C(168h)).
    type: str
  older_than:
    description:
      - Only backups started at least this long ago, as a Go duration (C(24h), C(720h)).
    type: str
  phase:
    description:
      - Only backups in one of these phases. Velero restores only C(Completed) and C(PartiallyFailed) backups.
    type: list
    elements: str
    choices:
      - New
      - FailedValidation
      - InProgress
      - WaitingForPluginOperations
      - WaitingForPluginOperationsPartiallyFailed
      - Finalizing
      - FinalizingPartiallyFailed
      - Completed
      - PartiallyFailed
      - Failed
      - Deleting
  include_contents:
    description:
      - With I(name), also return the list of every object in the backup (kind, namespace, name).
      - Requires I(name).
    type: bool
    default: false
  contents_limit:
    description:
      - With I(include_contents), return at most this many objects; I(contents_truncated) tells whether there were more.
      - By default all of them are returned.
    type: int
  log_lines:
    description:
      - With I(name), also return the last this many lines of the backup's log (C(<name>-logs.gz), Velero's and ours);
        C(-1) returns all of it (at most the 20000 lines a run keeps).
      - Requires I(name).
    type: int
    default: 0
  include_incomplete:
    description:
      - Also list the directories under C(backups/) that have no readable C(velero-backup.json), the file written
        last as the commit marker. They are runs that were interrupted (or are being written right now), or whose
        marker is damaged, and they cannot be restored.
      - They are returned with I(complete=false), no phase and the reason in I(problem), plus what is there
        (I(files), I(partial_files), I(size)) and how old it is (I(last_written), I(age)). Having no phase, labels or
        start time, they are left out by the I(phase), I(labels), I(newer_than) and I(older_than) filters.
      - A backup killed while it was writing its archive leaves only an unfinished write (a C(.kubesafe-tmp-*) file
        of a directory location, or an S3 multipart upload never completed); it is listed too, and holds its name
        until removed. M(kubesafe.k8s.prune) removes such debris with I(include_incomplete).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
requirements:
  - boto3 (for S3 locations)
notes:
  - A backup expires at its I(expiration) (start + TTL); I(expired=true) only reports it, M(kubesafe.k8s.backup_info)
    deletes nothing.
seealso:
  - module: kubesafe.k8s.backup
"""

EXAMPLES = r"""
- name: List the backups in ./backups, newest first
  kubesafe.k8s.backup_info:
  register: found

- name: Name of the newest nightly backup of the last day that Velero could restore
  kubesafe.k8s.backup_info:
    location: s3://my-backups/prod
    location_config:
      region: eu-west-1
    labels:
      schedule: nightly
    newer_than: 24h
    phase: [Completed, PartiallyFailed]
  register: nightly
  failed_when: nightly.backups | length == 0

- name: Use it
  ansible.builtin.debug:
    msg: "Restoring from {{ nightly.backups[0].name }}"

- name: Describe one backup, with the first 100 objects it holds
  kubesafe.k8s.backup_info:
    name: shop-nightly-20260101020000
    include_contents: true
    contents_limit: 100
  register: described

- name: Show its object counts per resource
  ansible.builtin.debug:
    var: described.backups[0].resource_counts

- name: The whole log of a backup, as velero backup logs prints it
  kubesafe.k8s.backup_info:
    name: shop-nightly-20260101020000
    log_lines: -1
  register: logged

- name: Print it
  ansible.builtin.debug:
    var: logged.backups[0].log

- name: Find the debris of interrupted backups on an S3-compatible store
  kubesafe.k8s.backup_info:
    location: s3://backups
    location_config:
      endpoint_url: https://minio.example.com:9000
      force_path_style: true
    include_incomplete: true
  register: all_dirs

- name: Names of the directories that are not backups
  ansible.builtin.debug:
    msg: "{{ all_dirs.backups | rejectattr('complete') | map(attribute='name') | list }}"
"""

RETURN = r"""
location:
  description: The location read (no credentials).
  returned: always
  type: str
  sample: s3://my-backups/prod
backups:
  description:
    - The backups found, newest first (by start time); incomplete directories, when listed, come last.
    - With I(name), one entry with the details too, or none.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the backup (its directory under C(backups/)).
      type: str
      sample: shop-nightly-20260101020000
    complete:
      description: Whether its C(velero-backup.json) commit marker is present and readable.
      type: bool
      sample: true
    problem:
      description: Why an incomplete entry is incomplete; null for a complete backup.
      type: str
    partial_files:
      description:
        - Only for an incomplete entry; the unfinished writes in it, each with I(file) (what it was to become, such as
          C(<name>.tar.gz)), I(size) (bytes written so far), I(kind) (C(temporary file of an unfinished write) or
          C(multipart upload not completed)) and I(last_written).
      type: list
      elements: dict
      sample: [{file: nightly.tar.gz, size: 5242880, kind: multipart upload not completed, last_written: "2026-01-01T02:01:10Z"}]
    last_written:
      description: Only for an incomplete entry; when anything in it was last written, UTC.
      type: str
      sample: "2026-01-01T02:01:10Z"
    age:
      description: Only for an incomplete entry; the time since I(last_written), as a Go duration.
      type: str
      sample: 26h3m12s
    format:
      description: C(kubesafe) for a backup written by this collection (it has a manifest), C(velero) otherwise.
      type: str
      sample: kubesafe
    encryption:
      description: C(none), C(secrets) (Secret values age-encrypted) or C(all) (the archive is C(<name>.tar.gz.age)); null when incomplete.
      type: str
      sample: none
    phase:
      description: Phase of the backup (C(Completed), C(PartiallyFailed), C(Failed), ...); null when incomplete.
      type: str
      sample: Completed
    start_timestamp:
      description: Start time, UTC.
      type: str
      sample: "2026-01-01T02:00:00Z"
    completion_timestamp:
      description: Completion time, UTC.
      type: str
      sample: "2026-01-01T02:03:12Z"
    expiration:
      description: When the backup expires (start + TTL), UTC.
      type: str
      sample: "2026-01-31T02:00:00Z"
    expired:
      description: Whether the expiration is past.
      type: bool
      sample: false
    ttl:
      description: Time to live, as a Go duration.
      type: str
      sample: 720h0m0s
    storage_location:
      description: Name of the Velero BackupStorageLocation recorded in the backup.
      type: str
      sample: default
    labels:
      description: Labels of the backup.
      type: dict
      sample: {"schedule": "nightly", "velero.io/storage-location": "default"}
    items_backed_up:
      description: Number of objects in the backup.
      type: int
      sample: 120
    total_items:
      description: Number of objects the backup set out to save.
      type: int
      sample: 120
    size:
      description: Total size in bytes of the backup's files.
      type: int
      sample: 48213
    warnings:
      description: Number of warnings of the backup run.
      type: int
      sample: 0
    errors:
      description: Number of errors of the backup run.
      type: int
      sample: 0
    failure_reason:
      description: Why a C(Failed) backup failed, when recorded.
      type: str
    included_namespaces:
      description: Namespaces selected (C(*) for all).
      type: list
      elements: str
      sample: ["shop"]
    excluded_namespaces:
      description: Namespaces left out.
      type: list
      elements: str
    included_resources:
      description: Resources selected (C(*) for all).
      type: list
      elements: str
    excluded_resources:
      description: Resources left out.
      type: list
      elements: str
    include_cluster_resources:
      description: The cluster-scoped resources policy (null - automatic, Velero's default).
      type: bool
    label_selector:
      description: The label selector of the backup, if any.
      type: str
      sample: app=web
    or_label_selectors:
      description: The OR label selectors of the backup, if any.
      type: list
      elements: str
    snapshot_volumes:
      description: Whether volumes were to be snapshotted (null - Velero's default).
      type: bool
    format_version:
      description: Format version of the backup tarball.
      type: str
      sample: 1.1.0
    annotations:
      description: Annotations of the backup.
      returned: when I(name) is given
      type: dict
    spec:
      description: The C(spec) of C(velero-backup.json), as stored.
      returned: when I(name) is given
      type: dict
    status:
      description: The C(status) of C(velero-backup.json), as stored.
      returned: when I(name) is given
      type: dict
    files:
      description: The backup's files and their sizes in bytes (unfinished writes are in I(partial_files)).
      returned: when I(name) is given, and for every incomplete entry
      type: dict
      sample: {"velero-backup.json": 1310, "shop-nightly-20260101020000.tar.gz": 40250}
    resource_counts:
      description:
        - Objects per resource, keyed as in the result of M(kubesafe.k8s.backup) (C(deployments.apps), C(configmaps)).
        - From the manifest of a backup this collection wrote; for one Velero wrote, from its resource list, the
          resource names guessed from the kinds as Kubernetes does (a custom resource with an irregular plural gets
          the regular one).
      returned: when I(name) is given
      type: dict
      sample: {"deployments.apps": 2, "configmaps": 5}
    namespace_counts:
      description: Objects per namespace.
      returned: when I(name) is given
      type: dict
      sample: {"shop": 40}
    warning_messages:
      description: Warnings of the backup run (from its results file); namespace ones start with C(namespace <ns>:).
      returned: when I(name) is given
      type: list
      elements: str
    error_messages:
      description: Errors of the backup run, as I(warning_messages).
      returned: when I(name) is given
      type: list
      elements: str
    volume_snapshots:
      description:
        - The backup's volume snapshot records, as the backup module returns them (C(namespace), C(claim), C(method),
          C(phase), C(snapshot_handle), ...), from its manifest; for a backup Velero wrote, from its C(volumesnapshots)
          and C(csi-volumesnapshotcontents) files.
      returned: when I(name) is given
      type: list
      elements: dict
    manifest:
      description:
        - The manifest of a backup written by this collection (tool version, cluster, counts, size and SHA-256 of each
          file); null for a backup written by Velero.
      returned: when I(name) is given
      type: dict
    notes:
      description: Files of the backup that are missing or unreadable, and what that means for the other fields.
      returned: when I(name) is given
      type: list
      elements: str
    log:
      description: The last I(log_lines) lines of the backup's log, oldest first; missing or damaged logs are named in I(notes).
      returned: when I(name) and I(log_lines) are given
      type: list
      elements: str
      sample: ['time="2026-01-01T02:00:01Z" level=info msg="backed up 120 items, phase Completed" backup=nightly']
    contents:
      description: The objects in the backup, ordered by kind, namespace and name.
      returned: when I(name) and I(include_contents) are given
      type: list
      elements: dict
      contains:
        api_version:
          description: API version.
          type: str
          sample: apps/v1
        kind:
          description: Kind.
          type: str
          sample: Deployment
        namespace:
          description: Namespace; null for cluster-scoped objects.
          type: str
          sample: shop
        name:
          description: Name.
          type: str
          sample: web
    contents_truncated:
      description: Whether I(contents_limit) left objects out of I(contents).
      returned: when I(name) and I(include_contents) are given
      type: bool
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import describe_backup, list_backups, open_location_to_read
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.velero_format import BACKUP_PHASES


def describe(location, params):
    """The named backup in detail, in a list of one (none when it was deleted since it was listed)."""
    try:
        return [describe_backup(location, params["name"], include_contents=params["include_contents"],
                                contents_limit=params["contents_limit"], log_lines=params["log_lines"])]
    except ObjectNotFound:
        return []


def main():
    argument_spec = dict(
        name=dict(type="str"),
        labels=dict(type="dict"),
        newer_than=dict(type="str"),
        older_than=dict(type="str"),
        phase=dict(type="list", elements="str", choices=list(BACKUP_PHASES)),
        include_contents=dict(type="bool", default=False),
        contents_limit=dict(type="int"),
        include_incomplete=dict(type="bool", default=False),
        log_lines=dict(type="int", default=0),
    )
    module = KubesafeModule(argument_spec, groups=("location",))
    params = module.params
    if params["include_contents"] and not params["name"]:
        module.fail_json(msg="include_contents needs name: the contents of one backup are listed at a time")
    if params["log_lines"] and not params["name"]:
        module.fail_json(msg="log_lines needs name: the log of one backup is read at a time")
    with module.failing_on_errors():
        location = open_location_to_read(params["location"], params["location_config"])
        backups = list_backups(location, name=params["name"], labels=params["labels"], newer_than=params["newer_than"],
                               older_than=params["older_than"], phase=params["phase"],
                               include_incomplete=params["include_incomplete"])
        if params["name"] and backups:
            backups = describe(location, params)
    module.exit_json(changed=False, location=location.url, backups=backups)


if __name__ == "__main__":
    main()

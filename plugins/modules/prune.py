#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: prune
short_description: Delete expired backups, and those a keep policy does not keep
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Deletes the backups of a location whose expiration (start + TTL, as Velero's garbage collection does) has passed,
    and, when a keep rule is given, the backups the rules do not keep (restic's C(forget) semantics, which KubeStash
    shares - see I(keep_last)).
  - Never deletes a backup while any of its objects is under an S3 Object Lock retention or legal hold; such backups
    are returned in I(locked).
  - Deleting a backup removes its C(velero-backup.json) first, so a backup whose deletion is interrupted is never
    listed as complete again; files already removed by hand are fine. The records of the restores of a deleted
    backup go too (I(delete_restores)).
  - Deleting a backup deletes its volume snapshots first - EBS snapshots (and their cross-region copies) through the
    EC2 API (I(ebs_config), or the C(AWS_*) environment), CSI snapshots by setting their VolumeSnapshotContent to
    C(deletionPolicy=Delete) and deleting it in the cluster given by the connection options (the cluster the backup was
    taken of). A snapshot the provider refuses to delete keeps its backup, in I(failed), for the next run. Without
    cluster access or boto3, the snapshots are left and named in a warning.
  - With I(names), deletes exactly the backups named (C(velero backup delete NAME)), in the same way, and no other.
  - Otherwise reads only the location; the cluster is used for nothing but CSI snapshots.
extends_documentation_fragment:
  - kubesafe.k8s.location
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.ebs
options:
  names:
    description:
      - Delete exactly these backups (complete ones, or the directories of interrupted ones), whatever their expiration,
        and no other; I(expired) is not applied then, and keep rules, I(labels) and I(include_incomplete) are refused.
      - Each goes as every deleted backup does - its volume snapshots first, then its C(velero-backup.json), then the
        rest, then the records of its restores (I(delete_restores)); one under S3 Object Lock is only reported in I(locked).
      - A name the location does not hold fails the task before anything is deleted, naming the closest names it holds.
      - In check mode, lists them in I(deleted) and deletes nothing.
    type: list
    elements: str
  fs_backup_password:
    description:
      - Password of the restic repositories holding file-system volume backups (C(restic/<namespace>) in the location).
        A deleted backup's restic snapshots are forgotten and C(restic prune) runs in each repository that lost some.
      - Without it (or I(encryption_passphrase), when the backups' repositories derive their password from it), a backup
        with file-system volume backups is kept and reported in I(failed).
    type: str
  encryption_passphrase:
    description: The passphrase the backups were encrypted with, when their restic repositories' password derives from it.
    type: str
  expired:
    description:
      - Delete the backups whose expiration has passed.
      - An expired backup is deleted even when a keep rule would keep it; set C(false) to let the keep rules decide alone.
    type: bool
    default: true
  keep_last:
    description:
      - Keep the N newest backups.
      - For every keep rule, C(-1) means no limit and C(0) keeps nothing by that rule. When any keep rule is set,
        the backups no rule keeps are deleted.
      - Rules combine as a union; each counts on its own, walking the backups newest first.
      - Only complete backups in phase C(Completed) or C(PartiallyFailed) count; C(Failed) ones are never kept by a rule.
    type: int
  keep_hourly:
    description:
      - Keep the newest backup of each of the N most recent hours that have backups (hours without backups do not count).
    type: int
  keep_daily:
    description:
      - Keep the newest backup of each of the N most recent days that have backups, days taken in I(timezone).
    type: int
  keep_weekly:
    description:
      - Keep the newest backup of each of the N most recent ISO weeks (Monday to Sunday) that have backups.
    type: int
  keep_monthly:
    description:
      - Keep the newest backup of each of the N most recent calendar months that have backups.
    type: int
  keep_yearly:
    description:
      - Keep the newest backup of each of the N most recent years that have backups.
    type: int
  timezone:
    description:
      - IANA time zone name (C(Europe/Paris), C(America/New_York)) in which hours, days, weeks, months and years of
        the keep rules are taken; a backup started at 23:30 UTC belongs to the next day in C(Europe/Paris).
    type: str
    default: UTC
  labels:
    description:
      - Only consider the backups carrying all these labels (for example C(cluster) or C(schedule)), so that the
        policy of one schedule leaves the others' backups alone.
      - Incomplete directories have no labels, so I(include_incomplete) finds none when I(labels) is set.
    type: dict
  include_incomplete:
    description:
      - The debris rule. Also delete the directories under C(backups/) without C(velero-backup.json) (the debris of
        interrupted runs) last written more than I(incomplete_older_than) ago. Younger ones may be backups in progress
        and are kept.
      - Unfinished writes count as what such a directory holds, and go with it; they are the C(.kubesafe-tmp-*) temporary files
        of a directory location, and the multipart uploads never completed of an S3 location (they are aborted, so
        their parts are no longer billed). Unfinished writes under C(restores/) (a restore killed while it wrote its
        record) past the same age are removed too, and reported in I(unfinished_writes).
      - Directories whose C(velero-backup.json) is unreadable are never deleted (they are reported in I(kept)).
      - Off by default, so that nothing but expired or unkept backups is ever deleted without asking.
    type: bool
    default: false
  incomplete_older_than:
    description:
      - With I(include_incomplete), the age (Go duration) since the last write after which an incomplete directory is debris.
      - A running backup writes its archive all along, so the default (24h) never removes one in progress; choose it
        longer than the longest backup run. C(0s) removes every incomplete directory, so use it only when no backup runs.
    type: str
    default: 24h
  delete_restores:
    description:
      - Also delete the records (C(restores/<name>/)) of the restores made from a deleted backup, as Velero does when it
        deletes a backup.
      - Only the records this collection wrote name their backup; those of Velero's restores are left alone.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Lists what would be deleted, kept and locked, and why; deletes nothing.
  diff_mode:
    support: none
    description: The result lists every decision.
requirements:
  - boto3 (for S3 locations)
notes:
  - Keep rules follow restic - the buckets are those that hold backups, so C(keep_daily=7) keeps seven days of backups
    even when backups stopped a month ago. Unlike restic, an hour repeated when clocks go back counts as two hours.
  - Volume snapshots recorded by a backup (Velero's C(volumesnapshots) sidecar) are not deleted yet; a warning names
    them. Backups written by this collection record none.
  - On a bucket with versioning (object lock requires it), deleting adds delete markers; noncurrent versions stay
    until a lifecycle rule expires them.
  - For object lock, the credentials need C(s3:GetBucketObjectLockConfiguration), C(s3:GetObjectRetention) and
    C(s3:GetObjectLegalHold), or S3 hides retentions and a locked backup is reported as failed instead of locked.
seealso:
  - module: kubesafe.k8s.backup_info
  - module: kubesafe.k8s.backup
"""

EXAMPLES = r"""
- name: Delete the expired backups of ./backups (Velero's TTL)
  kubesafe.k8s.prune:

- name: What would a grandfather-father-son policy delete? (run with --check)
  kubesafe.k8s.prune:
    location: s3://my-backups/prod
    labels:
      schedule: nightly
    expired: false
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 12
    timezone: Europe/Paris
  check_mode: true
  register: plan

- name: Show it
  ansible.builtin.debug:
    msg: "{{ plan.deleted | map(attribute='name') | list }} would go; {{ plan.locked | length }} locked"

- name: Delete two backups by name, as velero backup delete does (their snapshots first)
  kubesafe.k8s.prune:
    location: s3://my-backups/prod
    names:
      - nightly-20260101020000
      - nightly-20260102020000

- name: Apply the policy and remove the debris of interrupted runs older than two days
  kubesafe.k8s.prune:
    location: s3://my-backups/prod
    labels:
      schedule: nightly
    expired: false
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 12
    timezone: Europe/Paris
    include_incomplete: true
    incomplete_older_than: 48h
"""

RETURN = r"""
location:
  description: The location pruned (no credentials).
  returned: always
  type: str
  sample: s3://my-backups/prod
deleted:
  description: The backups deleted (in check mode, that would be deleted), newest first, with why.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Backup name.
      type: str
    complete:
      description: False for an incomplete directory (debris).
      type: bool
    phase:
      description: Backup phase (none for debris).
      type: str
    start_timestamp:
      description: Start time, UTC.
      type: str
    expiration:
      description: Expiration time, UTC.
      type: str
    size:
      description: Bytes stored.
      type: int
    reasons:
      description:
        - Why it goes, such as C(expired at 2026-01-01T02:00:00Z), C(not kept by the keep rules), C(incomplete debris ...),
          C(named in names).
      type: list
      elements: str
    last_written:
      description: For incomplete debris, when anything under it was last written, UTC.
      type: str
    age:
      description: For incomplete debris, the time since I(last_written), as a Go duration.
      type: str
    partial_files:
      description: For incomplete debris, its unfinished writes (see M(kubesafe.k8s.backup_info)).
      type: list
      elements: dict
    restores:
      description: Restores whose records were (would be) deleted with it.
      type: list
      elements: str
    warnings:
      description: What was left behind (volume snapshots, locked restore records).
      type: list
      elements: str
  sample:
    - name: nightly-20260101020000
      complete: true
      phase: Completed
      start_timestamp: "2026-01-01T02:00:00Z"
      expiration: "2026-01-31T02:00:00Z"
      size: 48213
      reasons: ["expired at 2026-01-31T02:00:00Z"]
      restores: []
      warnings: []
kept:
  description:
    - The backups kept, with the rules that keep them (C(keep_daily 2026-01-02), C(expires at ...)).
    - Empty with I(names) - the backups not named are not considered.
  returned: always
  type: list
  elements: dict
  sample:
    - name: nightly-20260102020000
      complete: true
      phase: Completed
      start_timestamp: "2026-01-02T02:00:00Z"
      expiration: "2026-02-01T02:00:00Z"
      size: 48213
      reasons: ["keep_daily: 2026-01-02", "expires at 2026-02-01T02:00:00Z"]
locked:
  description:
    - The backups that would be deleted but are under an active S3 Object Lock retention or legal hold; never deleted.
    - Each has the fields of I(deleted) (without I(restores), I(warnings)) plus I(locked_until), I(lock_mode),
      I(legal_hold) and I(message).
  returned: always
  type: list
  elements: dict
  sample:
    - name: nightly-20260101020000
      reasons: ["expired at 2026-01-31T02:00:00Z"]
      locked_until: "2026-03-01T02:00:05Z"
      lock_mode: GOVERNANCE
      legal_hold: false
      message: "locked (GOVERNANCE retention until 2026-03-01T02:00:05Z): not deleted"
failed:
  description: The backups whose deletion failed, with I(error); their C(velero-backup.json) may already be gone.
  returned: always
  type: list
  elements: dict
unfinished_writes:
  description:
    - With I(include_incomplete), the unfinished writes outside C(backups/) (such as C(restores/<name>/)) removed (in check
      mode, that would be removed) because nothing wrote to them for I(incomplete_older_than).
    - Each has I(key) (where it is, or on S3 the key of the upload), I(target) (the file it was to become, when known),
      I(kind), I(size) and I(last_written).
  returned: always
  type: list
  elements: dict
restic_prune:
  description:
    - The restic repositories pruned after their snapshots of deleted backups were forgotten - I(namespace),
      I(repository), I(summary) (restic's last lines) or I(error). Absent when no repository lost a snapshot.
  returned: when restic snapshots were forgotten
  type: list
  elements: dict
warnings:
  description: Every warning of I(deleted), together.
  returned: always
  type: list
  elements: str
check_mode:
  description: Whether nothing was deleted because of check mode.
  returned: always
  type: bool
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import open_location_to_read
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.csi import CsiSnapshots
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.prune import DEFAULT_INCOMPLETE_OLDER_THAN, PruneOptions, run_prune
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.restic import fs_repositories

KEEP_OPTIONS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def main():
    argument_spec = dict(
        expired=dict(type="bool", default=True),
        timezone=dict(type="str", default="UTC"),
        labels=dict(type="dict"),
        include_incomplete=dict(type="bool", default=False),
        incomplete_older_than=dict(type="str", default=DEFAULT_INCOMPLETE_OLDER_THAN),
        delete_restores=dict(type="bool", default=True),
        names=dict(type="list", elements="str"),
        fs_backup_password=dict(type="str", no_log=True),
        encryption_passphrase=dict(type="str", no_log=True),
    )
    argument_spec.update((name, dict(type="int")) for name in KEEP_OPTIONS)
    module = KubesafeModule(argument_spec, groups=("location", "k8s_auth", "ebs"))
    params = module.params
    with module.failing_on_errors():
        options = PruneOptions(expired=params["expired"], timezone=params["timezone"], labels=params["labels"],
                               include_incomplete=params["include_incomplete"],
                               incomplete_older_than=params["incomplete_older_than"], delete_restores=params["delete_restores"],
                               names=params["names"],
                               **dict((name, params[name]) for name in KEEP_OPTIONS))
        location = open_location_to_read(params["location"], params["location_config"])
        # Without a usable cluster, CSI snapshots are not deleted and each is a warning.
        client = module.optional_kube_client()
        result = run_prune(location, options, check_mode=module.check_mode, csi=CsiSnapshots(client) if client else None, ebs=module.ebs(),
                           fs_repositories=fs_repositories(location, params["fs_backup_password"], params["encryption_passphrase"]))
    module.warn_all(result.pop("warnings"))
    changed = bool(result["deleted"] or result["unfinished_writes"])
    if result["failed"]:
        module.fail_json(msg="could not delete %d backup(s): %s" % (len(result["failed"]), "; ".join(
            "%s: %s" % (entry["name"], entry["error"]) for entry in result["failed"])), changed=changed, **result)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()

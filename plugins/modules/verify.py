#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: verify
short_description: Check that backups are intact and would restore
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Checks one backup, or every backup of a location, and reports per backup whether it verifies and why not.
  - The checks - the C(velero-backup.json) commit marker is present, readable and in a restorable phase; every file
    the backup's manifest lists is present with its size and SHA-256; the gzip sidecars decompress; the tarball reads
    to its end (decrypting it when it is encrypted as a whole); every object in it is a JSON object with C(apiVersion),
    C(kind) and C(metadata.name) matching its path; the object counts match the manifest and the objects match the
    resource list.
  - A backup written by Velero has no manifest; its files cannot be checked against checksums (a warning), the other
    checks run (the gzip checksums still catch damage inside the tarball).
  - With I(restore_check), a check-mode restore into the cluster the connection options point at reports what
    would fail there - kinds it does not serve (unless the backup holds their CRD), objects it would refuse, and
    storage classes of claims it lacks (unless the backup holds them). Missing namespaces are fine, a restore creates
    them. The cluster is only read, and only contacted with I(restore_check) or I(check_snapshots).
  - With I(check_snapshots), every volume snapshot a backup recorded is looked up at its provider - EBS snapshots
    (and their copies) through the EC2 API, CSI snapshots as VolumeSnapshotContents in the cluster of the connection
    options (the cluster the backup was taken of) - and must exist, be complete, and for CSI still be C(Retain).
  - Reads the location only; never writes to it.
extends_documentation_fragment:
  - kubesafe.k8s.location
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.decryption
  - kubesafe.k8s.ebs
options:
  name:
    description:
      - Name of the backup to verify.
      - Without it, every directory under C(backups/) is verified, including those of interrupted backups (no commit
        marker), which fail.
    type: str
  namespace_mapping:
    description: With I(restore_check), the namespace renames the real restore will use (as the restore module's option).
    type: dict
    default: {}
  storage_class_mapping:
    description:
      - With I(restore_check), the storage class renames the real restore will use, so that a class the target lacks
        but that is mapped to one it has is not reported.
    type: dict
    default: {}
  restore_check:
    description:
      - Also run a check-mode restore of each backup into the cluster of the connection options, and report what
        would fail there.
    type: bool
    default: false
  check_snapshots:
    description:
      - Also check that the volume snapshots of each backup still exist at their provider, complete.
      - A CSI snapshot is not checked (a warning) when the cluster cannot be reached with the connection options, an
        EBS snapshot when boto3 is missing.
    type: bool
    default: false
  check_volume_data:
    description:
      - Also check the restic repositories that hold the backups' file-system volume backups (C(restic check), without
        taking a lock) and that each recorded restic snapshot is still there. Needs I(fs_backup_password), or
        I(decryption_passphrase) when the backups were encrypted with a passphrase.
    type: bool
    default: false
  volume_data_subset:
    description:
      - With I(check_volume_data), also read and verify this part of the repositories' data, as restic's
        C(--read-data-subset) (for example C(10%), C(1/5) or C(500M)). By default only the structure and the index are checked.
    type: str
  fs_backup_password:
    description:
      - Password of the restic repositories (see M(kubesafe.k8s.backup)), for I(check_volume_data) and for the
        check-mode restore of I(restore_check) of backups with file-system volume backups.
    type: str
  fail_on_problems:
    description:
      - Fail the task when a backup does not verify, with its problems in the message.
      - When false, only report - I(ok) and each backup's I(ok) and I(problems) tell the result.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
requirements:
  - kubernetes (for I(restore_check))
  - boto3 (for S3 locations)
  - pyrage (for encrypted backups)
notes:
  - Without a decryption option, the contents of a backup encrypted as a whole are not checked (a problem says so);
    the checksums of its files are.
seealso:
  - module: kubesafe.k8s.backup_info
  - module: kubesafe.k8s.restore
"""

EXAMPLES = r"""
- name: Verify every backup in ./backups (fails when one does not verify)
  kubesafe.k8s.verify:

- name: Verify last night's backup on S3 and check it would restore into the DR cluster
  kubesafe.k8s.verify:
    name: nightly-20260101020000
    location: s3://my-backups/prod
    location_config:
      region: eu-west-1
    restore_check: true
    kubeconfig: ~/.kube/dr-cluster
  register: verified

- name: Report only, for an audit
  kubesafe.k8s.verify:
    location: s3://my-backups/prod
    fail_on_problems: false
    decryption_identity_file: /secure/backup-identity.txt
  register: audit

- name: Show the backups that do not verify
  ansible.builtin.debug:
    msg: "{{ audit.backups | rejectattr('ok') | map(attribute='problems') | list }}"
"""

RETURN = r"""
ok:
  description: Whether every backup verified.
  returned: always
  type: bool
  sample: true
location:
  description: The location read (no credentials).
  returned: always
  type: str
  sample: s3://my-backups/prod
backups:
  description: One entry per backup verified, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the backup.
      type: str
      sample: nightly-20260101020000
    ok:
      description: Whether the backup verified (no problems; warnings allowed).
      type: bool
      sample: true
    checks:
      description:
        - The checks run, in order - C(commit_marker), C(manifest), C(files), C(sidecars), C(contents), C(counts),
          C(secrets) (Secrets encrypted one by one), C(restore_check).
      type: list
      elements: dict
      contains:
        check:
          description: Name of the check.
          type: str
          sample: files
        ok:
          description: Whether it passed.
          type: bool
          sample: true
        detail:
          description: What it found.
          type: str
          sample: 8 files checked against the manifest (size and SHA-256)
    problems:
      description: Why the backup does not verify, each prefixed with the check's name.
      type: list
      elements: str
      sample: ["files: nightly.tar.gz has 40000 bytes, the manifest says 40250 (truncated or replaced)"]
    warnings:
      description:
        - Findings that do not fail the backup (no manifest, files not in the manifest).
        - A PartiallyFailed backup is a problem, not a warning, as it lacks what failed at backup time.
      type: list
      elements: str
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import open_location_to_read
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.check import VolumeDataChecker, check_recorded_snapshots
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.restic import fs_repositories
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.verify import verify_all, verify_backup

# Problems quoted in the failure message; all are in the result.
PROBLEMS_IN_MESSAGE = 10


def failure_message(backups):
    failed = [backup for backup in backups if not backup["ok"]]
    problems = ["%s: %s" % (backup["name"], problem) for backup in failed for problem in backup["problems"]]
    shown = problems[:PROBLEMS_IN_MESSAGE] + (["... %d more, see backups" % (len(problems) - PROBLEMS_IN_MESSAGE)]
                                              if len(problems) > PROBLEMS_IN_MESSAGE else [])
    return "%d of %d backups do not verify: %s" % (len(failed), len(backups), "; ".join(shown))


def _snapshot_checker(module):
    """check_recorded_snapshots bound to the cluster (when reachable: else CSI snapshots are not checked) and the EBS settings."""
    csi_client, ebs = module.optional_kube_client(), module.ebs()

    def check(records):
        return check_recorded_snapshots(records, csi_client=csi_client, ebs=ebs)
    return check


def main():
    argument_spec = dict(
        name=dict(type="str"),
        restore_check=dict(type="bool", default=False),
        namespace_mapping=dict(type="dict", default={}),
        storage_class_mapping=dict(type="dict", default={}),
        fail_on_problems=dict(type="bool", default=True),
        check_snapshots=dict(type="bool", default=False),
        check_volume_data=dict(type="bool", default=False),
        volume_data_subset=dict(type="str"),
        fs_backup_password=dict(type="str", no_log=True),
    )
    module = KubesafeModule(argument_spec, groups=("decryption", "location", "k8s_auth", "ebs"),
                            uses_cluster=lambda params: params["restore_check"])
    params = module.params
    with module.failing_on_errors(changed=False, ok=False, location=params["location"], backups=[]) as partial:
        keys = module.decryption_keys()
        location = open_location_to_read(params["location"], params["location_config"])
        partial["location"] = location.url
        client = module.kube_client() if params["restore_check"] else None
        mappings = dict((key, params[key]) for key in ("namespace_mapping", "storage_class_mapping", "fs_backup_password"))
        checker = _snapshot_checker(module) if params["check_snapshots"] else None
        data_checker = None
        if params["check_volume_data"]:
            data_checker = VolumeDataChecker(fs_repositories(location, params["fs_backup_password"], keys.passphrase if keys else None,
                                                             read_only=True), params["volume_data_subset"])
        if params["name"]:
            backups = [verify_backup(location, params["name"], keys=keys, restore_client=client, restore_mappings=mappings,
                                     snapshot_checker=checker, volume_data_checker=data_checker)]
        else:
            backups = verify_all(location, keys=keys, restore_client=client, restore_mappings=mappings, snapshot_checker=checker,
                                 volume_data_checker=data_checker)
    ok = all(backup["ok"] for backup in backups)
    for backup in backups:
        # A problem's hint names an option ("restore with storage_class_mapping"): a role's variable when a role runs this.
        backup["problems"] = [module.role_message(problem) for problem in backup["problems"]]
        module.warn_all(backup["warnings"], limit=10, prefix="%s: " % backup["name"])
    if not ok and params["fail_on_problems"]:
        module.fail_json(msg=failure_message(backups), changed=False, ok=False, location=location.url, backups=backups)
    module.exit_json(changed=False, ok=ok, location=location.url, backups=backups)


if __name__ == "__main__":
    main()

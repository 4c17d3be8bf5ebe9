#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: restore_info
short_description: List the restores recorded in a directory or S3 location, or describe one
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Lists the restore records under C(restores/) of a location, newest first, with their backup, phase, times,
    action totals and error and warning counts; filters by backup and phase. What C(velero restore get) shows.
  - With I(name), describes that restore - counts per resource, error and warning messages, the objects that
    failed, unmet waits, volumes and hooks, and with I(log_lines) the end of its log. What C(velero restore describe)
    and C(velero restore logs) show.
  - Reads the records M(kubesafe.k8s.restore) writes and those Velero writes (results and logs only, so their phase
    and counts are unknown).
  - Only reads the location, never the cluster.
extends_documentation_fragment:
  - kubesafe.k8s.location
options:
  name:
    description:
      - Name of the restore to describe in detail.
      - Fails when the location has no such restore, naming the restores it has.
    type: str
  backup:
    description:
      - Only restores of this backup.
    type: str
  phase:
    description:
      - Only restores in one of these phases.
    type: list
    elements: str
    choices:
      - Completed
      - PartiallyFailed
      - Failed
  log_lines:
    description:
      - With I(name), also return the last this many lines of the restore's log; C(-1) returns all of it (at most the
        20000 lines a run keeps).
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
requirements:
  - boto3 (for S3 locations)
seealso:
  - module: kubesafe.k8s.restore
  - module: kubesafe.k8s.backup_info
"""

EXAMPLES = r"""
- name: The restores recorded in ./backups, newest first
  kubesafe.k8s.restore_info:
  register: found

- name: Restores of one backup that did not complete
  kubesafe.k8s.restore_info:
    location: s3://my-backups/prod
    backup: nightly-20260101020000
    phase: [PartiallyFailed, Failed]
  register: partial

- name: Describe one restore with the last 50 lines of its log
  kubesafe.k8s.restore_info:
    name: nightly-20260101020000-20260101093000
    log_lines: 50
  register: described

- name: Show why it failed
  ansible.builtin.debug:
    var: described.restores[0].error_messages
"""

RETURN = r"""
location:
  description: The location read (no credentials).
  returned: always
  type: str
  sample: s3://my-backups/prod
restores:
  description:
    - The restores found, newest first (by start time); records without a report (Velero's) come last.
    - With I(name), one entry with the details too.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the restore (its directory under C(restores/)).
      type: str
      sample: nightly-20260101020000-20260101093000
    format:
      description: C(kubesafe) when the record has this collection's report, C(velero) otherwise.
      type: str
      sample: kubesafe
    backup:
      description: The backup restored; null when the record has no report.
      type: str
      sample: nightly-20260101020000
    phase:
      description: C(Completed), C(PartiallyFailed) or C(Failed); null when the record has no report.
      type: str
      sample: Completed
    start_timestamp:
      description: Start time, UTC.
      type: str
      sample: "2026-01-01T09:30:00Z"
    completion_timestamp:
      description: Completion time, UTC.
      type: str
      sample: "2026-01-01T09:31:12Z"
    duration_seconds:
      description: How long the restore took.
      type: float
      sample: 72.4
    totals:
      description: Objects per action (C(create), C(update), C(unchanged), C(skip), C(failed), ...).
      type: dict
      sample: {"create": 120, "skip": 14}
    errors:
      description: Number of errors.
      type: int
      sample: 0
    warnings:
      description: Number of warnings.
      type: int
      sample: 2
    files:
      description: The record's files and their sizes in bytes.
      type: dict
    counts:
      description: Objects per resource and action.
      returned: when I(name) is given
      type: dict
      sample: {"deployments.apps": {"create": 2}}
    error_messages:
      description: The errors, as C(kind ns/name - reason) lines where the restore knew the object.
      returned: when I(name) is given
      type: list
      elements: str
    warning_messages:
      description: The warnings.
      returned: when I(name) is given
      type: list
      elements: str
    failed_objects:
      description: The objects the restore could not write (C(group_resource), C(namespace), C(name), C(reason)).
      returned: when I(name) is given
      type: list
      elements: dict
    waits:
      description: The readiness waits of the restore, met or not.
      returned: when I(name) is given
      type: list
      elements: dict
    volumes:
      description: Volumes restored from snapshots.
      returned: when I(name) is given
      type: list
      elements: dict
    hooks:
      description: Restore hooks run.
      returned: when I(name) is given
      type: list
      elements: dict
    notes:
      description: Files of the record that are missing or unreadable, and what that means for the other fields.
      returned: when I(name) is given
      type: list
      elements: str
    log:
      description: The last I(log_lines) lines of the restore's log.
      returned: when I(name) and I(log_lines) are given
      type: list
      elements: str
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import open_location_to_read
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.restore_records import describe_restore, list_restores


def main():
    argument_spec = dict(
        name=dict(type="str"),
        backup=dict(type="str"),
        phase=dict(type="list", elements="str", choices=["Completed", "PartiallyFailed", "Failed"]),
        log_lines=dict(type="int", default=0),
    )
    module = KubesafeModule(argument_spec, groups=("location",))
    params = module.params
    if params["log_lines"] and not params["name"]:
        module.fail_json(msg="log_lines needs name: the log of one restore is returned at a time")
    with module.failing_on_errors():
        location = open_location_to_read(params["location"], params["location_config"])
        if params["name"]:
            restores = [describe_restore(location, params["name"], log_lines=params["log_lines"])]
        else:
            restores = list_restores(location, backup=params["backup"], phase=params["phase"])
    module.exit_json(changed=False, location=location.url, restores=restores)


if __name__ == "__main__":
    main()

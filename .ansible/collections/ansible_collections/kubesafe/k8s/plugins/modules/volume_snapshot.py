#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: volume_snapshot
short_description: Snapshot and delete the volumes of PersistentVolumeClaims, outside a backup
version_added: 0.2.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Takes snapshots of claims' volumes with the same engine as M(kubesafe.k8s.backup) - CSI VolumeSnapshots (content
    retained, VolumeSnapshot deleted) or EBS snapshots - and the same pre/post hooks from pod annotations or I(hooks).
  - Hooks (I(hooks) or pod annotations) run in the pods that mount the claims.
  - Every snapshot is labelled or tagged C(kubesafe.k8s/backup=<set_name>), which I(state=absent) and
    M(kubesafe.k8s.volume_snapshot_info) use.
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.ebs
  - kubesafe.k8s.backup_hooks
options:
  state:
    description:
      - C(present) snapshots the selected claims; C(absent) deletes the snapshots of I(set_name) (CSI contents in the
        cluster, EBS snapshots in the region of I(ebs_config)).
    type: str
    choices: [present, absent]
    default: present
  set_name:
    description:
      - The name the snapshots are labelled with.
    type: str
    required: true
  namespace:
    description: Namespace of the claims to snapshot. Required with I(state=present).
    type: str
  claims:
    description: Names of the claims to snapshot; all bound claims of I(namespace) when neither this nor I(label_selector) is given.
    type: list
    elements: str
  label_selector:
    description: Snapshot the claims of I(namespace) matching this label selector.
    type: str
  method:
    description: As I(volume_snapshot_method) of M(kubesafe.k8s.backup) - C(auto), C(csi), C(ebs), or a dict per storage class or driver.
    type: raw
    default: auto
  csi_snapshot_class:
    description: As for M(kubesafe.k8s.backup).
    type: raw
  csi_snapshot_timeout:
    description: How long to wait for a CSI snapshot to be ready, as a Go duration.
    type: str
    default: 10m
  parallelism:
    description: How many pods' hooks and snapshots run at once.
    type: int
    default: 4
attributes:
  check_mode:
    support: full
    description: C(present) and C(absent) report what they would snapshot or delete and change nothing.
  diff_mode:
    support: none
    description: No diff is returned.
requirements:
  - kubernetes
  - boto3 (for EBS snapshots)
"""

EXAMPLES = r"""
- name: Snapshot the database's claim before an upgrade, freezing it through its pod's annotations
  kubesafe.k8s.volume_snapshot:
    set_name: before-upgrade-42
    namespace: shop
    claims: [data-postgres-0]
  register: snap

- name: List them
  kubesafe.k8s.volume_snapshot_info:
    set_name: before-upgrade-42

- name: Delete them once the upgrade is fine
  kubesafe.k8s.volume_snapshot:
    state: absent
    set_name: before-upgrade-42
"""

RETURN = r"""
snapshots:
  description:
    - C(present) - the records of the snapshots taken (keys as I(volume_snapshots) of M(kubesafe.k8s.backup)).
    - C(absent) - the snapshots found, as M(kubesafe.k8s.volume_snapshot_info) lists them.
  returned: always
  type: list
  elements: dict
deleted:
  description: With I(state=absent), the snapshots deleted.
  returned: when state is absent
  type: list
  elements: str
hooks:
  description: With I(state=present), the hooks run, as in M(kubesafe.k8s.backup).
  returned: when state is present
  type: list
  elements: dict
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.sets import delete_snapshot_set, snapshot_claims
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.backup import VolumeSettings


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        set_name=dict(type="str", required=True),
        namespace=dict(type="str"),
        claims=dict(type="list", elements="str"),
        label_selector=dict(type="str"),
        method=dict(type="raw", default="auto"),
        csi_snapshot_class=dict(type="raw"),
        csi_snapshot_timeout=dict(type="str", default="10m"),
        parallelism=dict(type="int", default=4),
    )
    module = KubesafeModule(argument_spec, groups=("k8s_auth", "ebs", "backup_hooks"), uses_cluster=True,
                            required_if=[("state", "present", ("namespace",))], mutually_exclusive=[("claims", "label_selector")])
    params = module.params
    with module.failing_on_errors():
        ebs = module.ebs()
        client = module.kube_client()
        if params["state"] == "absent":
            found, deleted, failures = delete_snapshot_set(client, ebs, params["set_name"], check_mode=module.check_mode)
            if failures:
                module.fail_json(msg="; ".join(failures), snapshots=found, deleted=deleted, changed=bool(deleted))
            module.exit_json(changed=bool(found), snapshots=found, deleted=deleted)
        settings = VolumeSettings(snapshot_volumes=True, method=params["method"], csi_snapshot_class=params["csi_snapshot_class"],
                                  csi_snapshot_timeout=params["csi_snapshot_timeout"], ebs_config=params["ebs_config"],
                                  hooks=params["hooks"], ebs_factory=module.ebs_factory)
        taken = snapshot_claims(client, settings, params["set_name"], params["namespace"], params["claims"], params["label_selector"],
                                parallelism=params["parallelism"], check_mode=module.check_mode)
    module.warn_all(taken["warnings"])
    if taken["errors"]:
        module.fail_json(msg="; ".join(taken["errors"]), changed=bool(taken["snapshots"]), snapshots=taken["snapshots"], hooks=taken["hooks"])
    module.exit_json(changed=not module.check_mode and bool(taken["snapshots"]), snapshots=taken["snapshots"], hooks=taken["hooks"])


if __name__ == "__main__":
    main()

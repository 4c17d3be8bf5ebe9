#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: volume_snapshot_info
short_description: List the volume snapshots taken by backups and by the volume_snapshot module
version_added: 0.2.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Lists the CSI snapshots (VolumeSnapshotContents labelled C(kubesafe.k8s/backup)) in the cluster and, when
    I(ebs_config) or C(AWS_REGION) gives a region, the EBS snapshots tagged C(kubesafe.k8s/backup) there.
  - A backup's snapshots are listed under its name; so are the sets of M(kubesafe.k8s.volume_snapshot).
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.ebs
options:
  set_name:
    description: Only the snapshots of this backup or set; all by default.
    type: str
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Reads only.
requirements:
  - kubernetes
  - boto3 (for EBS snapshots)
"""

EXAMPLES = r"""
- name: The snapshots of last night's backup
  kubesafe.k8s.volume_snapshot_info:
    set_name: nightly-20261126
    ebs_config:
      region: eu-west-1
  register: snapshots
"""

RETURN = r"""
snapshots:
  description:
    - The snapshots found - C(method) (C(csi) or C(ebs)), C(set_name), C(snapshot_handle), C(content_name) and
      C(driver) (CSI), C(region) and C(volume_id) (EBS), C(namespace) where known.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.sets import list_snapshot_set


def main():
    module = KubesafeModule(dict(set_name=dict(type="str")), groups=("k8s_auth", "ebs"), uses_cluster=True)
    with module.failing_on_errors():
        ebs = module.ebs()
        snapshots = list_snapshot_set(module.kube_client(), ebs, module.params["set_name"])
    module.exit_json(changed=False, snapshots=snapshots)


if __name__ == "__main__":
    main()

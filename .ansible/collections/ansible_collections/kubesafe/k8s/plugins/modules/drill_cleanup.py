#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: drill_cleanup
short_description: Remove what a restore drill created in its scratch namespaces
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Deletes the namespaces labelled C(velero.io/restore-name=<restore_name>) - the scratch namespaces a restore created
    for a drill, with everything in them - waits until they are gone, then deletes the persistent volumes that were bound
    to claims in them (volumes of a class that retains them would otherwise stay behind).
  - Nothing without that label is touched, so a drill restored into new, mapped namespaces leaves the cluster as it was.
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
options:
  restore_name:
    description: Name of the drill's restore (the C(name) the restore module returned).
    type: str
    required: true
  timeout:
    description: Seconds to wait for the namespaces to be gone.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Lists the namespaces and volumes that would be deleted.
  diff_mode:
    support: none
    description: Not supported.
requirements:
  - kubernetes
"""

EXAMPLES = r"""
- name: Restore a drill into scratch namespaces
  kubesafe.k8s.restore:
    backup: latest
    namespace_mapping: {shop: shop-drill}
    include_cluster_resources: false
    wait: true
  register: drill

- name: Clean up after the drill
  kubesafe.k8s.drill_cleanup:
    restore_name: "{{ drill.restore.name }}"
"""

RETURN = r"""
namespaces:
  description: Namespaces deleted (or that would be, in check mode).
  returned: always
  type: list
  elements: str
persistent_volumes:
  description: Persistent volumes of those namespaces' claims, deleted after the namespaces.
  returned: always
  type: list
  elements: str
snapshot_contents:
  description:
    - VolumeSnapshotContents the restore made to provision its claims from CSI snapshots, deleted last. They are
      C(Retain), so the backup's storage snapshots stay.
  returned: always
  type: list
  elements: str
remaining:
  description: Namespaces still terminating when I(timeout) ran out.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.drill_cleanup import clean_up_drill
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule


def main():
    argument_spec = dict(restore_name=dict(type="str", required=True), timeout=dict(type="int", default=300))
    module = KubesafeModule(argument_spec, groups=("k8s_auth",), uses_cluster=True)
    params = module.params
    with module.failing_on_errors():
        result = clean_up_drill(module.kube_client(), params["restore_name"], check_mode=module.check_mode, timeout_seconds=params["timeout"])
    if result["remaining"]:
        module.fail_json(msg="namespaces still terminating after %d s: %s" % (params["timeout"], ", ".join(result["remaining"])), **result)
    module.exit_json(changed=bool(result["namespaces"] or result["persistent_volumes"] or result["snapshot_contents"]), **result)


if __name__ == "__main__":
    main()

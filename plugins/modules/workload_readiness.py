#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: workload_readiness
short_description: Ready counts of Deployments, StatefulSets and DaemonSets, live and as a backup recorded them
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Lists the Deployments, StatefulSets and DaemonSets of the cluster with their desired and ready counts (what
    C(kubectl get) shows as READY).
  - With I(backup), also reads the ready counts the backup recorded (each workload is stored with its status) and lists
    the workloads that are gone or less ready now than then - the check after a cluster upgrade.
  - The module only reads; it never reports a change.
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.location
options:
  backup:
    description: A backup (name or C(latest)) whose recorded ready counts the live ones are compared with; unset compares nothing.
    type: str
  included_namespaces:
    description: Namespaces whose workloads are read (globs).
    type: list
    elements: str
    default: ['*']
  excluded_namespaces:
    description: Namespaces left out (globs).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The result is a report, not an Ansible diff.
requirements:
  - kubernetes
  - boto3 (for S3 locations)
"""

EXAMPLES = r"""
- name: Record the ready counts before a change
  kubesafe.k8s.workload_readiness:
  register: before

- name: After the upgrade, which workloads are less ready than when the backup was taken?
  kubesafe.k8s.workload_readiness:
    backup: upgrade-guard-20260101020000
    location: ./backups
  register: readiness
  until: readiness.ready
  retries: 30
  delay: 10
"""

RETURN = r"""
workloads:
  description: Each live workload with C(kind), C(namespace), C(name), C(desired) and C(ready).
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "Deployment", "namespace": "shop", "name": "web", "desired": 2, "ready": 2}]
backup:
  description: The backup compared with (its name), or null.
  returned: always
  type: str
recorded:
  description: The workloads as I(backup) recorded them, as in I(workloads).
  returned: always
  type: list
  elements: dict
behind:
  description:
    - Recorded workloads that are gone (C(reason) C(missing), C(ready_now) null) or less ready than recorded
      (C(ready_now) and a C(reason) such as C(1 of 2 ready, 2 when backed up)).
  returned: always
  type: list
  elements: dict
ready:
  description: With I(backup), whether no workload is behind; without, whether every workload is fully ready.
  returned: always
  type: bool
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import open_location_to_read
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.workload_readiness import check_readiness


def main():
    argument_spec = dict(
        backup=dict(type="str"),
        included_namespaces=dict(type="list", elements="str", default=["*"]),
        excluded_namespaces=dict(type="list", elements="str", default=[]),
    )
    module = KubesafeModule(argument_spec, groups=("k8s_auth", "location"), uses_cluster=True)
    params = module.params
    with module.failing_on_errors():
        location = open_location_to_read(params["location"], params["location_config"]) if params["backup"] else None
        result = check_readiness(module.kube_client(), location, params["backup"], params["included_namespaces"], params["excluded_namespaces"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

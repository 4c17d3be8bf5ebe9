#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: clone_plan
short_description: Turn the rules of a production-to-dev clone into resource modifiers for the restore module
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Reads a backup (streamed) and returns C(resource_modifiers) for the kubesafe.k8s.restore module that scale
    Deployments and StatefulSets (to I(replicas), or per workload), rewrite the hosts of Ingresses and the hostnames
    of Gateway API routes (HTTPRoute, GRPCRoute, TLSRoute) by a regular expression, and suspend CronJobs.
  - Sorts the backup's Secrets into those that get a replacement (I(replaced_secrets) names them), and those left
    out (or, with I(copy_unreplaced_secrets), copied as they are). Secret values never pass through this module;
    the restore of the replaced Secrets carries them. ServiceAccount token Secrets are the target cluster's own and
    are not listed.
  - The module only reads; it never reports a change. The kubesafe.k8s.clone role uses it.
extends_documentation_fragment:
  - kubesafe.k8s.location
options:
  backup:
    description: The backup to clone, by name or C(latest).
    type: str
    required: true
  replicas:
    description: Replicas of every Deployment and StatefulSet in the clone; null keeps the backup's.
    type: int
    default: 1
  replicas_per_workload:
    description: Replicas per workload, keyed C(namespace/name) or C(kind/namespace/name) (source namespace), over I(replicas).
    type: dict
    default: {}
  host_pattern:
    description: A Python regular expression matched in each host (C(re.sub)); unset leaves hosts as they are.
    type: str
  host_replacement:
    description: The replacement of I(host_pattern), with C(\\1) for groups, e.g. C(\\1.dev.example.com).
    type: str
  suspend_cronjobs:
    description: Suspend every CronJob of the clone.
    type: bool
    default: true
  replaced_secrets:
    description: The Secrets that get replacement values, as C(namespace/name) in the source (the values are not given here).
    type: list
    elements: str
    default: []
  copy_unreplaced_secrets:
    description: Copy the Secrets without a replacement as they are, instead of leaving them out.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The result is a report, not an Ansible diff.
requirements:
  - boto3 (for S3 locations)
"""

EXAMPLES = r"""
- name: Plan the clone of a backup of the shop namespace
  kubesafe.k8s.clone_plan:
    backup: clone-20260101020000
    location: ./backups
    host_pattern: '^(.*)\.example\.com$'
    host_replacement: '\1.dev.example.com'
    replaced_secrets: [shop/db-credentials]
  register: plan
"""

RETURN = r"""
backup:
  description: The backup read.
  returned: always
  type: str
resource_modifiers:
  description: Rules for the restore module's I(resource_modifiers) (replicas, hosts, CronJobs).
  returned: always
  type: list
  elements: dict
secrets:
  description: C(replaced), C(dropped) and C(copied) Secrets, as C(namespace/name) in the source.
  returned: always
  type: dict
  sample: {"replaced": ["shop/db-credentials"], "dropped": ["shop/web-tls"], "copied": []}
hosts:
  description: Each rewritten host with C(kind), C(namespace), C(name), C(path), C(from) and C(to).
  returned: always
  type: list
  elements: dict
replicas:
  description: Each scaled workload with C(kind), C(namespace), C(name), C(from) and C(to).
  returned: always
  type: list
  elements: dict
suspended_cronjobs:
  description: The CronJobs suspended, as C(namespace/name).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import open_location_to_read
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.clone_rules import CloneRules, plan_clone


def main():
    argument_spec = dict(
        backup=dict(type="str", required=True),
        replicas=dict(type="int", default=1),
        replicas_per_workload=dict(type="dict", default={}),
        host_pattern=dict(type="str"),
        host_replacement=dict(type="str"),
        suspend_cronjobs=dict(type="bool", default=True),
        # Names of Secrets (namespace/name), not their values.
        replaced_secrets=dict(type="list", elements="str", default=[], no_log=False),
        copy_unreplaced_secrets=dict(type="bool", default=False),
    )
    module = KubesafeModule(argument_spec, groups=("location",))
    params = module.params
    with module.failing_on_errors():
        rules = CloneRules(replicas=params["replicas"], replicas_per_workload=params["replicas_per_workload"],
                           host_pattern=params["host_pattern"], host_replacement=params["host_replacement"],
                           suspend_cronjobs=params["suspend_cronjobs"], replaced_secrets=params["replaced_secrets"],
                           copy_unreplaced_secrets=params["copy_unreplaced_secrets"])
        location = open_location_to_read(params["location"], params["location_config"])
        result = plan_clone(location, params["backup"], rules)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

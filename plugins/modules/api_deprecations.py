#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: api_deprecations
short_description: Find objects written at apiVersions a Kubernetes release removes or deprecates
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Reads a backup (streamed, object by object) or the live cluster and reports each object whose apiVersion the
    Kubernetes release I(target_version) no longer serves (I(removed)) or has deprecated (I(deprecated)), with the
    apiVersion to use instead - what kubent and pluto look for before an upgrade.
  - The API server converts objects to the version they are read at, so the versions that matter are those of the
    manifests kept with them - the C(kubectl.kubernetes.io/last-applied-configuration) annotation and the latest
    revision of each Helm 3 release (Secrets or ConfigMaps C(sh.helm.release.v1.*), whose C(manifest) is decoded) -
    as well as the object's own apiVersion (custom resources, backups of older clusters).
  - The table of removals covers Kubernetes 1.16 onwards. Its source is Kubernetes' Deprecated API Migration Guide,
    and for versions still served, the prerelease-lifecycle tags of C(k8s.io/api) (a removal computed by Kubernetes'
    rule - three releases after deprecation - is marked C(removal_computed)).
  - The module only reads; it never reports a change. With I(fail_on_removed) it fails when the target removes an
    apiVersion in use, naming each object and its replacement.
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.location
options:
  target_version:
    description: The Kubernetes release to check against, such as C(1.33) (C(v1.33.2) and C(1.33.0-eks) are read as 1.33).
    type: str
    required: true
  source:
    description:
      - C(backup) reads the archive of I(backup) in I(location) (no cluster connection); C(cluster) reads the live
        cluster, selecting objects as a backup with the I(included_namespaces) / I(excluded_namespaces) would.
    type: str
    choices: [backup, cluster]
    default: backup
  backup:
    description: The backup to read when I(source=backup), by name or C(latest).
    type: str
    default: latest
  included_namespaces:
    description: Namespaces to read when I(source=cluster) (globs).
    type: list
    elements: str
    default: ['*']
  excluded_namespaces:
    description: Namespaces to leave out when I(source=cluster).
    type: list
    elements: str
    default: []
  max_findings:
    description: The most objects listed in each of I(removed) and I(deprecated); I(counts) are always exact.
    type: int
    default: 1000
  fail_on_removed:
    description: Fail when something the target no longer serves is in use, with a message naming each and its replacement.
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
  - kubernetes (when I(source=cluster))
  - boto3 (for S3 locations)
"""

EXAMPLES = r"""
- name: What would Kubernetes 1.33 no longer serve, in the newest backup?
  kubesafe.k8s.api_deprecations:
    target_version: "1.33"
    location: s3://my-backups/prod
  register: apis

- name: Fail when a removed apiVersion is in use in the live cluster
  kubesafe.k8s.api_deprecations:
    target_version: "1.33"
    source: cluster
    fail_on_removed: true
"""

RETURN = r"""
removed:
  description:
    - Objects written at an apiVersion the target no longer serves, each with C(api_version), C(kind), C(namespace),
      C(name), C(found_in) (C(object), C(last-applied-configuration) or C(helm release <name> revision <n>)), C(holder)
      (the object it was found in), C(replacement) (null when there is none), C(deprecated_in), C(removed_in) and
      C(removal_computed).
  returned: always
  type: list
  elements: dict
  sample: [{"api_version": "policy/v1beta1", "kind": "PodDisruptionBudget", "namespace": "shop", "name": "web",
            "found_in": "last-applied-configuration", "holder": "poddisruptionbudgets.policy shop/web",
            "replacement": "policy/v1", "deprecated_in": "1.21", "removed_in": "1.25", "removal_computed": false}]
deprecated:
  description: Objects at an apiVersion the target still serves but has deprecated, as in I(removed).
  returned: always
  type: list
  elements: dict
counts:
  description: How many uses were found, C(removed) and C(deprecated).
  returned: always
  type: dict
  sample: {"removed": 2, "deprecated": 0}
removed_lines:
  description: One line per use in I(removed) (the first 20, then a count), for messages.
  returned: always
  type: list
  elements: str
  sample: ["policy/v1beta1 PodDisruptionBudget shop/web (in last-applied-configuration of poddisruptionbudgets.policy shop/web):
            removed in 1.25, use policy/v1"]
objects_scanned:
  description: How many objects were read.
  returned: always
  type: int
source:
  description: The backup (C(backup), C(location)) or the cluster (C(cluster)) read.
  returned: always
  type: dict
target_version:
  description: The release checked against, as given.
  returned: always
  type: str
table_source:
  description: Where the table of removals comes from.
  returned: always
  type: str
truncated:
  description: Whether I(max_findings) left uses out of the lists.
  returned: always
  type: bool
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import open_location_to_read
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.api_usage import removed_lines, removed_message, scan_backup, scan_cluster
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.deprecated_apis import parse_version


def main():
    argument_spec = dict(
        target_version=dict(type="str", required=True),
        source=dict(type="str", choices=["backup", "cluster"], default="backup"),
        backup=dict(type="str", default="latest"),
        included_namespaces=dict(type="list", elements="str", default=["*"]),
        excluded_namespaces=dict(type="list", elements="str", default=[]),
        max_findings=dict(type="int", default=1000),
        fail_on_removed=dict(type="bool", default=False),
    )
    module = KubesafeModule(argument_spec, groups=("k8s_auth", "location"), uses_cluster=lambda params: params["source"] == "cluster")
    params = module.params
    with module.failing_on_errors():
        parse_version(params["target_version"])  # a bad release is refused before anything is read
        location = open_location_to_read(params["location"], params["location_config"])
        if params["source"] == "cluster":
            options = BackupOptions(name="api-deprecations", included_namespaces=params["included_namespaces"],
                                    excluded_namespaces=params["excluded_namespaces"])
            result = scan_cluster(module.kube_client(), location, options, params["target_version"], params["max_findings"])
        else:
            result = scan_backup(location, params["backup"], params["target_version"], params["max_findings"])
    # What could not be checked (encrypted Helm releases, unreadable manifests) comes as Ansible warnings.
    module.warn_all(result.pop("warnings"), limit=50)
    output = dict(changed=False, removed_lines=removed_lines(result), **result)
    if params["fail_on_removed"] and result["counts"]["removed"]:
        module.fail_json(msg=removed_message(result, "set fail_on_removed: false to only report them"), **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()

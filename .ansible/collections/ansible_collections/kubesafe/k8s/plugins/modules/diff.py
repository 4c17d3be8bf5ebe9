#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: diff
short_description: Show what changed in a cluster since a backup, or between two backups (drift detection)
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Compares a backup with the live cluster (what was added, removed or changed since the backup) or with another
    backup, object by object, with a field diff of each changed object as JSON-pointer paths with the values before
    and after.
  - Against the cluster, the objects are listed as the backup would list them now - same namespaces, resources,
    label selectors and cluster-scoped rules, read from the backup's C(velero-backup.json) - so a backup of one
    namespace is not reported as "everything else was removed". Filter options override that selection, one by one,
    and apply to both sides.
  - Fields the server or controllers manage are not compared - C(metadata.uid), C(resourceVersion), C(generation),
    C(creationTimestamp), C(managedFields), C(selfLink), C(status) (unless I(include_status)), the
    C(velero.io/backup-name) and C(velero.io/restore-name) labels and ownerReference uids (so a cluster just restored
    from the backup shows no drift), and Service C(clusterIP)/C(clusterIPs), which the server allocates and a restore
    reallocates (a headless C(None) is compared). nodePorts are compared.
  - Secret values never appear in the result - a changed value shows as C(<changed>), a present one as C(<set>) -
    and are not even kept on disk while comparing. Secrets encrypted in the backup (C(encryption=secrets)) are compared
    by their keys only; a backup encrypted as a whole (C(encryption=all)) cannot be compared.
  - Each side is streamed into an index on disk (SQLite, in a private temporary directory removed at the end), so
    memory does not grow with the size of the cluster or the backups.
  - The module only reads; it never reports a change. With I(fail_on_drift) it fails when anything drifted, with a
    message listing what - a drift check for an AWX schedule.
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
  - kubesafe.k8s.location
options:
  backup:
    description:
      - The backup to compare, by name, or C(latest) for the newest Completed backup in the location (a PartiallyFailed one only by name, with a warning).
      - When I(compare_to) is another backup, this is the "before" side.
    type: str
    default: latest
  compare_to:
    description:
      - C(cluster) compares with the live cluster (the connection options are then used).
      - Any other value names a second backup in the same location, the "after" side; no cluster connection is made.
    type: str
    default: cluster
  included_namespaces:
    description:
      - Namespaces to compare (globs). Unset, against the cluster, means the backup's own selection; between two
        backups, all.
    type: list
    elements: str
  excluded_namespaces:
    description: Namespaces to leave out (globs). Unset means the backup's own selection (against the cluster).
    type: list
    elements: str
  included_resources:
    description:
      - Resources to compare, by plural, kind, C(kind.group) or C(plural.group), or C(*). Unset means the backup's
        own selection (against the cluster).
    type: list
    elements: str
  excluded_resources:
    description: Resources to leave out. Unset means the backup's own selection (against the cluster).
    type: list
    elements: str
  include_cluster_resources:
    description:
      - C(true) compares every cluster-scoped object, C(false) none; unset follows the backup, or Velero's rule (all
        without a namespace filter, else only those related to the selected namespaces).
    type: bool
  label_selector:
    description: Compare only objects matching this label selector. Replaces the backup's selectors when given.
    type: str
  or_label_selectors:
    description: Compare objects matching any of these label selectors. Cannot be used with I(label_selector).
    type: list
    elements: str
  include_status:
    description: Also compare C(status). Controllers change it all the time, so it is left out by default.
    type: bool
    default: false
  ignore_controller_owned:
    description:
      - Leave out objects a controller owns (an ownerReference with C(controller=true)) - ReplicaSets of Deployments,
        their Pods, Jobs of CronJobs, EndpointSlices. They come and go on their own; their owner's changes are what
        matter.
    type: bool
    default: true
  max_changes:
    description:
      - The most objects listed in I(report.added), I(report.removed) and I(report.changed) together, in order of
        resource, namespace and name. The counts in I(summary) are always exact.
      - Each object lists at most 100 field changes; values longer than 2000 characters are shortened.
    type: int
    default: 1000
  fail_on_drift:
    description: Fail when anything was added, removed or changed, with a message listing what.
    type: bool
    default: false
  parallelism:
    description: How many resource LISTs run at once against the cluster.
    type: int
    default: 4
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode runs the same comparison.
  diff_mode:
    support: none
    description: The comparison is the module's result (I(report)), not an Ansible diff.
requirements:
  - kubernetes (when comparing with the cluster)
  - boto3 (for S3 locations)
notes:
  - The result's lists are under I(report) because C(changed) is Ansible's own result key.
  - Objects are listed at the versions the cluster prefers now; a backup taken at another version of a kind
    (before an upgrade) shows the version change at C(/apiVersion) and any field the conversion renamed.
"""

EXAMPLES = r"""
- name: What changed in the cluster since the last backup?
  kubesafe.k8s.diff:
  register: drift

- name: Show it
  ansible.builtin.debug:
    var: drift.report.changed
  when: drift.drift

- name: Nightly drift check in AWX - fail the job when the shop namespace moved away from its backup
  kubesafe.k8s.diff:
    backup: latest
    included_namespaces: [shop]
    location: s3://my-backups/prod
    location_config:
      region: eu-west-1
    fail_on_drift: true

- name: What changed between two backups (no cluster needed)
  kubesafe.k8s.diff:
    backup: nightly-20260101020000
    compare_to: nightly-20260102020000
"""

RETURN = r"""
drift:
  description: Whether anything was added, removed or changed.
  returned: always
  type: bool
  sample: true
summary:
  description: Counts of objects added, removed, changed and unchanged, in total and per resource.
  returned: always
  type: dict
  sample: {"added": 1, "removed": 0, "changed": 2, "unchanged": 57,
           "by_resource": {"configmaps": {"added": 1, "removed": 0, "changed": 1, "unchanged": 9}}}
report:
  description: The comparison.
  returned: always
  type: dict
  contains:
    backup:
      description: Name of the backup compared (the "before" side).
      type: str
      sample: nightly-20260101020000
    compare_to:
      description: C(cluster) or the name of the second backup (the "after" side).
      type: str
      sample: cluster
    location:
      description: Where the backups are (no credentials).
      type: str
    drift:
      description: Whether anything was added, removed or changed.
      type: bool
    summary:
      description: As the top-level I(summary).
      type: dict
    added:
      description:
        - Objects only on the "after" side, each with C(group_resource), C(namespace) (null when cluster-scoped),
          C(name), C(kind) and an empty C(changes) list.
      type: list
      elements: dict
      sample: [{"group_resource": "configmaps", "namespace": "shop", "name": "feature-flags", "kind": "ConfigMap", "changes": []}]
    removed:
      description: Objects only on the "before" side, as in I(added).
      type: list
      elements: dict
    changed:
      description:
        - Objects on both sides that differ, with C(changes) - a list of C(path) (JSON pointer), C(before) and C(after)
          (null when absent). C(changes_not_shown) counts changes beyond the first 100.
        - Secret values show as C(<set>) or C(<changed>), never as values.
      type: list
      elements: dict
      sample: [{"group_resource": "deployments.apps", "namespace": "shop", "name": "web", "kind": "Deployment",
                "changes": [{"path": "/spec/replicas", "before": 2, "after": 5}]}]
    truncated:
      description: Whether I(max_changes) left objects out of the lists.
      type: bool
    selection:
      description: The filters applied to both sides (the backup's own, or the options given).
      type: dict
    warnings:
      description: Resources that could not be listed, discovery problems, Secrets compared by key only.
      type: list
      elements: str
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import open_location_to_read
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.drift import CLUSTER, DiffOptions, drift_message, run_diff
from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule

FILTERS = ("included_namespaces", "excluded_namespaces", "included_resources", "excluded_resources", "include_cluster_resources",
           "label_selector", "or_label_selectors")


def against_cluster(params):
    return (params["compare_to"] or CLUSTER) == CLUSTER


def main():
    argument_spec = dict(
        backup=dict(type="str", default="latest"),
        compare_to=dict(type="str", default=CLUSTER),
        included_namespaces=dict(type="list", elements="str"),
        excluded_namespaces=dict(type="list", elements="str"),
        included_resources=dict(type="list", elements="str"),
        excluded_resources=dict(type="list", elements="str"),
        include_cluster_resources=dict(type="bool"),
        label_selector=dict(type="str"),
        or_label_selectors=dict(type="list", elements="str"),
        include_status=dict(type="bool", default=False),
        ignore_controller_owned=dict(type="bool", default=True),
        max_changes=dict(type="int", default=1000),
        fail_on_drift=dict(type="bool", default=False),
        parallelism=dict(type="int", default=4),
    )
    # The selection options without the backup's defaults: unset, they mean "as the backup selected".
    module = KubesafeModule(argument_spec, groups=("k8s_auth", "location"), uses_cluster=against_cluster,
                            mutually_exclusive=[("label_selector", "or_label_selectors")])
    params = module.params
    with module.failing_on_errors():
        options = DiffOptions(include_status=params["include_status"], ignore_controller_owned=params["ignore_controller_owned"],
                              max_changes=params["max_changes"], parallelism=params["parallelism"],
                              **dict((key, params[key]) for key in FILTERS))
        location = open_location_to_read(params["location"], params["location_config"])
        client = module.kube_client() if module.uses_cluster else None
        result = run_diff(location, params["backup"], params["compare_to"], client=client, options=options)
    module.warn_all(result["warnings"], limit=50)
    output = dict(changed=False, drift=result["drift"], summary=result["summary"], report=result)
    if params["fail_on_drift"] and result["drift"]:
        module.fail_json(msg=drift_message(result), **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()

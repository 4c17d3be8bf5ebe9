#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cluster_info
short_description: Which cluster a kubeconfig and context lead to - its identity and API server
version_added: 0.1.0
author:
  - kubesafe.k8s contributors (@kubesafe)
description:
  - Reads the uid of the C(kube-system) namespace, the stable identity of a cluster (Velero and CSI snapshot
    records use it too), and the API server URL of the connection.
  - Two connections with the same RV(cluster_id) reach the same cluster, whatever their kubeconfigs, contexts
    or URLs; the migrate role uses it to refuse a target that is the source.
  - Only reads the cluster.
extends_documentation_fragment:
  - kubesafe.k8s.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reads the same in check mode.
  diff_mode:
    support: none
    description: Not supported.
requirements:
  - kubernetes
"""

EXAMPLES = r"""
- name: Identify the source and the target
  kubesafe.k8s.cluster_info:
    kubeconfig: "{{ item }}"
  loop: [old.yaml, new.yaml]
  register: clusters

- name: Refuse to migrate a cluster onto itself
  ansible.builtin.assert:
    that: clusters.results[0].cluster_id != clusters.results[1].cluster_id
"""

RETURN = r"""
cluster_id:
  description: uid of the kube-system namespace; null when the account may not read it.
  returned: always
  type: str
  sample: 5c3b7d0e-8a43-4f0e-9a55-1c0b4a1f9e21
server:
  description: URL of the API server, without credentials.
  returned: always
  type: str
  sample: https://api.prod.example.com:6443
source:
  description: Where the connection came from (the kubeconfig file and context, in-cluster, host options).
  returned: always
  type: str
"""

from ansible_collections.kubesafe.k8s.plugins.module_utils.kubesafe_module import KubesafeModule
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.csi import cluster_identity


def main():
    module = KubesafeModule(dict(), groups=("k8s_auth",), uses_cluster=True)
    with module.failing_on_errors():
        client = module.kube_client()
        cluster_id = cluster_identity(client)
    module.exit_json(changed=False, cluster_id=cluster_id, server=client.server_url, source=client.source)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster-scoped objects that namespaced items depend on, as Velero's backup item actions find them.

With a namespace filter and ``include_cluster_resources`` unset, a backup takes
only these cluster-scoped objects: the PersistentVolumes bound to backed-up
claims, the CRDs of backed-up custom resources, and the ClusterRoleBindings
naming backed-up ServiceAccounts with their ClusterRoles.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class RelatedItems:
    def __init__(self):
        self.persistent_volumes = set()
        self.crds = set()
        self.service_accounts = set()  # (namespace, name)
        self.namespaces_with_items = set()

    def observe(self, resource, obj, crd_names):
        """Note what ``obj`` (a backed-up namespaced item of ``resource``) needs."""
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace")
        if namespace:
            self.namespaces_with_items.add(namespace)
        if resource.group_resource == "persistentvolumeclaims":
            volume = (obj.get("spec") or {}).get("volumeName")
            if volume:
                self.persistent_volumes.add(volume)
        elif resource.group_resource == "serviceaccounts":
            self.service_accounts.add((namespace, metadata.get("name")))
        elif resource.group_resource in crd_names:
            # A CRD is named <plural>.<group>: the group/resource of its objects.
            self.crds.add(resource.group_resource)

    def binding_names_service_account(self, binding):
        """Whether a (Cluster)RoleBinding grants something to a backed-up ServiceAccount."""
        for subject in binding.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and (subject.get("namespace"), subject.get("name")) in self.service_accounts:
                return True
        return False

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The order in which a restore creates resources: CRDs, Velero's priorities, then the rest alphabetically."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Velero's default restore priorities (pkg/cmd/server: defaultRestorePriorities): what others depend on first.
RESTORE_PRIORITIES = (
    "customresourcedefinitions.apiextensions.k8s.io",
    "namespaces",
    "storageclasses.storage.k8s.io",
    "volumesnapshotclasses.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    "persistentvolumes",
    "persistentvolumeclaims",
    "serviceaccounts",
    "secrets",
    "configmaps",
    "limitranges",
    "pods",
    "replicasets.apps",
    "clusterclasses.cluster.x-k8s.io",
    "endpoints",
    "services",
)


def restore_order(group_resources):
    """``group_resources`` sorted for creation."""
    priority = {name: index for index, name in enumerate(RESTORE_PRIORITIES)}
    return sorted(set(group_resources), key=lambda name: (priority.get(name, len(priority)), name))

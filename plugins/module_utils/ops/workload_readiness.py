# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ready counts of Deployments, StatefulSets and DaemonSets: live, as a backup recorded them, and which fell behind.

A backup stores each workload with its ``status``, so the archive is the record
of how ready the workloads were when it was taken; after a change (a cluster
upgrade) the live counts are compared with it.  Both sides are read as
streams: the archive item by item, the cluster page by page.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import catalog as backup_catalog
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import NamespaceFilter

# group/resource -> (kind, LIST path)
WORKLOADS = {
    "deployments.apps": ("Deployment", "/apis/apps/v1/deployments"),
    "statefulsets.apps": ("StatefulSet", "/apis/apps/v1/statefulsets"),
    "daemonsets.apps": ("DaemonSet", "/apis/apps/v1/daemonsets"),
}


def readiness(obj):
    """(desired, ready) of a workload object, as ``kubectl get`` shows them in READY."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if obj.get("kind") == "DaemonSet":
        return int(status.get("desiredNumberScheduled") or 0), int(status.get("numberReady") or 0)
    replicas = spec.get("replicas")
    return int(1 if replicas is None else replicas), int(status.get("readyReplicas") or 0)


def _entry(kind, obj):
    metadata = obj.get("metadata") or {}
    desired, ready = readiness(obj)
    return {"kind": kind, "namespace": metadata.get("namespace"), "name": metadata.get("name"), "desired": desired, "ready": ready}


def _key(entry):
    return (entry["kind"], entry["namespace"], entry["name"])


def recorded_readiness(location, backup, namespaces=None):
    """``(backup name, [workload entries])`` as recorded in the archive of ``backup`` (a name or ``latest``)."""
    name, _marker = backup_catalog.resolve_backup(location, backup, options_hint="backup and location")
    selected = namespaces or NamespaceFilter()
    key = velero_format.file_names(name)["contents"]
    entries = []
    with contextlib.closing(location.open_read(key)) as stream:
        for item in ArchiveReader(stream, source=key):
            if item.group_resource in WORKLOADS and item.namespace and selected.matches(item.namespace):
                entries.append(_entry(WORKLOADS[item.group_resource][0], item.obj))
    return name, sorted(entries, key=_key)


def live_readiness(client, namespaces=None):
    """The workloads of the cluster with their ready counts now."""
    selected = namespaces or NamespaceFilter()
    entries = []
    for kind, path in WORKLOADS.values():
        for page in client.list_pages_relisting(path):
            for obj in page.get("items") or []:
                if selected.matches((obj.get("metadata") or {}).get("namespace") or ""):
                    obj.setdefault("kind", kind)
                    entries.append(_entry(kind, obj))
    return sorted(entries, key=_key)


def behind(recorded, live):
    """Recorded workloads that are gone, or less ready than recorded; each with the reason."""
    live_by_key = dict((_key(entry), entry) for entry in live)
    result = []
    for entry in recorded:
        now = live_by_key.get(_key(entry))
        if now is None:
            result.append(dict(entry, ready_now=None, reason="missing"))
        elif now["ready"] < entry["ready"]:
            result.append(dict(entry, ready_now=now["ready"], reason="%d of %d ready, %d when backed up" % (now["ready"], now["desired"], entry["ready"])))
    return result


def check_readiness(client, location=None, backup=None, included_namespaces=None, excluded_namespaces=None):
    """Live ready counts; with ``backup``, also the recorded ones and which workloads fell behind them."""
    namespaces = NamespaceFilter(included_namespaces, excluded_namespaces)
    live = live_readiness(client, namespaces)
    result = {"workloads": live, "backup": None, "recorded": [], "behind": [], "ready": all(w["ready"] >= w["desired"] for w in live)}
    if backup:
        name, recorded = recorded_readiness(location, backup, namespaces)
        lagging = behind(recorded, live)
        result.update(backup=name, recorded=recorded, behind=lagging, ready=not lagging)
    return result

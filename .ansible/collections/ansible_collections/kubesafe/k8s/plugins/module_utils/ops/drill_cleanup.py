# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Undo a drill restore: remove what a restore created in scratch namespaces, and nothing else.

A restore labels every object it creates, namespaces included, with
``velero.io/restore-name``; a drill restores into namespaces it creates, so
deleting the namespaces that carry the drill's label (and the volumes their
claims got) puts the cluster back as it was.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.csi import CONTENTS_PATH
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.rules import valid_label_value

RESTORE_LABEL = "velero.io/restore-name"


def _items(client, path, query=None):
    return [item for page in client.list_pages(path, query=query) for item in page.get("items") or []]


def _delete(client, path):
    try:
        client.request("DELETE", path)
    except ApiError as exc:
        if exc.status != 404:
            raise


def clean_up_drill(client, restore_name, check_mode=False, timeout_seconds=300):
    """Delete the namespaces labelled with ``restore_name`` and the persistent volumes of their claims.

    Returns {"namespaces": [...], "persistent_volumes": [...], "remaining": [...]}; in check mode nothing is deleted.
    """
    selector = "%s=%s" % (RESTORE_LABEL, valid_label_value(restore_name))
    namespaces = sorted(ns["metadata"]["name"] for ns in _items(client, "/api/v1/namespaces", {"labelSelector": selector}))
    claimed = sorted({(pv["metadata"]["name"]) for pv in _items(client, "/api/v1/persistentvolumes")
                      if ((pv.get("spec") or {}).get("claimRef") or {}).get("namespace") in namespaces})
    # The pre-provisioned snapshot contents a restore made for its claims are cluster-scoped; they are Retain,
    # so deleting them leaves the backup's storage snapshots alone.
    contents = sorted(content["metadata"]["name"] for content in _snapshot_contents(client, selector))
    result = {"namespaces": namespaces, "persistent_volumes": claimed, "snapshot_contents": contents, "remaining": []}
    if check_mode:
        return result
    for name in namespaces:
        _delete(client, "/api/v1/namespaces/%s" % name)
    deadline = time.monotonic() + timeout_seconds
    remaining = list(namespaces)
    while remaining and time.monotonic() < deadline:
        remaining = [name for name in remaining if _exists(client, "/api/v1/namespaces/%s" % name)]
        if remaining:
            time.sleep(0.5)
    # Volumes provisioned for the drill's claims outlive them when their class retains volumes.
    for name in claimed:
        _delete(client, "/api/v1/persistentvolumes/%s" % name)
    for name in contents:
        _delete(client, "%s/%s" % (CONTENTS_PATH, name))
    result["remaining"] = remaining
    return result


def _snapshot_contents(client, selector):
    try:
        return _items(client, CONTENTS_PATH, {"labelSelector": selector})
    except ApiError as exc:
        if exc.status == 404:  # the cluster does not serve the snapshot API
            return []
        raise


def _exists(client, path):
    try:
        client.request("GET", path)
        return True
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One claim's files into its namespace's restic repository and back, through a mover pod and pods/exec.

Backup: ``tar -c`` runs in the mover and its stdout streams straight into
``restic backup --stdin``. Restore: ``restic dump`` streams into ``tar -x``
in the mover. No copy of the volume is kept on the controller's disk or in
its memory; the mover is deleted whatever happens.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.pod_exec import exec_in_pod
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.mover import (
    CONTAINER, MOUNT_PATH, delete_mover, mover_pod, start_mover)

TAR_CREATE = ["tar", "-c", "-C", MOUNT_PATH, "."]
TAR_EXTRACT = ["tar", "-x", "-C", MOUNT_PATH]


class FsCopyError(KubesafeError):
    pass


def archive_name(claim):
    """The name of the claim's tar in its restic snapshot."""
    return "%s.tar" % claim


def snapshot_tags(backup_name, namespace, claim):
    return ["kubesafe.k8s", "backup=%s" % backup_name, "namespace=%s" % namespace, "claim=%s" % claim]


def back_up_claim(client, repositories, mover, run_label, backup_name, namespace, claim, node_name=None, mount_claim=None):
    """Copy a claim's files into the repository; the record fields (snapshot_id, bytes, bytes_added, ...). Raises KubesafeError.

    mount_claim: the claim the mover mounts when it is not ``claim`` itself (a temporary claim made from a snapshot of it)."""
    started = time.monotonic()
    pod = mover_pod(mover, run_label, namespace, mount_claim or claim, read_only=True, node_name=node_name)
    name = pod["metadata"]["name"]
    fields = {"repository": repositories.url(namespace), "archive": archive_name(claim), "mover": name}
    try:
        running = start_mover(client, pod, mover.start_timeout)
        fields["node"] = (running.get("spec") or {}).get("nodeName")
        repositories.ensure(namespace)
        streaming = time.monotonic()

        def feed(write):
            result = exec_in_pod(client, namespace, name, CONTAINER, TAR_CREATE, mover.copy_timeout, stdout_sink=write)
            if not result.succeeded:
                raise FsCopyError("tar -c in mover pod %s/%s failed: %s" % (namespace, name, _describe(result, mover.copy_timeout)))
        summary = repositories.backup(namespace, archive_name(claim), snapshot_tags(backup_name, namespace, claim), feed)
        stream_seconds = time.monotonic() - streaming
    finally:
        cleanup_error = delete_mover(client, namespace, name)
    # duration_seconds: the whole copy, mover included; stream_seconds: the data alone (tar over exec into restic).
    fields.update(snapshot_id=summary["snapshot_id"], bytes=int(summary.get("total_bytes_processed") or 0),
                  bytes_added=int(summary.get("data_added") or 0), duration_seconds=round(time.monotonic() - started, 3),
                  stream_seconds=round(stream_seconds, 3))
    if cleanup_error:
        fields["warning"] = cleanup_error
    return fields


def restore_claim(client, repositories, mover, run_label, record, namespace, claim):
    """Fill claim ``namespace/claim`` from the record's snapshot; (seconds taken, seconds of the data stream, warning or None).
    Raises KubesafeError."""
    started = time.monotonic()
    pod = mover_pod(mover, run_label, namespace, claim, read_only=False)
    name = pod["metadata"]["name"]
    try:
        start_mover(client, pod, mover.start_timeout)
        streaming = time.monotonic()

        def consume(read):
            result = exec_in_pod(client, namespace, name, CONTAINER, TAR_EXTRACT, mover.copy_timeout, stdin_source=read)
            if not result.succeeded:
                raise FsCopyError("tar -x in mover pod %s/%s failed: %s" % (namespace, name, _describe(result, mover.copy_timeout)))
        # The repository is the one of the namespace the claim was backed up from.
        repositories.dump(record["namespace"], record["snapshot_id"], record.get("archive") or archive_name(record["claim"]), consume)
        stream_seconds = time.monotonic() - streaming
    finally:
        cleanup_error = delete_mover(client, namespace, name)
    return round(time.monotonic() - started, 3), round(stream_seconds, 3), cleanup_error


def _describe(result, timeout):
    if result.timed_out:
        return "did not finish within %d seconds (fs_timeout)" % timeout
    if result.error:
        return result.error
    return "exit code %s%s" % (result.exit_code, ": %s" % result.stderr.strip() if result.stderr.strip() else "")

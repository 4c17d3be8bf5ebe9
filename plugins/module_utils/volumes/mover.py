# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mover pods: a short-lived pod per claim that mounts it, so its files can be streamed with tar over pods/exec.

No agent runs on the nodes: the mover is an ordinary pod in the claim's
namespace (read-only mount for backups), placed on the node of the pod that
uses a ReadWriteOnce claim. Movers are labelled, carry an
activeDeadlineSeconds so that a mover whose run was interrupted ends by
itself, and are deleted after success or failure; ``sweep_movers`` removes
those an interrupted run left behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import time

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError

MOVER_LABEL = "kubesafe.k8s/volume-mover"
RUN_LABEL = "kubesafe.k8s/run"
MOUNT_PATH = "/data"
CONTAINER = "mover"
DEFAULT_IMAGE = "busybox:1.36.1"
POLL_SECONDS = 0.2
MOVER_OPTIONS = ("image", "resources", "node_selector", "tolerations", "security_context", "service_account", "image_pull_secrets")
# Suboptions of fs_mover; must agree with plugins/doc_fragments/fs_backup.py.
FS_MOVER_SPEC = dict(
    image=dict(type="str", default=DEFAULT_IMAGE),
    resources=dict(type="dict"),
    node_selector=dict(type="dict"),
    tolerations=dict(type="list", elements="dict"),
    security_context=dict(type="dict"),
    service_account=dict(type="str"),
    image_pull_secrets=dict(type="list", elements="str", no_log=False),  # names of Secrets, not their content
)
# The fs_backup option group: must agree with plugins/doc_fragments/fs_backup.py.
FS_BACKUP_ARGUMENT_SPEC = dict(
    fs_backup_password=dict(type="str", no_log=True),
    fs_mover=dict(type="dict", options=FS_MOVER_SPEC),
    fs_mover_timeout=dict(type="str", default="5m"),
    fs_timeout=dict(type="str", default="4h"),
)
# Why a waiting container will not start by itself: fail now rather than at the timeout.
_FATAL_WAITING_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError")


class MoverError(KubesafeError):
    pass


class MoverSettings:
    """The fs_mover option, checked."""

    def __init__(self, options=None, start_timeout=300, copy_timeout=14400):
        options = {key: value for key, value in (options or {}).items() if value is not None}
        unknown = sorted(set(options) - set(MOVER_OPTIONS))
        if unknown:
            raise ConfigurationError("fs_mover: unknown option(s) %s (known: %s)" % (", ".join(unknown), ", ".join(MOVER_OPTIONS)))
        self.image = options.get("image") or DEFAULT_IMAGE
        for name in ("resources", "node_selector", "security_context"):
            if options.get(name) is not None and not isinstance(options[name], dict):
                raise ConfigurationError("fs_mover.%s must be a dict (as in a pod spec), got %r" % (name, options[name]))
        if options.get("tolerations") is not None and not isinstance(options["tolerations"], list):
            raise ConfigurationError("fs_mover.tolerations must be a list of tolerations (as in a pod spec)")
        self.options = options
        self.start_timeout = float(start_timeout)
        self.copy_timeout = float(copy_timeout)


def mover_name(run_name, namespace, claim):
    digest = hashlib.sha256(("%s/%s/%s" % (run_name, namespace, claim)).encode("utf-8")).hexdigest()[:10]
    return "kubesafe-mover-%s-%s" % (claim[:30].rstrip("-."), digest)


def mover_pod(settings, run_label, namespace, claim, read_only, node_name=None):
    """The mover pod's manifest."""
    options = settings.options
    container = {"name": CONTAINER, "image": settings.image, "command": ["sleep", str(int(settings.copy_timeout) + 600)],
                 "volumeMounts": [{"name": "data", "mountPath": MOUNT_PATH, "readOnly": bool(read_only)}]}
    if options.get("resources"):
        container["resources"] = options["resources"]
    if options.get("security_context"):
        container["securityContext"] = options["security_context"]
    spec = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
            # An interrupted run cannot delete its mover: it ends by itself.
            "activeDeadlineSeconds": int(settings.start_timeout + settings.copy_timeout + 600),
            "containers": [container],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim, "readOnly": bool(read_only)}}]}
    if node_name:
        spec["nodeName"] = node_name
    if options.get("node_selector"):
        spec["nodeSelector"] = options["node_selector"]
    if options.get("tolerations"):
        spec["tolerations"] = options["tolerations"]
    if options.get("service_account"):
        spec["serviceAccountName"] = options["service_account"]
    if options.get("image_pull_secrets"):
        spec["imagePullSecrets"] = [{"name": name} for name in options["image_pull_secrets"]]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": mover_name(run_label, namespace, claim), "namespace": namespace,
                         "labels": {MOVER_LABEL: "true", RUN_LABEL: run_label, "app.kubernetes.io/managed-by": "kubesafe.k8s"}},
            "spec": spec}


def start_mover(client, pod, timeout):
    """Create the mover and wait until it runs; MoverError with the reason (unschedulable, image pull) when it does not."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    path = "/api/v1/namespaces/%s/pods" % namespace
    try:
        client.request("POST", path, body=pod)
    except ApiError as exc:
        if exc.status != 409:
            raise MoverError("cannot create mover pod %s/%s: %s" % (namespace, name, exc))
        delete_mover(client, namespace, name)  # a leftover of an interrupted run of the same name
        try:
            client.request("POST", path, body=pod)
        except ApiError as exc2:
            raise MoverError("cannot create mover pod %s/%s: %s" % (namespace, name, exc2))
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = client.request("GET", "%s/%s" % (path, name))
        except ApiError as exc:
            raise MoverError("cannot read mover pod %s/%s: %s" % (namespace, name, exc))
        status = last.get("status") or {}
        if status.get("phase") == "Running" and all("running" in (item.get("state") or {}) for item in status.get("containerStatuses") or []):
            return last
        if status.get("phase") in ("Failed", "Succeeded"):
            raise MoverError("mover pod %s/%s ended (phase %s%s)" % (namespace, name, status.get("phase"), _reason(status, ": ")))
        waiting = _fatal_waiting(status)
        if waiting:
            raise MoverError("mover pod %s/%s cannot start: %s (fs_mover.image is %s)" % (
                namespace, name, waiting, pod["spec"]["containers"][0]["image"]))
        if time.monotonic() >= deadline:
            raise MoverError("mover pod %s/%s was not running after %d seconds (fs_mover_timeout)%s" % (
                namespace, name, timeout, _reason(status, ": ") or ": phase %s" % (status.get("phase") or "Pending")))
        time.sleep(POLL_SECONDS)


def delete_mover(client, namespace, name):
    """Delete a mover, now; an error string, or None."""
    try:
        client.request("DELETE", "/api/v1/namespaces/%s/pods/%s" % (namespace, name), body={"gracePeriodSeconds": 0})
    except ApiError as exc:
        if exc.status != 404:
            return "could not delete mover pod %s/%s: %s" % (namespace, name, exc)
    except KubesafeError as exc:
        return "could not delete mover pod %s/%s: %s" % (namespace, name, exc)
    return None


def sweep_movers(client, namespaces):
    """Delete the movers interrupted runs left in ``namespaces``: ended, or past their activeDeadlineSeconds (a live run's
    mover never is: its run gives up before). Returns (deleted "namespace/name" list, errors)."""
    deleted, errors = [], []
    now = velero_format.utc_now()
    for namespace in sorted(namespaces):
        try:
            pages = list(client.list_pages("/api/v1/namespaces/%s/pods" % namespace, query={"labelSelector": "%s=true" % MOVER_LABEL}))
        except (ApiError, KubesafeError) as exc:
            errors.append("could not list mover pods in %s: %s" % (namespace, exc))
            continue
        for pod in (pod for page in pages for pod in page.get("items") or []):
            if not _left_behind(pod, now):
                continue
            error = delete_mover(client, namespace, pod["metadata"]["name"])
            if error:
                errors.append(error)
            else:
                deleted.append("%s/%s" % (namespace, pod["metadata"]["name"]))
    return deleted, errors


def _left_behind(pod, now):
    if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
        return True
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    if not deadline or not created:
        return False
    try:
        return velero_format.parse_timestamp(created, "creationTimestamp") + datetime.timedelta(seconds=int(deadline)) < now
    except (ValueError, KubesafeError):
        return False


def _fatal_waiting(status):
    for item in status.get("containerStatuses") or []:
        waiting = (item.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _FATAL_WAITING_REASONS:
            return "%s%s" % (waiting["reason"], ": %s" % waiting["message"] if waiting.get("message") else "")
    return None


def _reason(status, prefix):
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return prefix + (condition.get("message") or condition.get("reason") or "unschedulable")
    text = status.get("reason") or status.get("message")
    return prefix + text if text else ""

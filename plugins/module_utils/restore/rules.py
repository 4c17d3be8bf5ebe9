# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore leaves out and what it strips, as Velero does (pkg/restore, pkg/restore/actions).

Pure functions over plain dicts; nothing here talks to a cluster.

- ``skip_reason``: objects the target cluster makes itself or that must not come back
  (nodes, events, finished pods and jobs, mirror pods, auto-created token secrets,
  ``kube-root-ca.crt``, objects that Kubernetes' own controllers recreate from their
  restored controller (``RECREATED_BY_CONTROLLER``), PVs that are re-provisioned by their claim).
- ``sanitize``: server-owned metadata and status go; per-kind fixes (Services, Pods,
  PVCs, PVs, Jobs, ServiceAccounts, token Secrets). ownerReferences are kept: the
  orchestrator rewrites them to the new owners' uids.
- ``transform`` (from restore_transforms): namespace / storage class / registry
  mappings and resource modifiers.
- ``restore_labels``: ``velero.io/backup-name`` and ``velero.io/restore-name``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import fnmatch
import hashlib
import json

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.cluster_fields import (
    BACKUP_NAME_LABEL, CLAIM_BINDING_ANNOTATIONS, CONTAINER_LISTS, ENDPOINTS_CONTROLLER_ANNOTATION, JOB_CONTROLLER_UID_LABELS,
    RESTORE_NAME_LABEL, SERVER_METADATA, SERVICE_ACCOUNT_TOKEN_TYPE, SERVICE_ACCOUNT_UID_ANNOTATION, SERVICE_CLUSTER_IP_FIELDS,
    VOLUME_BINDING_ANNOTATIONS, has_allocated_cluster_ip, is_service_account_token_volume)
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.transforms import (  # noqa: F401 pylint: disable=unused-import
    ModifierError, compile_resource_modifiers, transform)

RESTORE_STATUS_ANNOTATION = "velero.io/restore-status"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
LABEL_VALUE_MAX_LENGTH = 63

# Velero's nonRestorableResources plus the API's node-bound records.
NON_RESTORABLE_RESOURCES = frozenset((
    "nodes", "events", "events.events.k8s.io", "csinodes.storage.k8s.io", "volumeattachments.storage.k8s.io",
))
# Velero's configuration may come back; its run records (backups, restores, repositories,
# data movements, requests) belong to the source cluster's Velero and would confuse the target's.
RESTORABLE_VELERO_RESOURCES = frozenset((
    "schedules.velero.io", "backupstoragelocations.velero.io", "volumesnapshotlocations.velero.io",
))
SERVER_OWNED_METADATA = SERVER_METADATA + ("generateName",)
PVC_BINDING_ANNOTATIONS = CLAIM_BINDING_ANNOTATIONS + ("velero.io/volume-snapshot-name", "velero.io/data-upload-name")
PV_BINDING_ANNOTATIONS = VOLUME_BINDING_ANNOTATIONS
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"
ENDPOINTSLICE_MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
ENDPOINTSLICE_CONTROLLER = "endpointslice-controller.k8s.io"

# (API group, kind) of a controlling owner -> the group/resources of the objects it controls that
# Kubernetes' own controllers (kube-controller-manager) make again from the owner alone, so a restore
# leaves them to it. The pairs are those the built-in controllers create with a controller reference:
# the deployment, replicaset, replication, statefulset, daemonset, job, cronjob, endpointslice and
# endpointslice-mirroring controllers, and the resourceclaim controller's claims made from a pod's
# claim templates. (The ephemeral-volume controller's claims are not listed: claims are always restored.)
# Any other controller (an operator's custom resource, cert-manager's Certificate controlling a TLS
# Secret) is not assumed to recreate what it controls, nor to recreate it with the same content (a
# new private key): such objects are restored with their ownerReferences pointing at the restored
# owner. That holds for a Pod controlled by a custom resource too: restoring it under its own name is
# safe (an operator finds it there), leaving it out may lose it.
RECREATED_BY_CONTROLLER = {
    ("apps", "Deployment"): frozenset(("replicasets.apps",)),
    ("apps", "ReplicaSet"): frozenset(("pods",)),
    ("", "ReplicationController"): frozenset(("pods",)),
    ("apps", "StatefulSet"): frozenset(("pods", "controllerrevisions.apps")),
    ("apps", "DaemonSet"): frozenset(("pods", "controllerrevisions.apps")),
    ("batch", "Job"): frozenset(("pods",)),
    ("batch", "CronJob"): frozenset(("jobs.batch",)),
    ("", "Service"): frozenset(("endpoints", "endpointslices.discovery.k8s.io")),
    ("", "Endpoints"): frozenset(("endpointslices.discovery.k8s.io",)),
    ("", "Pod"): frozenset(("resourceclaims.resource.k8s.io",)),
}


class RestoreContext:
    """The restore-wide settings the rules read. Resource modifiers are validated here."""

    def __init__(self, backup_name, restore_name, namespace_mapping=None, storage_class_mapping=None,
                 registry_mapping=None, resource_modifiers=None, preserve_nodeports=False, restore_status=None,
                 reprovisioned_pv_names=None):
        self.backup_name = backup_name
        self.restore_name = restore_name
        self.namespace_mapping = _string_mapping(namespace_mapping, "namespace_mapping")
        self.storage_class_mapping = _string_mapping(storage_class_mapping, "storage_class_mapping")
        self.registry_mapping = _string_mapping(registry_mapping, "registry_mapping")
        self.compiled_modifiers = compile_resource_modifiers(resource_modifiers)
        self.resource_modifiers = list(resource_modifiers or [])
        self.preserve_nodeports = bool(preserve_nodeports)
        self.restore_status = [name.lower() for name in (restore_status or [])]
        # Names of backed-up PVs that are not restored but re-provisioned by their claim
        # (see needs_reprovisioning): their claims lose spec.volumeName.
        self.reprovisioned_pv_names = set(reprovisioned_pv_names or ())

    def restores_status_of(self, group_resource, obj):
        """Velero: the restore's status list, overridden per object by annotation velero.io/restore-status."""
        wanted = any(fnmatch.fnmatchcase(group_resource, pattern) for pattern in self.restore_status)
        annotation = str(_annotations(obj).get(RESTORE_STATUS_ANNOTATION, "")).strip().lower()
        if annotation in ("true", "false"):
            return annotation == "true"
        return wanted


def _string_mapping(value, option):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigurationError("%s must be a dictionary of old: new names, not %r" % (option, value))
    mapping = {}
    for old, new in value.items():
        if not old or not new or not isinstance(old, str) or not isinstance(new, str):
            raise ConfigurationError("%s: entry %r: %r must map a non-empty name to a non-empty name" % (option, old, new))
        mapping[old] = new
    return mapping


def _metadata(obj):
    return obj.get("metadata") or {}


def _annotations(obj):
    return _metadata(obj).get("annotations") or {}


def _controller_reference(obj):
    for reference in _metadata(obj).get("ownerReferences") or []:
        if reference.get("controller"):
            return reference
    return None


def recreated_by_controller(group_resource, owner_reference):
    """Whether Kubernetes' own controller behind ``owner_reference`` recreates an object of ``group_resource``."""
    api_version = owner_reference.get("apiVersion") or ""
    owner_group = api_version.rpartition("/")[0]
    return group_resource in RECREATED_BY_CONTROLLER.get((owner_group, owner_reference.get("kind")), ())


# ------------------------------------------------------------------ skip rules

def needs_reprovisioning(pv):
    """A PV with reclaim policy Delete and no snapshot is not restored: its claim provisions a fresh volume.

    Velero does this for PVs without a snapshot; restoring such a PV would let the target
    cluster delete (on release) a cloud volume it does not own. The restore engine decides
    PVs with this and the backup's snapshots (volume_restore.py), not skip_reason.
    """
    return ((pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Delete") == "Delete"


def _is_finished_job(job):
    status = job.get("status") or {}
    if status.get("completionTime"):
        return True
    return any(condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True"
               for condition in status.get("conditions") or [])


def _is_auto_created_token_secret(secret):
    """Velero: a token secret named ``<serviceaccount>-token-*`` was made by the token controller."""
    account = _annotations(secret).get(SERVICE_ACCOUNT_NAME_ANNOTATION)
    return bool(account) and _metadata(secret).get("name", "").startswith(account + "-token-")


def skip_reason(group_resource, obj, restored_uids, services_with_selector=None):
    """Why the object is not restored, or None.

    ``restored_uids``: the backed-up uids of the objects this restore writes (see
    ``restored_uid_set``); an object controlled by one of them is left to it when Kubernetes'
    own controllers recreate it (``RECREATED_BY_CONTROLLER``), restored otherwise.
    ``services_with_selector``: optional set of (namespace, name) of restored Services
    that have a selector: their Endpoints are rebuilt by the endpoints controller.
    """
    metadata = _metadata(obj)
    annotations = metadata.get("annotations") or {}
    if group_resource in NON_RESTORABLE_RESOURCES:
        return "%s are never restored" % group_resource
    if group_resource.endswith(".velero.io") and group_resource not in RESTORABLE_VELERO_RESOURCES:
        return "Velero's own run records are never restored"
    if group_resource == "pods":
        if MIRROR_POD_ANNOTATION in annotations:
            return "mirror pod: the kubelet creates it from a static manifest"
        phase = (obj.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return "pod is complete (phase %s)" % phase
    if group_resource == "jobs.batch" and _is_finished_job(obj):
        return "job is complete"
    if group_resource == "secrets" and obj.get("type") == SERVICE_ACCOUNT_TOKEN_TYPE and _is_auto_created_token_secret(obj):
        return "service account token secret: the cluster creates it"
    if group_resource == "configmaps" and metadata.get("name") == "kube-root-ca.crt":
        return "kube-root-ca.crt: the cluster publishes it in every namespace"
    if group_resource == "endpointslices.discovery.k8s.io" and \
            (metadata.get("labels") or {}).get(ENDPOINTSLICE_MANAGED_BY_LABEL) == ENDPOINTSLICE_CONTROLLER:
        return "endpoint slice managed by the endpointslice controller"
    if group_resource == "endpoints":
        if ENDPOINTS_CONTROLLER_ANNOTATION in annotations or \
                (metadata.get("namespace"), metadata.get("name")) in (services_with_selector or ()):
            return "endpoints of a service with a selector: the endpoints controller rebuilds them"
    # A StatefulSet does not recreate a missing claim's data, so claims are always restored.
    controller = _controller_reference(obj)
    if controller and group_resource != "persistentvolumeclaims" and controller.get("uid") in restored_uids and \
            recreated_by_controller(group_resource, controller):
        return "controlled by %s %s, which is restored and recreates it" % (controller.get("kind"), controller.get("name"))
    return None


def restored_uid_set(items):
    """The ``restored_uids`` for ``skip_reason``: uids of (group_resource, obj) items not skipped for their own sake."""
    return {_metadata(obj).get("uid") for group_resource, obj in items
            if _metadata(obj).get("uid") and skip_reason(group_resource, obj, ()) is None}


# ------------------------------------------------------------------ sanitize

def sanitize(group_resource, obj, context, restored_pv_names=None, copy_input=True):
    """A copy of ``obj`` fit to create in another cluster (Velero's resetMetadataAndStatus and restore actions).

    ``copy_input=False``: change ``obj`` itself, for a caller that owns it (the restore engine, whose objects are
    decoded afresh from its spool; a deep copy of every object was a fifth of a restore's CPU time).

    A claim keeps ``spec.volumeName`` only when its PV is restored too: when ``restored_pv_names``
    is given, only for the PVs named there; otherwise unless the PV is in
    ``context.reprovisioned_pv_names`` (Velero's rule, which keeps the binding to a PV left out of the restore).
    """
    # Explicit nodePorts are read from managedFields, which are stripped just below.
    explicit_node_ports = _explicit_node_ports(obj) if group_resource == "services" else None
    result = copy.deepcopy(obj) if copy_input else obj
    metadata = result.setdefault("metadata", {})
    for key in SERVER_OWNED_METADATA:
        metadata.pop(key, None)
    if not context.restores_status_of(group_resource, obj):
        result.pop("status", None)
    fix = _KIND_FIXES.get(group_resource)
    if group_resource == "services":
        _sanitize_service(result, context, explicit_node_ports)
    elif group_resource == "persistentvolumeclaims":
        _sanitize_claim(result, context, restored_pv_names)
    elif fix is not None:
        fix(result, context)
    return result


def _pop_annotations(obj, names):
    annotations = _metadata(obj).get("annotations")
    if annotations:
        for name in names:
            annotations.pop(name, None)
        if not annotations:
            del obj["metadata"]["annotations"]


def _explicit_node_ports(service):
    """Which nodePorts the user set: from last-applied-configuration, else from managedFields (as Velero).

    Returns (named port names, unnamed nodePort numbers, managedFields port keys, healthCheckNodePort set).
    """
    annotations = _annotations(service)
    names, numbers, keys, health_check = set(), set(), set(), False
    applied = annotations.get(LAST_APPLIED_ANNOTATION)
    if applied:
        try:
            applied_spec = (json.loads(applied) or {}).get("spec") or {}
        except ValueError:
            applied_spec = {}
        for port in applied_spec.get("ports") or []:
            try:
                node_port = int(port.get("nodePort") or 0)
            except (TypeError, ValueError):
                node_port = 0
            if node_port > 0:
                if port.get("name"):
                    names.add(port["name"])
                else:
                    numbers.add(node_port)
        health_check = bool(applied_spec.get("healthCheckNodePort"))
        return names, numbers, None, health_check
    for entry in _metadata(service).get("managedFields") or []:
        spec_fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        for key, port_fields in (spec_fields.get("f:ports") or {}).items():
            if isinstance(port_fields, dict) and "f:nodePort" in port_fields:
                keys.add(key)
        health_check = health_check or "f:healthCheckNodePort" in spec_fields
    return names, numbers, keys, health_check


def _service_port_key(port):
    # managedFields key of a ServicePort: its merge keys port + protocol.
    return 'k:{"port":%d,"protocol":"%s"}' % (int(port.get("port") or 0), port.get("protocol") or "TCP")


def _sanitize_service(service, context, explicit):
    spec = service.get("spec")
    if not spec:
        return
    if has_allocated_cluster_ip(spec):
        for field in SERVICE_CLUSTER_IP_FIELDS:
            spec.pop(field, None)
    if context.preserve_nodeports or spec.get("type") == "ExternalName":
        return
    names, numbers, keys, health_check = explicit
    for port in spec.get("ports") or []:
        if "nodePort" not in port:
            continue
        if keys is not None:
            user_set = _service_port_key(port) in keys
        elif port.get("name"):
            user_set = port["name"] in names
        else:
            user_set = port["nodePort"] in numbers
        if not user_set:
            del port["nodePort"]
    if spec.get("healthCheckNodePort") and not health_check and \
            spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local":
        del spec["healthCheckNodePort"]


def _sanitize_pod(pod, context):  # pylint: disable=unused-argument
    spec = pod.get("spec")
    if not spec:
        return
    spec.pop("nodeName", None)
    spec.pop("priority", None)  # admission sets it from priorityClassName and rejects a mismatch
    spec.pop("ephemeralContainers", None)  # the API refuses them on create
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    dropped = {volume.get("name") for volume in spec.get("volumes") or [] if is_service_account_token_volume(volume, account)}
    if not dropped:
        return
    spec["volumes"] = [volume for volume in spec["volumes"] if volume.get("name") not in dropped]
    if not spec["volumes"]:
        del spec["volumes"]
    for list_name in CONTAINER_LISTS:
        for container in spec.get(list_name) or []:
            if "volumeMounts" in container:
                container["volumeMounts"] = [mount for mount in container["volumeMounts"] if mount.get("name") not in dropped]
                if not container["volumeMounts"]:
                    del container["volumeMounts"]


def _sanitize_claim(claim, context, restored_pv_names):
    _pop_annotations(claim, PVC_BINDING_ANNOTATIONS)
    spec = claim.get("spec") or {}
    volume_name = spec.get("volumeName")
    if not volume_name:
        return
    if (volume_name not in restored_pv_names) if restored_pv_names is not None else (volume_name in context.reprovisioned_pv_names):
        del spec["volumeName"]


def _sanitize_volume(volume, context):  # pylint: disable=unused-argument
    _pop_annotations(volume, PV_BINDING_ANNOTATIONS)
    claim_ref = (volume.get("spec") or {}).get("claimRef")
    if claim_ref:
        claim_ref.pop("uid", None)
        claim_ref.pop("resourceVersion", None)


def _sanitize_job(job, context):  # pylint: disable=unused-argument
    spec = job.get("spec") or {}
    selector = spec.get("selector")
    if selector:
        match_labels = selector.get("matchLabels") or {}
        for label in JOB_CONTROLLER_UID_LABELS:
            match_labels.pop(label, None)
        if "matchLabels" in selector and not match_labels:
            del selector["matchLabels"]
        # The API server generates the selector again unless the user manages it.
        if not selector and not spec.get("manualSelector"):
            del spec["selector"]
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if template_labels:
        for label in JOB_CONTROLLER_UID_LABELS:
            template_labels.pop(label, None)


def _sanitize_service_account(account, context):  # pylint: disable=unused-argument
    # Velero drops the auto-created token secret reference; the cluster makes a new one if needed.
    prefix = _metadata(account).get("name", "") + "-token-"
    if account.get("secrets"):
        account["secrets"] = [secret for secret in account["secrets"] if not (secret.get("name") or "").startswith(prefix)]
        if not account["secrets"]:
            del account["secrets"]


def _sanitize_secret(secret, context):  # pylint: disable=unused-argument
    # A hand-made long-lived token secret is kept (Velero), emptied so the token controller fills it anew.
    if secret.get("type") != SERVICE_ACCOUNT_TOKEN_TYPE:
        return
    _pop_annotations(secret, (SERVICE_ACCOUNT_UID_ANNOTATION,))
    data = secret.get("data") or {}
    for key in ("token", "ca.crt"):
        data.pop(key, None)


_KIND_FIXES = {
    "pods": _sanitize_pod,
    "persistentvolumes": _sanitize_volume,
    "jobs.batch": _sanitize_job,
    "serviceaccounts": _sanitize_service_account,
    "secrets": _sanitize_secret,
}


# ------------------------------------------------------------------ labels

def valid_label_value(value):
    """Velero's label.GetValidName: longer than 63 -> the first 57 characters + 6 hex of its sha256."""
    if len(value) <= LABEL_VALUE_MAX_LENGTH:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
    return value[:LABEL_VALUE_MAX_LENGTH - 6] + digest[:6]


def restore_labels(obj, backup_name, restore_name):
    """A copy of ``obj`` labelled with the backup and restore it came from (``obj`` is left as it was).

    Only the top level, metadata and labels are copied: a deep copy of every restored object was a sixth of a
    restore's CPU, and nothing below is changed here.
    """
    result = dict(obj)
    metadata = result["metadata"] = dict(obj.get("metadata") or {})
    labels = metadata["labels"] = dict(metadata.get("labels") or {})
    labels[BACKUP_NAME_LABEL] = valid_label_value(backup_name)
    labels[RESTORE_NAME_LABEL] = valid_label_value(restore_name)
    return result

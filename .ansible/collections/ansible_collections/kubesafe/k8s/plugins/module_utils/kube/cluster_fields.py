# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fields the cluster sets on an object, not its author: what restores and diffs neither compare nor take away.

One definition for the restore's sanitizing (restore_rules), its existing-object policies
(restore_apply) and the diff module (drift). Pure functions over plain dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# Set by the API server on every object.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "selfLink", "managedFields",
                   "deletionTimestamp", "deletionGracePeriodSeconds")
BACKUP_NAME_LABEL = "velero.io/backup-name"
RESTORE_NAME_LABEL = "velero.io/restore-name"
# Every restore stamps its own names; an object that differs only by them is unchanged.
RESTORE_LABELS = (BACKUP_NAME_LABEL, RESTORE_NAME_LABEL)
# Allocated by the API server; "None" (headless) is the user's choice, not an allocation.
SERVICE_CLUSTER_IP_FIELDS = ("clusterIP", "clusterIPs")
# Allocated or defaulted by the API server when a Service is created, and kept by it on update.
SERVICE_ASSIGNED_FIELDS = SERVICE_CLUSTER_IP_FIELDS + ("ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "healthCheckNodePort")
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
# Set on claims and volumes by the persistent volume controller, the provisioners and the scheduler.
CLAIM_BINDING_ANNOTATIONS = (
    "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
    "volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
)
VOLUME_BINDING_ANNOTATIONS = ("pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller")
SERVICE_ACCOUNT_UID_ANNOTATION = "kubernetes.io/service-account.uid"
ENDPOINTS_CONTROLLER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
# Bookkeeping of Kubernetes' controllers on the objects they watch: the live value is the true one.
CONTROLLER_ANNOTATIONS = frozenset(CLAIM_BINDING_ANNOTATIONS + VOLUME_BINDING_ANNOTATIONS + (
    "deployment.kubernetes.io/revision", "deprecated.daemonset.template.generation", SERVICE_ACCOUNT_UID_ANNOTATION,
    ENDPOINTS_CONTROLLER_ANNOTATION,
))
# The namespace controller labels every namespace with its name.
CLUSTER_LABELS = ("kubernetes.io/metadata.name",)
JOB_CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")
SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"
SERVICE_ACCOUNT_TOKEN_KEYS = ("token", "ca.crt")
PROJECTED_TOKEN_VOLUME_PREFIX = "kube-api-access-"
# The lists of containers in a Pod spec.
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def has_allocated_cluster_ip(service_spec):
    return service_spec.get("clusterIP") != "None"


def strip_server_fields(obj):
    """A copy of obj without status and the metadata the API server sets, as compared and shown in diffs."""
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    metadata = clean.get("metadata")
    if isinstance(metadata, dict):
        for key in SERVER_METADATA:
            metadata.pop(key, None)
    return clean


def without_restore_labels(obj):
    """obj (a copy when it changes) without the restore's own labels."""
    labels = (obj.get("metadata") or {}).get("labels")
    if not labels or not any(key in labels for key in RESTORE_LABELS):
        return obj
    obj = copy.deepcopy(obj)
    for key in RESTORE_LABELS:
        obj["metadata"]["labels"].pop(key, None)
    if not obj["metadata"]["labels"]:
        obj["metadata"].pop("labels")
    return obj


def is_service_account_token_volume(volume, account):
    """The token volume the ServiceAccount admission plugin adds to a pod (and re-adds on create)."""
    name = volume.get("name") or ""
    if account and name.startswith(account + "-token-"):
        return True  # legacy secret-based token volume
    sources = (volume.get("projected") or {}).get("sources") or []
    return name.startswith(PROJECTED_TOKEN_VOLUME_PREFIX) and any("serviceAccountToken" in source for source in sources)


# ------------------------------------------------------------------ desired state + what the cluster assigned

def with_cluster_assigned(group_resource, desired, live):
    """``desired`` plus what the cluster assigned to ``live`` (both without server metadata and status).

    This is the state an update converges to: the backed-up object, keeping the cluster's
    allocations (cluster IPs, auto-assigned node ports, a bound claim's volume, a pod's node),
    its controllers' bookkeeping annotations and labels, and every finalizer a controller added
    (removing one would let the object go before that controller cleaned up after it).
    A field the backup sets itself is the backup's, also where the cluster could have set it.
    """
    after = copy.deepcopy(desired)
    metadata = after.setdefault("metadata", {})
    live_metadata = live.get("metadata") or {}
    if live_metadata.get("generateName") and not metadata.get("generateName"):
        metadata["generateName"] = live_metadata["generateName"]
    finalizers = list(live_metadata.get("finalizers") or [])
    finalizers += [name for name in metadata.get("finalizers") or [] if name not in finalizers]
    if finalizers:
        metadata["finalizers"] = finalizers
    _take_live_keys(metadata, live_metadata, "annotations", CONTROLLER_ANNOTATIONS)
    _take_live_keys(metadata, live_metadata, "labels", CLUSTER_LABELS)
    fill = _ASSIGNED_BY_KIND.get(group_resource)
    if fill is not None:
        fill(after, live)
    return after


def _take_live_keys(metadata, live_metadata, field, keys):
    live_values = live_metadata.get(field) or {}
    taken = {key: live_values[key] for key in keys if key in live_values}
    if taken:
        metadata[field] = dict(metadata.get(field) or {}, **taken)


def _fill_missing(spec, live_spec, fields):
    for field in fields:
        if spec.get(field) in (None, "", []) and live_spec.get(field) not in (None, "", []):
            spec[field] = copy.deepcopy(live_spec[field])


def _port_key(port):
    return (port.get("port"), port.get("protocol") or "TCP")


def _service(after, live):
    spec, live_spec = after.get("spec"), live.get("spec") or {}
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
        return
    _fill_missing(spec, live_spec, SERVICE_ASSIGNED_FIELDS)
    if spec.get("type") not in NODE_PORT_TYPES or live_spec.get("type") not in NODE_PORT_TYPES:
        return
    # A node port the backup leaves to the cluster (auto-assigned, not preserved) keeps the one it has.
    live_ports = {_port_key(port): port.get("nodePort") for port in live_spec.get("ports") or []}
    for port in spec.get("ports") or []:
        if not port.get("nodePort") and live_ports.get(_port_key(port)):
            port["nodePort"] = live_ports[_port_key(port)]


def _claim(after, live):
    # volumeName: the volume the claim is bound to; the class and mode are defaulted on create.
    _fill_missing(after.setdefault("spec", {}), live.get("spec") or {}, ("volumeName", "storageClassName", "volumeMode"))


def _volume(after, live):
    claim_ref, live_ref = (after.get("spec") or {}).get("claimRef"), (live.get("spec") or {}).get("claimRef") or {}
    if claim_ref and (claim_ref.get("namespace"), claim_ref.get("name")) == (live_ref.get("namespace"), live_ref.get("name")):
        _fill_missing(claim_ref, live_ref, ("uid", "resourceVersion"))


def _job(after, live):
    spec, live_spec = after.setdefault("spec", {}), live.get("spec") or {}
    _fill_missing(spec, live_spec, ("selector",))
    template_metadata = (spec.get("template") or {}).get("metadata")
    live_template_metadata = (live_spec.get("template") or {}).get("metadata") or {}
    if isinstance(template_metadata, dict):
        _take_live_keys(template_metadata, live_template_metadata, "labels", JOB_CONTROLLER_UID_LABELS)
    _take_live_keys(after["metadata"], live.get("metadata") or {}, "labels", JOB_CONTROLLER_UID_LABELS)


def _pod(after, live):
    spec, live_spec = after.setdefault("spec", {}), live.get("spec") or {}
    _fill_missing(spec, live_spec, ("nodeName", "priority"))
    account = live_spec.get("serviceAccountName") or live_spec.get("serviceAccount") or "default"
    names = {volume.get("name") for volume in spec.get("volumes") or []}
    tokens = [volume for volume in live_spec.get("volumes") or []
              if is_service_account_token_volume(volume, account) and volume.get("name") not in names]
    if not tokens:
        return
    spec["volumes"] = list(spec.get("volumes") or []) + copy.deepcopy(tokens)
    token_names = {volume.get("name") for volume in tokens}
    for list_name in CONTAINER_LISTS:
        live_containers = {container.get("name"): container for container in live_spec.get(list_name) or []}
        for container in spec.get(list_name) or []:
            mounts = [mount for mount in live_containers.get(container.get("name"), {}).get("volumeMounts") or []
                      if mount.get("name") in token_names]
            if mounts:
                container["volumeMounts"] = list(container.get("volumeMounts") or []) + copy.deepcopy(mounts)


def _secret(after, live):
    # The token controller fills a service-account token secret; a restore leaves it to it.
    if after.get("type") != SERVICE_ACCOUNT_TOKEN_TYPE:
        return
    live_data = live.get("data") or {}
    data = after.get("data") or {}
    for key in SERVICE_ACCOUNT_TOKEN_KEYS:
        if key not in data and key in live_data:
            data[key] = live_data[key]
    if data:
        after["data"] = data


_ASSIGNED_BY_KIND = {
    "services": _service,
    "persistentvolumeclaims": _claim,
    "persistentvolumes": _volume,
    "jobs.batch": _job,
    "pods": _pod,
    "secrets": _secret,
}

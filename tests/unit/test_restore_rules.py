# -*- coding: utf-8 -*-
"""restore_rules: skip rules, sanitizing and restore labels, on objects shaped like the sample cluster's."""

import copy
import hashlib
import json

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.rules import (
    RestoreContext, needs_reprovisioning, recreated_by_controller, restore_labels, restored_uid_set, sanitize, skip_reason,
    valid_label_value)

RS_UID = "5a895c0a-e89a-4aca-a8b7-899b83654ec0"
DEPLOY_UID = "0b6f4a39-3c1e-4ab5-9d4e-1c2b3a4d5e6f"
JOB_UID = "d01833ef-ba22-4caa-a91d-8a82ab527c25"
STS_UID = "7d1f2b6a-1111-4c2d-9e8f-0a1b2c3d4e5f"


def context(**options):
    return RestoreContext("nightly", "nightly-20260101000000", **options)


def meta(name, namespace=None, uid=None, **extra):
    metadata = {"name": name, "uid": uid or "uid-" + name, "resourceVersion": "130", "generation": 2,
                "creationTimestamp": "2026-11-26T13:46:57Z",
                "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:metadata": {"f:labels": {}}}}]}
    if namespace:
        metadata["namespace"] = namespace
    metadata.update(extra)
    return metadata


def owner(kind, name, uid, api_version="apps/v1"):
    return [{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}]


def web_pod(phase="Running", **extra_meta):
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": meta("web-5fd48b75f8-5r8c9", "shop", generateName="web-5fd48b75f8-",
                         labels={"app": "web", "pod-template-hash": "5fd48b75f8"},
                         ownerReferences=owner("ReplicaSet", "web-5fd48b75f8", RS_UID), **extra_meta),
        "spec": {
            "containers": [{"name": "nginx", "image": "nginx:1.27.2",
                            "volumeMounts": [{"mountPath": "/etc/nginx/tls", "name": "tls", "readOnly": True},
                                             {"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                              "name": "kube-api-access-x7k2p", "readOnly": True}]}],
            "initContainers": [{"name": "init", "image": "busybox:1.36",
                                "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                                  "name": "kube-api-access-x7k2p", "readOnly": True}]}],
            "nodeName": "kubesim-node-1", "priority": 0, "serviceAccountName": "web",
            "volumes": [{"name": "tls", "secret": {"secretName": "web-tls"}},
                        {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
        },
        "status": {"phase": phase, "podIP": "10.244.0.14", "hostIP": "172.18.0.2"},
    }


def migrate_job(**status):
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": meta("migrate-db", "shop", uid=JOB_UID, labels={"app": "migrate-db"}),
        "spec": {"backoffLimit": 1,
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": JOB_UID}},
                 "template": {"metadata": {"labels": {
                     "app": "migrate-db", "batch.kubernetes.io/controller-uid": JOB_UID, "batch.kubernetes.io/job-name": "migrate-db",
                     "controller-uid": JOB_UID, "job-name": "migrate-db"}},
                     "spec": {"containers": [{"name": "migrate", "image": "busybox:1.36"}], "restartPolicy": "Never"}}},
        "status": status or {"active": 1, "startTime": "2026-11-26T13:46:57Z"},
    }


def service(name, spec, annotations=None, managed_fields=None):
    metadata = meta(name, "shop", labels={"app": "web"})
    if annotations:
        metadata["annotations"] = annotations
    if managed_fields is not None:
        metadata["managedFields"] = managed_fields
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec,
            "status": {"loadBalancer": {}}}


def nodeport_spec(node_port=30080, name="http", service_type="NodePort"):
    port = {"nodePort": node_port, "port": 80, "protocol": "TCP", "targetPort": "http"}
    if name:
        port["name"] = name
    return {"clusterIP": "10.96.0.12", "clusterIPs": ["10.96.0.12"], "externalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"], "ports": [port], "selector": {"app": "web"}, "type": service_type}


def last_applied(spec):
    return {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-nodeport", "namespace": "shop"}, "spec": spec})}


def claim(volume_name="pvc-64ff61d7-b3ac-413a-9a20-bae1ec324b4c", **extra_meta):
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": meta("data-db-0", "shop", uid="64ff61d7-b3ac-413a-9a20-bae1ec324b4c", labels={"app": "db"}, annotations={
            "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
            "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
            "volume.kubernetes.io/selected-node": "kubesim-node-1", "team": "db"}, **extra_meta),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "standard", "volumeName": volume_name},
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}},
    }


def volume(reclaim="Retain"):
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": meta("payments-ledger-pv", labels={"app": "ledger"},
                         annotations={"pv.kubernetes.io/bound-by-controller": "yes"}),
        "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"},
                 "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "ledger", "namespace": "payments",
                              "resourceVersion": "70", "uid": "509a5913-9f41-47c3-981f-dbc096038cd9"},
                 "csi": {"driver": "ebs.csi.aws.com", "fsType": "ext4", "volumeHandle": "vol-0a1b2c3d4e5f67890"},
                 "persistentVolumeReclaimPolicy": reclaim, "storageClassName": "fast"},
        "status": {"phase": "Bound"},
    }


def token_secret(name, account="web"):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": meta(name, "shop", annotations={"kubernetes.io/service-account.name": account,
                                                        "kubernetes.io/service-account.uid": "048a7695-b8c9-4f9a-a8e7-bd531cb82be4"}),
            "data": {"token": "ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklp", "ca.crt": "LS0tLS1CRUdJTg==", "namespace": "c2hvcA=="}}


# ------------------------------------------------------------------ skip rules

SKIP_CASES = [
    ("node", "nodes", {"kind": "Node", "metadata": meta("kubesim-node-1")}, (), "never restored"),
    ("core event", "events", {"kind": "Event", "metadata": meta("web.17f", "shop")}, (), "never restored"),
    ("events.k8s.io event", "events.events.k8s.io", {"kind": "Event", "metadata": meta("web.17f", "shop")}, (), "never restored"),
    ("volume attachment", "volumeattachments.storage.k8s.io", {"kind": "VolumeAttachment", "metadata": meta("csi-1")}, (), "never"),
    ("velero backup record", "backups.velero.io", {"kind": "Backup", "metadata": meta("nightly", "velero")}, (), "Velero"),
    ("velero schedule is configuration", "schedules.velero.io", {"kind": "Schedule", "metadata": meta("daily", "velero")}, (), None),
    ("mirror pod", "pods", dict(web_pod(), metadata=meta("etcd-node-1", "kube-system",
                                                         annotations={"kubernetes.io/config.mirror": "3f2a"})), (), "mirror"),
    ("succeeded pod", "pods", web_pod("Succeeded"), (), "complete"),
    ("failed pod", "pods", web_pod("Failed"), (), "complete"),
    ("running pod, its ReplicaSet is restored", "pods", web_pod(), {RS_UID}, "controlled by ReplicaSet web-5fd48b75f8"),
    ("running pod, its ReplicaSet is not restored", "pods", web_pod(), {DEPLOY_UID}, None),
    ("pending pod without owner", "pods", dict(web_pod("Pending"), metadata=meta("debug", "shop")), {RS_UID}, None),
    ("ReplicaSet of a restored Deployment", "replicasets.apps",
     {"kind": "ReplicaSet", "metadata": meta("web-5fd48b75f8", "shop", uid=RS_UID, ownerReferences=owner("Deployment", "web", DEPLOY_UID))},
     {DEPLOY_UID, RS_UID}, "controlled by Deployment web"),
    ("non-controller owner reference does not count", "configmaps",
     {"kind": "ConfigMap", "metadata": meta("web-config", "shop", ownerReferences=[dict(owner("Deployment", "web", DEPLOY_UID)[0], controller=False)])},
     {DEPLOY_UID}, None),
    ("claim with a StatefulSet controller reference is always restored", "persistentvolumeclaims",
     dict(claim(), metadata=meta("data-db-0", "shop", ownerReferences=owner("StatefulSet", "db", STS_UID))), {STS_UID}, None),
    ("completed job (completionTime)", "jobs.batch", migrate_job(completionTime="2026-11-26T13:46:57Z", succeeded=1), (), "job is complete"),
    ("failed job (condition, no completionTime)", "jobs.batch",
     migrate_job(failed=2, conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]), (), "job is complete"),
    ("running job", "jobs.batch", migrate_job(), (), None),
    ("job whose Complete condition is False", "jobs.batch", migrate_job(conditions=[{"type": "Complete", "status": "False"}]), (), None),
    ("auto-created token secret", "secrets", token_secret("web-token-x8f2k"), (), "token secret"),
    ("hand-made long-lived token secret", "secrets", token_secret("ci-deployer-token", account="web"), (), None),
    ("opaque secret", "secrets", {"kind": "Secret", "type": "Opaque", "metadata": meta("db-credentials", "shop")}, (), None),
    ("kube-root-ca.crt", "configmaps", {"kind": "ConfigMap", "metadata": meta("kube-root-ca.crt", "shop")}, (), "kube-root-ca.crt"),
    ("other configmap", "configmaps", {"kind": "ConfigMap", "metadata": meta("web-config", "shop")}, (), None),
    ("controller-managed endpoint slice", "endpointslices.discovery.k8s.io",
     {"kind": "EndpointSlice", "metadata": meta("web-abc12", "shop", labels={
         "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io", "kubernetes.io/service-name": "web"})}, (), "endpointslice"),
    ("hand-made endpoint slice", "endpointslices.discovery.k8s.io",
     {"kind": "EndpointSlice", "metadata": meta("external-db", "shop", labels={"kubernetes.io/service-name": "external-db"})}, (), None),
    ("controller-made endpoints", "endpoints",
     {"kind": "Endpoints", "metadata": meta("web", "shop", annotations={
         "endpoints.kubernetes.io/last-change-trigger-time": "2026-11-26T13:46:57Z"})}, (), "endpoints controller"),
    ("hand-made endpoints of a selector-less service", "endpoints", {"kind": "Endpoints", "metadata": meta("external-db", "shop")}, (), None),
]


# (owner apiVersion, owner kind, owned group/resource, recreated by Kubernetes' own controller)
CONTROLLER_PAIRS = [
    ("apps/v1", "Deployment", "replicasets.apps", True),
    ("apps/v1", "ReplicaSet", "pods", True),
    ("v1", "ReplicationController", "pods", True),
    ("apps/v1", "StatefulSet", "pods", True),
    ("apps/v1", "StatefulSet", "controllerrevisions.apps", True),
    ("apps/v1", "DaemonSet", "pods", True),
    ("apps/v1", "DaemonSet", "controllerrevisions.apps", True),
    ("batch/v1", "Job", "pods", True),
    ("batch/v1", "CronJob", "jobs.batch", True),
    ("v1", "Service", "endpoints", True),
    ("v1", "Service", "endpointslices.discovery.k8s.io", True),
    ("v1", "Endpoints", "endpointslices.discovery.k8s.io", True),
    ("v1", "Pod", "resourceclaims.resource.k8s.io", True),
    # Kubernetes' controllers make none of these from the owner.
    ("cert-manager.io/v1", "Certificate", "secrets", False),
    ("example.com/v1", "Database", "pods", False),
    ("example.com/v1", "Database", "configmaps", False),
    ("monitoring.coreos.com/v1", "Prometheus", "statefulsets.apps", False),
    ("apps/v1", "Deployment", "pods", False),
    ("apps/v1", "Deployment", "configmaps", False),
    ("apps/v1", "StatefulSet", "persistentvolumeclaims", False),
    ("batch/v1", "CronJob", "pods", False),
    ("v1", "Pod", "persistentvolumeclaims", False),
    # Same kind in another API group: not the built-in controller.
    ("example.com/v1", "ReplicaSet", "pods", False),
    ("v1", "Deployment", "replicasets.apps", False),
]


@pytest.mark.parametrize("api_version, kind, group_resource, recreated", CONTROLLER_PAIRS,
                         ids=["%s %s -> %s" % (case[0], case[1], case[2]) for case in CONTROLLER_PAIRS])
def test_recreated_by_controller_only_for_kubernetes_own_pairs(api_version, kind, group_resource, recreated):
    reference = {"apiVersion": api_version, "kind": kind, "name": "owner", "uid": "owner-uid", "controller": True}
    assert recreated_by_controller(group_resource, reference) is recreated
    obj = {"kind": "Thing", "metadata": meta("owned", "shop", ownerReferences=[reference])}
    reason = skip_reason(group_resource, obj, {"owner-uid"})
    assert (reason is not None and "controlled by %s owner" % kind in reason) is recreated
    if not recreated:
        assert reason is None


def test_a_tls_secret_controlled_by_a_certificate_is_restored():
    certificate = owner("Certificate", "web-tls", "cert-uid", api_version="cert-manager.io/v1")
    secret = {"kind": "Secret", "type": "kubernetes.io/tls", "metadata": meta("web-tls", "shop", ownerReferences=certificate),
              "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}
    assert skip_reason("secrets", secret, {"cert-uid"}) is None


def test_a_delete_pv_needs_reprovisioning_a_retained_one_does_not():
    # The restore engine decides PVs with this and the backup's snapshots, so skip_reason leaves them alone.
    assert needs_reprovisioning(volume("Delete")) and not needs_reprovisioning(volume("Retain"))
    assert skip_reason("persistentvolumes", volume("Delete"), set()) is None


@pytest.mark.parametrize("group_resource,obj,restored_uids,expected",
                         [case[1:] for case in SKIP_CASES], ids=[case[0] for case in SKIP_CASES])
def test_skip_reason(group_resource, obj, restored_uids, expected):
    reason = skip_reason(group_resource, obj, set(restored_uids))
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def test_endpoints_of_a_restored_service_with_selector_are_skipped():
    endpoints = {"kind": "Endpoints", "metadata": meta("web", "shop")}
    assert skip_reason("endpoints", endpoints, set(), services_with_selector={("shop", "web")})
    assert skip_reason("endpoints", endpoints, set(), services_with_selector={("payments", "web")}) is None


def test_restored_uid_set_leaves_out_objects_skipped_for_their_own_sake():
    done_job = migrate_job(completionTime="2026-11-26T13:46:57Z")
    job_pod = dict(web_pod("Running"), metadata=meta("migrate-db-kjvkg", "shop", ownerReferences=owner("Job", "migrate-db", JOB_UID, "batch/v1")))
    replica_set = {"kind": "ReplicaSet", "metadata": meta("web-5fd48b75f8", "shop", uid=RS_UID, ownerReferences=owner("Deployment", "web", DEPLOY_UID))}
    deployment = {"kind": "Deployment", "metadata": meta("web", "shop", uid=DEPLOY_UID)}
    items = [("jobs.batch", done_job), ("pods", job_pod), ("replicasets.apps", replica_set),
             ("deployments.apps", deployment), ("pods", web_pod())]
    uids = restored_uid_set(items)
    assert JOB_UID not in uids and {DEPLOY_UID, RS_UID} <= uids
    # The still-running pod of a finished job is restored; the ReplicaSet's pod and the ReplicaSet are not.
    assert skip_reason("pods", job_pod, uids) is None
    assert skip_reason("pods", web_pod(), uids)
    assert skip_reason("replicasets.apps", replica_set, uids)


# ------------------------------------------------------------------ sanitize: metadata and status

def test_sanitize_drops_server_owned_metadata_and_status_and_keeps_owner_references():
    pod = web_pod()
    before = copy.deepcopy(pod)
    result = sanitize("pods", pod, context())
    assert pod == before, "the input must not be modified"
    assert set(result["metadata"]) == {"name", "namespace", "labels", "ownerReferences"}
    assert "status" not in result


@pytest.mark.parametrize("restore_status,annotation,kept", [
    ([], None, False),
    (["volumesnapshotcontents.snapshot.storage.k8s.io"], None, True),
    (["*.snapshot.storage.k8s.io"], None, True),
    (["volumesnapshotcontents.snapshot.storage.k8s.io"], "false", False),
    ([], "True", True),
    ([], "maybe", False),
])
def test_status_is_kept_only_where_asked(restore_status, annotation, kept):
    content = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent", "metadata": meta("snapcontent-1"),
               "spec": {"driver": "ebs.csi.aws.com", "deletionPolicy": "Retain"},
               "status": {"readyToUse": True, "snapshotHandle": "snap-0123"}}
    if annotation is not None:
        content["metadata"]["annotations"] = {"velero.io/restore-status": annotation}
    result = sanitize("volumesnapshotcontents.snapshot.storage.k8s.io", content, context(restore_status=restore_status))
    assert ("status" in result) == kept
    if kept:
        assert result["status"] == content["status"]


# ------------------------------------------------------------------ sanitize: Services

SERVICE_CASES = [
    # name, service, preserve_nodeports, expected ports' nodePort (None: dropped), expected clusterIP
    ("auto-assigned nodePort (last-applied without it) is dropped",
     service("web-nodeport", nodeport_spec(), last_applied({"type": "NodePort", "ports": [{"name": "http", "port": 80}]})),
     False, [None], None),
    ("nodePort set in last-applied is kept",
     service("web-nodeport", nodeport_spec(), last_applied({"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]})),
     False, [30080], None),
    ("unnamed port: kept when its number was applied",
     service("web-nodeport", nodeport_spec(name=None), last_applied({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})),
     False, [30080], None),
    ("unnamed port: dropped when another number was applied",
     service("web-nodeport", nodeport_spec(name=None), last_applied({"type": "NodePort", "ports": [{"port": 80, "nodePort": 31000}]})),
     False, [None], None),
    ("no last-applied: managedFields owning f:nodePort keep it",
     service("web-nodeport", nodeport_spec(), managed_fields=[{"manager": "kubectl-create", "fieldsType": "FieldsV1", "fieldsV1": {
         "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:nodePort": {}, "f:port": {}}}}}}]),
     False, [30080], None),
    ("no last-applied: managedFields without f:nodePort drop it",
     service("web-nodeport", nodeport_spec(), managed_fields=[{"manager": "kubectl-create", "fieldsType": "FieldsV1", "fieldsV1": {
         "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}}]),
     False, [None], None),
    ("preserve_nodeports keeps an auto-assigned one",
     service("web-lb", nodeport_spec(30000, service_type="LoadBalancer"), last_applied({"type": "LoadBalancer", "ports": [{"port": 80}]})),
     True, [30000], None),
    ("headless service keeps clusterIP None",
     service("db", {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"name": "postgres", "port": 5432, "protocol": "TCP"}],
                    "selector": {"app": "db"}, "type": "ClusterIP"}), False, [None], "None"),
]


@pytest.mark.parametrize("svc,preserve,node_ports,cluster_ip", [case[1:] for case in SERVICE_CASES], ids=[case[0] for case in SERVICE_CASES])
def test_sanitize_service(svc, preserve, node_ports, cluster_ip):
    result = sanitize("services", svc, context(preserve_nodeports=preserve))
    assert [port.get("nodePort") for port in result["spec"]["ports"]] == node_ports
    assert result["spec"].get("clusterIP") == cluster_ip
    assert ("clusterIPs" in result["spec"]) == (cluster_ip == "None")
    assert "status" not in result and "managedFields" not in result["metadata"]


@pytest.mark.parametrize("applied_spec,expected", [
    ({"type": "LoadBalancer", "externalTrafficPolicy": "Local"}, None),
    ({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}, 32000),
])
def test_health_check_node_port_is_kept_only_when_set_by_the_user(applied_spec, expected):
    spec = dict(nodeport_spec(30000, service_type="LoadBalancer"), externalTrafficPolicy="Local", healthCheckNodePort=32000)
    result = sanitize("services", service("web-lb", spec, last_applied(applied_spec)), context())
    assert result["spec"].get("healthCheckNodePort") == expected


def test_external_name_service_is_left_alone():
    svc = service("legacy", {"type": "ExternalName", "externalName": "db.example.com"})
    assert sanitize("services", svc, context())["spec"] == {"type": "ExternalName", "externalName": "db.example.com"}


# ------------------------------------------------------------------ sanitize: Pods, claims, volumes, Jobs, accounts, secrets

def test_sanitize_pod_drops_node_binding_and_the_injected_token_volume():
    pod = web_pod()
    pod["spec"]["ephemeralContainers"] = [{"name": "debugger", "image": "busybox:1.36", "targetContainerName": "nginx"}]
    pod["spec"]["volumes"].append({"name": "kube-api-access-custom", "configMap": {"name": "web-config"}})  # a user's, not projected
    spec = sanitize("pods", pod, context())["spec"]
    assert "nodeName" not in spec and "priority" not in spec and "ephemeralContainers" not in spec
    assert [volume["name"] for volume in spec["volumes"]] == ["tls", "kube-api-access-custom"]
    assert spec["containers"][0]["volumeMounts"] == [{"mountPath": "/etc/nginx/tls", "name": "tls", "readOnly": True}]
    assert "volumeMounts" not in spec["initContainers"][0]


def test_sanitize_pod_drops_legacy_secret_token_volume_of_its_service_account():
    pod = web_pod()
    pod["spec"]["volumes"] = [{"name": "web-token-x8f2k", "secret": {"secretName": "web-token-x8f2k"}},
                              {"name": "db-token-cache", "secret": {"secretName": "db-token-cache"}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "web-token-x8f2k", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
    spec = sanitize("pods", pod, context())["spec"]
    assert spec["volumes"] == [{"name": "db-token-cache", "secret": {"secretName": "db-token-cache"}}]
    assert "volumeMounts" not in spec["containers"][0]


@pytest.mark.parametrize("reprovisioned,volume_name", [
    (set(), "pvc-64ff61d7-b3ac-413a-9a20-bae1ec324b4c"),
    ({"pvc-64ff61d7-b3ac-413a-9a20-bae1ec324b4c"}, None),
    ({"pvc-other"}, "pvc-64ff61d7-b3ac-413a-9a20-bae1ec324b4c"),
])
def test_sanitize_claim(reprovisioned, volume_name):
    result = sanitize("persistentvolumeclaims", claim(), context(reprovisioned_pv_names=reprovisioned))
    assert result["metadata"]["annotations"] == {"team": "db"}
    assert result["spec"].get("volumeName") == volume_name
    assert result["spec"]["storageClassName"] == "standard" and "status" not in result


@pytest.mark.parametrize("restored_pv_names,volume_name", [
    ({"pvc-64ff61d7-b3ac-413a-9a20-bae1ec324b4c"}, "pvc-64ff61d7-b3ac-413a-9a20-bae1ec324b4c"),
    (set(), None),  # the PV is not restored: the claim provisions a new volume instead of waiting for it
    ({"payments-ledger-pv"}, None),
])
def test_sanitize_claim_with_the_restored_pv_names(restored_pv_names, volume_name):
    result = sanitize("persistentvolumeclaims", claim(), context(), restored_pv_names=restored_pv_names)
    assert result["spec"].get("volumeName") == volume_name


def test_sanitize_claim_without_annotations_left_loses_the_key():
    pvc = claim()
    del pvc["metadata"]["annotations"]["team"]
    assert "annotations" not in sanitize("persistentvolumeclaims", pvc, context())["metadata"]


def test_sanitize_volume_unbinds_the_claim_reference():
    result = sanitize("persistentvolumes", volume(), context())
    assert result["spec"]["claimRef"] == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "ledger", "namespace": "payments"}
    assert "annotations" not in result["metadata"] and "status" not in result
    assert result["spec"]["csi"]["volumeHandle"] == "vol-0a1b2c3d4e5f67890"


def test_sanitize_running_job_removes_controller_uid_labels_and_generated_selector():
    result = sanitize("jobs.batch", migrate_job(), context())
    assert "selector" not in result["spec"]
    assert result["spec"]["template"]["metadata"]["labels"] == {
        "app": "migrate-db", "batch.kubernetes.io/job-name": "migrate-db", "job-name": "migrate-db"}
    assert result["metadata"]["labels"] == {"app": "migrate-db"}


def test_sanitize_job_with_manual_selector_keeps_the_user_selector():
    job = migrate_job()
    job["spec"]["manualSelector"] = True
    job["spec"]["selector"] = {"matchLabels": {"app": "migrate-db", "controller-uid": JOB_UID}}
    assert sanitize("jobs.batch", job, context())["spec"]["selector"] == {"matchLabels": {"app": "migrate-db"}}


def test_sanitize_service_account_drops_its_auto_token_secret_reference():
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("web", "shop"),
               "secrets": [{"name": "web-token-x8f2k"}, {"name": "web-extra"}], "imagePullSecrets": [{"name": "regcred"}]}
    result = sanitize("serviceaccounts", account, context())
    assert result["secrets"] == [{"name": "web-extra"}] and result["imagePullSecrets"] == [{"name": "regcred"}]


def test_sanitize_hand_made_token_secret_leaves_the_token_to_the_controller():
    result = sanitize("secrets", token_secret("ci-deployer-token"), context())
    assert result["data"] == {"namespace": "c2hvcA=="}
    assert result["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "web"}


# ------------------------------------------------------------------ restore labels

def test_restore_labels_keep_short_names_and_existing_labels():
    pod = web_pod()
    result = restore_labels(pod, "nightly", "nightly-20260101000000")
    assert result["metadata"]["labels"] == {"app": "web", "pod-template-hash": "5fd48b75f8",
                                            "velero.io/backup-name": "nightly", "velero.io/restore-name": "nightly-20260101000000"}
    assert "velero.io/backup-name" not in pod["metadata"]["labels"]


def test_restore_labels_on_an_object_without_labels():
    result = restore_labels({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}}, "b", "r")
    assert result["metadata"]["labels"] == {"velero.io/backup-name": "b", "velero.io/restore-name": "r"}


@pytest.mark.parametrize("length", [62, 63, 64, 200])
def test_label_values_are_hashed_like_velero(length):
    name = ("payments-ledger-weekly-full-backup-" * 8)[:length]
    value = valid_label_value(name)
    if length <= 63:
        assert value == name
    else:
        assert value == name[:57] + hashlib.sha256(name.encode()).hexdigest()[:6]
        assert len(value) == 63

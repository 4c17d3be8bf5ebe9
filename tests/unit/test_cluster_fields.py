# -*- coding: utf-8 -*-
"""cluster_fields.with_cluster_assigned: the backed-up object plus only what the cluster assigned to the live one."""

import copy

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.cluster_fields import strip_server_fields, with_cluster_assigned, without_restore_labels


def service(ports, service_type="LoadBalancer", **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-lb", "namespace": "shop"},
            "spec": dict({"type": service_type, "selector": {"app": "web"}, "ports": ports}, **spec)}


LIVE_SERVICE = service([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http", "nodePort": 31234}],
                       clusterIP="10.96.0.40", clusterIPs=["10.96.0.40"], ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack",
                       internalTrafficPolicy="Cluster")


def claim(**spec):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "uploads", "namespace": "shop"},
            "spec": dict({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}, **spec)}


def pod(**spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": "shop"},
            "spec": dict({"containers": [{"name": "c", "image": "busybox"}]}, **spec)}


TOKEN_VOLUME = {"name": "kube-api-access-x7k2p", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
TOKEN_MOUNT = {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}

# (case, group/resource, desired, live, expected after: None = desired unchanged)
CASES = [
    ("auto-assigned node port and cluster IPs are the live ones", "services",
     service([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}], ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack",
             internalTrafficPolicy="Cluster"),
     LIVE_SERVICE, LIVE_SERVICE),
    ("an explicit node port is the backup's", "services",
     service([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http", "nodePort": 30080}]),
     LIVE_SERVICE,
     service([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http", "nodePort": 30080}], clusterIP="10.96.0.40",
             clusterIPs=["10.96.0.40"], ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack", internalTrafficPolicy="Cluster")),
    ("a port the live service lacks gets none", "services",
     service([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}], clusterIP="10.96.0.40", clusterIPs=["10.96.0.40"],
             ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack", internalTrafficPolicy="Cluster"),
     LIVE_SERVICE, None),
    ("a ClusterIP service has no node ports to keep", "services",
     service([{"port": 80, "protocol": "TCP"}], service_type="ClusterIP"),
     service([{"port": 80, "protocol": "TCP", "nodePort": 30001}], service_type="NodePort", clusterIP="10.96.0.9"),
     service([{"port": 80, "protocol": "TCP"}], service_type="ClusterIP", clusterIP="10.96.0.9")),
    ("headless stays headless", "services",
     service([{"port": 5432, "protocol": "TCP"}], service_type="ClusterIP", clusterIP="None", clusterIPs=["None"]),
     service([{"port": 5432, "protocol": "TCP"}], service_type="ClusterIP", clusterIP="10.96.0.9", clusterIPs=["10.96.0.9"]), None),
    ("a bound claim keeps its volume, class and mode", "persistentvolumeclaims",
     claim(), claim(volumeName="pvc-1", storageClassName="standard", volumeMode="Filesystem"),
     claim(volumeName="pvc-1", storageClassName="standard", volumeMode="Filesystem")),
    ("a claim's class in the backup is the backup's", "persistentvolumeclaims",
     claim(storageClassName="gp3"), claim(volumeName="pvc-1", storageClassName="standard"), claim(storageClassName="gp3", volumeName="pvc-1")),
    ("a pod keeps its node, priority and injected token volume", "pods",
     pod(serviceAccountName="default"),
     dict(pod(serviceAccountName="default", nodeName="node-1", priority=0, volumes=[TOKEN_VOLUME]),
          spec=dict(pod()["spec"], serviceAccountName="default", nodeName="node-1", priority=0, volumes=[TOKEN_VOLUME],
                    containers=[{"name": "c", "image": "busybox", "volumeMounts": [TOKEN_MOUNT]}])),
     dict(pod(), spec=dict(pod()["spec"], serviceAccountName="default", nodeName="node-1", priority=0, volumes=[TOKEN_VOLUME],
                           containers=[{"name": "c", "image": "busybox", "volumeMounts": [TOKEN_MOUNT]}]))),
    ("a running job keeps its generated selector and controller-uid labels", "jobs.batch",
     {"kind": "Job", "metadata": {"name": "migrate", "labels": {"app": "migrate"}},
      "spec": {"template": {"metadata": {"labels": {"app": "migrate", "job-name": "migrate"}}}}},
     {"kind": "Job", "metadata": {"name": "migrate", "labels": {"app": "migrate", "controller-uid": "u2"}},
      "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u2"}},
               "template": {"metadata": {"labels": {"app": "migrate", "job-name": "migrate", "batch.kubernetes.io/controller-uid": "u2",
                                                    "controller-uid": "u2"}}}}},
     {"kind": "Job", "metadata": {"name": "migrate", "labels": {"app": "migrate", "controller-uid": "u2"}},
      "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u2"}},
               "template": {"metadata": {"labels": {"app": "migrate", "job-name": "migrate", "batch.kubernetes.io/controller-uid": "u2",
                                                    "controller-uid": "u2"}}}}}),
    ("finalizers a controller added stay; the backup's are added", "configmaps",
     {"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["example.com/backup"]}, "data": {"a": "1"}},
     {"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["kubernetes.io/pvc-protection"]}, "data": {"a": "1", "later": "2"}},
     {"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["kubernetes.io/pvc-protection", "example.com/backup"]}, "data": {"a": "1"}}),
    ("controllers' annotations and labels are the live ones, the user's the backup's", "deployments.apps",
     {"kind": "Deployment", "metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "7", "note": "backup"}}},
     {"kind": "Deployment", "metadata": {"name": "web", "labels": {"hotfix": "true"},
                                         "annotations": {"deployment.kubernetes.io/revision": "1", "note": "live", "added": "later"}}},
     {"kind": "Deployment", "metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "1", "note": "backup"}}}),
    ("a namespace keeps its name label", "namespaces",
     {"kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "web"}}},
     {"kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "web", "kubernetes.io/metadata.name": "shop"}}},
     {"kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "web", "kubernetes.io/metadata.name": "shop"}}}),
    ("a token secret keeps what the token controller filled in", "secrets",
     {"kind": "Secret", "type": "kubernetes.io/service-account-token", "metadata": {"name": "ci-token"}, "data": {"namespace": "c2hvcA=="}},
     {"kind": "Secret", "type": "kubernetes.io/service-account-token",
      "metadata": {"name": "ci-token", "annotations": {"kubernetes.io/service-account.uid": "u9"}},
      "data": {"namespace": "c2hvcA==", "token": "dG9r", "ca.crt": "Y2E="}},
     {"kind": "Secret", "type": "kubernetes.io/service-account-token",
      "metadata": {"name": "ci-token", "annotations": {"kubernetes.io/service-account.uid": "u9"}},
      "data": {"namespace": "c2hvcA==", "token": "dG9r", "ca.crt": "Y2E="}}),
    ("an opaque secret's values are the backup's", "secrets",
     {"kind": "Secret", "type": "Opaque", "metadata": {"name": "db"}, "data": {"password": "b2xk"}},
     {"kind": "Secret", "type": "Opaque", "metadata": {"name": "db"}, "data": {"password": "bmV3", "token": "dG9r"}}, None),
]


@pytest.mark.parametrize("group_resource, desired, live, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_with_cluster_assigned(group_resource, desired, live, expected):
    original = copy.deepcopy(desired)
    after = with_cluster_assigned(group_resource, desired, live)
    assert after == (original if expected is None else expected)
    assert desired == original  # the input is left alone


def test_server_fields_and_restore_labels_are_not_compared():
    live = {"metadata": {"name": "x", "uid": "u", "resourceVersion": "9", "labels": {"a": "b", "velero.io/restore-name": "r1"}},
            "status": {"phase": "Active"}}
    assert without_restore_labels(strip_server_fields(live)) == {"metadata": {"name": "x", "labels": {"a": "b"}}}
    assert live["metadata"]["uid"] == "u" and live["metadata"]["labels"]["velero.io/restore-name"] == "r1"

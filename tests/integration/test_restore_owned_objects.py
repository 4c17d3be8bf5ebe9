"""Owned objects through backup.yml, a lost namespace and restore.yml: only what Kubernetes' own controllers recreate is left to them."""

import base64
import json
import os
import time

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError, KubeClient, connection_options

pytestmark = pytest.mark.integration

CERTIFICATES = "/apis/cert-manager.io/v1/namespaces/shop/certificates"
# cert-manager's Certificate CRD, cut down to what the API needs to serve it.
CERTIFICATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "certificates.cert-manager.io", "labels": {"app.kubernetes.io/name": "cert-manager"}},
    "spec": {"group": "cert-manager.io", "scope": "Namespaced",
             "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate", "listKind": "CertificateList",
                       "shortNames": ["cert", "certs"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def client_for(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


def wait_until_served(client, path, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.request("GET", path)
        except ApiError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def controller_reference(owner):
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def test_a_certificate_controlled_tls_secret_round_trips_with_its_key(sample_cluster, run_playbook, tmp_path):
    client = client_for(sample_cluster)
    client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=CERTIFICATE_CRD)
    wait_until_served(client, CERTIFICATES)
    certificate = client.request("POST", CERTIFICATES, body={
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "shop-tls", "namespace": "shop"},
        "spec": {"secretName": "shop-tls", "dnsNames": ["shop.example.com"], "issuerRef": {"name": "ca-issuer", "kind": "ClusterIssuer"}}})
    # What cert-manager with --enable-certificate-owner-ref writes: the key pair, controlled by the Certificate.
    tls = {"tls.crt": base64.b64encode(b"-----BEGIN CERTIFICATE-----\n" + os.urandom(600) + b"\n-----END CERTIFICATE-----\n").decode(),
           "tls.key": base64.b64encode(b"-----BEGIN PRIVATE KEY-----\n" + os.urandom(1200) + b"\n-----END PRIVATE KEY-----\n").decode(),
           "ca.crt": base64.b64encode(os.urandom(300)).decode()}
    client.request("POST", "/api/v1/namespaces/shop/secrets", body={
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": tls,
        "metadata": {"name": "shop-tls", "namespace": "shop", "annotations": {"cert-manager.io/certificate-name": "shop-tls"},
                     "ownerReferences": [controller_reference(certificate)]}})
    # An operator's pod: its custom resource is no controller of Kubernetes', so the pod is restored, not left to it.
    coupon = client.request("GET", "/apis/shop.example.com/v1/namespaces/shop/coupons/welcome10")
    client.request("POST", "/api/v1/namespaces/shop/pods", body={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "coupon-worker", "namespace": "shop", "labels": {"app": "coupon-worker"},
                                                        "ownerReferences": [controller_reference(coupon)]},
        "spec": {"containers": [{"name": "worker", "image": "registry.example.com/shop/coupon-worker:2.0"}]}})
    sample_cluster.control.settle(30)
    replica_set_pods = {p["metadata"]["name"] for p in client.request("GET", "/api/v1/namespaces/shop/pods")["items"]
                        if any(ref["kind"] == "ReplicaSet" for ref in p["metadata"].get("ownerReferences") or [])}
    assert replica_set_pods
    location = tmp_path / "location"
    env = sample_cluster.env()
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % location, "-e", "backup_name=with-certificates")
    sample_cluster.lose_namespaces("shop")

    run_playbook("playbooks/restore.yml", env, "-e", "restore_location=%s" % location, "-e", "backup=with-certificates",
                 "-e", "restore_name=certificates-back")

    new_certificate = client.request("GET", CERTIFICATES + "/shop-tls")
    secret = client.request("GET", "/api/v1/namespaces/shop/secrets/shop-tls")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["data"] == tls  # the same private key: nothing a restored CA signed stops validating
    assert new_certificate["metadata"]["uid"] != certificate["metadata"]["uid"]
    assert [(ref["kind"], ref["name"], ref["uid"], ref.get("controller")) for ref in secret["metadata"]["ownerReferences"]] == \
        [("Certificate", "shop-tls", new_certificate["metadata"]["uid"], True)]
    worker = client.request("GET", "/api/v1/namespaces/shop/pods/coupon-worker")
    new_coupon = client.request("GET", "/apis/shop.example.com/v1/namespaces/shop/coupons/welcome10")
    assert [ref["uid"] for ref in worker["metadata"]["ownerReferences"]] == [new_coupon["metadata"]["uid"]]
    # The ReplicaSets' pods were left to their (restored) ReplicaSets, which made new ones.
    sample_cluster.control.settle(30)
    pods_now = {p["metadata"]["name"] for p in client.request("GET", "/api/v1/namespaces/shop/pods")["items"]}
    assert not replica_set_pods & pods_now
    report = json.loads((location / "restores" / "certificates-back" / "restore-certificates-back-report.json").read_text())
    skipped = {o["name"]: o["reason"] for o in report["objects"] if o["group_resource"] == "pods" and o["action"] == "skip"}
    assert all(skipped[name].startswith("controlled by ReplicaSet") for name in replica_set_pods), skipped
    assert "coupon-worker" not in skipped
    assert report["phase"] == "Completed", report["errors"]

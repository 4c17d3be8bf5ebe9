"""Refused requests leave kept-alive connections usable, and kube-apiserver's size limits apply."""

import http.client
import json
from urllib.parse import urlsplit

import pytest

CRD = {
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def _connection(cluster):
    address = urlsplit(cluster.url)
    return http.client.HTTPConnection(address.hostname, address.port, timeout=30)


def _send(connection, method, path, body=b"", content_type="application/json"):
    connection.request(method, path, body=body, headers={"Content-Type": content_type, "Accept": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read()), response


@pytest.mark.parametrize("method, path, content_type", [
    ("PATCH", "/apis/example.com/v1/namespaces/default/widgets/w", "application/strategic-merge-patch+json"),
    ("PATCH", "/apis/example.com/v1/namespaces/default/widgets/w", "application/apply-patch+yaml"),
    ("POST", "/apis/example.com/v1/namespaces/default/nothings", "application/json"),
])
def test_refused_request_body_is_consumed_on_a_kept_alive_connection(cluster, api, method, path, content_type):
    assert api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)[0] == 201
    assert api.post("/apis/example.com/v1/namespaces/default/widgets", {"metadata": {"name": "w"}, "spec": {"size": 1}})[0] == 201
    connection = _connection(cluster)
    body = json.dumps({"metadata": {"name": "w"}, "spec": {"size": 2, "padding": "x" * 4000}}).encode()
    code, status, _ = _send(connection, method, path, body, content_type)
    assert code in (404, 415, 422) and status["kind"] == "Status"
    # The same connection answers the next request, not the leftover body.
    code, widget, _ = _send(connection, "GET", "/apis/example.com/v1/namespaces/default/widgets/w")
    assert code == 200 and widget["spec"] == {"size": 1}
    connection.close()


def test_request_body_over_3_mib_is_refused_with_413(cluster, api):
    connection = _connection(cluster)
    body = json.dumps({"metadata": {"name": "big"}, "data": {"blob": "x" * (3 * 1024 * 1024)}}).encode()
    code, status, _ = _send(connection, "POST", "/api/v1/namespaces/default/configmaps", body)
    assert code == 413 and status["reason"] == "RequestEntityTooLarge"
    assert status["message"] == "Request entity too large: limit is 3145728"
    # The body was drained: the connection answers the next request.
    code, _, _ = _send(connection, "GET", "/api/v1/namespaces/default")
    assert code == 200
    connection.close()
    assert api.get("/api/v1/namespaces/default/configmaps/big")[0] == 404


def test_annotations_over_256_kib_are_invalid(api):
    big = {"kubectl.kubernetes.io/last-applied-configuration": "x" * 262144}
    code, status, _ = api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "annotated", "annotations": big}})
    assert code == 422 and status["reason"] == "Invalid"
    assert status["message"] == 'ConfigMap "annotated" is invalid: metadata.annotations: Too long: must have at most 262144 bytes'
    assert status["details"]["causes"] == [{"reason": "FieldValueTooLong", "message": "Too long: must have at most 262144 bytes",
                                            "field": "metadata.annotations"}]
    # Just under the limit (keys count too) is accepted, and an update over it is refused.
    key = "kubectl.kubernetes.io/last-applied-configuration"
    fits = {key: "x" * (262144 - len(key))}
    assert api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "annotated", "annotations": fits}})[0] == 201
    code, _, _ = api.patch("/api/v1/namespaces/default/configmaps/annotated", {"metadata": {"annotations": {"a": "b"}}})
    assert code == 422


def test_objects_over_etcds_request_limit_are_refused(api):
    assert api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)[0] == 201
    code, status, _ = api.post("/apis/example.com/v1/namespaces/default/widgets",
                               {"metadata": {"name": "huge"}, "spec": {"blob": "x" * (1024 * 1024 + 600 * 1024)}})
    assert code == 500 and status["message"] == "etcdserver: request is too large"
    assert api.get("/apis/example.com/v1/namespaces/default/widgets/huge")[0] == 404
    assert api.post("/apis/example.com/v1/namespaces/default/widgets",
                    {"metadata": {"name": "large"}, "spec": {"blob": "x" * (1024 * 1024)}})[0] == 201

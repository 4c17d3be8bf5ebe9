"""The Gateway API's HTTPRoute as a CustomResourceDefinition (it is not built into Kubernetes), for clone tests."""

HTTPROUTE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "httproutes.gateway.networking.k8s.io"},
    "spec": {
        "group": "gateway.networking.k8s.io", "scope": "Namespaced",
        "names": {"plural": "httproutes", "singular": "httproute", "kind": "HTTPRoute", "listKind": "HTTPRouteList"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}


def install_httproute(client, namespace, name, hostnames):
    """Create the CRD (when missing) and one HTTPRoute with ``hostnames``."""
    existing = [crd["metadata"]["name"] for crd in client.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]]
    if HTTPROUTE_CRD["metadata"]["name"] not in existing:
        client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=HTTPROUTE_CRD)
    return client.request("POST", "/apis/gateway.networking.k8s.io/v1/namespaces/%s/httproutes" % namespace, body={
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": name, "namespace": namespace},
        "spec": {"parentRefs": [{"name": "public"}], "hostnames": list(hostnames),
                 "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}})

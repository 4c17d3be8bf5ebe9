"""/openapi/v2 (JSON and gnostic protobuf) and /openapi/v3 publish the schemas of built-in kinds and CRDs."""

import json
import urllib.request

from kubesim import protobuf

V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}


def _get(cluster, path, accept):
    request = urllib.request.Request(cluster.url + path, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.headers["Content-Type"], response.read()


def _gvks(schema):
    return schema.get("x-kubernetes-group-version-kind") or []


def test_v3_group_version_documents_hold_the_kinds_schemas_and_what_they_reference(cluster, api):
    code, document, _ = api.get("/openapi/v3/apis/apps/v1")
    assert code == 200
    schemas = document["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert _gvks(deployment) == [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    assert deployment["properties"]["spec"] == {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}
    assert deployment["properties"]["metadata"] == {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    spec = schemas["io.k8s.api.apps.v1.DeploymentSpec"]
    assert set(spec["required"]) == {"selector", "template"} and spec["properties"]["replicas"]["type"] == "integer"
    assert "Number of desired pods" in spec["properties"]["replicas"]["description"]
    container = schemas["io.k8s.api.core.v1.Container"]  # referenced from another group's package
    assert container["properties"]["ports"]["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.ContainerPort"}
    assert schemas["io.k8s.api.apps.v1.RollingUpdateDeployment"]["properties"]["maxSurge"]["format"] == "int-or-string"
    assert "io.k8s.api.core.v1.ConfigMap" not in schemas  # another group-version's kind


def test_custom_resources_are_published_from_their_crd_schema(api):
    assert api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)[0] == 201
    code, document, _ = api.get("/openapi/v3/apis/example.com/v1")
    schemas = document["components"]["schemas"]
    gadget = schemas["com.example.v1.Gadget"]
    assert _gvks(gadget) == [{"group": "example.com", "version": "v1", "kind": "Gadget"}]
    assert gadget["properties"]["spec"]["properties"]["size"] == {"type": "integer"}
    assert gadget["properties"]["metadata"]["$ref"].endswith("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas


def test_v2_is_served_as_json_and_as_the_protobuf_kubectl_unmarshals(cluster, api):
    api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    content_type, raw = _get(cluster, "/openapi/v2", "application/json")
    document = json.loads(raw)
    assert content_type == "application/json" and document["swagger"] == "2.0"
    assert _gvks(document["definitions"]["io.k8s.api.core.v1.ConfigMap"]) == [{"group": "", "version": "v1", "kind": "ConfigMap"}]
    assert "com.example.v1.Gadget" in document["definitions"]
    content_type, raw = _get(cluster, "/openapi/v2", V2_PROTOBUF + ", application/json")
    assert content_type == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    top = {number: value for number, _, value in protobuf.fields(raw)}
    assert top[1] == b"2.0"
    named = [dict((number, value) for number, _, value in protobuf.fields(entry)) for _, _, entry in protobuf.fields(top[9])]
    schemas = {entry[1].decode(): entry[2] for entry in named}
    assert set(schemas) == set(document["definitions"])
    config_map = {number: value for number, _, value in protobuf.fields(schemas["io.k8s.api.core.v1.ConfigMap"])}
    extension = {number: value for number, _, value in protobuf.fields(config_map[31])}  # vendor_extension: NamedAny
    assert extension[1] == b"x-kubernetes-group-version-kind"
    yaml_text = {number: value for number, _, value in protobuf.fields(extension[2])}[2]
    assert json.loads(yaml_text) == [{"group": "", "version": "v1", "kind": "ConfigMap"}]


def test_v2_custom_resource_schemas_are_made_structural_for_kubectl(api):
    crd = json.loads(json.dumps(CRD))
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"].update({
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"known": {"type": "string"}}},
        "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "note": {"type": "string", "nullable": True}})
    api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    gadget = api.get("/openapi/v2")[1]["definitions"]["com.example.v1.Gadget"]["properties"]
    assert gadget["config"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert gadget["port"] == {"x-kubernetes-int-or-string": True} and gadget["note"] == {}
    v3 = api.get("/openapi/v3/apis/example.com/v1")[1]["components"]["schemas"]["com.example.v1.Gadget"]["properties"]
    assert v3["port"]["anyOf"] and v3["config"]["properties"] == {"known": {"type": "string"}}

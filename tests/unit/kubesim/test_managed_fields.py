"""managedFields are written for create, update and patch, per manager, in kube-apiserver's FieldsV1 shape."""

import re

KUBECTL_AGENT = {"User-Agent": "kubectl/v1.32.4 (linux/amd64) kubernetes/2f1f5b9"}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def _deployment():
    return {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}}


def _entries(obj):
    return {(entry["manager"], entry["operation"], entry.get("subresource")): entry for entry in obj["metadata"]["managedFields"]}


def test_create_records_the_manager_and_every_field_it_set(cluster, api):
    cluster.control.configure(controllers=False)
    code, created, _ = api.post(DEPLOYMENTS + "?fieldManager=kubectl-create", _deployment())
    assert code == 201
    [entry] = created["metadata"]["managedFields"]
    assert {key: entry[key] for key in ("manager", "operation", "apiVersion", "fieldsType")} == {
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", entry["time"])
    fields = entry["fieldsV1"]
    # Server-set metadata is never tracked; a map the write added carries ".".
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    spec = fields["f:spec"]
    # Defaulted fields belong to the creator; the atomic selector is one leaf; a struct of the zero value has no ".".
    assert spec["f:replicas"] == {} and spec["f:revisionHistoryLimit"] == {} and spec["f:selector"] == {}
    assert spec["f:strategy"] == {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}}
    container = spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert container["."] == {} and container["f:image"] == {} and container["f:imagePullPolicy"] == {}
    assert container["f:ports"] == {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}, "f:protocol": {}}}


def test_manager_comes_from_the_user_agent_and_patches_take_over_changed_fields(cluster, api):
    cluster.control.configure(controllers=False)
    api.post(DEPLOYMENTS + "?fieldManager=kubectl-create", _deployment())
    code, patched, _ = api.patch(DEPLOYMENTS + "/web", {"spec": {"replicas": 3}}, headers=KUBECTL_AGENT)
    assert code == 200
    entries = _entries(patched)
    assert entries[("kubectl", "Update", None)]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries[("kubectl-create", "Update", None)]["fieldsV1"]["f:spec"]
    # A second write by the same manager keeps one entry, adding to it.
    code, patched, _ = api.patch(DEPLOYMENTS + "/web", {"metadata": {"labels": {"tier": "front"}}}, headers=KUBECTL_AGENT)
    entries = _entries(patched)
    assert [key for key in entries if key[0] == "kubectl"] == [("kubectl", "Update", None)]
    assert entries[("kubectl", "Update", None)]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:tier": {}}}, "f:spec": {"f:replicas": {}}}
    # Removing a field takes it from its owner.
    code, patched, _ = api.patch(DEPLOYMENTS + "/web?fieldManager=cleanup", {"metadata": {"labels": {"tier": None}}})
    assert "f:tier" not in str(_entries(patched)[("kubectl", "Update", None)]["fieldsV1"])


def test_put_of_an_unchanged_object_keeps_managed_fields_and_resource_version(cluster, api):
    cluster.control.configure(controllers=False)
    _, created, _ = api.post(DEPLOYMENTS, _deployment(), headers=KUBECTL_AGENT)
    code, replaced, _ = api.put(DEPLOYMENTS + "/web?fieldManager=other", created)
    assert code == 200 and replaced["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert replaced["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_status_writes_are_recorded_with_their_subresource(cluster, api):
    cluster.control.configure(controllers=False)
    api.post(DEPLOYMENTS, _deployment(), headers=KUBECTL_AGENT)
    code, updated, _ = api.patch(DEPLOYMENTS + "/web/status?fieldManager=my-controller", {"status": {"replicas": 1}})
    assert code == 200
    entry = _entries(updated)[("my-controller", "Update", "status")]
    assert entry["subresource"] == "status" and entry["fieldsV1"] == {"f:status": {"f:replicas": {}}}


def test_controllers_write_as_kube_controller_manager(cluster, api):
    api.post(DEPLOYMENTS, _deployment(), headers=KUBECTL_AGENT)
    cluster.control.settle()
    _, pods, _ = api.get("/api/v1/namespaces/default/pods")
    managers = {entry["manager"] for entry in pods["items"][0]["metadata"]["managedFields"]}
    assert {"kube-controller-manager", "kubelet"} <= managers
    _, deployment, _ = api.get(DEPLOYMENTS + "/web")
    assert ("kube-controller-manager", "Update", "status") in _entries(deployment)


def test_explicit_service_node_ports_are_owned_by_the_client_and_allocated_ones_by_nobody(api):
    code, service, _ = api.post("/api/v1/namespaces/default/services?fieldManager=kubectl-create", {
        "metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"name": "fixed", "port": 80, "nodePort": 30080}, {"name": "any", "port": 81}]}})
    assert code == 201
    ports = _entries(service)[("kubectl-create", "Update", None)]["fieldsV1"]["f:spec"]["f:ports"]
    assert "f:nodePort" in ports['k:{"port":80,"protocol":"TCP"}'] and "f:nodePort" not in ports['k:{"port":81,"protocol":"TCP"}']
    assert all(port["nodePort"] for port in service["spec"]["ports"])
    assert "f:clusterIP" not in _entries(service)[("kubectl-create", "Update", None)]["fieldsV1"]["f:spec"]


def test_custom_resources_spec_node_is_added(api):
    code, _, _ = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})
    assert code == 201
    _, widget, _ = api.post("/apis/example.com/v1/namespaces/default/widgets", {"metadata": {"name": "w"}, "spec": {"size": 1}}, headers=KUBECTL_AGENT)
    assert widget["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {".": {}, "f:size": {}}}


def test_nodes_have_a_spec(api):
    _, node, _ = api.get("/api/v1/nodes/kubesim-node-1")
    assert node["spec"] == {}
    code, created, _ = api.post("/api/v1/nodes", {"metadata": {"name": "worker-2"}, "status": {"capacity": {"cpu": "4"}}})
    assert code == 201 and created["spec"] == {}

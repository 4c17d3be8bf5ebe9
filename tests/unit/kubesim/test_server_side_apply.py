"""Server-side apply: creation, per-manager ownership, conflicts, force, and removal of fields no longer applied."""

import json

APPLY = "application/apply-patch+yaml"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _deployment(replicas=2, env=(("A", "1"), ("B", "2")), labels=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels or {"app": "web"}}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
             "env": [{"name": name, "value": value} for name, value in env]}]}}}}


def _apply(api, path, body, manager="kubectl", force=False):
    query = "?fieldManager=%s%s" % (manager, "&force=true" if force else "") if manager else ""
    return api.patch(path + query, body, content_type=APPLY)


def _managers(obj):
    return {(entry["manager"], entry["operation"]): entry["fieldsV1"] for entry in obj["metadata"].get("managedFields") or []}


def test_apply_creates_the_object_with_an_apply_entry_and_defaults(cluster, api):
    cluster.control.configure(controllers=False)
    code, created, _ = _apply(api, DEPLOYMENTS + "/web", _deployment())
    assert code == 201
    assert created["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted as any write
    [entry] = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("kubectl", "Apply", "apps/v1")
    spec = entry["fieldsV1"]["f:spec"]
    # The applier owns what it sent, not the defaults, and no "." on the maps leading there.
    assert "f:strategy" not in spec and "." not in spec and spec["f:selector"] == {}
    container = spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert container["f:ports"] == {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}
    assert set(container["f:env"]) == {'k:{"name":"A"}', 'k:{"name":"B"}'}


def test_reapplying_the_same_configuration_is_a_no_op(cluster, api):
    cluster.control.configure(controllers=False)
    _, created, _ = _apply(api, DEPLOYMENTS + "/web", _deployment())
    code, again, _ = _apply(api, DEPLOYMENTS + "/web", _deployment())
    assert code == 200 and again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_a_field_another_manager_set_differently_conflicts_unless_forced(cluster, api):
    cluster.control.configure(controllers=False)
    _apply(api, DEPLOYMENTS + "/web", _deployment())
    api.patch(DEPLOYMENTS + "/web?fieldManager=scaler", {"spec": {"replicas": 5}})
    code, status, _ = _apply(api, DEPLOYMENTS + "/web", _deployment(replicas=3))
    assert code == 409 and status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "scaler" using apps/v1: .spec.replicas'
    assert status["details"]["causes"] == [{"type": "FieldManagerConflict", "message": 'conflict with "scaler" using apps/v1',
                                            "field": ".spec.replicas"}]
    assert api.get(DEPLOYMENTS + "/web")[1]["spec"]["replicas"] == 5
    # The same value is shared ownership, not a conflict.
    code, shared, _ = _apply(api, DEPLOYMENTS + "/web", _deployment(replicas=5))
    assert code == 200 and "f:replicas" in _managers(shared)[("scaler", "Update")]["f:spec"]
    code, forced, _ = _apply(api, DEPLOYMENTS + "/web", _deployment(replicas=3), force=True)
    assert code == 200 and forced["spec"]["replicas"] == 3
    assert ("scaler", "Update") not in _managers(forced)  # its only field moved to the applier


def test_two_appliers_conflict_with_the_apply_manager_named_without_version(cluster, api):
    cluster.control.configure(controllers=False)
    _apply(api, CONFIGMAPS + "/settings", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}})
    code, status, _ = _apply(api, CONFIGMAPS + "/settings", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                                                             "data": {"a": "2", "b": "2"}}, manager="helm")
    assert code == 409 and status["message"] == 'Apply failed with 1 conflict: conflict with "kubectl": .data.a'


def test_fields_no_longer_applied_are_removed_unless_another_manager_owns_them(cluster, api):
    cluster.control.configure(controllers=False)
    _apply(api, DEPLOYMENTS + "/web", _deployment(labels={"app": "web", "tier": "front", "team": "a"}))
    # Another manager takes a label over by changing it.
    api.patch(DEPLOYMENTS + "/web?fieldManager=labeller", {"metadata": {"labels": {"team": "b"}}})
    code, applied, _ = _apply(api, DEPLOYMENTS + "/web", _deployment(env=(("A", "1"),), labels={"app": "web"}))
    assert code == 200
    assert applied["metadata"]["labels"] == {"app": "web", "team": "b"}  # tier dropped, team kept by its owner
    assert applied["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    # replicas left out: removed, then defaulted again as on any write.
    code, applied, _ = _apply(api, DEPLOYMENTS + "/web", {k: v for k, v in _deployment(env=(("A", "1"),)).items()} | {
        "spec": {key: value for key, value in _deployment(env=(("A", "1"),))["spec"].items() if key != "replicas"}})
    assert code == 200 and applied["spec"]["replicas"] == 1


def test_keyed_lists_merge_item_by_item_and_atomic_lists_are_replaced(cluster, api):
    cluster.control.configure(controllers=False)
    _apply(api, DEPLOYMENTS + "/web", _deployment())
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox", "args": ["sleep", "1"]}]}}}}
    code, merged, _ = _apply(api, DEPLOYMENTS + "/web", sidecar, manager="injector")
    assert code == 200
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["nginx", "sidecar"]
    sidecar["spec"]["template"]["spec"]["containers"][0]["args"] = ["sleep", "2"]
    code, merged, _ = _apply(api, DEPLOYMENTS + "/web", sidecar, manager="injector")
    assert merged["spec"]["template"]["spec"]["containers"][1]["args"] == ["sleep", "2"]


def test_custom_resources_are_applied_too(cluster, api):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    assert _apply(api, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com", crd)[0] == 201
    path = "/apis/example.com/v1/namespaces/default/gadgets/g1"
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {"size": 2, "color": "red"}}
    assert _apply(api, path, gadget)[0] == 201
    code, applied, _ = _apply(api, path, dict(gadget, spec={"size": 2}))
    assert code == 200 and applied["spec"] == {"size": 2}


def test_malformed_apply_requests_are_refused_as_kube_apiserver_does(cluster, api):
    code, status, _ = _apply(api, CONFIGMAPS + "/x", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, manager=None)
    assert code == 422 and "fieldManager: Required value: is required for apply patch" in status["message"]
    code, status, _ = _apply(api, CONFIGMAPS + "/x", {"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert code == 400 and status["message"].startswith("Incorrect version specified in apply patch")
    code, status, _ = api.patch(CONFIGMAPS + "/x?fieldManager=m", b"kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: x\ndata:\n  a: yaml\n",
                                content_type=APPLY)
    assert code == 201 and status["data"] == {"a": "yaml"}  # YAML bodies are read
    assert api.get(CONFIGMAPS + "/x")[0] == 200


def test_kubectl_takes_over_what_its_client_side_apply_set_and_keeps_the_annotation_in_step(cluster, api):
    cluster.control.configure(controllers=False)
    last_applied = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}, "data": {"a": "1"}}
    client_side = dict(last_applied, metadata=dict(last_applied["metadata"], annotations={
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last_applied) + "\n"}))
    api.post(CONFIGMAPS + "?fieldManager=kubectl-client-side-apply", client_side)
    api.patch(CONFIGMAPS + "/settings?fieldManager=editor", {"data": {"b": "2"}})
    changed = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "3", "b": "3"}}
    # Another applier conflicts with the client-side apply manager; a field another manager set conflicts for kubectl too.
    assert _apply(api, CONFIGMAPS + "/settings", changed, manager="helm")[0] == 409
    code, status, _ = _apply(api, CONFIGMAPS + "/settings", changed)
    assert code == 409 and status["message"] == 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.b'
    code, applied, _ = _apply(api, CONFIGMAPS + "/settings", dict(changed, data={"a": "3"}))
    assert code == 200 and applied["data"] == {"a": "3", "b": "2"}
    annotation = applied["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(annotation) == dict(changed, data={"a": "3"})


def test_status_is_applied_through_the_status_subresource_only(cluster, api):
    cluster.control.configure(controllers=False)
    _apply(api, DEPLOYMENTS + "/web", _deployment())
    status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 9},
              "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]}}
    code, applied, _ = _apply(api, DEPLOYMENTS + "/web/status", status, manager="my-controller")
    assert code == 200 and applied["status"]["replicas"] == 2 and applied["spec"]["replicas"] == 2  # spec untouched
    entries = {(e["manager"], e["operation"], e.get("subresource")): e["fieldsV1"] for e in applied["metadata"]["managedFields"]}
    assert entries[("my-controller", "Apply", "status")] == {"f:status": {
        "f:conditions": {'k:{"type":"Available"}': {".": {}, "f:status": {}, "f:type": {}}}, "f:replicas": {}}}
    status["status"] = {"replicas": 2}
    code, applied, _ = _apply(api, DEPLOYMENTS + "/web/status", status, manager="my-controller")
    assert code == 200 and "conditions" not in applied["status"]
    assert _apply(api, DEPLOYMENTS + "/absent/status", dict(status, metadata={"name": "absent"}), manager="my-controller")[0] == 404

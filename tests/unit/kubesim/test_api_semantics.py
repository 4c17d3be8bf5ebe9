"""kube-apiserver semantics of the emulator, over real HTTP, each checked where a naive store would differ."""

import threading
import json
import time

import pytest

CM = "/api/v1/namespaces/default/configmaps"


def configmap(name, data=None, labels=None, namespace=None):
    metadata = {"name": name}
    if labels:
        metadata["labels"] = labels
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {"k": "v"}}


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# ----------------------------------------------------------------------------- discovery

def test_version_and_legacy_discovery(api):
    code, version, _ = api.get("/version")
    assert code == 200 and version["major"] == "1" and version["gitVersion"].startswith("v1.")
    code, core, _ = api.get("/api")
    assert core["kind"] == "APIVersions" and core["versions"] == ["v1"]
    code, resources, _ = api.get("/api/v1")
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["pods"]["namespaced"] and not by_name["namespaces"]["namespaced"]
    assert by_name["pods"]["shortNames"] == ["po"] and "all" in by_name["pods"]["categories"]
    assert "pods/exec" in by_name and "pods/status" in by_name
    assert set(by_name["configmaps"]["verbs"]) >= {"create", "delete", "get", "list", "patch", "update", "watch"}


def test_multi_version_group_prefers_newest_stable(api):
    _, group, _ = api.get("/apis/autoscaling")
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]
    assert group["preferredVersion"]["version"] == "v2"
    _, groups, _ = api.get("/apis")
    names = {g["name"] for g in groups["groups"]}
    assert {"apps", "batch", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} <= names
    assert all(not g["preferredVersion"]["version"].count("alpha") for g in groups["groups"])


def test_same_object_served_at_every_version_of_its_group(api):
    hpa = {"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                                                 "minReplicas": 1, "maxReplicas": 3}}
    code, created, _ = api.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", hpa)
    assert code == 201 and created["apiVersion"] == "autoscaling/v2"
    _, via_v1, _ = api.get("/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web")
    assert via_v1["apiVersion"] == "autoscaling/v1" and via_v1["metadata"]["uid"] == created["metadata"]["uid"]


def test_aggregated_discovery(api):
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, body, headers = api.get("/apis", headers={"Accept": accept})
    assert code == 200 and headers["Content-Type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    apps = next(item for item in body["items"] if item["metadata"]["name"] == "apps")
    deployments = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deployments["scope"] == "Namespaced" and deployments["responseKind"]["kind"] == "Deployment"
    assert {s["subresource"] for s in deployments["subresources"]} >= {"status", "scale"}
    _, core, _ = api.get("/api", headers={"Accept": accept})
    assert [item["metadata"]["name"] for item in core["items"]] == [""]


# ----------------------------------------------------------------------------- CRDs

def crd(plural="widgets", group="example.com", scope="Namespaced", status=True):
    version = {"name": "v1", "served": True, "storage": True,
               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    if status:
        version["subresources"] = {"status": {}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "scope": scope, "names": {"plural": plural, "singular": plural[:-1], "kind": plural[:-1].capitalize()},
                     "versions": [version]}}


def test_crd_is_served_at_once_and_its_deletion_removes_objects(api):
    code, created, _ = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd())
    assert code == 201
    assert any(c["type"] == "Established" and c["status"] == "True" for c in created["status"]["conditions"])
    _, group, _ = api.get("/apis/example.com/v1")
    assert group["resources"][0]["name"] == "widgets"
    code, _, _ = api.post("/apis/example.com/v1/namespaces/default/widgets", {"apiVersion": "example.com/v1", "kind": "Widget",
                                                                              "metadata": {"name": "w1"}, "spec": {"size": 3}})
    assert code == 201
    code, _, _ = api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert code == 200
    code, _, _ = api.get("/apis/example.com/v1/namespaces/default/widgets")
    assert code == 404
    # Re-creating the CRD must not resurrect the old objects.
    api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd())
    _, listed, _ = api.get("/apis/example.com/v1/namespaces/default/widgets")
    assert listed["items"] == []


def test_custom_resources_reject_strategic_merge_patch(api):
    api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd())
    api.post("/apis/example.com/v1/namespaces/default/widgets", {"metadata": {"name": "w1"}, "spec": {"size": 3}})
    code, status, _ = api.patch("/apis/example.com/v1/namespaces/default/widgets/w1", {"spec": {"size": 4}},
                                content_type="application/strategic-merge-patch+json")
    assert code == 415 and status["reason"] == "UnsupportedMediaType"
    code, patched, _ = api.patch("/apis/example.com/v1/namespaces/default/widgets/w1", {"spec": {"size": 4}})
    assert code == 200 and patched["spec"]["size"] == 4 and patched["metadata"]["generation"] == 2


# ----------------------------------------------------------------------------- object lifecycle

def test_server_sets_identity_and_a_global_increasing_resource_version(api):
    _, first, _ = api.post(CM, configmap("a"))
    _, second, _ = api.post("/api/v1/namespaces/kube-public/configmaps", configmap("b"))
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert first["metadata"]["creationTimestamp"].endswith("Z")
    _, listed, _ = api.get("/api/v1/configmaps")
    assert int(listed["metadata"]["resourceVersion"]) >= int(second["metadata"]["resourceVersion"])


def test_generation_bumps_on_spec_change_only(api):
    deployment = {"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                                                        "template": {"metadata": {"labels": {"app": "web"}},
                                                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    _, created, _ = api.post("/apis/apps/v1/namespaces/default/deployments", deployment)
    assert created["metadata"]["generation"] == 1
    _, labelled, _ = api.patch("/apis/apps/v1/namespaces/default/deployments/web", {"metadata": {"labels": {"x": "y"}}})
    assert labelled["metadata"]["generation"] == 1
    _, scaled, _ = api.patch("/apis/apps/v1/namespaces/default/deployments/web", {"spec": {"replicas": 3}})
    assert scaled["metadata"]["generation"] == 2


def test_generate_name(api):
    code, created, _ = api.post(CM, {"metadata": {"generateName": "job-"}, "data": {}})
    assert code == 201 and created["metadata"]["name"].startswith("job-") and len(created["metadata"]["name"]) == 9


def test_create_conflicts_and_invalid_requests(api):
    assert api.post(CM, configmap("a"))[0] == 201
    code, status, _ = api.post(CM, configmap("a"))
    assert (code, status["reason"], status["details"]) == (409, "AlreadyExists", {"name": "a", "kind": "configmaps"})
    assert status["message"] == 'configmaps "a" already exists'
    with_rv = configmap("b")
    with_rv["metadata"]["resourceVersion"] = "12"
    code, status, _ = api.post(CM, with_rv)
    assert code == 422 and status["reason"] == "Invalid" and status["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    code, status, _ = api.post(CM, {"metadata": {}, "data": {}})
    assert code == 422 and "name or generateName is required" in status["message"]
    code, status, _ = api.post(CM, configmap("c", namespace="kube-system"))
    assert code == 400 and "does not match the namespace" in status["message"]
    code, status, _ = api.post(CM, configmap("Bad_Name"))
    assert code == 422 and status["details"]["causes"][0]["field"] == "metadata.name"


def test_stale_resource_version_on_update_conflicts(api):
    _, created, _ = api.post(CM, configmap("a"))
    created["data"] = {"k": "v2"}
    code, updated, _ = api.put(CM + "/a", created)
    assert code == 200 and updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    created["data"] = {"k": "v3"}  # still carries the old resourceVersion
    code, status, _ = api.put(CM + "/a", created)
    assert code == 409 and status["reason"] == "Conflict" and "the object has been modified" in status["message"]
    code, status, _ = api.put(CM + "/b", configmap("a"))
    assert code in (400, 404)


def test_no_op_update_keeps_resource_version(api):
    _, created, _ = api.post(CM, configmap("a"))
    _, same, _ = api.patch(CM + "/a", {"data": {"k": "v"}})
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_not_found_status_shapes(api):
    code, status, _ = api.get(CM + "/missing")
    assert code == 404 and status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": 'configmaps "missing" not found', "reason": "NotFound",
                                      "details": {"name": "missing", "kind": "configmaps"}, "code": 404}
    code, status, _ = api.get("/apis/apps/v1/namespaces/default/deployments/missing")
    assert status["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}
    assert status["message"] == 'deployments.apps "missing" not found'
    code, status, _ = api.get("/apis/nothing.example.com/v1/things")
    assert code == 404 and status["reason"] == "NotFound"


def test_namespaced_create_needs_an_active_namespace(cluster, api):
    code, status, _ = api.post("/api/v1/namespaces/nowhere/configmaps", configmap("a"))
    assert code == 404 and status["details"] == {"name": "nowhere", "kind": "namespaces"}
    api.post("/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    api.post("/api/v1/namespaces/doomed/configmaps", configmap("keep"))
    cluster.control.configure(garbage_collection=False)
    code, terminating, _ = api.delete("/api/v1/namespaces/doomed")
    assert code == 200 and terminating["status"]["phase"] == "Terminating"
    code, status, _ = api.post("/api/v1/namespaces/doomed/configmaps", configmap("late"))
    assert code == 403 and "being terminated" in status["message"]
    cluster.control.configure(garbage_collection=True)
    assert wait_for(lambda: api.get("/api/v1/namespaces/doomed")[0] == 404)
    assert api.get("/api/v1/namespaces/doomed/configmaps/keep")[0] == 404


def test_status_subresource(cluster, api):
    cluster.control.configure(controllers=False)  # no controller may write status meanwhile
    deployment = {"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                                                        "template": {"metadata": {"labels": {"app": "web"}},
                                                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
                  "status": {"replicas": 42}}
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    _, created, _ = api.post("/apis/apps/v1/namespaces/default/deployments", deployment)
    assert created.get("status", {}).get("replicas") != 42  # create ignores status
    _, current, _ = api.get(path)
    current["status"] = {"replicas": 7}
    current["spec"]["replicas"] = 5
    _, via_status, _ = api.put(path + "/status", current)
    assert via_status["status"]["replicas"] == 7 and via_status["spec"]["replicas"] == 1  # /status writes only status
    via_status["status"] = {"replicas": 99}
    via_status["spec"]["replicas"] = 2
    _, via_main, _ = api.put(path, via_status)
    assert via_main["spec"]["replicas"] == 2 and via_main["status"]["replicas"] == 7  # main resource ignores status


# ----------------------------------------------------------------------------- verbs

def test_patch_types(api):
    api.post("/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "image": "nginx:1", "env": [{"name": "X", "value": "1"}]}, {"name": "b", "image": "redis:1"}]}})
    path = "/api/v1/namespaces/default/pods/p"
    _, merged, _ = api.patch(path, {"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}}, content_type="application/strategic-merge-patch+json")
    assert [(c["name"], c["image"]) for c in merged["spec"]["containers"]] == [("a", "nginx:2"), ("b", "redis:1")]
    assert merged["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}]
    _, replaced, _ = api.patch(path, {"spec": {"containers": [{"name": "a", "image": "nginx:3"}]}}, content_type="application/merge-patch+json")
    assert [c["name"] for c in replaced["spec"]["containers"]] == ["a"]
    _, json_patched, _ = api.patch(path, [{"op": "add", "path": "/metadata/labels", "value": {"l": "1"}}], content_type="application/json-patch+json")
    assert json_patched["metadata"]["labels"] == {"l": "1"}
    code, status, _ = api.patch(path, [{"op": "test", "path": "/metadata/labels/l", "value": "2"}], content_type="application/json-patch+json")
    assert code == 422
    code, status, _ = api.patch(path, b"metadata: {}", content_type="application/apply-patch+yaml")
    assert code == 422 and "fieldManager: Required value" in status["message"]  # server-side apply: tests/unit/kubesim/test_server_side_apply.py


def test_delete_and_deletecollection(api):
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        api.post(CM, configmap(name, labels={"tier": tier}))
    code, gone, _ = api.delete(CM + "/c")
    assert code == 200 and gone["metadata"]["name"] == "c"
    assert api.get(CM + "/c")[0] == 404
    code, deleted, _ = api.delete(CM + "?labelSelector=tier%3Dweb")
    assert code == 200 and sorted(item["metadata"]["name"] for item in deleted["items"]) == ["a", "b"]
    _, rest, _ = api.get(CM)
    assert [item["metadata"]["name"] for item in rest["items"]] == ["kube-root-ca.crt"]


def test_list_across_namespaces_with_selectors(api):
    api.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    api.post(CM, configmap("a", labels={"app": "web", "tier": "front"}))
    api.post("/api/v1/namespaces/other/configmaps", configmap("b", labels={"app": "web"}))
    api.post("/api/v1/namespaces/other/configmaps", configmap("c", labels={"app": "db"}))

    def names(query):
        code, body, _ = api.get("/api/v1/configmaps?" + query)
        assert code == 200, body
        return sorted(item["metadata"]["name"] for item in body["items"])
    assert names("labelSelector=app%3Dweb") == ["a", "b"]
    assert names("labelSelector=app%3D%3Dweb,tier") == ["a"]
    assert names("labelSelector=app!%3Dweb,app") == ["c"]
    assert names("labelSelector=app+in+(web,db)") == ["a", "b", "c"]
    assert names("labelSelector=app+notin+(web),app") == ["c"]
    assert names("labelSelector=!tier,app") == ["b", "c"]
    assert names("fieldSelector=metadata.namespace%3Dother,metadata.name!%3Dkube-root-ca.crt") == ["b", "c"]
    assert names("fieldSelector=metadata.name%3Da") == ["a"]
    code, status, _ = api.get("/api/v1/configmaps?fieldSelector=data.k%3Dv")
    assert code == 400 and "not a known field selector" in status["message"]


def test_pod_field_selector_on_phase(cluster, api):
    cluster.control.configure(controllers=False)
    api.post("/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "nginx"}]}})
    _, pending, _ = api.get("/api/v1/pods?fieldSelector=status.phase%3DPending")
    assert [p["metadata"]["name"] for p in pending["items"]] == ["p"]
    _, running, _ = api.get("/api/v1/pods?fieldSelector=status.phase%3DRunning")
    assert running["items"] == []


def test_pagination_reads_a_consistent_snapshot(api):
    for index in range(7):
        api.post(CM, configmap("cm-%d" % index))
    _, first, _ = api.get(CM + "?limit=3")
    assert len(first["items"]) == 3 and first["metadata"]["remainingItemCount"] == 5
    api.post(CM, configmap("cm-9-added-later"))
    api.delete(CM + "/cm-6")
    names = [item["metadata"]["name"] for item in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        _, page, _ = api.get(CM + "?limit=3&continue=" + token)
        names += [item["metadata"]["name"] for item in page["items"]]
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        token = page["metadata"].get("continue")
    assert names == sorted(["cm-%d" % i for i in range(7)] + ["kube-root-ca.crt"])


def test_stale_continue_token_is_expired(cluster, api):
    for index in range(4):
        api.post(CM, configmap("cm-%d" % index))
    _, first, _ = api.get(CM + "?limit=2")
    cluster.control.compact()
    code, status, _ = api.get(CM + "?limit=2&continue=" + first["metadata"]["continue"])
    assert code == 410 and status["reason"] == "Expired"


def test_compact_fault_expires_the_continue_token_of_a_list_under_way(cluster, api):
    """A "compact" fault on the second continued page: the store answers 410 Expired as kube-apiserver does after a compaction."""
    for index in range(7):
        api.post(CM, configmap("cm-%d" % index))
    cluster.control.add_fault(action="compact", verbs=["list"], resources=["configmaps"], continued=True, after=1, count=1)
    _, first, _ = api.get(CM + "?limit=2")  # a first page: not matched (continued=True)
    code, second, _ = api.get(CM + "?limit=2&continue=" + first["metadata"]["continue"])
    assert code == 200  # the first continued page is skipped (after=1)
    code, status, _ = api.get(CM + "?limit=2&continue=" + second["metadata"]["continue"])
    assert code == 410
    assert (status["kind"], status["status"], status["reason"], status["code"]) == ("Status", "Failure", "Expired", 410)
    assert status["message"].startswith("The provided continue parameter is too old to display a consistent list result.")
    # Its one shot is used: a new LIST runs to its end.
    names, token = [], None
    while True:
        _, page, _ = api.get(CM + "?limit=2" + ("&continue=" + token if token else ""))
        names += [item["metadata"]["name"] for item in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == sorted(["cm-%d" % i for i in range(7)] + ["kube-root-ca.crt"])


def test_watch_streams_changes_after_a_resource_version(api):
    _, created, _ = api.post(CM, configmap("a"))
    api.patch(CM + "/a", {"data": {"k": "changed"}})
    api.delete(CM + "/a")
    code, raw, _ = api.get(CM + "?watch=true&timeoutSeconds=1&resourceVersion=" + created["metadata"]["resourceVersion"])
    events = [line for line in raw.decode().splitlines() if line]
    assert code == 200 and [json.loads(e)["type"] for e in events] == ["MODIFIED", "DELETED"]


# ----------------------------------------------------------------------------- namespaces and GC

def test_system_namespaces_and_per_namespace_defaults(api):
    _, namespaces, _ = api.get("/api/v1/namespaces")
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= {n["metadata"]["name"] for n in namespaces["items"]}
    api.post("/api/v1/namespaces", {"metadata": {"name": "fresh"}})
    assert api.get("/api/v1/namespaces/fresh/serviceaccounts/default")[0] == 200
    _, root_ca, _ = api.get("/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt")
    assert "ca.crt" in root_ca["data"]


def _owned_configmap(name, owner, controller=True):
    obj = configmap(name)
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                           "uid": owner["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True}]
    return obj


def test_background_garbage_collection(api):
    _, owner, _ = api.post(CM, configmap("owner"))
    api.post(CM, _owned_configmap("child", owner))
    _, other_owner, _ = api.post(CM, configmap("other-owner"))
    shared = _owned_configmap("shared", owner)
    shared["metadata"]["ownerReferences"].append({"apiVersion": "v1", "kind": "ConfigMap", "name": "other-owner",
                                                  "uid": other_owner["metadata"]["uid"]})
    api.post(CM, shared)
    api.delete(CM + "/owner")
    assert wait_for(lambda: api.get(CM + "/child")[0] == 404)
    _, survivor, _ = api.get(CM + "/shared")  # still has a living owner: only the dangling reference goes
    assert wait_for(lambda: [r["name"] for r in api.get(CM + "/shared")[1]["metadata"]["ownerReferences"]] == ["other-owner"])
    assert survivor["metadata"]["name"] == "shared"


def test_foreground_and_orphan_propagation(api):
    _, owner, _ = api.post(CM, configmap("owner"))
    api.post(CM, _owned_configmap("child", owner))
    code, terminating, _ = api.delete(CM + "/owner", {"propagationPolicy": "Foreground"})
    assert code == 200 and "foregroundDeletion" in terminating["metadata"]["finalizers"]
    assert wait_for(lambda: api.get(CM + "/owner")[0] == 404)
    assert api.get(CM + "/child")[0] == 404
    _, owner, _ = api.post(CM, configmap("owner2"))
    api.post(CM, _owned_configmap("orphan", owner))
    api.delete(CM + "/owner2?propagationPolicy=Orphan")
    assert wait_for(lambda: api.get(CM + "/owner2")[0] == 404)
    _, orphan, _ = api.get(CM + "/orphan")
    assert "ownerReferences" not in orphan["metadata"]


# ----------------------------------------------------------------------------- services

def service(name, spec):
    return {"metadata": {"name": name}, "spec": dict({"ports": [{"port": 80}]}, **spec)}


def test_service_cluster_ip_and_node_port_allocation(api):
    path = "/api/v1/namespaces/default/services"
    _, first, _ = api.post(path, service("a", {}))
    _, second, _ = api.post(path, service("b", {}))
    assert first["spec"]["clusterIP"] != second["spec"]["clusterIP"]
    assert first["spec"]["clusterIP"].startswith("10.") and first["spec"]["clusterIPs"] == [first["spec"]["clusterIP"]]
    code, status, _ = api.post(path, service("c", {"clusterIP": first["spec"]["clusterIP"]}))
    assert code == 422 and "already allocated" in status["message"]
    _, headless, _ = api.post(path, service("h", {"clusterIP": "None"}))
    assert headless["spec"]["clusterIP"] == "None"
    _, node_port, _ = api.post(path, service("np", {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}, {"port": 81}]}))
    assigned = [p["nodePort"] for p in node_port["spec"]["ports"]]
    assert assigned[0] == 30080 and 30000 <= assigned[1] <= 32767 and assigned[1] != 30080
    code, status, _ = api.post(path, service("np2", {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}))
    assert code == 422 and status["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    _, lb, _ = api.post(path, service("lb", {"type": "LoadBalancer"}))
    assert lb["spec"]["ports"][0]["nodePort"]
    # A deleted service frees its cluster IP for reuse.
    api.delete(path + "/a")
    assert api.post(path, service("c", {"clusterIP": first["spec"]["clusterIP"]}))[0] == 201


def test_cluster_ip_is_immutable(api):
    path = "/api/v1/namespaces/default/services"
    _, created, _ = api.post(path, service("a", {}))
    created["spec"]["clusterIP"] = "10.96.200.200"
    created["spec"]["clusterIPs"] = ["10.96.200.200"]
    code, status, _ = api.put(path + "/a", created)
    assert code == 422 and "may not change once set" in status["message"]


def test_secret_string_data_is_folded_into_data(api):
    code, secret, _ = api.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}})
    assert code == 201 and secret["data"] == {"password": "aHVudGVyMg=="} and "stringData" not in secret and secret["type"] == "Opaque"


# ----------------------------------------------------------------------------- faults and audit

def test_injected_faults(cluster, api):
    cluster.control.add_fault(action="status", status=429, retry_after=2, verbs=["list"], resources=["configmaps"], count=1)
    code, status, headers = api.get(CM)
    assert code == 429 and headers["Retry-After"] == "2" and status["reason"] == "TooManyRequests"
    assert api.get(CM)[0] == 200  # the count is used up
    cluster.control.add_fault(action="status", status=503, verbs=["get"], count=1)
    assert api.get(CM + "/kube-root-ca.crt")[0] == 503
    cluster.control.add_fault(action="latency", seconds=0.3, verbs=["list"], count=1)
    started = time.monotonic()
    assert api.get(CM)[0] == 200 and time.monotonic() - started >= 0.3
    cluster.control.add_fault(action="drop", verbs=["list"], count=1)
    with pytest.raises(Exception):
        api.get(CM)
    assert api.get(CM)[0] == 200


def test_audit_log_records_every_request(cluster, api):
    cluster.control.clear_audit()
    api.get(CM)
    api.post(CM, configmap("a"))
    api.patch(CM + "/a", {"data": {"x": "y"}})
    records = cluster.control.audit()
    assert [(r["verb"], r["resource"], r["code"]) for r in records] == [("list", "configmaps", 200), ("create", "configmaps", 201),
                                                                       ("patch", "configmaps", 200)]


def test_unauthorized_without_the_token(kubesim_factory, raw_api):
    secured = raw_api(kubesim_factory(token="s3cret").url)
    code, status, _ = secured.get("/api/v1/namespaces")
    assert code == 401 and status["reason"] == "Unauthorized"
    code, _, _ = secured.get("/api/v1/namespaces", headers={"Authorization": "Bearer s3cret"})
    assert code == 200


def test_seed_and_dump_round_trip(cluster, kubesim_factory):
    cluster.control.seed([configmap("seeded", namespace="brand-new")])
    dumped = [o for o in cluster.control.dump() if o["metadata"].get("namespace") == "brand-new" and o["kind"] == "ConfigMap"]
    assert {o["metadata"]["name"] for o in dumped} == {"seeded", "kube-root-ca.crt"}
    other = kubesim_factory()
    other.control.seed([o for o in dumped if o["metadata"]["name"] == "seeded"])
    assert [o["data"] for o in other.control.dump() if o["metadata"]["name"] == "seeded"] == [{"k": "v"}]


def test_the_audit_log_holds_every_answer_a_client_already_read():
    """A handler appends its record after writing the answer: a reader must still find an answer that was sent."""
    from kubesim.faults import AuditLog  # pylint: disable=import-outside-toplevel
    audit = AuditLog()
    seq = audit.answering()
    recorder = threading.Timer(0.3, lambda: audit.record("list", "GET", "/api/v1/configmaps", "u", 200, seq=seq))
    recorder.start()
    try:
        assert [record["seq"] for record in audit.records()] == [seq]
    finally:
        recorder.join()


def test_clearing_the_audit_log_also_forgets_answers_still_being_recorded():
    from kubesim.faults import AuditLog  # pylint: disable=import-outside-toplevel
    audit = AuditLog()
    seq = audit.answering()
    recorder = threading.Timer(0.3, lambda: audit.record("create", "POST", "/api/v1/configmaps", "u", 201, seq=seq))
    recorder.start()
    try:
        audit.clear()
        assert audit.records() == []
    finally:
        recorder.join()

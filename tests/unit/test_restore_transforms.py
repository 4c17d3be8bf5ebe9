# -*- coding: utf-8 -*-
"""restore_transforms: namespace / storage class / registry mappings and resource modifiers."""

import copy

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.rules import RestoreContext, transform
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.transforms import (
    ModifierError, apply_merge_patch, apply_strategic_merge_patch, map_image, parse_patch_value)


def context(**options):
    return RestoreContext("nightly", "nightly-20260101000000", **options)


def web_deployment():
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "frontend"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web", "tier": "frontend"}},
            "spec": {
                "containers": [
                    {"name": "nginx", "image": "nginx:1.27.2", "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                     "env": [{"name": "NGINX_ENTRYPOINT_QUIET_LOGS", "value": "1"}],
                     "volumeMounts": [{"mountPath": "/etc/nginx/conf.d/default.conf", "name": "config", "subPath": "nginx.conf"},
                                      {"mountPath": "/etc/nginx/tls", "name": "tls", "readOnly": True}]},
                    {"name": "app", "image": "registry.example.com/shop/web-app:1.4.2", "args": ["--port", "9000"],
                     "ports": [{"containerPort": 9000, "name": "app", "protocol": "TCP"}],
                     "env": [{"name": "DB_HOST", "value": "db-0.db.shop.svc.cluster.local"},
                             {"name": "APP_MODE", "valueFrom": {"configMapKeyRef": {"key": "APP_MODE", "name": "web-config"}}}]}],
                "imagePullSecrets": [{"name": "regcred"}],
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}],
                "volumes": [{"name": "config", "configMap": {"name": "web-config"}}, {"name": "tls", "secret": {"secretName": "web-tls"}}],
            }}},
    }


def web_service():
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-nodeport", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
                {"name": "metrics", "port": 9100, "protocol": "TCP", "targetPort": 9100}]}}


def claim(storage_class="standard", namespace="shop"):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "uploads", "namespace": namespace, "labels": {"app": "web"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}, "storageClassName": storage_class}}


# ------------------------------------------------------------------ namespace mapping

def test_namespace_mapping_moves_namespaced_objects_and_renames_namespaces():
    ctx = context(namespace_mapping={"shop": "shop-restored"})
    assert transform("deployments.apps", web_deployment(), ctx)["metadata"]["namespace"] == "shop-restored"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "shop"}}}
    assert transform("namespaces", namespace, ctx)["metadata"] == {"name": "shop-restored", "labels": {"team": "shop"}}
    other = dict(web_deployment(), metadata={"name": "api", "namespace": "payments"})
    assert transform("deployments.apps", other, ctx)["metadata"]["namespace"] == "payments"


def test_namespace_mapping_follows_pv_claim_references():
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "payments-ledger-pv"},
          "spec": {"claimRef": {"kind": "PersistentVolumeClaim", "name": "ledger", "namespace": "payments"},
                   "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast"}}
    result = transform("persistentvolumes", pv, context(namespace_mapping={"payments": "payments-dr"}))
    assert result["spec"]["claimRef"]["namespace"] == "payments-dr"
    assert "namespace" not in result["metadata"]


@pytest.mark.parametrize("group_resource,kind,namespace", [
    ("rolebindings.rbac.authorization.k8s.io", "RoleBinding", "shop"),
    ("clusterrolebindings.rbac.authorization.k8s.io", "ClusterRoleBinding", None),
])
def test_namespace_mapping_follows_binding_subjects(group_resource, kind, namespace):
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": "shop-reader"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "shop-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"},
                            {"kind": "ServiceAccount", "name": "log-agent", "namespace": "monitoring"},
                            {"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"}]}
    if namespace:
        binding["metadata"]["namespace"] = namespace
    result = transform(group_resource, binding, context(namespace_mapping={"shop": "shop-b"}))
    assert [subject.get("namespace") for subject in result["subjects"]] == ["shop-b", "monitoring", None]
    assert result["metadata"].get("namespace") == ("shop-b" if namespace else None)


# ------------------------------------------------------------------ storage class mapping

def test_storage_class_mapping_on_claims_volumes_and_claim_templates():
    ctx = context(storage_class_mapping={"standard": "gp3", "fast": "io2-fast"})
    assert transform("persistentvolumeclaims", claim(), ctx)["spec"]["storageClassName"] == "gp3"
    pv = {"kind": "PersistentVolume", "metadata": {"name": "pv1", "annotations": {"volume.beta.kubernetes.io/storage-class": "fast"}},
          "spec": {"storageClassName": "fast"}}
    result = transform("persistentvolumes", pv, ctx)
    assert result["spec"]["storageClassName"] == "io2-fast"
    assert result["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"] == "io2-fast"
    statefulset = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop"},
                   "spec": {"volumeClaimTemplates": [
                       {"metadata": {"name": "data"}, "spec": {"storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}}},
                       {"metadata": {"name": "wal"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]}}
    templates = transform("statefulsets.apps", statefulset, ctx)["spec"]["volumeClaimTemplates"]
    assert [template["spec"].get("storageClassName") for template in templates] == ["gp3", None]
    storage_class = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "standard"}, "provisioner": "ebs.csi.aws.com"}
    assert transform("storageclasses.storage.k8s.io", storage_class, ctx) == storage_class
    assert transform("persistentvolumeclaims", claim("slow"), ctx)["spec"]["storageClassName"] == "slow"


# ------------------------------------------------------------------ registry mapping

REGISTRY_MAPPING = {"docker.io": "registry.internal/mirror", "quay.io/org": "reg.example/org",
                    "registry.example.com/shop/web-app": "registry.dr.example.com/web-app", "bitnami": "registry.internal/bitnami"}


@pytest.mark.parametrize("image,expected", [
    ("nginx:1.27.2", "registry.internal/mirror/library/nginx:1.27.2"),
    ("nginx", "registry.internal/mirror/library/nginx"),
    ("grafana/grafana:11.0.0", "registry.internal/mirror/grafana/grafana:11.0.0"),
    ("docker.io/library/busybox:1.36", "registry.internal/mirror/library/busybox:1.36"),
    ("index.docker.io/library/busybox:1.36", "registry.internal/mirror/library/busybox:1.36"),
    ("bitnami/redis:7.2", "registry.internal/bitnami/redis:7.2"),  # the longer prefix wins over docker.io
    ("docker.iox/team/tool:1", "docker.iox/team/tool:1"),  # prefix boundary: docker.iox is another registry
    ("quay.io/org/operator:v1", "reg.example/org/operator:v1"),
    ("quay.io/organisation/operator:v1", "quay.io/organisation/operator:v1"),
    ("quay.io/other/tool:v1", "quay.io/other/tool:v1"),
    ("registry.example.com/shop/web-app:1.4.2", "registry.dr.example.com/web-app:1.4.2"),
    ("registry.example.com/shop/web-app@sha256:3ced5bcb", "registry.dr.example.com/web-app@sha256:3ced5bcb"),
    ("registry.example.com/shop/web-app-worker:1", "registry.example.com/shop/web-app-worker:1"),
    ("localhost:5000/tool:1", "localhost:5000/tool:1"),
    ("", ""),
])
def test_map_image(image, expected):
    assert map_image(image, REGISTRY_MAPPING) == expected


def test_registry_mapping_rewrites_every_pod_template_kind():
    ctx = context(registry_mapping={"docker.io": "registry.internal/mirror"})
    containers = transform("deployments.apps", web_deployment(), ctx)["spec"]["template"]["spec"]["containers"]
    assert [container["image"] for container in containers] == [
        "registry.internal/mirror/library/nginx:1.27.2", "registry.example.com/shop/web-app:1.4.2"]
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly-report", "namespace": "shop"},
               "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                   "initContainers": [{"name": "wait", "image": "busybox:1.36"}],
                   "containers": [{"name": "report", "image": "python:3.12-slim"}], "restartPolicy": "OnFailure"}}}}}}
    pod_spec = transform("cronjobs.batch", cronjob, ctx)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod_spec["initContainers"][0]["image"] == "registry.internal/mirror/library/busybox:1.36"
    assert pod_spec["containers"][0]["image"] == "registry.internal/mirror/library/python:3.12-slim"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": "shop"},
           "spec": {"containers": [{"name": "sh", "image": "alpine:3.20"}], "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}}
    spec = transform("pods", pod, ctx)["spec"]
    assert [spec["containers"][0]["image"], spec["ephemeralContainers"][0]["image"]] == [
        "registry.internal/mirror/library/alpine:3.20", "registry.internal/mirror/library/busybox"]
    template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t", "namespace": "shop"},
                "template": {"spec": {"containers": [{"name": "c", "image": "redis:7"}]}}}
    assert transform("podtemplates", template, ctx)["template"]["spec"]["containers"][0]["image"] == "registry.internal/mirror/library/redis:7"


def test_transform_does_not_modify_its_input():
    deployment = web_deployment()
    before = copy.deepcopy(deployment)
    transform("deployments.apps", deployment, context(namespace_mapping={"shop": "x"}, registry_mapping={"docker.io": "m"},
                                                      resource_modifiers=[{"conditions": {"group_resource": "*"},
                                                                           "patches": [{"operation": "remove", "path": "/spec/replicas"}]}]))
    assert deployment == before


# ------------------------------------------------------------------ JSON patch values and operations

@pytest.mark.parametrize("raw,expected", [
    ("2", 2), ("-1.5", -1.5), ("1e3", 1000.0), ("true", True), ("False", False), ("null", None),
    ('"2"', "2"), ('"true"', "true"), ("", ""), ("nginx:1.27", "nginx:1.27"), ("10Gi", "10Gi"), ("0777", "0777"),
    ('{"cpu": "1"}', {"cpu": "1"}), ('["a", 1]', ["a", 1]), (3, 3), ({"a": None}, {"a": None}),
])
def test_parse_patch_value_like_velero(raw, expected):
    value = parse_patch_value(raw)
    assert value == expected and type(value) is type(expected)


def modify(obj, group_resource, *rules, **options):
    return transform(group_resource, obj, context(resource_modifiers=list(rules), **options))


def json_rule(*patches, **conditions):
    conditions.setdefault("group_resource", "deployments.apps")
    return {"conditions": conditions, "patches": list(patches)}


def test_json_patch_replace_turns_string_numbers_into_numbers():
    result = modify(web_deployment(), "deployments.apps", json_rule({"operation": "replace", "path": "/spec/replicas", "value": "5"}))
    assert result["spec"]["replicas"] == 5 and isinstance(result["spec"]["replicas"], int)


def test_json_patch_quoted_value_stays_a_string():
    result = modify(web_deployment(), "deployments.apps", json_rule(
        {"operation": "add", "path": "/spec/template/metadata/annotations", "value": '{"prometheus.io/port": "9000"}'},
        {"operation": "add", "path": "/metadata/labels/version", "value": '"2"'}))
    assert result["spec"]["template"]["metadata"]["annotations"] == {"prometheus.io/port": "9000"}
    assert result["metadata"]["labels"]["version"] == "2"


def test_json_patch_operations_on_lists_and_pointers():
    result = modify(web_deployment(), "deployments.apps", json_rule(
        {"operation": "add", "path": "/spec/template/spec/containers/1/args/-", "value": "--verbose"},
        {"operation": "add", "path": "/spec/template/spec/containers/1/args/0", "value": "--fast"},
        {"operation": "remove", "path": "/spec/template/spec/tolerations/0"},
        {"operation": "copy", "from": "/metadata/labels/tier", "path": "/metadata/labels/tier~1copy"},
        {"operation": "move", "from": "/spec/template/spec/imagePullSecrets", "path": "/spec/template/spec/pullSecrets"},
        {"operation": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.28"}))
    spec = result["spec"]["template"]["spec"]
    assert spec["containers"][1]["args"] == ["--fast", "--port", "9000", "--verbose"]
    assert spec["tolerations"] == [] and spec["pullSecrets"] == [{"name": "regcred"}] and "imagePullSecrets" not in spec
    assert result["metadata"]["labels"]["tier/copy"] == "frontend"
    assert spec["containers"][0]["image"] == "nginx:1.28"


def test_failing_test_operation_skips_the_rule_for_that_object():
    rule = json_rule({"operation": "test", "path": "/spec/replicas", "value": "3"},
                     {"operation": "replace", "path": "/spec/replicas", "value": "1"})
    assert modify(web_deployment(), "deployments.apps", rule)["spec"]["replicas"] == 2
    three = web_deployment()
    three["spec"]["replicas"] = 3
    assert modify(three, "deployments.apps", rule)["spec"]["replicas"] == 1
    # A missing path tests as null.
    missing = json_rule({"operation": "test", "path": "/spec/paused", "value": "null"},
                        {"operation": "add", "path": "/spec/paused", "value": "true"})
    assert modify(web_deployment(), "deployments.apps", missing)["spec"]["paused"] is True


def test_test_operation_compares_json_types_strictly():
    rule = json_rule({"operation": "test", "path": "/spec/replicas", "value": "true"},
                     {"operation": "replace", "path": "/spec/replicas", "value": "9"})
    one = web_deployment()
    one["spec"]["replicas"] = 1
    assert modify(one, "deployments.apps", rule)["spec"]["replicas"] == 1  # 1 is not true in JSON


@pytest.mark.parametrize("patch", [
    {"operation": "replace", "path": "/spec/strategy/type", "value": "Recreate"},
    {"operation": "remove", "path": "/spec/template/spec/containers/5"},
    {"operation": "add", "path": "/spec/template/spec/containers/x", "value": "{}"},
])
def test_json_patch_on_a_missing_path_is_an_error_for_that_object(patch):
    with pytest.raises(ModifierError, match=r"resource_modifiers\[0\] on Deployment shop/web"):
        modify(web_deployment(), "deployments.apps", json_rule(patch))


# ------------------------------------------------------------------ merge and strategic merge patches

def test_merge_patch_sets_and_deletes_keys_and_replaces_lists():
    result = apply_merge_patch(web_deployment(), {"metadata": {"labels": {"tier": None, "restored": "yes"}},
                                                  "spec": {"template": {"spec": {"tolerations": []}}}})
    assert result["metadata"]["labels"] == {"app": "web", "restored": "yes"}
    assert result["spec"]["template"]["spec"]["tolerations"] == []
    assert len(result["spec"]["template"]["spec"]["containers"]) == 2


def test_merge_patches_from_yaml_text_and_velero_patch_data():
    rules = [{"conditions": {"group_resource": "deployments.apps"}, "merge_patches": [
        "spec:\n  replicas: 4\n", {"patch_data": '{"metadata": {"annotations": {"restored-by": "kubesafe"}}}'}]}]
    result = modify(web_deployment(), "deployments.apps", *rules)
    assert result["spec"]["replicas"] == 4 and result["metadata"]["annotations"] == {"restored-by": "kubesafe"}


def test_strategic_patch_merges_containers_env_mounts_and_ports_by_key():
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "registry.example.com/shop/web-app:1.5.0",
         "env": [{"name": "DB_HOST", "value": "db.shop-dr.svc"}, {"name": "NEW", "value": "1"}],
         "ports": [{"containerPort": 9000, "name": "app-http"}], "args": ["--port", "9001"]},
        {"name": "nginx", "volumeMounts": [{"mountPath": "/etc/nginx/tls", "readOnly": False}, {"mountPath": "/cache", "name": "cache"}]},
        {"name": "sidecar", "image": "envoyproxy/envoy:v1.31"}],
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "tolerations": [{"key": "dr", "operator": "Exists"}]}}}}
    spec = apply_strategic_merge_patch(web_deployment(), patch)["spec"]["template"]["spec"]
    assert [container["name"] for container in spec["containers"]] == ["nginx", "app", "sidecar"]
    nginx, app = spec["containers"][0], spec["containers"][1]
    assert nginx["image"] == "nginx:1.27.2"
    assert nginx["volumeMounts"] == [
        {"mountPath": "/etc/nginx/conf.d/default.conf", "name": "config", "subPath": "nginx.conf"},
        {"mountPath": "/etc/nginx/tls", "name": "tls", "readOnly": False}, {"mountPath": "/cache", "name": "cache"}]
    assert app["image"] == "registry.example.com/shop/web-app:1.5.0"
    assert app["env"] == [{"name": "DB_HOST", "value": "db.shop-dr.svc"},
                          {"name": "APP_MODE", "valueFrom": {"configMapKeyRef": {"key": "APP_MODE", "name": "web-config"}}},
                          {"name": "NEW", "value": "1"}]
    assert app["ports"] == [{"containerPort": 9000, "name": "app-http", "protocol": "TCP"}]
    assert app["args"] == ["--port", "9001"]  # lists without a merge key are replaced
    assert spec["tolerations"] == [{"key": "dr", "operator": "Exists"}]
    assert [volume["name"] for volume in spec["volumes"]] == ["config", "tls", "cache"]


def test_strategic_patch_delete_directive_and_replace():
    patch = {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "env": [{"name": "DB_HOST", "$patch": "delete"}]}],
        "volumes": [{"name": "tls", "$patch": "delete"}],
        "imagePullSecrets": [{"$patch": "replace"}, {"name": "dr-regcred"}]}}}}
    spec = apply_strategic_merge_patch(web_deployment(), patch)["spec"]["template"]["spec"]
    assert [env["name"] for env in spec["containers"][1]["env"]] == ["APP_MODE"]
    assert spec["volumes"] == [{"name": "config", "configMap": {"name": "web-config"}}]
    assert spec["imagePullSecrets"] == [{"name": "dr-regcred"}]


def test_strategic_patch_merges_service_ports_by_port():
    patch = {"spec": {"ports": [{"port": 80, "nodePort": 30080}, {"port": 443, "name": "https", "targetPort": "https"}]}}
    ports = apply_strategic_merge_patch(web_service(), patch)["spec"]["ports"]
    assert ports == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http", "nodePort": 30080},
                     {"name": "metrics", "port": 9100, "protocol": "TCP", "targetPort": 9100},
                     {"port": 443, "name": "https", "targetPort": "https"}]


def test_strategic_patch_item_without_its_merge_key_is_an_error():
    rule = {"conditions": {"group_resource": "deployments.apps"},
            "strategic_patches": [{"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.28"}]}}}}]}
    with pytest.raises(ModifierError, match="merge key 'name'"):
        modify(web_deployment(), "deployments.apps", rule)


# ------------------------------------------------------------------ conditions

REPLICAS_TO_ZERO = [{"operation": "replace", "path": "/spec/replicas", "value": "0"}]


@pytest.mark.parametrize("conditions,applies", [
    ({"group_resource": "deployments.apps"}, True),
    ({"group_resource": "Deployment"}, True),
    ({"group_resource": "deployments"}, True),
    ({"group_resource": "*.apps"}, True),
    ({"group_resource": "*"}, True),
    ({"group_resource": "statefulsets.apps"}, False),
    ({"group_resource": "*", "namespaces": ["sh*"]}, True),
    ({"group_resource": "*", "namespaces": ["payments"]}, False),
    ({"group_resource": "*", "name_regex": "^we"}, True),
    ({"group_resource": "*", "name_regex": "^api$"}, False),
    ({"group_resource": "*", "label_selector": "app=web,tier in (frontend)"}, True),
    ({"group_resource": "*", "label_selector": {"app": "api"}}, False),
    ({"group_resource": "*", "matches": [{"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27.2"}]}, True),
    ({"group_resource": "*", "matches": [{"path": "/spec/replicas", "value": "7"}]}, False),
])
def test_rule_conditions(conditions, applies):
    result = modify(web_deployment(), "deployments.apps", {"conditions": conditions, "patches": REPLICAS_TO_ZERO})
    assert (result["spec"]["replicas"] == 0) == applies


def test_conditions_see_the_backed_up_namespace_and_patches_win_over_mappings():
    rule = {"conditions": {"group_resource": "persistentvolumeclaims", "namespaces": ["shop"]},
            "patches": [{"operation": "replace", "path": "/spec/storageClassName", "value": "premium"}]}
    result = modify(claim(), "persistentvolumeclaims", rule, namespace_mapping={"shop": "shop-dr"},
                    storage_class_mapping={"standard": "gp3"})
    assert result["metadata"]["namespace"] == "shop-dr" and result["spec"]["storageClassName"] == "premium"


def test_namespace_condition_does_not_apply_to_cluster_scoped_objects():
    pv = {"kind": "PersistentVolume", "metadata": {"name": "pv1"}, "spec": {"persistentVolumeReclaimPolicy": "Retain"}}
    rule = {"conditions": {"group_resource": "persistentvolumes", "namespaces": ["shop"]},
            "merge_patches": [{"spec": {"persistentVolumeReclaimPolicy": "Delete"}}]}
    assert modify(pv, "persistentvolumes", rule)["spec"]["persistentVolumeReclaimPolicy"] == "Delete"


def test_every_rule_matches_the_original_object_not_the_previous_rule_output():
    rules = [{"conditions": {"group_resource": "*"}, "merge_patches": [{"metadata": {"labels": {"app": "web-dr"}}}]},
             {"conditions": {"group_resource": "*", "label_selector": "app=web"}, "patches": REPLICAS_TO_ZERO}]
    result = modify(web_deployment(), "deployments.apps", *rules)
    assert result["metadata"]["labels"]["app"] == "web-dr" and result["spec"]["replicas"] == 0


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("rules,message", [
    ("not a list", r"resource_modifiers must be a list"),
    ([{"patches": REPLICAS_TO_ZERO}], r"resource_modifiers\[0\]\.conditions is required"),
    ([{"conditions": {"namespaces": ["shop"]}, "patches": REPLICAS_TO_ZERO}], r"resource_modifiers\[0\]\.conditions\.group_resource"),
    ([{"conditions": {"group_resource": "*", "groupResource": "x"}, "patches": REPLICAS_TO_ZERO}], r"unknown key\(s\) groupResource"),
    ([{"conditions": {"group_resource": "*"}}], r"exactly one of patches, merge_patches, strategic_patches \(found none\)"),
    ([{"conditions": {"group_resource": "*"}, "patches": REPLICAS_TO_ZERO, "merge_patches": [{"a": 1}]}], r"found patches, merge_patches"),
    ([json_rule({"operation": "replace", "path": "/spec/replicas", "value": "1"}),
      json_rule({"operation": "upsert", "path": "/spec/replicas", "value": "1"})], r"resource_modifiers\[1\]\.patches\[0\]\.operation"),
    ([json_rule({"operation": "replace", "path": "spec/replicas", "value": "1"})], r"patches\[0\]\.path.*must start with /"),
    ([json_rule({"operation": "replace", "path": "/spec/replicas"})], r"patches\[0\]\.value is required for replace"),
    ([json_rule({"operation": "move", "path": "/a"})], r"patches\[0\]\.from is required for move"),
    ([json_rule({"operation": "add", "path": "/a", "value": "{not json"})], r"patches\[0\]\.value: .*does not parse"),
    ([json_rule(REPLICAS_TO_ZERO[0], name_regex="([")], r"conditions\.name_regex"),
    ([json_rule(REPLICAS_TO_ZERO[0], label_selector="app in web")], r"conditions\.label_selector"),
    ([{"conditions": {"group_resource": "*"}, "strategic_patches": [{"spec": {"$retainKeys": ["a"]}}]}],
     r"strategic_patches\[0\]: strategic merge directive '\$retainKeys' is not supported"),
    ([{"conditions": {"group_resource": "*"}, "merge_patches": ["[1, 2]"]}], r"merge_patches\[0\] must be a dictionary"),
])
def test_bad_modifiers_name_the_rule_and_field(rules, message):
    with pytest.raises(ConfigurationError, match=message):
        context(resource_modifiers=rules)


@pytest.mark.parametrize("option", ["namespace_mapping", "storage_class_mapping", "registry_mapping"])
def test_mappings_must_be_dictionaries_of_names(option):
    with pytest.raises(ConfigurationError, match=option):
        context(**{option: ["shop"]})
    with pytest.raises(ConfigurationError, match=option):
        context(**{option: {"shop": ""}})

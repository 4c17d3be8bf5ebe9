"""The rules of a production-to-dev clone as restore resource modifiers (ops/clone_rules.py)."""

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.clone_rules import CloneRules, plan_clone
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.transforms import compile_resource_modifiers, transform
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from gateway_api import install_httproute

HOSTS = dict(host_pattern=r"^(.*)\.example\.com$", host_replacement=r"\1.dev.example.com")


@pytest.fixture
def shop_backup(sample_cluster, tmp_path):
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    install_httproute(client, "shop", "web", ["shop.example.com", "www.shop.example.com", "status.other.org"])
    location = open_location(str(tmp_path / "backups"))
    run_backup(client, location, BackupOptions(name="prod", included_namespaces=["shop"]))
    objects = {(o["kind"], o["metadata"]["name"]): o for o in sample_cluster.control.dump() if o["metadata"].get("namespace") == "shop"}
    return location, objects


def _apply(result, group_resource, obj):
    """The object as the restore would write it with the plan's modifiers."""
    class Context:
        namespace_mapping = storage_class_mapping = registry_mapping = {}
        compiled_modifiers = compile_resource_modifiers(result["resource_modifiers"])
    return transform(group_resource, obj, Context)


def test_plan_scales_rewrites_hosts_suspends_and_sorts_secrets(shop_backup):
    location, objects = shop_backup
    result = plan_clone(location, "latest", CloneRules(replicas_per_workload={"statefulset/shop/db": 0}, replaced_secrets=["shop/db-credentials"], **HOSTS))
    assert result["backup"] == "prod"
    assert sorted((r["kind"], r["name"], r["from"], r["to"]) for r in result["replicas"]) == [("Deployment", "web", 2, 1), ("StatefulSet", "db", 2, 0)]
    assert _apply(result, "deployments.apps", objects[("Deployment", "web")])["spec"]["replicas"] == 1
    assert _apply(result, "statefulsets.apps", objects[("StatefulSet", "db")])["spec"]["replicas"] == 0
    ingress = _apply(result, "ingresses.networking.k8s.io", objects[("Ingress", "web")])
    assert ingress["spec"]["rules"][0]["host"] == "shop.dev.example.com"
    assert ingress["spec"]["tls"][0]["hosts"] == ["shop.dev.example.com"]
    route = _apply(result, "httproutes.gateway.networking.k8s.io", objects[("HTTPRoute", "web")])
    assert route["spec"]["hostnames"] == ["shop.dev.example.com", "www.shop.dev.example.com", "status.other.org"]
    assert {(h["kind"], h["from"], h["to"]) for h in result["hosts"]} >= {("HTTPRoute", "www.shop.example.com", "www.shop.dev.example.com")}
    assert result["suspended_cronjobs"] == ["shop/nightly-report"]
    assert _apply(result, "cronjobs.batch", objects[("CronJob", "nightly-report")])["spec"]["suspend"] is True
    assert result["secrets"]["replaced"] == ["shop/db-credentials"]
    assert sorted(result["secrets"]["dropped"]) == ["shop/regcred", "shop/web-tls"] and result["secrets"]["copied"] == []
    # Other objects pass unchanged.
    assert _apply(result, "configmaps", objects[("ConfigMap", "web-config")]) == objects[("ConfigMap", "web-config")]


def test_the_modifiers_pass_the_restore_checks(shop_backup):
    location, _objects = shop_backup
    result = plan_clone(location, "prod", CloneRules(**HOSTS))
    # The restore module compiles the same list; a rule it refused would fail the clone after the backup.
    assert len(compile_resource_modifiers(result["resource_modifiers"])) == len(result["resource_modifiers"])


def test_copy_unreplaced_secrets_and_replicas_kept(shop_backup):
    location, _objects = shop_backup
    result = plan_clone(location, "prod", CloneRules(replicas=None, suspend_cronjobs=False, copy_unreplaced_secrets=True))
    assert result["replicas"] == [] and result["suspended_cronjobs"] == [] and result["hosts"] == []
    assert sorted(result["secrets"]["copied"]) == ["shop/db-credentials", "shop/regcred", "shop/web-tls"]
    assert result["secrets"]["dropped"] == [] and result["resource_modifiers"] == []


def test_bad_rules_are_refused_naming_the_option(shop_backup):
    location, _objects = shop_backup
    with pytest.raises(ConfigurationError, match="replaced_secrets names Secret.* shop/nope"):
        plan_clone(location, "prod", CloneRules(replaced_secrets=["shop/nope"]))
    with pytest.raises(ConfigurationError, match="replaced_secrets: 'nope' must be namespace/name"):
        CloneRules(replaced_secrets=["nope"])
    with pytest.raises(ConfigurationError, match="host_pattern is not a regular expression"):
        CloneRules(host_pattern="(", host_replacement="x")
    with pytest.raises(ConfigurationError, match="host_pattern needs host_replacement"):
        CloneRules(host_pattern="x")
    with pytest.raises(ConfigurationError, match=r"replicas_per_workload\[shop/web\] must be 0 or more"):
        CloneRules(replicas_per_workload={"shop/web": -1})
    with pytest.raises(ConfigurationError, match="replicas must be 0 or more"):
        CloneRules(replicas=-1)

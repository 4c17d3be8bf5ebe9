"""playbooks/migrate.yml: source cluster -> target cluster with mappings, a preflight and a preview."""

import json

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options

pytestmark = pytest.mark.integration


def objects(cluster, namespace):
    return {(o["kind"], o["metadata"]["name"]): o for o in cluster.control.dump() if o["metadata"].get("namespace") == namespace}


@pytest.fixture
def target(kubesim_factory):
    cluster = kubesim_factory(name="target")
    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    client.request("POST", "/apis/storage.k8s.io/v1/storageclasses", body={
        "metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    return cluster


def migrate(run_playbook, source, target, tmp_path, *extra):
    env = source.env(with_kubeconfig=False)
    variables = {"migrate_source_kubeconfig": source.kubeconfig, "migrate_target_kubeconfig": target.kubeconfig,
                 "migrate_location": str(tmp_path / "loc"), "migrate_included_namespaces": ["shop"],
                 "migrate_namespace_mapping": {"shop": "shop-new"}, "migrate_storage_class_mapping": {"standard": "gp3"},
                 "migrate_wait_timeout": 60}
    return run_playbook("playbooks/migrate.yml", env, "-e", json.dumps(variables), *extra)


def test_preview_writes_nothing_to_the_target(sample_cluster, target, run_playbook, tmp_path):
    target.control.clear_audit()
    result = migrate(run_playbook, sample_cluster, target, tmp_path, "-e", "migrate_preview=true")
    assert "Preview of the migration" in result.stdout
    assert {r["verb"] for r in target.control.audit()} <= {"get", "list"}
    assert not objects(target, "shop-new")


def test_migration_with_mappings_object_by_object(sample_cluster, target, run_playbook, tmp_path):
    migrate(run_playbook, sample_cluster, target, tmp_path)
    source, moved = objects(sample_cluster, "shop"), objects(target, "shop-new")
    for key in [("Deployment", "web"), ("StatefulSet", "db"), ("Service", "web"), ("ConfigMap", "web-config"), ("Secret", "db-credentials"),
                ("Coupon", "welcome10"), ("Ingress", "web"), ("PersistentVolumeClaim", "uploads")]:
        assert key in moved, key
        for field in ("spec", "data"):
            # Services get new IPs; claims and claim templates get the mapped storage class (checked below).
            if field in source[key] and key[0] not in ("Service", "PersistentVolumeClaim", "StatefulSet"):
                assert moved[key][field] == source[key][field], key
    assert moved[("PersistentVolumeClaim", "uploads")]["spec"]["storageClassName"] == "gp3"
    assert moved[("StatefulSet", "db")]["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3"
    assert moved[("StatefulSet", "db")]["spec"]["template"] == source[("StatefulSet", "db")]["spec"]["template"]
    assert moved[("PersistentVolumeClaim", "uploads")]["status"]["phase"] == "Bound"
    assert moved[("Deployment", "web")]["status"].get("readyReplicas") == moved[("Deployment", "web")]["spec"]["replicas"]
    assert not objects(target, "shop"), "the source namespace name must not appear on the target"


def test_preflight_stops_before_writing_when_the_target_lacks_a_storage_class(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    bare = kubesim_factory(name="bare")
    bare.control.clear_audit()
    env = sample_cluster.env()
    variables = {"migrate_source_kubeconfig": sample_cluster.kubeconfig, "migrate_target_kubeconfig": bare.kubeconfig,
                 "migrate_location": str(tmp_path / "loc"), "migrate_included_namespaces": ["shop"],
                 "migrate_storage_class_mapping": {"standard": "gp3"}}
    result = run_playbook("playbooks/migrate.yml", env, "-e", json.dumps(variables), check=False)
    assert result.returncode != 0 and "Preflight found problems" in result.stdout
    # The hint names the role's variable, not the verify module's option.
    assert "(create it, or restore with migrate_storage_class_mapping)" in result.stdout
    assert {r["verb"] for r in bare.control.audit()} <= {"get", "list"}

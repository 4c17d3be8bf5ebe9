"""Backup filters and selectors as Velero documents them, table-driven, against the emulated sample cluster.

The engine is called in-process (the module is a thin wrapper tested through
ansible-playbook elsewhere) so that each case costs a fraction of a second;
it still talks HTTP to the emulator and writes a real archive.
"""

import os

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def still_sample(tmp_path_factory):
    """One settled sample cluster for the whole table (backups only read it)."""
    from kubesim.cluster import SAMPLE_FIXTURE, KubeSim  # pylint: disable=import-outside-toplevel
    sim = KubeSim()
    sim.start()
    sim.seed_file(SAMPLE_FIXTURE)
    sim.settle(30)
    sim.controllers.configure(False)
    kubeconfig = sim.write_kubeconfig(str(tmp_path_factory.mktemp("selection") / "kubeconfig"))
    yield kubeconfig
    sim.stop()


def back_up(kubeconfig, tmp_path, **options):
    client = KubeClient(**connection_options({"kubeconfig": kubeconfig}))
    location = open_location(str(tmp_path), None)
    result = run_backup(client, location, BackupOptions(name="case", **options))
    with open(os.path.join(str(tmp_path), "backups", "case", "case.tar.gz"), "rb") as stream:
        items = {(item.obj["kind"], item.obj["metadata"].get("namespace"), item.obj["metadata"]["name"]) for item in ArchiveReader(stream)}
    return result, items


def kinds(items):
    return {kind for kind, _namespace, _name in items}


def namespaces_of(items):
    return {namespace for _kind, namespace, _name in items if namespace}


def test_included_namespace_takes_related_cluster_objects_only(still_sample, tmp_path):
    items = back_up(still_sample, tmp_path, included_namespaces=["shop"])[1]
    assert namespaces_of(items) == {"shop"}
    cluster_scoped = {(kind, name) for kind, namespace, name in items if not namespace}
    assert ("Namespace", "shop") in cluster_scoped and ("Namespace", "payments") not in cluster_scoped
    assert ("CustomResourceDefinition", "coupons.shop.example.com") in cluster_scoped
    assert ("CustomResourceDefinition", "regions.infra.example.com") not in cluster_scoped
    assert {("ClusterRoleBinding", "shop-reader"), ("ClusterRole", "shop-reader")} <= cluster_scoped
    assert ("ClusterRoleBinding", "log-agent") not in cluster_scoped
    assert "StorageClass" not in kinds(items) and "Node" not in kinds(items)
    # PVs bound to the namespace's claims (the StatefulSet's and uploads', dynamically provisioned).
    assert len([1 for kind, _ns, _name in items if kind == "PersistentVolume"]) == len(
        [1 for kind, _ns, _name in items if kind == "PersistentVolumeClaim"])


@pytest.mark.parametrize("options, present, absent", [
    ({"included_namespaces": ["sho*"]}, {("Deployment", "shop", "web")}, {("Deployment", "payments", "api")}),
    ({"excluded_namespaces": ["shop"]}, {("Deployment", "payments", "api")}, {("Deployment", "shop", "web"), ("StorageClass", None, "fast")}),
    ({"included_namespaces": ["shop", "payments"], "excluded_namespaces": ["payments"]}, {("Service", "shop", "web")},
     {("Service", "payments", "api")}),
    ({"included_resources": ["configmaps"]}, {("ConfigMap", "shop", "web-config")}, {("Namespace", None, "shop"), ("Secret", "shop", "regcred")}),
    ({"included_resources": ["Deployment.apps", "coupons.shop.example.com"]}, {("Deployment", "shop", "web"), ("Coupon", "shop", "welcome10")},
     {("ReplicaSet", "shop", None)}),
    ({"excluded_resources": ["secrets", "Coupon"]}, {("ConfigMap", "shop", "web-config")}, {("Secret", "shop", "regcred"), ("Coupon", "shop", "welcome10")}),
    ({"include_cluster_resources": False}, {("Namespace", None, "shop"), ("Deployment", "shop", "web")},
     {("StorageClass", None, "fast"), ("CustomResourceDefinition", None, "coupons.shop.example.com"), ("Node", None, "kubesim-node-1")}),
    ({"include_cluster_resources": True, "included_namespaces": ["shop"]}, {("StorageClass", None, "fast"), ("Region", None, "us-east-1")},
     {("Deployment", "payments", "api")}),
    ({"label_selector": "backup=true"}, {("ConfigMap", "shop", "web-config"), ("Namespace", None, "shop"), ("Namespace", None, "payments"),
                                         ("Region", None, "eu-west-1")},
     {("Secret", "shop", "regcred"), ("Region", None, "us-east-1"), ("ConfigMap", "scratch", "scratch-notes"), ("Namespace", None, "empty-ns")}),
    ({"or_label_selectors": ["app=api", "tier=frontend"]}, {("Deployment", "payments", "api"), ("Secret", "shop", "web-tls")},
     {("Secret", "shop", "db-credentials")}),
    ({}, {("Namespace", None, "empty-ns"), ("Node", None, "kubesim-node-1"), ("StorageClass", None, "standard")},
     {("ConfigMap", "shop", "tmp-cache"), ("Namespace", None, "scratch"), ("ConfigMap", "scratch", "scratch-notes")}),
    ({"included_namespaces": ["empty-ns"]}, {("Namespace", None, "empty-ns")}, {("Namespace", None, "shop")}),
    ({"label_selector": "app=web", "included_resources": ["configmaps"]}, {("ConfigMap", "shop", "web-config")},
     {("ConfigMap", "shop", "tmp-cache")}),  # the exclude label beats a matching selector
])
def test_filters(still_sample, tmp_path, options, present, absent):
    result, items = back_up(still_sample, tmp_path, **options)
    assert result["phase"] == "Completed", result["errors"]
    keys = items | {(kind, namespace, None) for kind, namespace, _name in items}
    assert present <= keys, present - keys
    assert not absent & keys, absent & keys


def test_warnings_for_globs_and_unknown_excluded_resources(still_sample, tmp_path):
    result = back_up(still_sample, tmp_path, included_namespaces=["shop", "nope-*"], included_resources=["deployments"],
                     excluded_resources=["widgets"])[0]
    assert any("nope-*" in warning for warning in result["warnings"])
    assert any("widgets" in warning for warning in result["warnings"])


def test_an_unknown_included_resource_is_refused(still_sample, tmp_path):
    """A typo would back up nothing of that kind and still say Completed."""
    with pytest.raises(ConfigurationError, match="included_resources: 'widgets' matches no resource served by the cluster"):
        back_up(still_sample, tmp_path, included_resources=["deployments", "widgets"])


def test_or_label_selectors_store_each_object_once(still_sample, tmp_path):
    result, items = back_up(still_sample, tmp_path, or_label_selectors=["app=web", "tier=frontend"], included_resources=["configmaps"])
    assert result["resource_counts"] == {"configmaps": 1} and items == {("ConfigMap", "shop", "web-config")}


def test_a_forbidden_resource_makes_the_backup_partially_failed(kubesim_factory, tmp_path):
    cluster = kubesim_factory(sample=True)
    cluster.control.add_fault(action="status", status=403, verbs=["list"], resources=["secrets"])
    result, items = back_up(cluster.kubeconfig, tmp_path, included_namespaces=["shop"])
    assert result["phase"] == "PartiallyFailed" and any("secrets" in error for error in result["errors"])
    assert "Secret" not in kinds(items) and ("Deployment", "shop", "web") in items
    assert (tmp_path / "backups" / "case" / "velero-backup.json").exists()


def test_existing_backup_is_never_overwritten(still_sample, tmp_path):
    back_up(still_sample, tmp_path, included_namespaces=["shop"])
    before = (tmp_path / "backups" / "case" / "case.tar.gz").read_bytes()
    with pytest.raises(ConfigurationError, match="already exists"):
        back_up(still_sample, tmp_path, included_namespaces=["payments"])
    assert (tmp_path / "backups" / "case" / "case.tar.gz").read_bytes() == before

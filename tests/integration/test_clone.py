"""playbooks/clone.yml: production namespaces into a dev cluster - Secrets replaced or left out, one replica, hosts rewritten,
CronJobs suspended - with the production namespace untouched."""

import base64
import json
import os
import subprocess

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from collection_path import REPO
from gateway_api import install_httproute

pytestmark = pytest.mark.integration

BIN = os.path.join(REPO, ".venv", "bin")
HOSTS = {"clone_host_pattern": r"^(.*)\.example\.com$", "clone_host_replacement": r"\1.dev.example.com"}


def client_for(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


def objects(cluster, namespace):
    return {(o["kind"], o["metadata"]["name"]): o for o in cluster.control.dump() if o["metadata"].get("namespace") == namespace}


@pytest.fixture
def production(sample_cluster):
    install_httproute(client_for(sample_cluster), "shop", "web", ["shop.example.com", "api.shop.example.com"])
    return sample_cluster


@pytest.fixture
def dev(kubesim_factory):
    cluster = kubesim_factory(name="dev")
    client_for(cluster).request("POST", "/apis/storage.k8s.io/v1/storageclasses", body={
        "metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    return cluster


@pytest.fixture
def vault_file(tmp_path):
    """The TLS Secret's replacement in an Ansible Vault file, and the password file that opens it."""
    password = tmp_path / "vault-password"
    password.write_text("clone-test-vault-password\n")
    secrets = tmp_path / "dev-secrets.vault.yml"
    secrets.write_text(json.dumps({"shop/web-tls": {"tls.crt": "dev-certificate", "tls.key": "dev-key"}}))
    subprocess.run([os.path.join(BIN, "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(secrets)],
                   check=True, capture_output=True)
    assert secrets.read_text().startswith("$ANSIBLE_VAULT;")
    return secrets, password


def clone(run_playbook, source, target, tmp_path, *extra, check=True, **variables):
    settings = {"clone_source_kubeconfig": source.kubeconfig, "clone_target_kubeconfig": target.kubeconfig,
                "clone_location": str(tmp_path / "loc"), "clone_namespaces": ["shop"], "clone_namespace_mapping": {"shop": "shop-dev"},
                "clone_storage_class_mapping": {"standard": "gp3"}, "clone_wait_timeout": 60,
                "clone_secret_replacements": {"shop/db-credentials": {"username": "dev-user", "password": "dev-password"}}}
    settings.update(HOSTS)
    settings.update(variables)
    return run_playbook("playbooks/clone.yml", source.env(with_kubeconfig=False), "-e", json.dumps(settings), *extra, check=check)


def test_clone_replaces_or_leaves_out_secrets_scales_rewrites_suspends_and_never_writes_production(production, dev, vault_file, run_playbook, tmp_path):
    secrets_file, password = vault_file
    before = objects(production, "shop")
    production.control.clear_audit()
    result = clone(run_playbook, production, dev, tmp_path, "--vault-password-file", str(password),
                   clone_secret_replacements_file=str(secrets_file))
    cloned = objects(dev, "shop-dev")

    # Secrets: replacements arrive with exactly the replacement values; the one without a replacement is absent and listed.
    def encoded(**values):
        return dict((key.replace("_", "."), base64.b64encode(value.encode()).decode()) for key, value in values.items())

    assert cloned[("Secret", "db-credentials")]["data"] == encoded(username="dev-user", password="dev-password")
    assert cloned[("Secret", "web-tls")]["data"] == encoded(tls_crt="dev-certificate", tls_key="dev-key")
    assert ("Secret", "regcred") not in cloned
    assert "Secrets left out (no replacement): shop/regcred" in result.stdout
    assert "dev-password" not in result.stdout and "dev-certificate" not in result.stdout
    assert "shop-db-password" not in json.dumps(dev.control.dump())

    # Replicas 1, hosts rewritten, CronJobs suspended, the rest as in production.
    assert cloned[("Deployment", "web")]["spec"]["replicas"] == 1 and cloned[("StatefulSet", "db")]["spec"]["replicas"] == 1
    assert cloned[("Ingress", "web")]["spec"]["rules"][0]["host"] == "shop.dev.example.com"
    assert cloned[("Ingress", "web")]["spec"]["tls"][0]["hosts"] == ["shop.dev.example.com"]
    assert cloned[("HTTPRoute", "web")]["spec"]["hostnames"] == ["shop.dev.example.com", "api.shop.dev.example.com"]
    assert cloned[("CronJob", "nightly-report")]["spec"]["suspend"] is True
    assert cloned[("PersistentVolumeClaim", "uploads")]["spec"]["storageClassName"] == "gp3"
    assert cloned[("ConfigMap", "web-config")]["data"] == before[("ConfigMap", "web-config")]["data"]
    assert not objects(dev, "shop"), "the production namespace name must not appear in dev"

    # Production: only read (the audit log), and its objects as they were.
    assert {record["verb"] for record in production.control.audit()} <= {"get", "list"}
    after = objects(production, "shop")
    for key in (("Deployment", "web"), ("Secret", "db-credentials"), ("Ingress", "web"), ("CronJob", "nightly-report"), ("HTTPRoute", "web")):
        for field in ("spec", "data"):
            assert after[key].get(field) == before[key].get(field), key


def test_check_diff_previews_without_writing_to_dev(production, dev, run_playbook, tmp_path):
    dev.control.clear_audit()
    production.control.clear_audit()
    result = clone(run_playbook, production, dev, tmp_path, "--check", "--diff")
    assert "Preview of the clone of shop" in result.stdout
    assert "Secrets left out (no replacement): shop/regcred, shop/web-tls" in result.stdout
    assert "CronJobs suspended: shop/nightly-report" in result.stdout
    # The diff of the objects restore shows the rules applied, e.g. the rewritten host.
    assert "shop.dev.example.com" in result.stdout
    assert {record["verb"] for record in dev.control.audit()} <= {"get", "list"}
    assert {record["verb"] for record in production.control.audit()} <= {"get", "list"}
    assert not objects(dev, "shop-dev")


def test_bad_clone_input_is_refused_before_any_write(production, dev, run_playbook, tmp_path):
    dev.control.clear_audit()
    result = clone(run_playbook, production, dev, tmp_path, check=False, clone_namespaces=[])
    assert result.returncode != 0 and "clone_namespaces is required" in result.stdout
    result = clone(run_playbook, production, dev, tmp_path, check=False, clone_secret_replacements={"shop/missing": {"a": "b"}})
    assert result.returncode != 0 and "shop/missing" in result.stdout and "does not hold" in result.stdout
    assert {record["verb"] for record in dev.control.audit()} <= {"get", "list"}

"""The collection run by a ServiceAccount with the README's least-privilege Roles (docs/rbac/), against the emulator
with RBAC on: each Role is enough, and a Role missing a rule makes the run fail or skip visibly."""

import copy
import json
import os

import pytest
import yaml

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError, KubeClient, connection_options
from module_results import module_plays

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RBAC_DOCS = os.path.join(REPO, "docs", "rbac")


def rbac_documents(name):
    with open(os.path.join(RBAC_DOCS, name), encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    assert document["kind"] == "List"  # one document, as kubectl apply -f takes it
    return document["items"]


def admin_client(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


def apply(cluster, documents):
    """Create the documents as the admin (the emulator's seed path would skip authorization and admission alike)."""
    client = admin_client(cluster)
    paths = {("v1", "Namespace"): "/api/v1/namespaces",
             ("v1", "ServiceAccount"): "/api/v1/namespaces/%s/serviceaccounts",
             ("rbac.authorization.k8s.io/v1", "Role"): "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles",
             ("rbac.authorization.k8s.io/v1", "RoleBinding"): "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings",
             ("rbac.authorization.k8s.io/v1", "ClusterRole"): "/apis/rbac.authorization.k8s.io/v1/clusterroles",
             ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"}
    for document in documents:
        path = paths[(document["apiVersion"], document["kind"])]
        if "%s" in path:
            path = path % document["metadata"]["namespace"]
        try:
            client.request("POST", path, body=document)
        except ApiError as exc:
            if exc.status != 409:  # the shared kubesafe namespace of several documents
                raise


def without_rule(documents, kind, predicate):
    """The documents with the first rule of ``kind`` matching ``predicate`` removed (it must exist)."""
    changed = copy.deepcopy(documents)
    role = next(doc for doc in changed if doc["kind"] == kind)
    rule = next(rule for rule in role["rules"] if predicate(rule))
    role["rules"].remove(rule)
    return changed


def play(ansible_playbook, env, tmp_path, tasks, *args, check=True):
    result_file = tmp_path / "results.json"
    if result_file.exists():
        result_file.unlink()
    run = ansible_playbook(module_plays(tasks, result_file), env, *args, check=check)
    return run, (json.loads(result_file.read_text()) if result_file.exists() else None)


def as_account(cluster, kubeconfig):
    env = cluster.env()
    env["KUBECONFIG"] = env["K8S_AUTH_KUBECONFIG"] = kubeconfig
    return env


def forbidden_requests(cluster, user):
    return [(r["verb"], r["path"]) for r in cluster.control.audit() if r["code"] == 403 and r["user"] == user]


BACKUP_ACCOUNT = "system:serviceaccount:kubesafe:kubesafe-backup"
RESTORE_ACCOUNT = "system:serviceaccount:kubesafe:kubesafe-restore"


def backup_task(name, location, **options):
    """A backup of shop; ``included_namespaces=None``: of every namespace."""
    arguments = dict({"name": name, "location": str(location), "included_namespaces": ["shop"]}, **options)
    return {"kubesafe.k8s.backup": {key: value for key, value in arguments.items() if value is not None},
            "register": "backup", "ignore_errors": True}


def with_role_changed(documents, kind, change):
    changed = copy.deepcopy(documents)
    change(next(doc for doc in changed if doc["kind"] == kind)["rules"][0])
    return changed


def test_a_namespace_role_is_enough_to_back_up_its_namespace_and_the_cluster_scope_is_listed_as_skipped(
        kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True, authorization="rbac")
    apply(cluster, rbac_documents("backup-namespace.yml"))
    location = tmp_path / "location"
    _run, results = play(ansible_playbook, cluster.env(), tmp_path, [backup_task("by-admin", location, include_cluster_resources=False)])
    by_admin = results["backup"]["backup"]
    env = as_account(cluster, cluster.service_account_kubeconfig("kubesafe", "kubesafe-backup"))
    run, results = play(ansible_playbook, env, tmp_path, [backup_task("by-role", location)])
    backup = results["backup"]["backup"]
    assert not results["backup"].get("failed") and backup["phase"] == "Completed" and backup["errors"] == []
    # Every object of the namespace, the Namespace itself included (read by name: namespaces cannot be listed).
    assert backup["resource_counts"] == by_admin["resource_counts"] and backup["resource_counts"]["namespaces"] == 1
    assert backup["resource_counts"]["secrets"] == by_admin["resource_counts"]["secrets"] > 0
    # What it could not read is listed with the API server's reason, and warned about.
    skipped = {entry["resource"].split("/")[0]: entry for entry in backup["skipped_resources"]}
    assert set(skipped) == {"customresourcedefinitions.apiextensions.k8s.io", "persistentvolumes", "clusterrolebindings.rbac.authorization.k8s.io"}
    assert all(entry["counted_as"] == "warning" for entry in backup["skipped_resources"])
    assert skipped["persistentvolumes"]["reason"].startswith('persistentvolumes "pvc-')
    assert skipped["persistentvolumes"]["reason"].endswith(
        'is forbidden: User "%s" cannot get resource "persistentvolumes" in API group "" at the cluster scope' % BACKUP_ACCOUNT)
    assert any(warning.startswith("clusterrolebindings.rbac.authorization.k8s.io at the cluster scope: skipped, the credentials may not list it")
               for warning in results["backup"]["warnings"])
    marker = json.loads((location / "backups" / "by-role" / "velero-backup.json").read_text())
    assert marker["status"]["phase"] == "Completed" and marker["status"]["warnings"] == len(backup["skipped_resources"])


def test_a_namespace_role_without_list_fails_the_backup_naming_what_it_could_not_list(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True, authorization="rbac")
    apply(cluster, with_role_changed(rbac_documents("backup-namespace.yml"), "Role", lambda rule: rule.update(verbs=["get"])))
    env = as_account(cluster, cluster.service_account_kubeconfig("kubesafe", "kubesafe-backup"))
    run, results = play(ansible_playbook, env, tmp_path, [backup_task("no-list", tmp_path / "location")])
    backup = results["backup"]["backup"]
    assert results["backup"]["failed"] and backup["phase"] == "PartiallyFailed"
    assert "is PartiallyFailed" in run.stdout
    assert any(error.startswith("Secret shop/*: could not list secrets in namespace shop: GET /api/v1/namespaces/shop/secrets: 403 Forbidden")
               for error in backup["errors"]), backup["errors"]
    secrets = next(entry for entry in backup["skipped_resources"] if entry["resource"] == "secrets")
    assert secrets == {"resource": "secrets", "namespace": "shop", "verb": "list", "counted_as": "error", "reason": (
        'secrets is forbidden: User "%s" cannot list resource "secrets" in API group "" in the namespace "shop"' % BACKUP_ACCOUNT)}
    assert backup["resource_counts"].get("secrets") is None


def test_a_namespace_role_cannot_find_namespaces_by_glob_and_says_what_to_grant(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True, authorization="rbac")
    apply(cluster, rbac_documents("backup-namespace.yml"))
    env = as_account(cluster, cluster.service_account_kubeconfig("kubesafe", "kubesafe-backup"))
    location = tmp_path / "location"
    run, results = play(ansible_playbook, env, tmp_path, [backup_task("glob", location, included_namespaces=["sh*"])])
    assert results["backup"]["failed"]
    assert "the credentials may not list namespaces" in results["backup"]["msg"]
    assert "included_namespaces (backup_included_namespaces in the backup role) without globs" in results["backup"]["msg"]
    assert not (location / "backups" / "glob").exists()
    # Asking for all cluster-scoped resources with a namespace Role: each one refused is an error.
    run, results = play(ansible_playbook, env, tmp_path, [backup_task("with-cluster", location, include_cluster_resources=True)])
    backup = results["backup"]["backup"]
    assert backup["phase"] == "PartiallyFailed" and results["backup"]["failed"]
    refused = {entry["resource"] for entry in backup["skipped_resources"] if entry["counted_as"] == "error"}
    assert {"persistentvolumes", "storageclasses.storage.k8s.io", "customresourcedefinitions.apiextensions.k8s.io"} <= refused


def test_the_cluster_role_backs_up_what_an_admin_does_and_a_narrower_one_fails_visibly(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True, authorization="rbac")
    documents = rbac_documents("backup-cluster.yml")
    apply(cluster, documents)
    location = tmp_path / "location"
    _run, results = play(ansible_playbook, cluster.env(), tmp_path, [backup_task("by-admin", location, included_namespaces=None)])
    assert "backup" in results["backup"], results["backup"].get("msg")
    by_admin = results["backup"]["backup"]
    env = as_account(cluster, cluster.service_account_kubeconfig("kubesafe", "kubesafe-backup"))
    _run, results = play(ansible_playbook, env, tmp_path, [backup_task("by-role", location, included_namespaces=None)])
    backup = results["backup"]["backup"]
    assert backup["phase"] == "Completed" and backup["skipped_resources"] == [] and forbidden_requests(cluster, BACKUP_ACCOUNT) == []
    assert backup["resource_counts"] == by_admin["resource_counts"]

    # The same ClusterRole limited to the core group: every other group's objects are missing, and said so.
    cluster.control.clear_audit()
    admin_client(cluster).request("PUT", "/apis/rbac.authorization.k8s.io/v1/clusterroles/kubesafe-backup", body=with_role_changed(
        documents, "ClusterRole", lambda rule: rule.update(apiGroups=[""]))[2])
    run, results = play(ansible_playbook, env, tmp_path, [backup_task("core-only", location, included_namespaces=None)])
    backup = results["backup"]["backup"]
    assert results["backup"]["failed"] and backup["phase"] == "PartiallyFailed"
    assert "Deployment */*: could not list deployments.apps in all namespaces: GET /apis/apps/v1/deployments" in " ".join(backup["errors"])
    assert any(entry["resource"] == "deployments.apps" and entry["counted_as"] == "error" for entry in backup["skipped_resources"])
    assert "deployments.apps" not in backup["resource_counts"] and backup["resource_counts"]["secrets"] > 0


RESTORE_SHOP = {"location": None, "backup": "shop", "included_namespaces": ["shop"], "include_cluster_resources": False, "wait": True}


def _lose_shop_and_prepare_the_restore(cluster, ansible_playbook, tmp_path, documents):
    location = tmp_path / "location"
    play(ansible_playbook, cluster.env(), tmp_path, [backup_task("shop", location)])
    cluster.lose_namespaces("shop")
    # What the README asks of an admin first: the namespace, and the Role and RoleBinding in it.
    admin_client(cluster).request("POST", "/api/v1/namespaces", body={"metadata": {"name": "shop"}})
    apply(cluster, documents)
    env = as_account(cluster, cluster.service_account_kubeconfig("kubesafe", "kubesafe-restore"))
    return env, dict(RESTORE_SHOP, location=str(location))


def test_the_namespace_restore_role_is_enough_to_bring_the_namespace_back(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True, authorization="rbac")
    env, options = _lose_shop_and_prepare_the_restore(cluster, ansible_playbook, tmp_path, rbac_documents("restore-namespace.yml"))
    _run, results = play(ansible_playbook, env, tmp_path, [{"kubesafe.k8s.restore": options, "register": "restore"}])
    restore = results["restore"]["restore"]
    assert restore["phase"] == "Completed" and restore["errors"] == [] and restore["totals"]["create"] > 20
    # The one refusal: creating the Namespace (a Role cannot); the restore then reads it and finds it there.
    assert forbidden_requests(cluster, RESTORE_ACCOUNT) == [("create", "/api/v1/namespaces")]
    assert any(warning.startswith("namespaces shop: already exists") for warning in restore["warnings"])
    restored = {(o["kind"], o["metadata"]["name"]) for o in cluster.control.dump() if o["metadata"].get("namespace") == "shop"}
    assert {("Deployment", "web"), ("StatefulSet", "db"), ("Secret", "db-credentials"), ("Coupon", "welcome10")} <= restored


def test_a_restore_role_without_create_fails_naming_the_refusals(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True, authorization="rbac")
    documents = with_role_changed(rbac_documents("restore-namespace.yml"), "Role", lambda rule: rule["verbs"].remove("create"))
    env, options = _lose_shop_and_prepare_the_restore(cluster, ansible_playbook, tmp_path, documents)
    run, results = play(ansible_playbook, env, tmp_path, [{"kubesafe.k8s.restore": options, "register": "restore", "ignore_errors": True}])
    restore = results["restore"]["restore"]
    assert results["restore"]["failed"] and restore["phase"] == "PartiallyFailed"
    assert any('deployments.apps is forbidden: User "%s" cannot create resource "deployments"' % RESTORE_ACCOUNT in error
               for error in restore["errors"]), restore["errors"]
    assert not [o for o in cluster.control.dump() if o["kind"] == "Deployment" and o["metadata"].get("namespace") == "shop"]


def _dr_run(kubesim_factory, run_playbook, tmp_path, source, documents, wait_timeout=60):
    location = tmp_path / "loc"
    run_playbook("playbooks/backup.yml", source.env(), "-e", "backup_location=%s" % location, "-e", "backup_name=a-nightly",
                 "-e", "backup_included_namespaces=shop,payments")
    cluster_b = kubesim_factory(name="b", authorization="rbac")
    client = admin_client(cluster_b)
    for name, policy in (("standard", "Delete"), ("fast", "Retain")):
        client.request("POST", "/apis/storage.k8s.io/v1/storageclasses", body={
            "metadata": {"name": name}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": policy, "volumeBindingMode": "Immediate"})
    apply(cluster_b, documents)
    variables = {"dr_location": str(location), "dr_target_kubeconfig": cluster_b.service_account_kubeconfig("kubesafe", "kubesafe-dr"),
                 "dr_report_dir": str(tmp_path / "reports"), "dr_wait_timeout": wait_timeout}
    run = run_playbook("playbooks/dr.yml", source.env(with_kubeconfig=False), "-e", json.dumps(variables), check=False)
    reports = sorted((tmp_path / "reports").glob("*.json"))
    return cluster_b, run, json.loads(reports[0].read_text()) if reports else None


DR_ACCOUNT = "system:serviceaccount:kubesafe:kubesafe-dr"


def test_the_dr_cluster_role_is_enough_for_a_dr_run(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    cluster_b, run, report = _dr_run(kubesim_factory, run_playbook, tmp_path, sample_cluster, rbac_documents("dr.yml"))
    assert run.returncode == 0 and report["complete"] is True and report["errors"] == [], run.stdout[-3000:]
    assert forbidden_requests(cluster_b, DR_ACCOUNT) == []
    restored = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in cluster_b.control.dump() if o["kind"] == "Deployment"}
    assert restored == {("shop", "web"), ("payments", "api")}


def test_a_dr_cluster_role_without_create_fails_the_dr_run(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    documents = with_role_changed(rbac_documents("dr.yml"), "ClusterRole", lambda rule: rule["verbs"].remove("create"))
    cluster_b, run, report = _dr_run(kubesim_factory, run_playbook, tmp_path, sample_cluster, documents, wait_timeout=5)
    output = run.stdout + run.stderr
    assert run.returncode != 0 and "Set fail_on_partial: false to accept a restore that is not Completed" in output
    assert 'is forbidden: User "%s" cannot create resource' % DR_ACCOUNT in output
    assert report is None or report["complete"] is False
    assert not [o for o in cluster_b.control.dump() if o["kind"] == "Deployment"]


def test_a_restore_role_without_escalate_cannot_restore_a_role_granting_more_than_it_holds(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True, authorization="rbac")
    documents = copy.deepcopy(rbac_documents("restore-namespace.yml"))
    next(doc for doc in documents if doc["kind"] == "Role")["rules"].pop(1)
    env, options = _lose_shop_and_prepare_the_restore(cluster, ansible_playbook, tmp_path, documents)
    _run, results = play(ansible_playbook, env, tmp_path, [{"kubesafe.k8s.restore": options, "register": "restore", "ignore_errors": True}])
    restore = results["restore"]["restore"]
    assert results["restore"]["failed"] and restore["phase"] == "PartiallyFailed"
    # The sample's Role grants watch on configmaps, which the restore Role does not hold.
    assert [error.split(" is forbidden: ")[0] for error in restore["errors"]] == [
        'Role shop/web-config-reader: 403 Forbidden: roles.rbac.authorization.k8s.io "web-config-reader"']
    assert "is attempting to grant RBAC permissions not currently held" in restore["errors"][0]

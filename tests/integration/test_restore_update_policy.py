"""restore.yml with restore_existing_resource_policy=update: the live objects end equal to the backup, keeping what the cluster assigned."""

import json

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options

pytestmark = pytest.mark.integration

MERGE_PATCH = "application/merge-patch+json"
WEB = "/apis/apps/v1/namespaces/shop/deployments/web"
WEB_CONFIG = "/api/v1/namespaces/shop/configmaps/web-config"
WEB_LB = "/api/v1/namespaces/shop/services/web-lb"
UPLOADS = "/api/v1/namespaces/shop/persistentvolumeclaims/uploads"


def client_for(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


def report(location, name):
    return json.loads((location / "restores" / name / ("restore-%s-report.json" % name)).read_text())


def actions(restore_report, namespace):
    return {(o["group_resource"], o["name"]): o["action"] for o in restore_report["objects"] if o.get("namespace") == namespace}


def test_update_removes_what_was_added_after_the_backup_and_keeps_what_the_cluster_assigned(sample_cluster, run_playbook, tmp_path):
    client = client_for(sample_cluster)
    location = tmp_path / "location"
    env = sample_cluster.env()
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % location, "-e", "backup_name=nightly")
    backed_up_web = client.request("GET", WEB)
    # Lost, then restored by this collection: web-lb gets a new, auto-assigned node port, the claim a new volume.
    sample_cluster.lose_namespaces("shop")
    run_playbook("playbooks/restore.yml", env, "-e", "restore_location=%s" % location, "-e", "backup=nightly", "-e", "restore_name=first",
                 "-e", "restore_wait=true")
    sample_cluster.control.settle(30)
    service = client.request("GET", WEB_LB)
    claim = client.request("GET", UPLOADS)
    assert service["spec"]["ports"][0]["nodePort"] and claim["status"]["phase"] == "Bound" and claim["spec"]["volumeName"]
    # Changed by hand after the backup.
    client.request("PATCH", WEB_CONFIG, body={"data": {"DEBUG_TOKEN": "added-later"}}, content_type=MERGE_PATCH)
    containers = client.request("GET", WEB)["spec"]["template"]["spec"]["containers"]
    containers[0]["env"] = containers[0].get("env", []) + [{"name": "FEATURE_FLAG", "value": "on"}]
    client.request("PATCH", WEB, body={"metadata": {"labels": {"hotfix": "true"}, "annotations": {"oncall.example.com/owner": "alice"}},
                                       "spec": {"template": {"spec": {"containers": containers}}}}, content_type=MERGE_PATCH)
    sample_cluster.control.clear_audit()

    run_playbook("playbooks/restore.yml", env, "-e", "restore_location=%s" % location, "-e", "backup=nightly", "-e", "restore_name=second",
                 "-e", "restore_existing_resource_policy=update")

    config = client.request("GET", WEB_CONFIG)
    assert "DEBUG_TOKEN" not in config["data"] and config["data"]["APP_MODE"] == "production"
    web = client.request("GET", WEB)
    assert "hotfix" not in web["metadata"]["labels"] and "oncall.example.com/owner" not in web["metadata"]["annotations"]
    assert web["spec"]["template"]["spec"]["containers"] == backed_up_web["spec"]["template"]["spec"]["containers"]
    second = report(location, "second")
    shop = actions(second, "shop")
    assert shop[("configmaps", "web-config")] == "update" and shop[("deployments.apps", "web")] == "update"
    # Only what the cluster assigned differs from the backup: nothing to report or write.
    assert shop[("services", "web-lb")] == "unchanged" and shop[("persistentvolumeclaims", "uploads")] == "unchanged"
    assert not [w for w in second["warnings"] if "differs" in w], second["warnings"]
    # (Each object's create is tried first and refused with 409; no change is ever written to these two.)
    changed = {r["path"].split("?")[0] for r in sample_cluster.control.audit() if r["verb"] in ("update", "patch", "delete")}
    assert WEB_LB not in changed and UPLOADS not in changed and WEB in changed, changed
    again = client.request("GET", WEB_LB)
    assert again["spec"]["ports"][0]["nodePort"] == service["spec"]["ports"][0]["nodePort"]
    assert again["spec"]["clusterIP"] == service["spec"]["clusterIP"]
    bound = client.request("GET", UPLOADS)
    assert bound["spec"]["volumeName"] == claim["spec"]["volumeName"] and bound["status"]["phase"] == "Bound"
    assert second["phase"] == "Completed", second["errors"]


def test_update_of_named_objects_leaves_their_namespace_as_it_is(sample_cluster, run_playbook, tmp_path):
    """With names, the Namespace object is not restored, only made to exist: update must not strip the live one."""
    client = client_for(sample_cluster)
    location = tmp_path / "location"
    env = sample_cluster.env()
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % location, "-e", "backup_name=nightly")
    namespace = client.request("GET", "/api/v1/namespaces/shop")["metadata"]
    assert namespace.get("annotations") and len(namespace["labels"]) > 1
    client.request("DELETE", WEB_CONFIG)
    run_playbook("playbooks/restore.yml", env, "-e", "restore_location=%s" % location, "-e", "backup=nightly",
                 "-e", json.dumps({"restore_names": ["configmap/shop/web-config"], "restore_existing_resource_policy": "update"}))
    assert client.request("GET", WEB_CONFIG)["metadata"]["name"] == "web-config"
    after = client.request("GET", "/api/v1/namespaces/shop")["metadata"]
    assert (after["labels"], after.get("annotations")) == (namespace["labels"], namespace.get("annotations"))

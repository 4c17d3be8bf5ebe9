"""Restores of the sample cluster's backups: what a user checks after a disaster, object by object."""

import copy
import json
import os

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions, run_restore
from velero_archives import velero_archive

pytestmark = pytest.mark.integration

RESTORE_LABELS = ("velero.io/backup-name", "velero.io/restore-name")
# Kinds a restore leaves to the cluster's controllers, or skips as Velero does.
RECREATED_BY_CONTROLLERS = ("Pod", "ReplicaSet", "Endpoints", "EndpointSlice", "ControllerRevision", "Event", "Node")


def client_for(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


def back_up(cluster, directory, name="snap", **options):
    return run_backup(client_for(cluster), open_location(str(directory)), BackupOptions(name=name, **options))


def restore(cluster, directory, check_mode=False, want_diff=False, **options):
    return run_restore(client_for(cluster), open_location(str(directory)), RestoreOptions(**options), check_mode=check_mode, want_diff=want_diff)


def objects_in(cluster, namespaces):
    return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in cluster.control.dump()
            if o["metadata"].get("namespace") in namespaces}


def desired_state(obj):
    """What must survive a restore: the user's intent, not what the server or controllers set."""
    obj = copy.deepcopy(obj)
    metadata = obj["metadata"]
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in RESTORE_LABELS and "controller-uid" not in k}
    kept = {"name": metadata["name"], "labels": labels, "annotations": metadata.get("annotations") or {}}
    result = {key: value for key, value in obj.items() if key not in ("metadata", "status", "apiVersion")}
    result["metadata"] = kept
    spec = result.get("spec")
    if obj["kind"] == "Service":
        for field in ("clusterIP", "clusterIPs"):
            if spec.get(field) != "None" and spec.get(field) != ["None"]:
                spec.pop(field, None)
        for port in spec.get("ports") or []:
            if port.get("nodePort") != 30080:  # the fixture's only explicitly set node port
                port.pop("nodePort", None)
    if obj["kind"] == "PersistentVolumeClaim":
        spec.pop("volumeName", None)
        for key in list(kept["annotations"]):
            if key.startswith(("pv.kubernetes.io/", "volume.kubernetes.io/", "volume.beta.kubernetes.io/")):
                del kept["annotations"][key]
    if obj["kind"] == "Job":
        spec.pop("selector", None)
        spec["template"]["metadata"]["labels"] = {k: v for k, v in spec["template"]["metadata"].get("labels", {}).items() if "controller-uid" not in k
                                                  and k not in ("job-name", "batch.kubernetes.io/job-name")}
    if obj["kind"] == "ServiceAccount":
        result.pop("secrets", None)
    return result


def wipe(cluster, namespaces):
    cluster.lose_namespaces(*namespaces)


def test_round_trip_after_losing_namespaces(sample_cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    env = sample_cluster.env()
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % location, "-e", "backup_name=before-disaster")
    before = objects_in(sample_cluster, {"shop", "payments"})
    wipe(sample_cluster, ["shop", "payments"])
    assert not objects_in(sample_cluster, {"shop", "payments"})
    run_playbook("playbooks/restore.yml", env, "-e", "restore_location=%s" % location, "-e", "backup=latest", "-e", "restore_wait=true",
                 "-e", "restore_name=after-disaster")
    sample_cluster.control.settle(30)
    after = objects_in(sample_cluster, {"shop", "payments"})
    for key, obj in before.items():
        if key[0] in RECREATED_BY_CONTROLLERS or key[2] in ("kube-root-ca.crt", "default") or key[0] == "Secret" and \
                obj.get("type") == "kubernetes.io/service-account-token":
            continue
        if key[0] == "Job" or (obj["metadata"].get("labels") or {}).get("velero.io/exclude-from-backup") == "true":
            continue  # not backed up, or not restored once completed (Velero)
        assert key in after, "%s was not restored" % (key,)
        assert desired_state(after[key]) == desired_state(obj), key
        labels = after[key]["metadata"]["labels"]
        assert labels["velero.io/backup-name"] == "before-disaster" and labels["velero.io/restore-name"] == "after-disaster"
    # Services got new cluster IPs, explicit node ports were kept.
    for name in ("web", "web-lb"):
        assert after[("Service", "shop", name)]["spec"]["clusterIP"] not in ("", None)
    assert after[("Service", "shop", "web-nodeport")]["spec"]["ports"][0]["nodePort"] == 30080
    assert after[("Service", "shop", "db")]["spec"]["clusterIP"] == "None"
    # Claims bound again, workloads ready.
    for key, obj in after.items():
        if key[0] == "PersistentVolumeClaim":
            assert obj["status"]["phase"] == "Bound", key
        if key[0] == "Deployment":
            assert obj["status"].get("readyReplicas") == obj["spec"]["replicas"], key
    # The restore record is in the location, under restores/ only.
    assert sorted(os.listdir(location)) == ["backups", "restores"]
    assert (location / "restores" / "after-disaster" / "restore-after-disaster-results.gz").exists()


def test_owner_references_point_at_the_new_owners(kubesim_factory, tmp_path):
    cluster = kubesim_factory()
    client = client_for(cluster)
    owner = client.request("POST", "/apis/apps/v1/namespaces/default/deployments", body={
        "metadata": {"name": "owner", "namespace": "default"}, "spec": {"replicas": 0, "selector": {"matchLabels": {"a": "b"}},
                                                                        "template": {"metadata": {"labels": {"a": "b"}},
                                                                                     "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    client.request("POST", "/api/v1/namespaces/default/configmaps", body={
        "metadata": {"name": "owned", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "owner",
                                                           "uid": owner["metadata"]["uid"]}]}, "data": {"k": "v"}})
    back_up(cluster, tmp_path, included_namespaces=["default"])
    wipe(cluster, ["default"])
    client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "default"}})
    restore(cluster, tmp_path, backup="snap")
    new_owner = client.request("GET", "/apis/apps/v1/namespaces/default/deployments/owner")
    owned = client.request("GET", "/api/v1/namespaces/default/configmaps/owned")
    assert new_owner["metadata"]["uid"] != owner["metadata"]["uid"]
    assert [ref["uid"] for ref in owned["metadata"]["ownerReferences"]] == [new_owner["metadata"]["uid"]]


def test_migration_into_another_cluster_with_mappings(sample_cluster, kubesim_factory, tmp_path):
    back_up(sample_cluster, tmp_path, included_namespaces=["shop"])
    target = kubesim_factory(name="target")
    client = client_for(target)
    client.request("POST", "/apis/storage.k8s.io/v1/storageclasses", body={
        "metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    result = restore(target, tmp_path, backup="snap", namespace_mapping={"shop": "shop-dr"}, storage_class_mapping={"standard": "gp3"},
                     registry_mapping={"docker.io": "mirror.internal/hub"}, wait=True, wait_timeout=60)
    assert result["phase"] == "Completed", result["errors"]
    objects = objects_in(target, {"shop-dr", "shop"})
    assert not [key for key in objects if key[1] == "shop"], "the source namespace must not be restored as well"
    pvc = objects[("PersistentVolumeClaim", "shop-dr", "uploads")]
    assert pvc["spec"]["storageClassName"] == "gp3" and pvc["status"]["phase"] == "Bound"
    statefulset = objects[("StatefulSet", "shop-dr", "db")]
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3"
    images = [c["image"] for c in objects[("Deployment", "shop-dr", "web")]["spec"]["template"]["spec"]["containers"]]
    assert images == ["mirror.internal/hub/library/nginx:1.27.2", "registry.example.com/shop/web-app:1.4.2"]  # other registries untouched
    binding = client.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/shop-reader")
    assert {(s.get("namespace"), s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"} == {("shop-dr", "web")}
    coupons = client.request("GET", "/apis/shop.example.com/v1/namespaces/shop-dr/coupons")["items"]
    assert sorted(c["metadata"]["name"] for c in coupons) == ["expired-blackfriday", "summer-sale", "welcome10"]


def test_a_velero_written_backup_restores(cluster, tmp_path):
    folder = tmp_path / "backups" / "velero-made"
    folder.mkdir(parents=True)
    objects = [
        ("resources/namespaces/cluster/legacy.json", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy", "labels": {"team": "old"},
                                                                                                            "uid": "u-ns"}}),
        ("resources/configmaps/namespaces/legacy/settings.json", {"apiVersion": "v1", "kind": "ConfigMap",
                                                                  "metadata": {"name": "settings", "namespace": "legacy", "uid": "u-cm",
                                                                               "resourceVersion": "42"}, "data": {"mode": "safe"}}),
        ("resources/deployments.apps/namespaces/legacy/app.json", {"apiVersion": "apps/v1", "kind": "Deployment",
                                                                   "metadata": {"name": "app", "namespace": "legacy", "uid": "u-d"},
                                                                   "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
                                                                            "template": {"metadata": {"labels": {"app": "a"}},
                                                                                         "spec": {"containers": [{"name": "a", "image": "nginx"}]}}},
                                                                   "status": {"replicas": 1}}),
    ]
    (folder / "velero-made.tar.gz").write_bytes(velero_archive(objects))
    (folder / "velero-backup.json").write_text(json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "velero-made", "namespace": "velero"},
        "spec": {"includedNamespaces": ["legacy"], "ttl": "720h0m0s", "storageLocation": "default"},
        "status": {"phase": "Completed", "version": 1, "formatVersion": "1.1.0", "startTimestamp": "2026-11-01T00:00:00Z",
                   "completionTimestamp": "2026-11-01T00:01:00Z", "expiration": "2026-12-01T00:00:00Z"}}))
    result = restore(cluster, tmp_path, backup="velero-made")
    assert result["phase"] == "Completed", result["errors"]
    client = client_for(cluster)
    assert client.request("GET", "/api/v1/namespaces/legacy")["metadata"]["labels"]["team"] == "old"
    assert client.request("GET", "/api/v1/namespaces/legacy/configmaps/settings")["data"] == {"mode": "safe"}
    assert client.request("GET", "/apis/apps/v1/namespaces/legacy/deployments/app")["spec"]["replicas"] == 1


def test_check_mode_writes_nothing_and_diffs_are_right(sample_cluster, tmp_path):
    back_up(sample_cluster, tmp_path, included_namespaces=["payments"])
    client = client_for(sample_cluster)
    client.request("DELETE", "/api/v1/namespaces/payments/configmaps/api-config")
    secret_key = sorted(client.request("GET", "/api/v1/namespaces/payments/secrets/api-keys")["data"])[0]
    client.request("PATCH", "/api/v1/namespaces/payments/secrets/api-keys", body={"data": {secret_key: "Y2hhbmdlZA=="}},
                   content_type="application/merge-patch+json")
    sample_cluster.control.clear_audit()
    result = restore(sample_cluster, tmp_path, backup="snap", check_mode=True, want_diff=True, existing_resource_policy="update")
    assert {r["verb"] for r in sample_cluster.control.audit()} <= {"get", "list"}
    assert not (tmp_path / "restores").exists()
    by_key = {(o["group_resource"], o["name"]): o for o in result["objects"]}
    created = by_key[("configmaps", "api-config")]
    assert created["action"] == "create" and created["diff"]["before"] in (None, {}) and created["diff"]["after"]["data"]
    updated = by_key[("secrets", "api-keys")]
    # Secret values never show in a diff (issue 7): a changed value is marked, not shown.
    assert updated["action"] == "update" and updated["diff"]["before"]["data"][secret_key] == "VALUE_HIDDEN (changed)"
    assert updated["diff"]["after"]["data"][secret_key] == "VALUE_HIDDEN (changed)"
    assert "Y2hhbmdlZA==" not in json.dumps(result)
    assert by_key[("deployments.apps", "api")]["action"] in ("unchanged", "update")
    assert by_key[("services", "api")]["action"] in ("unchanged", "update")


@pytest.mark.parametrize("policy, expected_action, data_after", [
    ("none", "skip", {"k": "changed"}),
    ("update", "update", {"k": "original"}),
    ("recreate", "recreate", {"k": "original"}),
])
def test_existing_resource_policies(cluster, tmp_path, policy, expected_action, data_after):
    client = client_for(cluster)
    client.request("POST", "/api/v1/namespaces/default/configmaps", body={"metadata": {"name": "target"}, "data": {"k": "original"}})
    back_up(cluster, tmp_path, included_namespaces=["default"], included_resources=["configmaps"])
    before = client.request("PATCH", "/api/v1/namespaces/default/configmaps/target", body={"data": {"k": "changed"}},
                            content_type="application/merge-patch+json")
    result = restore(cluster, tmp_path, backup="snap", existing_resource_policy=policy)
    decision = next(o for o in result["objects"] if o["name"] == "target")
    assert decision["action"] == expected_action
    after = client.request("GET", "/api/v1/namespaces/default/configmaps/target")
    assert after["data"] == data_after
    assert (after["metadata"]["uid"] != before["metadata"]["uid"]) == (policy == "recreate")


@pytest.mark.parametrize("names, restored, not_restored", [
    (["deployment/shop/web"], {("Deployment", "web")}, {("Service", "web"), ("ConfigMap", "web-config")}),
    (["configmap/shop/*"], {("ConfigMap", "web-config")}, {("Deployment", "web")}),
    (["secret/shop/db-*", "service/shop/web"], {("Secret", "db-credentials"), ("Service", "web")}, {("Secret", "regcred")}),
])
def test_selective_restore_by_name(sample_cluster, tmp_path, names, restored, not_restored):
    back_up(sample_cluster, tmp_path, included_namespaces=["shop"])
    wipe(sample_cluster, ["shop"])
    restore(sample_cluster, tmp_path, backup="snap", names=names)
    present = {(kind, name) for (kind, namespace, name) in objects_in(sample_cluster, {"shop"})}
    assert restored <= present and not not_restored & present


# ----------------------------------------------------------------- waits (restore_wait)

NEVER_SCHEDULED = {"kubesim.example/no-such-node": "true"}  # no node of the emulator matches: no pod ever starts


def batch_job(namespace, name, suspend=False, completions=None, node_selector=None):
    pod_spec = {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    spec = {"suspend": suspend, "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}
    if completions:
        spec.update(completions=completions, parallelism=1)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def back_up_and_lose(cluster, run_playbook, location, namespace, objects):
    client = client_for(cluster)
    client.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for obj in objects:
        plural = {"Job": "jobs", "Deployment": "deployments"}[obj["kind"]]
        client.request("POST", "/apis/%s/namespaces/%s/%s" % (obj["apiVersion"], namespace, plural), body=obj)
    run_playbook("playbooks/backup.yml", cluster.env(), "-e", "backup_location=%s" % location, "-e", "backup_name=work",
                 "-e", "backup_included_namespaces=%s" % namespace)
    wipe(cluster, [namespace])


def restore_report(location, name):
    return json.loads((location / "restores" / name / ("restore-%s-report.json" % name)).read_text())


def test_restore_wait_skips_a_suspended_job_and_counts_a_running_one(cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    back_up_and_lose(cluster, run_playbook, location, "batch", [
        batch_job("batch", "paused", suspend=True),
        batch_job("batch", "long", completions=1000000)])  # one pod at a time: it runs for days
    run_playbook("playbooks/restore.yml", cluster.env(), "-e", "restore_location=%s" % location, "-e", "backup=work",
                 "-e", "restore_name=jobs-back", "-e", "restore_wait=true")
    report = restore_report(location, "jobs-back")
    assert report["phase"] == "Completed" and report["errors"] == []
    waits = {wait["name"]: wait for wait in report["waits"]}
    assert waits["paused"]["kind"] == "Job" and waits["paused"]["ready"] and waits["paused"]["skipped"]
    assert waits["paused"]["reason"].startswith("suspended (spec.suspend is true)")
    assert waits["long"]["ready"] and not waits["long"]["skipped"]
    long_job = client_for(cluster).request("GET", "/apis/batch/v1/namespaces/batch/jobs/long")
    assert long_job["status"].get("succeeded", 0) < 1000000 and not long_job["status"].get("conditions")  # still running


def test_restore_waits_for_every_workload_however_many_objects_come_before_it(cluster, run_playbook, tmp_path):
    # The result lists only the first objects of a large restore; the wait must still cover every workload.
    location = tmp_path / "location"
    template = {"metadata": {"labels": {"app": "late"}},
                "spec": {"nodeSelector": NEVER_SCHEDULED, "containers": [{"name": "web", "image": "nginx:1.27"}]}}
    filler = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%04d" % number, "namespace": "crowd"}, "data": {"n": str(number)}}
              for number in range(2100)]
    late = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "late", "namespace": "crowd"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "late"}}, "template": template}}
    cluster.control.seed([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "crowd"}}] + filler + [late])
    run_playbook("playbooks/backup.yml", cluster.env(), "-e", "backup_location=%s" % location, "-e", "backup_name=work",
                 "-e", "backup_included_namespaces=crowd")
    wipe(cluster, ["crowd"])
    run_playbook("playbooks/restore.yml", cluster.env(), "-e", "restore_location=%s" % location, "-e", "backup=work",
                 "-e", "restore_name=crowded", "-e", "restore_wait=true", "-e", "restore_wait_timeout=2", check=False)
    report = restore_report(location, "crowded")
    assert report["totals"]["create"] >= 2102
    assert [wait["name"] for wait in report["waits"]] == ["late"] and not report["waits"][0]["ready"]
    assert report["phase"] == "PartiallyFailed"


def test_restore_wait_names_what_never_became_ready(cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"nodeSelector": NEVER_SCHEDULED, "containers": [{"name": "web", "image": "nginx:1.27"}]}}
    back_up_and_lose(cluster, run_playbook, location, "shop", [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template}},
        batch_job("shop", "migrate", node_selector=NEVER_SCHEDULED)])
    # A short timeout: neither can ever become ready here.
    run_playbook("playbooks/restore.yml", cluster.env(), "-e", "restore_location=%s" % location, "-e", "backup=work",
                 "-e", "restore_name=stuck", "-e", "restore_wait=true", "-e", "restore_wait_timeout=2", check=False)
    report = restore_report(location, "stuck")
    assert report["phase"] == "PartiallyFailed"
    assert [error for error in report["errors"] if error.startswith("Deployment shop/web: not ready after 2s: 0 of 3 replicas available")]
    assert "Job shop/migrate: not ready after 2s: no pod started (1 pending)" in report["errors"]
    waits = {wait["name"]: wait for wait in report["waits"]}
    assert not waits["web"]["ready"] and not waits["migrate"]["ready"]

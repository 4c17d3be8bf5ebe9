"""Failures fail: PartiallyFailed backups and restores through ansible-playbook, what `latest` and verify make of them,
what check mode predicts, and a restore record that cannot be written."""

import json

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from module_results import module_plays, of_kind

pytestmark = pytest.mark.integration


def play(ansible_playbook, env, tmp_path, tasks, *args, check=True):
    """Run ``tasks`` (each registering a result) in one play: (the ansible-playbook run, the registered results)."""
    result_file = tmp_path / "results.json"
    if result_file.exists():
        result_file.unlink()
    run = ansible_playbook(module_plays(tasks, result_file), env, *args, check=check)
    return run, (json.loads(result_file.read_text()) if result_file.exists() else None)


def client_for(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


def writes(cluster):
    return [r for r in cluster.control.audit() if r["verb"] not in ("get", "list", "watch")]


def back_up(ansible_playbook, cluster, tmp_path, location, name, **options):
    _run, results = play(ansible_playbook, cluster.env(), tmp_path, [
        {"kubesafe.k8s.backup": dict({"name": name, "location": str(location), "included_namespaces": ["shop"]}, **options),
         "register": "backup"}])
    return results["backup"]["backup"]


def test_a_backup_whose_secrets_cannot_be_listed_fails_naming_them(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True)
    cluster.control.add_fault(action="status", status=403, verbs=["list"], resources=["secrets"])
    location = tmp_path / "location"
    task = {"kubesafe.k8s.backup": {"name": "forbidden", "location": str(location), "included_namespaces": ["shop"]},
            "register": "backup", "ignore_errors": True}

    run, results = play(ansible_playbook, cluster.env(), tmp_path, [dict(task, ignore_errors=False)], check=False)
    assert run.returncode != 0
    assert "backup 'forbidden' is PartiallyFailed: 1 error(s), first one: Secret shop/*: could not list secrets in namespace shop: " \
           "GET /api/v1/namespaces/shop/secrets: 403 Forbidden" in run.stdout, run.stdout
    # Committed all the same (restorable by name), and the result comes with the failure.
    assert (location / "backups" / "forbidden" / "velero-backup.json").exists()
    _run, results = play(ansible_playbook, cluster.env(), tmp_path, [dict(task, **{"kubesafe.k8s.backup": dict(
        task["kubesafe.k8s.backup"], name="forbidden-again")})])
    failed = results["backup"]
    assert failed["failed"] and failed["backup"]["phase"] == "PartiallyFailed"
    assert failed["backup"]["errors"] == [e for e in failed["backup"]["errors"] if e.startswith("Secret shop/*: could not list")]

    # Check mode predicts it, writing nothing.
    checked = {"kubesafe.k8s.backup": dict(task["kubesafe.k8s.backup"], name="forbidden-check"), "register": "backup"}
    cluster.control.clear_audit()
    run, _results = play(ansible_playbook, cluster.env(), tmp_path, [checked], "--check", check=False)
    assert run.returncode != 0 and "is PartiallyFailed (predicted by check mode)" in run.stdout
    assert writes(cluster) == [] and not (location / "backups" / "forbidden-check").exists()

    # fail_on_partial: false accepts it, with a warning.
    run, results = play(ansible_playbook, cluster.env(), tmp_path, [{"kubesafe.k8s.backup": {
        "name": "accepted", "location": str(location), "included_namespaces": ["shop"], "fail_on_partial": False}, "register": "backup"}])
    accepted = results["backup"]
    assert not accepted.get("failed") and accepted["changed"] and accepted["backup"]["phase"] == "PartiallyFailed"
    assert any("is PartiallyFailed" in warning and "Secret shop/*" in warning for warning in accepted["warnings"])


def test_latest_is_the_newest_completed_backup_and_a_partially_failed_one_restores_only_by_name(kubesim_factory, ansible_playbook,
                                                                                                tmp_path):
    cluster = kubesim_factory(sample=True)
    location = tmp_path / "location"
    back_up(ansible_playbook, cluster, tmp_path, location, "a-complete")
    cluster.control.add_fault(action="status", status=403, verbs=["list"], resources=["secrets"])
    back_up(ansible_playbook, cluster, tmp_path, location, "b-partial", fail_on_partial=False)  # newer (and later by name)
    cluster.control.clear_faults()
    common = {"location": str(location)}
    # Copies of shop next to it: its node port 30080 is taken.
    restoring = dict(common, excluded_resources=["services"])

    _run, results = play(ansible_playbook, cluster.env(), tmp_path, [
        {"kubesafe.k8s.backup_info": common, "register": "info"},
        {"kubesafe.k8s.verify": dict(common, fail_on_problems=False), "register": "verified"},
        {"kubesafe.k8s.restore": dict(restoring, backup="latest", namespace_mapping={"shop": "shop-latest"}), "register": "latest"},
        {"kubesafe.k8s.restore": dict(restoring, backup="b-partial", namespace_mapping={"shop": "shop-partial"}), "register": "named"},
    ])
    assert [(b["name"], b["phase"]) for b in results["info"]["backups"]] == [("b-partial", "PartiallyFailed"), ("a-complete", "Completed")]
    verified = {b["name"]: b for b in results["verified"]["backups"]}
    assert verified["a-complete"]["ok"] and not verified["b-partial"]["ok"]
    [problem] = verified["b-partial"]["problems"]
    assert problem.startswith("commit_marker: phase PartiallyFailed: 1 error(s)") and "b-partial-results.gz" in problem

    assert results["latest"]["restore"]["backup"] == "a-complete" and results["latest"]["restore"]["phase"] == "Completed"
    assert {s["metadata"]["name"] for s in of_kind(cluster, "Secret", "shop-latest")} >= {"db-credentials"}
    named = results["named"]
    assert named["restore"]["backup"] == "b-partial" and named["restore"]["phase"] == "Completed"
    assert any("backup 'b-partial' is PartiallyFailed (1 error(s) at backup time)" in w for w in named["warnings"]), named["warnings"]
    assert of_kind(cluster, "Secret", "shop-partial") == [] and of_kind(cluster, "Deployment", "shop-partial")


def test_a_restore_into_a_terminating_namespace_fails_naming_the_objects_and_check_mode_predicts_it(kubesim_factory, ansible_playbook,
                                                                                                    tmp_path):
    cluster = kubesim_factory(sample=True)
    location = tmp_path / "location"
    back_up(ansible_playbook, cluster, tmp_path, location, "shop")
    client = client_for(cluster)
    client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "shop-dr"}})
    client.request("POST", "/api/v1/namespaces/shop-dr/configmaps", body={"metadata": {"name": "leftover"}})
    cluster.control.configure(garbage_collection=False)  # the namespace stays Terminating with its content
    client.request("DELETE", "/api/v1/namespaces/shop-dr")
    task = {"kubesafe.k8s.restore": {"backup": "shop", "location": str(location), "namespace_mapping": {"shop": "shop-dr"}},
            "register": "restore", "ignore_errors": True}

    cluster.control.clear_audit()
    run, results = play(ansible_playbook, cluster.env(), tmp_path, [task], "--check")
    assert writes(cluster) == []
    predicted = results["restore"]
    assert predicted["failed"] and "is PartiallyFailed (predicted by check mode)" in predicted["msg"]
    assert "error(s), first ones: PersistentVolumeClaim shop-dr/data-db-0: namespace shop-dr is being terminated" in predicted["msg"]
    assert "Deployment shop-dr/web: namespace shop-dr is being terminated: the API server creates nothing new in it (403 Forbidden) " \
           "(predicted by check mode)" in predicted["restore"]["errors"]
    failed_objects = {(o["group_resource"], o["name"]) for o in predicted["restore"]["objects"] if o["action"] == "failed"}
    assert len(failed_objects) == len(predicted["restore"]["errors"]) > 20

    run, _results = play(ansible_playbook, cluster.env(), tmp_path, [dict(task, ignore_errors=False)], check=False)
    assert run.returncode != 0 and "PartiallyFailed: %d error(s)" % len(failed_objects) in run.stdout, run.stdout
    assert "PersistentVolumeClaim shop-dr/data-db-0: 403 Forbidden: " in run.stdout and "because it is being terminated" in run.stdout
    _run, results = play(ansible_playbook, cluster.env(), tmp_path, [task])
    restore = results["restore"]["restore"]
    assert {(o["group_resource"], o["name"]) for o in restore["objects"] if o["action"] == "failed"} == failed_objects
    assert any(e.startswith("Deployment shop-dr/web: 403 Forbidden: ") for e in restore["errors"])


def test_an_explicit_node_port_already_allocated_fails_and_check_mode_predicts_it(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True)
    location = tmp_path / "location"
    back_up(ansible_playbook, cluster, tmp_path, location, "shop")
    # A copy of shop next to it: its web-nodeport wants 30080, which shop/web-nodeport holds.
    task = {"kubesafe.k8s.restore": {"backup": "shop", "location": str(location), "namespace_mapping": {"shop": "shop-copy"}},
            "register": "restore", "ignore_errors": True}

    cluster.control.clear_audit()
    run, results = play(ansible_playbook, cluster.env(), tmp_path, [task], "--check")
    assert writes(cluster) == []
    predicted = results["restore"]
    assert predicted["failed"] and predicted["restore"]["errors"] == [
        "Service shop-copy/web-nodeport: spec.ports[0].nodePort 30080 is already allocated to Service shop/web-nodeport: the API server "
        "refuses it (422 Invalid); free the port or restore without it (preserve_nodeports: false drops node ports not set explicitly) "
        "(predicted by check mode)"]

    run, _results = play(ansible_playbook, cluster.env(), tmp_path, [dict(task, ignore_errors=False)], check=False)
    assert run.returncode != 0 and "1 error(s), first one: Service shop-copy/web-nodeport: 422 Invalid" in run.stdout
    assert "provided port is already allocated" in run.stdout
    assert of_kind(cluster, "Deployment", "shop-copy"), "the other objects are restored"

    # fail_on_partial: false takes the same outcome as a warning.
    accepting = {"kubesafe.k8s.restore": dict(task["kubesafe.k8s.restore"], namespace_mapping={"shop": "shop-copy2"}, fail_on_partial=False),
                 "register": "restore"}
    _run, results = play(ansible_playbook, cluster.env(), tmp_path, [accepting])
    assert not results["restore"].get("failed") and results["restore"]["restore"]["phase"] == "PartiallyFailed"
    assert any("is PartiallyFailed: 1 error(s)" in warning for warning in results["restore"]["warnings"])


def test_a_restore_record_that_cannot_be_written_is_a_warning(kubesim_factory, ansible_playbook, tmp_path):
    cluster = kubesim_factory(sample=True)
    location = tmp_path / "location"
    back_up(ansible_playbook, cluster, tmp_path, location, "shop")
    (location / "restores").write_text("a file where the restores/ directory goes: nothing can be written under it\n")

    _run, results = play(ansible_playbook, cluster.env(), tmp_path, [
        {"kubesafe.k8s.restore": {"backup": "shop", "name": "no-record", "location": str(location),
                                  "namespace_mapping": {"shop": "shop-restored"}, "excluded_resources": ["services"]}, "register": "restore"}])
    restore = results["restore"]
    assert restore["changed"] and restore["restore"]["phase"] == "Completed"
    assert any("the restore record under" in w and "restores/no-record/ was not written" in w for w in restore["warnings"])
    restored = {(o["kind"], o["metadata"]["name"]) for o in cluster.control.dump() if o["metadata"].get("namespace") == "shop-restored"}
    assert restore["restore"]["totals"]["create"] >= 10 and ("Deployment", "web") in restored and ("Secret", "db-credentials") in restored

"""Many clusters in one run, the Ansible way: one inventory host per cluster, run in parallel by forks."""

import json

import pytest
import yaml

pytestmark = pytest.mark.integration


def test_inventory_of_two_clusters_backed_up_in_one_run(kubesim_factory, run_playbook, tmp_path):
    clusters = {"prod-eu": kubesim_factory(sample=True, name="eu"), "prod-us": kubesim_factory(name="us")}
    inventory = {"clusters": {"hosts": {name: {"backup_kubeconfig": cluster.kubeconfig} for name, cluster in clusters.items()}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    env = clusters["prod-eu"].env(with_kubeconfig=False)
    env["ANSIBLE_SHOW_CUSTOM_STATS"] = "True"  # set_stats output, what an AWX workflow receives as artifacts
    result = run_playbook("playbooks/backup.yml", env, "-i", str(tmp_path / "inventory.yml"), "-e", "backup_hosts=clusters",
                          "-e", "backup_location=%s" % (tmp_path / "loc"), "-e", "backup_name=nightly", "--forks", "2",
                          "-e", "ansible_connection=local")
    for name, cluster in clusters.items():
        marker = json.loads((tmp_path / "loc" / name / "backups" / "nightly" / "velero-backup.json").read_text())
        assert marker["status"]["phase"] == "Completed"
        namespaces = {o["metadata"]["name"] for o in cluster.control.dump() if o["kind"] == "Namespace"
                      and (o["metadata"].get("labels") or {}).get("velero.io/exclude-from-backup") != "true"}
        manifest = json.loads((tmp_path / "loc" / name / "backups" / "nightly" / "nightly-manifest.json").read_text())
        assert manifest["counts"]["namespaces"] == len(namespaces)  # each cluster's own objects, not the other's
    custom_stats = result.stdout[result.stdout.index("CUSTOM STATS"):]
    assert "kubesafe_backups" in custom_stats and "prod-eu" in custom_stats and "prod-us" in custom_stats


def _configmap(cluster, namespace, name):
    from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
    KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig})).request(
        "POST", "/api/v1/namespaces/%s/configmaps" % namespace,
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"x": "1"}})


def _configmaps(cluster, namespace):
    return {o["metadata"]["name"] for o in cluster.control.dump() if o["kind"] == "ConfigMap" and o["metadata"].get("namespace") == namespace}


def test_every_playbook_over_an_inventory_of_two_clusters(kubesim_factory, run_playbook, tmp_path):
    """info, verify, diff, restore, DR and prune read each host's <location>/<host>/ and act on its own cluster."""
    clusters = {"prod-eu": kubesim_factory(sample=True, name="eu"), "prod-us": kubesim_factory(sample=True, name="us")}
    for name, cluster in clusters.items():
        _configmap(cluster, "shop", "only-in-" + name)
    connection = ("backup_kubeconfig", "restore_kubeconfig", "verify_kubeconfig", "diff_kubeconfig", "dr_target_kubeconfig",
                  "prune_kubeconfig")
    inventory = {"clusters": {"hosts": {name: dict.fromkeys(connection, cluster.kubeconfig) for name, cluster in clusters.items()}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    env = clusters["prod-eu"].env(with_kubeconfig=False)
    location = tmp_path / "loc"
    hosts = ["-i", str(tmp_path / "inventory.yml"), "-e", "ansible_connection=local"]
    common = hosts + ["-e", "backup_location=%s" % location]  # backup, info, verify and diff read backup_location

    run_playbook("playbooks/backup.yml", env, *common, "-e", "backup_hosts=clusters", "-e", "backup_name=nightly",
                 "-e", "backup_included_namespaces=shop")
    info = run_playbook("playbooks/info.yml", env, *common, "-e", "info_hosts=clusters").stdout
    assert info.count('"nightly ') == 2 and "ok: [prod-eu]" in info and "ok: [prod-us]" in info

    verified = run_playbook("playbooks/verify.yml", env, *common, "-e", "verify_hosts=clusters").stdout
    assert verified.count('"nightly ') == 2

    _configmap(clusters["prod-us"], "shop", "added-after")
    drift = run_playbook("playbooks/diff.yml", env, *common, "-e", "diff_hosts=clusters", "-e", "diff_included_namespaces=shop",
                         "-e", "diff_fail_on_drift=true", check=False)
    assert drift.returncode != 0
    output = drift.stdout + drift.stderr
    assert "in %s/prod-eu: no drift" % location in output
    assert "in %s/prod-us: DRIFT: 1 added" % location in output
    assert "fatal: [prod-us]" in output and "fatal: [prod-eu]" not in output

    for cluster in clusters.values():
        cluster.lose_namespaces("shop")
    run_playbook("playbooks/restore.yml", env, *hosts, "-e", "restore_location=%s" % location, "-e", "restore_hosts=clusters",
                 "-e", "backup=nightly")
    for name, cluster in clusters.items():
        other = "prod-us" if name == "prod-eu" else "prod-eu"
        assert "only-in-" + name in _configmaps(cluster, "shop") and "only-in-" + other not in _configmaps(cluster, "shop")

    # The disaster again; each cluster is recovered from its own backups, with its report in a directory of its own.
    for cluster in clusters.values():
        cluster.lose_namespaces("shop")
    recovered = run_playbook("playbooks/dr.yml", env, *hosts, "-e", "dr_hosts=clusters", "-e", "dr_location=%s" % location,
                             "-e", "dr_report_dir=%s" % (tmp_path / "reports"))
    assert "ASYNC POLL" not in recovered.stdout
    for name, cluster in clusters.items():
        reports = list((tmp_path / "reports" / name).glob("*.json"))
        assert len(reports) == 1 and json.loads(reports[0].read_text())["complete"]
        assert "only-in-" + name in _configmaps(cluster, "shop")

    pruned = run_playbook("playbooks/prune.yml", env, *hosts, "-e", "prune_location=%s" % location, "-e", "prune_hosts=clusters",
                          "-e", "prune_names=nightly").stdout
    assert pruned.count("Deleted 1 backup(s) ['nightly']") == 2
    assert not any((location / name / "backups" / "nightly").exists() for name in clusters)

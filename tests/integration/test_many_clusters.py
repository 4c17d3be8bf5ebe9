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

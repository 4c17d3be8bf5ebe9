"""What a person reads: a short summary by default, tables with -v, each object only with -vv or --diff; bounded results."""

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from module_results import run_module

pytestmark = pytest.mark.integration


def test_restore_output_by_verbosity_and_bounded_result(cluster, run_playbook, ansible_playbook, tmp_path):
    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "many"}})
    for index in range(150):
        client.request("POST", "/api/v1/namespaces/many/configmaps", body={"metadata": {"name": "cm-%03d" % index}, "data": {"i": str(index)}})
    location = str(tmp_path / "loc")
    env = cluster.env()
    run_module(ansible_playbook, env, tmp_path, "backup", {"name": "many", "location": location, "included_namespaces": ["many"]})
    # 150 config maps (+ the namespace, kube-root-ca.crt): a check-mode restore over the live namespace decides for each.
    extra = ["--check", "-e", "backup=many", "-e", "restore_location=%s" % location, "-e", "restore_included_namespaces=many"]

    quiet = run_playbook("playbooks/restore.yml", env, *extra).stdout
    assert "Restore " in quiet and "of many" in quiet and "(check mode: nothing written)" in quiet
    assert "RESOURCE" not in quiet and "cm-000" not in quiet

    verbose = run_playbook("playbooks/restore.yml", env, *extra, "-v").stdout
    assert "RESOURCE" in verbose and "configmaps" in verbose
    assert "ACTION" not in verbose and "cm-149" not in verbose  # the result printed by -v is bounded
    assert '"objects_not_shown": ' in verbose

    very = run_playbook("playbooks/restore.yml", env, *extra, "-vv").stdout
    assert "ACTION" in very and "cm-149" in very
    assert len(verbose) < len(very)

    options = {"backup": "many", "location": location, "included_namespaces": ["many"]}
    bounded = run_module(ansible_playbook, env, tmp_path, "restore", options)["restore"]
    total = sum(bounded["totals"].values())
    assert len(bounded["objects"]) == 100 and bounded["objects_not_shown"] == total - 100 > 50


def test_wait_progress_is_in_the_restore_log(sample_cluster, ansible_playbook, tmp_path):
    location = str(tmp_path / "loc")
    env = sample_cluster.env()
    run_module(ansible_playbook, env, tmp_path, "backup", {"name": "shop", "location": location, "included_namespaces": ["shop"]})
    sample_cluster.lose_namespaces("shop")
    options = {"backup": "shop", "name": "back", "location": location, "wait": True, "wait_timeout": 120}
    restored = run_module(ansible_playbook, env, tmp_path, "restore", options)["restore"]
    assert restored["phase"] == "Completed"
    log = run_module(ansible_playbook, env, tmp_path, "restore_info", {"location": location, "name": "back", "log_lines": -1})["restores"][0]["log"]
    waiting = [line for line in log if "waiting up to 120s for" in line]
    progress = [line for line in log if "msg=\"ready " in line]
    assert waiting and progress
    total = len(restored["waits"])
    assert "ready %d of %d" % (total, total) in progress[-1]
    # Every line before the last names what is not ready yet, with why.
    assert all("; not ready: " in line and ": " in line.split("; not ready: ")[1] for line in progress[:-1])


def test_backup_counts_per_resource_only_with_v(sample_cluster, run_playbook, tmp_path):
    extra = ["-e", "backup_location=%s" % (tmp_path / "loc"), "-e", "backup_included_namespaces=shop"]
    quiet = run_playbook("playbooks/backup.yml", sample_cluster.env(), *extra, "-e", "backup_name=quiet").stdout
    assert "Backup quiet Completed" in quiet and "RESOURCE" not in quiet
    verbose = run_playbook("playbooks/backup.yml", sample_cluster.env(), *extra, "-e", "backup_name=verbose", "-v").stdout
    manifest = (tmp_path / "loc" / "backups" / "verbose" / "verbose-manifest.json").read_text()
    assert "RESOURCE" in verbose and "NAMESPACE" in verbose and '"deployments.apps' in manifest
    assert any(line.strip().strip('",').split() == ["deployments.apps", "1"] for line in verbose.splitlines())

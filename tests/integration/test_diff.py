"""The diff module through ansible-playbook: a drift check that fails the play with a readable message."""

import json

import pytest

pytestmark = pytest.mark.integration


def _backup(ansible_playbook, cluster, location, name):
    ansible_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"kubesafe.k8s.backup": {"name": name, "location": str(location)}}]}], cluster.env())


def _diff_play(location, **options):
    task = {"kubesafe.k8s.diff": dict({"location": str(location)}, **options), "register": "drift"}
    show = {"ansible.builtin.debug": {"msg": "DRIFT={{ drift | to_json }}"}}
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [task, show]}]


def _registered(stdout):
    line = next(line for line in stdout.splitlines() if "DRIFT=" in line)
    return json.loads(json.loads("{" + line.strip().rstrip(",") + "}")["msg"].split("DRIFT=", 1)[1])


def test_drift_check_passes_on_a_still_cluster_and_fails_after_changes(sample_cluster, ansible_playbook, tmp_path, kubectl):
    sample_cluster.control.configure(controllers=False)
    location = tmp_path / "location"
    _backup(ansible_playbook, sample_cluster, location, "nightly")

    quiet = ansible_playbook(_diff_play(location, fail_on_drift=True), sample_cluster.env())
    registered = _registered(quiet.stdout)
    assert registered["drift"] is False and registered["changed"] is False
    assert registered["summary"]["unchanged"] > 40

    kubectl(sample_cluster, "-n", "shop", "create", "configmap", "feature-flags", "--from-literal=beta=on")
    kubectl(sample_cluster, "-n", "shop", "scale", "deployment", "web", "--replicas=4")
    kubectl(sample_cluster, "-n", "payments", "delete", "configmap", "api-config")
    kubectl(sample_cluster, "-n", "shop", "patch", "secret", "db-credentials", "-p", '{"data":{"password":"Y2hhbmdlZA=="}}')

    failed = ansible_playbook(_diff_play(location, backup="latest", fail_on_drift=True), sample_cluster.env(), check=False)
    assert failed.returncode != 0
    output = failed.stdout
    assert "drift between backup 'nightly' and the cluster: 1 added, 1 removed, 2 changed" in output
    assert "added configmaps shop/feature-flags" in output
    assert "removed configmaps payments/api-config" in output
    assert "changed deployments.apps shop/web (/spec/replicas)" in output
    assert "changed secrets shop/db-credentials (/data/password)" in output
    for secret in ("Y2hhbmdlZA==", "c2hvcC1kYi1wYXNzd29yZC0xMjM=", "shop-db-password-123"):
        assert secret not in output + failed.stderr


def test_backup_vs_backup_in_check_mode(sample_cluster, ansible_playbook, tmp_path, kubectl):
    sample_cluster.control.configure(controllers=False)
    location = tmp_path / "location"
    _backup(ansible_playbook, sample_cluster, location, "monday")
    kubectl(sample_cluster, "-n", "shop", "label", "service", "web", "reviewed=yes")
    _backup(ansible_playbook, sample_cluster, location, "tuesday")

    result = ansible_playbook(_diff_play(location, backup="monday", compare_to="tuesday"), sample_cluster.env(), "--check")
    registered = _registered(result.stdout)
    assert registered["drift"] is True and registered["changed"] is False
    changed = registered["report"]["changed"]
    assert [(c["group_resource"], c["namespace"], c["name"]) for c in changed] == [("services", "shop", "web")]
    assert changed[0]["changes"] == [{"path": "/metadata/labels/reviewed", "before": None, "after": "yes"}]

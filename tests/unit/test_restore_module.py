"""The restore module: check mode with --diff through AnsibleModule, and bad input named clearly."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.modules import restore


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            restore.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def backed_up(sample_cluster, tmp_path):
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    run_backup(client, open_location(str(tmp_path)), BackupOptions(name="snap", included_namespaces=["payments"]))
    client.request("DELETE", "/api/v1/namespaces/payments/configmaps/api-config")
    return sample_cluster, tmp_path


def test_check_mode_with_diff_reports_and_writes_nothing(capsys, backed_up):
    cluster, location = backed_up
    cluster.control.clear_audit()
    result = run_module(capsys, {"kubeconfig": cluster.kubeconfig, "location": str(location), "backup": "snap",
                                 "_ansible_check_mode": True, "_ansible_diff": True})
    assert result["changed"] and result["restore"]["check_mode"]
    assert {r["verb"] for r in cluster.control.audit()} <= {"get", "list"}
    headers = [diff["after_header"] for diff in result["diff"]]
    assert "configmaps payments/api-config" in headers
    created = next(diff for diff in result["diff"] if diff["after_header"] == "configmaps payments/api-config")
    assert created["before"] == {} and created["after"]["data"]
    assert all("diff" not in obj for obj in result["restore"]["objects"])  # diffs are returned once, as Ansible diffs


def test_unknown_backup_is_a_clear_error(capsys, backed_up):
    cluster, location = backed_up
    result = run_module(capsys, {"kubeconfig": cluster.kubeconfig, "location": str(location), "backup": "nope"})
    assert result["failed"] and "'nope' does not exist" in result["msg"]


def test_bad_policy_is_refused(capsys, backed_up):
    cluster, location = backed_up
    result = run_module(capsys, {"kubeconfig": cluster.kubeconfig, "location": str(location), "existing_resource_policy": "replace"})
    assert result["failed"] and "existing_resource_policy" in result["msg"]

"""The backup module's handling of bad input: a clear message naming the option, and nothing written."""

import json
import tarfile

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubesafe.k8s.plugins.modules import backup


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            backup.main()
    return json.loads(capsys.readouterr().out)


def test_bad_ttl_names_the_option(capsys, cluster, tmp_path):
    result = run_module(capsys, {"kubeconfig": cluster.kubeconfig, "location": str(tmp_path / "b"), "ttl": "3x"})
    assert result["failed"] and "ttl" in result["msg"] and "720h0m0s" in result["msg"]
    assert not (tmp_path / "b" / "backups").exists()


@pytest.mark.parametrize("page_size", [0, -5])
def test_page_size_below_one_names_the_option(capsys, cluster, tmp_path, page_size):
    cluster.control.clear_audit()
    result = run_module(capsys, {"kubeconfig": cluster.kubeconfig, "location": str(tmp_path / "b"), "page_size": page_size})
    assert result["failed"] and "page_size" in result["msg"] and "at least 1" in result["msg"]
    assert not (tmp_path / "b" / "backups").exists()
    assert cluster.control.audit() == []  # refused before the first request


@pytest.mark.parametrize("level", [-1, 10])
def test_compression_level_out_of_range_names_the_option(capsys, cluster, tmp_path, level):
    cluster.control.clear_audit()
    result = run_module(capsys, {"kubeconfig": cluster.kubeconfig, "location": str(tmp_path / "b"), "compression_level": level})
    assert result["failed"] and "compression_level" in result["msg"] and "0 to 9" in result["msg"]
    assert not (tmp_path / "b" / "backups").exists()
    assert cluster.control.audit() == []  # refused before the first request


def test_compression_level_reaches_the_archive(capsys, sample_cluster, tmp_path):
    sizes, contents = {}, {}
    for level in (0, 9):
        result = run_module(capsys, {"kubeconfig": sample_cluster.kubeconfig, "location": str(tmp_path), "name": "level-%d" % level,
                                     "included_namespaces": ["payments"], "compression_level": level})
        assert result["backup"]["phase"] == "Completed"
        path = tmp_path / "backups" / ("level-%d" % level) / ("level-%d.tar.gz" % level)
        sizes[level] = path.stat().st_size
        with tarfile.open(path, "r:gz") as tar:
            contents[level] = sorted(member.name for member in tar.getmembers())
    assert contents[0] == contents[9] and len(contents[0]) > 10
    assert sizes[0] > 2 * sizes[9]  # level 0 only stores


def test_label_selector_and_or_label_selectors_are_exclusive(capsys, cluster, tmp_path):
    result = run_module(capsys, {"kubeconfig": cluster.kubeconfig, "location": str(tmp_path), "label_selector": "a=b",
                                 "or_label_selectors": ["c=d"]})
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_missing_kubeconfig_names_the_option(capsys, tmp_path):
    result = run_module(capsys, {"kubeconfig": str(tmp_path / "nope"), "location": str(tmp_path)})
    assert result["failed"] and "kubeconfig" in result["msg"]


def test_bad_backup_name(capsys, cluster, tmp_path):
    result = run_module(capsys, {"kubeconfig": cluster.kubeconfig, "location": str(tmp_path), "name": "Bad_Name"})
    assert result["failed"] and "Bad_Name" in result["msg"]


def test_successful_backup_result(capsys, sample_cluster, tmp_path):
    result = run_module(capsys, {"kubeconfig": sample_cluster.kubeconfig, "location": str(tmp_path / "b"), "name": "unit",
                                 "included_namespaces": ["payments"]})
    backup_result = result["backup"]
    assert result["changed"] and backup_result["phase"] == "Completed" and backup_result["namespaces"] == ["payments"]
    assert backup_result["resource_counts"]["deployments.apps"] == 1
    assert backup_result["relists"] == {}
    assert (tmp_path / "b" / "backups" / "unit" / "velero-backup.json").exists()

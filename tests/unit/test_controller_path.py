"""The filter the roles pass user paths through: relative ones are made absolute against ansible-playbook's directory."""

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubesafe.k8s.plugins.filter.controller_path import FilterModule

controller_path = FilterModule().filters()["controller_path"]


@pytest.mark.parametrize("value, expected", [
    ("./backups", "{cwd}/backups"),
    ("backups/prod", "{cwd}/backups/prod"),
    ("../shared/backups", "{parent}/shared/backups"),
    ("/var/backups", "/var/backups"),
    ("~/backups", "~/backups"),
    ("s3://bucket/prefix", "s3://bucket/prefix"),
    ("", ""),
    (None, ""),
])
def test_paths(value, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert controller_path(value) == expected.format(cwd=str(tmp_path), parent=os.path.dirname(str(tmp_path)))


def test_kubeconfig_lists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert controller_path("kube/config::/etc/kube/admin:~/.kube/config", path_list=True) == \
        "%s/kube/config:/etc/kube/admin:~/.kube/config" % tmp_path


def test_not_a_path():
    with pytest.raises(AnsibleFilterError, match="expects a path"):
        controller_path(["a"])

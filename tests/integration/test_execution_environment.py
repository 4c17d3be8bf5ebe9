"""The execution environment definition builds a context with ansible-builder (no container engine needed)."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from collection_path import REPO

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)


def test_ansible_builder_creates_a_build_context(tmp_path):
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path / "build")],
                   cwd=REPO, check=True, capture_output=True)
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy(os.path.join(REPO, name), tmp_path / name)
    result = subprocess.run([os.path.join(BIN, "ansible-builder"), "create"], cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    containerfile = (tmp_path / "context" / "Dockerfile").read_text()
    assert "requirements.txt" in containerfile and "bindep.txt" in containerfile
    galaxy = yaml.safe_load((tmp_path / "context" / "_build" / "requirements.yml").read_text())
    assert [c["name"] for c in galaxy["collections"]] == ["kubesafe.k8s"]
    python_requirements = (tmp_path / "context" / "_build" / "requirements.txt").read_text()
    assert "kubernetes" in python_requirements and "boto3" in python_requirements
    with open(os.path.join(REPO, "meta", "execution-environment.yml"), encoding="utf-8") as stream:
        assert yaml.safe_load(stream)["dependencies"]["python"] == "requirements.txt"

"""The execution environment's build context, as `make ee-context` writes it (ansible-builder create; no container engine needed)."""

import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

from collection_path import REPO

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)


def copied_sources(containerfile):
    """The context paths that the COPY / ADD instructions of a Containerfile read (not what they copy from other stages)."""
    sources = []
    for line in containerfile.splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD") or any(word.startswith("--from=") for word in words):
            continue
        sources.extend([word for word in words[1:] if not word.startswith("--")][:-1])
    return sources


def galaxy_version():
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as stream:
        return yaml.safe_load(stream)["version"]


def test_ee_context_holds_every_file_its_containerfile_copies(checkout_copy):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])
    result = subprocess.run([str(checkout_copy / "hacking" / "ee-context")], cwd=str(checkout_copy), env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    context = checkout_copy / "build" / "ee-context"

    containerfile = (context / "Dockerfile").read_text()
    sources = copied_sources(containerfile)
    assert "_build" in sources and "_build/bindep.txt" in sources and "_build/requirements.txt" in sources
    missing = [source for source in sources if not (context / source).exists()]
    assert not missing, "the Containerfile copies files that are not in the context: %s" % missing

    # ansible-galaxy installs the collection in the galaxy stage, from `COPY _build /build` with WORKDIR /build.
    assert "COPY _build /build\nWORKDIR /build" in containerfile
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert [collection["name"] for collection in requirements["collections"]] == ["kubesafe.k8s"]
    tarball = context / "_build" / requirements["collections"][0]["source"]
    assert tarball.is_file(), "%s is not in the context" % requirements["collections"][0]["source"]
    with tarfile.open(str(tarball)) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["name"] == "k8s" and manifest["collection_info"]["version"] == galaxy_version()

    python_requirements = (context / "_build" / "requirements.txt").read_text()
    assert "kubernetes" in python_requirements and "boto3" in python_requirements and "pyrage" in python_requirements
    # awx-ee is RPM-based (CentOS Stream): age and restic come from EPEL, enabled before bindep installs them.
    assert containerfile.index("epel-release") < containerfile.index("install-from-bindep")


def test_bindep_names_age_and_restic_for_rpm_and_dpkg_images():
    with open(os.path.join(REPO, "bindep.txt"), encoding="utf-8") as stream:
        entries = {line.strip() for line in stream if line.strip() and not line.startswith("#")}
    for tool in ("age", "restic"):
        assert {"%s [platform:rpm]" % tool, "%s [platform:dpkg]" % tool} <= entries
    with open(os.path.join(REPO, "meta", "execution-environment.yml"), encoding="utf-8") as stream:
        assert yaml.safe_load(stream)["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}


def test_no_version_is_written_in_the_execution_environment_files():
    version = galaxy_version()
    for name in ("execution-environment.yml", "meta/execution-environment.yml", "hacking/ee-context", "Makefile"):
        with open(os.path.join(REPO, name), encoding="utf-8") as stream:
            assert version not in stream.read(), "%s hard-codes the collection version %s" % (name, version)

"""How AWX runs us: credentials only from injected environment variables, the collection installed from its tarball."""

import os
import subprocess
import tarfile
import sys

import pytest

from collection_path import REPO

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)


def awx_environment(cluster, home):
    """What AWX's OpenShift/Kubernetes bearer-token credential injects, and nothing else about the cluster."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KUBECONFIG", "K8S_AUTH_"))}
    env.update({
        "HOME": str(home),  # no ~/.kube/config to fall back on
        "K8S_AUTH_HOST": cluster.url,
        "K8S_AUTH_API_KEY": cluster.sim.token,
        "K8S_AUTH_VERIFY_SSL": "True",
        "K8S_AUTH_SSL_CA_CERT": cluster.sim.certificates.ca_cert,
        "ANSIBLE_NOCOLOR": "1",
    })
    return env


def test_backup_playbook_with_only_awx_credentials(kubesim_factory, run_playbook, tmp_path):
    cluster = kubesim_factory(sample=True, use_tls=True, token="awx-injected-token")
    home = tmp_path / "home"
    home.mkdir()
    env = awx_environment(cluster, home)
    env["ANSIBLE_COLLECTIONS_PATH"] = cluster.env()["ANSIBLE_COLLECTIONS_PATH"]
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % (tmp_path / "loc"), "-e", "backup_name=from-awx")
    assert (tmp_path / "loc" / "backups" / "from-awx" / "velero-backup.json").exists()
    assert "awx-injected-token" not in (tmp_path / "loc" / "backups" / "from-awx" / "from-awx-manifest.json").read_text()


def test_awx_kubeconfig_credential_with_an_empty_context(cluster, run_playbook, tmp_path):
    """AWX's kubeconfig credential type injects its Context field even when it is empty."""
    env = {key: value for key, value in cluster.env().items() if not key.startswith(("KUBECONFIG", "K8S_AUTH_"))}
    env.update({"K8S_AUTH_KUBECONFIG": cluster.kubeconfig, "K8S_AUTH_CONTEXT": "", "ANSIBLE_NOCOLOR": "1"})
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=%s" % (tmp_path / "loc"), "-e", "backup_name=empty-context")
    assert (tmp_path / "loc" / "backups" / "empty-context" / "velero-backup.json").exists()


def test_installed_collection_runs_its_playbook(sample_cluster, tmp_path):
    """ansible-galaxy collection build + install, then `ansible-playbook kubesafe.k8s.backup` from the installed copy."""
    def run(*command, **kwargs):
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, **kwargs)
        assert result.returncode == 0, "%s\n%s\n%s" % (" ".join(command), result.stdout[-4000:], result.stderr[-4000:])
        return result
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path / "dist"), cwd=REPO)
    tarball = next((tmp_path / "dist").iterdir())
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", str(tarball), "-p", str(tmp_path / "installed"), cwd=str(tmp_path))
    env = sample_cluster.env()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(tmp_path / "installed")
    env["ANSIBLE_NOCOLOR"] = "1"
    run(os.path.join(BIN, "ansible-playbook"), "kubesafe.k8s.backup", "-e", "backup_location=%s" % (tmp_path / "loc"),
        "-e", "backup_name=installed", env=env, cwd=str(tmp_path))
    assert (tmp_path / "loc" / "backups" / "installed" / "velero-backup.json").exists()
    installed_modules = tmp_path / "installed" / "ansible_collections" / "kubesafe" / "k8s" / "plugins" / "modules"
    assert (installed_modules / "backup.py").exists() and not (tmp_path / "installed" / "ansible_collections" / "kubesafe" / "k8s" / ".venv").exists()


# What the built tarball may hold at its top level: collection content only.
COLLECTION_CONTENT = {"MANIFEST.json", "FILES.json", "README.md", "plugins", "roles", "playbooks", "meta", "docs", "changelogs",
                      "requirements.txt", "bindep.txt"}


def test_built_tarball_holds_only_collection_content(tmp_path):
    result = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    with tarfile.open(next(tmp_path.glob("*.tar.gz"))) as tarball:
        names = tarball.getnames()
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level <= COLLECTION_CONTENT, sorted(top_level - COLLECTION_CONTENT)
    assert {"plugins", "roles", "playbooks", "meta"} <= top_level
    assert "plugins/modules/restore.py" in names and "meta/runtime.yml" in names


def test_module_defaults_groups_set_the_cluster_and_location_once(cluster, ansible_playbook, tmp_path):
    """group/kubesafe.k8s.k8s and group/kubesafe.k8s.location, as kubernetes.core users set their auth once."""
    location = tmp_path / "loc"
    plays = [{"hosts": "localhost", "gather_facts": False,
              "module_defaults": {"group/kubesafe.k8s.k8s": {"kubeconfig": cluster.kubeconfig},
                                  "group/kubesafe.k8s.location": {"location": str(location)}},
              "tasks": [{"kubesafe.k8s.backup": {"name": "grouped"}},
                        {"kubesafe.k8s.backup_info": {"name": "grouped"}, "register": "info"},
                        {"ansible.builtin.assert": {"that": ["info.backups[0].phase == 'Completed'"]}}]}]
    ansible_playbook(plays, cluster.env(with_kubeconfig=False))
    assert (location / "backups" / "grouped" / "velero-backup.json").exists()

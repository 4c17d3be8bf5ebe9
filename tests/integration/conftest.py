"""Run ansible-playbook and kubectl as a user would, against the emulated cluster."""

import os
import shutil
import subprocess
import sys

import pytest

import yaml

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(command, env, timeout=300, check=True):
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(command), result.returncode, result.stdout[-8000:], result.stderr[-4000:]))
    return result


@pytest.fixture
def ansible_playbook(tmp_path):
    """``ansible_playbook(plays, env, *args)``: write plays (a list) to a file and run them on localhost."""
    def play(plays, env, *args, check=True):
        path = tmp_path / ("playbook-%d.yml" % len(list(tmp_path.glob("playbook-*.yml"))))
        path.write_text(yaml.safe_dump(plays, sort_keys=False))
        run_env = dict(env)
        run_env.update({
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        })
        return run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)] + list(args), run_env, check=check)
    return play


@pytest.fixture
def run_playbook():
    """``run_playbook("playbooks/backup.yml", env, "-e", "x=y", ...)``: one of the collection's playbooks, as a user runs it."""
    def play(playbook, env, *args, check=True, cwd=REPO):
        run_env = dict(env)
        run_env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"})
        command = [os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, playbook)] + list(args)
        result = subprocess.run(command, env=run_env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
        if check and result.returncode != 0:
            raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (playbook, result.returncode, result.stdout[-8000:], result.stderr[-4000:]))
        return result
    return play


@pytest.fixture
def kubectl():
    """``kubectl(cluster, *args)`` with the cluster's kubeconfig."""
    def call(cluster, *args, check=True, stdin=None):
        command = ["kubectl", "--kubeconfig", cluster.kubeconfig] + list(args)
        if stdin is None:
            return run(command, cluster.env(), check=check)
        result = subprocess.run(command, env=cluster.env(), input=stdin, capture_output=True, text=True, timeout=120, check=False)
        if check and result.returncode != 0:
            raise AssertionError("kubectl %s exited %d: %s" % (" ".join(args), result.returncode, result.stderr))
        return result
    return call


@pytest.fixture
def checkout_copy(tmp_path):
    """A copy of the work tree's files as git lists them (tracked plus untracked, not ignored): what a fresh clone holds."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for relative in filter(None, listed):
        source = os.path.join(REPO, relative)
        if not os.path.lexists(source):  # deleted in the work tree, not yet in git
            continue
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return copy

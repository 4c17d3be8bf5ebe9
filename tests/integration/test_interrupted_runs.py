"""Runs killed half-way, as ansible-playbook: no Secret left readable in the temp dir, no debris left unseen in the location.

Each run is held at a known point by a latency fault of the emulator (it fires when the
request arrives, then sleeps far longer than the test takes); the test waits until the
rule has fired, so the process is known to be waiting there, then kills it.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

import pyrage
import yaml

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup_engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.encryption import EncryptionSettings
from ansible_collections.kubesafe.k8s.plugins.module_utils.k8s_client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.locations import open_location

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)
# tests/kubesim/fixtures/README.md: Secret values of the sample, decoded and base64.
SECRET_VALUES = (
    "shop-db-password-123", "c2hvcC1kYi1wYXNzd29yZC0xMjM=",
    "shop-session-key-abc", "c2hvcC1zZXNzaW9uLWtleS1hYmM=",
    "payments-api-key-456", "cGF5bWVudHMtYXBpLWtleS00NTY=",
    "payments-webhook-secret-789", "cGF5bWVudHMtd2ViaG9vay1zZWNyZXQtNzg5",
)
HOLD_SECONDS = 600  # far longer than any test: the held request is never answered before the kill


def start_playbook(tmp_path, plays, env, extra_vars=None):
    """ansible-playbook, not waited for."""
    path = tmp_path / ("playbook-%d.yml" % len(list(tmp_path.glob("playbook-*.yml"))))
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)]
    if extra_vars:
        variables = tmp_path / ("vars-%d.yml" % len(list(tmp_path.glob("vars-*.yml"))))
        variables.write_text(yaml.safe_dump(extra_vars))
        command += ["-e", "@%s" % variables]
    run_env = dict(env, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    return subprocess.Popen(command, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until_held(cluster, process, deadline_seconds=240):
    """Wait for the latency rule to fire: the run is then blocked in that request."""
    limit = time.monotonic() + deadline_seconds
    while time.monotonic() < limit:
        if any(rule["fired"] for rule in cluster.control.faults()):
            return
        if process.poll() is not None:
            raise AssertionError("the play ended before reaching the held request:\n%s" % process.stdout.read()[-6000:])
        time.sleep(0.2)
    kill_tree(process, signal.SIGKILL)
    raise AssertionError("the run never reached the held request")


def descendants(pid):
    """Every process started by ``pid``, at any depth (Ansible's workers run in sessions of their own)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(process, signum):
    """``signum`` to ansible-playbook and every process it started (the module process among them); returns once all are gone."""
    tree = [process.pid] + descendants(process.pid)
    for pid in tree:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    process.wait(timeout=120)
    process.stdout.close()
    limit = time.monotonic() + 120
    while any(alive(pid) for pid in tree):
        assert time.monotonic() < limit, "processes %s outlived %s" % ([pid for pid in tree if alive(pid)], signum)
        time.sleep(0.1)


def alive(pid):
    """Running (a zombie has already let go of its files and locks)."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def files_holding(directory, values):
    """{path: [values found]} of every file under ``directory`` that holds one of ``values`` in its bytes."""
    found = {}
    for root, _dirs, names in os.walk(str(directory)):
        for name in names:
            path = os.path.join(root, name)
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            hits = [value for value in values if value.encode() in data]
            if hits:
                found[path] = hits
    return found


def scratch_dirs(temp_dir):
    return sorted(name for name in os.listdir(str(temp_dir)) if name.startswith("kubesafe-"))


# ---------------------------------------------------------------- no plaintext Secret on disk


@pytest.fixture
def encrypted_backup(sample_cluster, tmp_path):
    identity = pyrage.x25519.Identity.generate()
    location = tmp_path / "location"
    settings = EncryptionSettings.from_options("secrets", recipients=[str(identity.to_public())])
    run_backup(KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig})), open_location(str(location)),
               BackupOptions(name="sealed", encryption=settings))
    return location, str(identity)


def restore_play(location):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"kubesafe.k8s.restore": {"backup": "sealed", "location": str(location), "decryption_identity": "{{ identity }}"}}]}]


@pytest.fixture
def temp_dir(tmp_path):
    directory = tmp_path / "tmpdir"
    directory.mkdir()
    return directory


def test_a_killed_restore_leaves_no_readable_secret_and_the_next_run_sweeps_its_directory(kubesim_factory, encrypted_backup, tmp_path, temp_dir):
    location, identity = encrypted_backup
    target = kubesim_factory(name="target")
    env = dict(target.env(), TMPDIR=str(temp_dir))
    # Every object is read and decrypted (spooled) before the first write: the first Secret created is held.
    target.control.add_fault(action="latency", verbs=["create"], resources=["secrets"], seconds=HOLD_SECONDS)
    process = start_playbook(tmp_path, restore_play(location), env, {"identity": identity})
    wait_until_held(target, process)
    kill_tree(process, signal.SIGKILL)

    left = scratch_dirs(temp_dir)
    assert [name for name in left if name.startswith("kubesafe-restore-")], "SIGKILL cannot be caught: the spool stays (%s)" % left
    assert files_holding(temp_dir, SECRET_VALUES) == {}
    assert files_holding(temp_dir, [identity]) == {}

    # An hour later the next run sweeps the killed run's directory, and keeps a younger one (maybe a run in progress).
    killed = temp_dir / left[0]
    an_hour_ago = time.time() - 3601
    os.utime(str(killed), (an_hour_ago, an_hour_ago))
    fresh = temp_dir / "kubesafe-restore-fresh123"
    fresh.mkdir()
    (fresh / ".kubesafe-scratch.lock").write_text("")
    target.control.clear_faults()
    finished = start_playbook(tmp_path, restore_play(location), env, {"identity": identity})
    output = finished.communicate(timeout=300)[0]
    assert finished.returncode == 0, output[-6000:]
    assert not killed.exists()
    assert scratch_dirs(temp_dir) == [fresh.name]
    assert files_holding(temp_dir, SECRET_VALUES) == {}


def test_sigterm_leaves_no_scratch_directory(kubesim_factory, encrypted_backup, tmp_path, temp_dir):
    location, identity = encrypted_backup
    target = kubesim_factory(name="target")
    env = dict(target.env(), TMPDIR=str(temp_dir))
    target.control.add_fault(action="latency", verbs=["create"], resources=["secrets"], seconds=HOLD_SECONDS)
    process = start_playbook(tmp_path, restore_play(location), env, {"identity": identity})
    wait_until_held(target, process)
    assert [name for name in scratch_dirs(temp_dir) if name.startswith("kubesafe-restore-")]
    kill_tree(process, signal.SIGTERM)
    assert scratch_dirs(temp_dir) == []
    assert files_holding(temp_dir, SECRET_VALUES) == {}

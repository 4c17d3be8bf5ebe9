"""Runs killed half-way, as ansible-playbook: no Secret left readable in the temp dir, no debris left unseen in the location.

Each run is held at a known point by a latency fault of the emulator (it fires when the
request arrives, then sleeps far longer than the test takes); the test waits until the
rule has fired, so the process is known to be waiting there, then kills it.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import pyrage
import yaml

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import EncryptionSettings
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

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


def module_process(process, module):
    """The pid of the Python process running the ``module`` task under ``process`` (ansible-playbook)."""
    for pid in descendants(process.pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as cmdline:
                arguments = cmdline.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(arguments[0]).startswith(b"python") and any(
                argument.endswith(b"AnsiballZ_%s.py" % module.encode()) for argument in arguments):
            return pid
    raise AssertionError("no process runs the %s module under ansible-playbook" % module)


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
    # SIGTERM to the module process (what a kill or a stopped job sends it). Signalled together with it, Ansible's
    # worker may SIGKILL it first; what that leaves is swept by the next run (the test above).
    module = module_process(process, "restore")
    os.kill(module, signal.SIGTERM)
    limit = time.monotonic() + 120
    while alive(module):
        assert time.monotonic() < limit, "the module process outlived SIGTERM"
        time.sleep(0.1)
    assert scratch_dirs(temp_dir) == []
    assert files_holding(temp_dir, SECRET_VALUES) == {}
    kill_tree(process, signal.SIGKILL)


# ---------------------------------------------------------------- killed backups leave visible debris


@pytest.fixture
def bulky_cluster(kubesim_factory):
    """Archive data of more than one 5 MiB part before the Secrets are listed: ConfigMaps of incompressible data."""
    cluster = kubesim_factory(name="bulky")
    cluster.control.configure(controllers=False)
    cluster.control.seed([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bulk-%04d" % index, "namespace": "bulk"},
                           "data": {"blob": base64.b64encode(os.urandom(9000)).decode()}} for index in range(1000)])
    cluster.control.seed([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": "bulk"},
                           "stringData": {"token": "t"}}])
    return cluster


def uploads(s3, bucket):
    """[(key, parts uploaded)] of the multipart uploads in progress."""
    found = []
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        parts = s3.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts", [])
        found.append((upload["Key"], len(parts)))
    return found


def results_of(ansible_playbook, tmp_path, env, task, *args, check=True):
    """Run one task, registered; (its result as a dict, the play's process result)."""
    path = tmp_path / ("result-%d.json" % len(list(tmp_path.glob("result-*.json"))))
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        dict(task, register="outcome", ignore_errors=not check),
        {"ansible.builtin.copy": {"content": "{{ outcome | to_json }}", "dest": str(path)}, "check_mode": False}]}]
    process = ansible_playbook(play, env, *args, check=True)
    return json.loads(path.read_text()), process


@pytest.mark.parametrize("where", ["directory", "s3"])
def test_a_backup_killed_during_list_is_listed_holds_its_name_and_is_pruned(request, where, tmp_path, ansible_playbook):
    if where == "s3":
        s3, bucket = request.getfixturevalue("s3_bucket")
        cluster = request.getfixturevalue("bulky_cluster")
        location = "s3://%s/prod" % bucket
        config = {"endpoint_url": request.getfixturevalue("s3_endpoint"), "force_path_style": True, "region": "us-east-1", "part_size_mb": 5}
    else:
        cluster = request.getfixturevalue("sample_cluster")
        location, config = str(tmp_path / "location"), None
    where_args = {"location": location, "location_config": config} if config else {"location": location}
    env = cluster.env()
    backup_task = {"kubesafe.k8s.backup": dict(where_args, name="held")}

    # Killed while it waits for the LIST of Secrets: the tarball is being written.
    cluster.control.add_fault(action="latency", verbs=["list"], resources=["secrets"], seconds=HOLD_SECONDS)
    process = start_playbook(tmp_path, [{"hosts": "localhost", "gather_facts": False, "tasks": [backup_task]}], env)
    wait_until_held(cluster, process)
    if where == "s3":
        # The other resources are still read and written while the Secrets wait: parts of the tarball reach the bucket.
        limit = time.monotonic() + 240
        while not any(parts for _key, parts in uploads(s3, bucket)):
            assert time.monotonic() < limit and process.poll() is None, "no part of the tarball was uploaded"
            time.sleep(0.2)
    kill_tree(process, signal.SIGKILL)
    cluster.control.clear_faults()
    if where == "s3":
        assert [key for key, _parts in uploads(s3, bucket)] == ["prod/backups/held/held.tar.gz"]
    else:
        left = os.listdir(os.path.join(location, "backups", "held"))
        assert len(left) == 1 and left[0].startswith(".kubesafe-tmp-held.tar.gz."), left

    # backup_info: not a backup, but listed as incomplete on request, with what is there.
    info, _run = results_of(ansible_playbook, tmp_path, env, {"kubesafe.k8s.backup_info": where_args})
    assert info["backups"] == []
    info, _run = results_of(ansible_playbook, tmp_path, env, {"kubesafe.k8s.backup_info": dict(where_args, include_incomplete=True)})
    [held] = info["backups"]
    assert held["name"] == "held" and held["complete"] is False and "velero-backup.json is missing" in held["problem"]
    assert [partial["file"] for partial in held["partial_files"]] == ["held.tar.gz"]
    assert held["size"] == held["partial_files"][0]["size"] and held["last_written"] and held["age"]
    if where == "s3":
        assert held["size"] >= 5 * 1024 * 1024 and "multipart upload" in held["partial_files"][0]["kind"]

    # The name is held, and the message says by what and how to clear it.
    failed, _run = results_of(ansible_playbook, tmp_path, env, backup_task, check=False)
    assert failed["failed"]
    assert "an incomplete backup holds the name" in failed["msg"] and "no velero-backup.json commit marker" in failed["msg"]
    assert "include_incomplete: true" in failed["msg"] and "backups/held/" in failed["msg"]

    # The debris rule: the default age (24h) keeps what may be a backup in progress; 0s removes it (check mode first).
    prune_args = dict(where_args, include_incomplete=True)
    kept, _run = results_of(ansible_playbook, tmp_path, env, {"kubesafe.k8s.prune": prune_args})
    assert kept["deleted"] == [] and [entry["name"] for entry in kept["kept"]] == ["held"] and not kept["changed"]
    prune_args["incomplete_older_than"] = "0s"
    preview, _run = results_of(ansible_playbook, tmp_path, env, {"kubesafe.k8s.prune": prune_args}, "--check")
    assert [entry["name"] for entry in preview["deleted"]] == ["held"] and preview["check_mode"]
    assert "incomplete debris: no velero-backup.json and 1 unfinished write(s)" in preview["deleted"][0]["reasons"][0]
    if where == "s3":
        assert uploads(s3, bucket)
    else:
        assert os.listdir(os.path.join(location, "backups", "held"))
    pruned, _run = results_of(ansible_playbook, tmp_path, env, {"kubesafe.k8s.prune": prune_args})
    assert [entry["name"] for entry in pruned["deleted"]] == ["held"] and pruned["changed"]
    if where == "s3":
        assert uploads(s3, bucket) == []
    else:
        assert not os.path.exists(os.path.join(location, "backups", "held"))
    info, _run = results_of(ansible_playbook, tmp_path, env, {"kubesafe.k8s.backup_info": dict(where_args, include_incomplete=True)})
    assert info["backups"] == []

    # The name is free again.
    done, _run = results_of(ansible_playbook, tmp_path, env, backup_task)
    assert done["backup"]["phase"] == "Completed" and done["backup"]["name"] == "held"

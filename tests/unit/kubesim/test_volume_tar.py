"""Volumes as file trees: the backend keeps paths, modes and links, and tar over pods/exec streams them out of and into a pod's claims."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import io
import json
import shutil
import stat
import subprocess
import tarfile
import time

import pytest
import websocket
from kubernetes import client
from kubernetes.stream import stream

from kubesim.tar_format import tree_archive_chunks
from kubesim.volume_backend import BYTES_FILE, FileTree, FileTreeError, VolumeBackend

NAMESPACE = "apps"
POD = "mover"
TREE = {"app/config.yaml": (0o640, b"replicas: 3\n"), "app/bin/run.sh": (0o755, b"#!/bin/sh\nexec app\n"),
        "app/current": (stat.S_IFLNK | 0o777, b"bin/run.sh"), "cache/": (0o700, b""), "data.db": (0o600, bytes(range(256)) * 300)}


def _mover(volume_mounts, claim="data"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD, "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "tar", "image": "busybox", "volumeMounts": volume_mounts}],
                     "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}}


@pytest.fixture(name="emulated")
def emulated_fixture(kubesim_factory):
    """A claim of an EBS CSI class filled with TREE and a running pod mounting it at /data, read-only at /ro, and its app/ at /app."""
    emulated = kubesim_factory()
    emulated.sim.seed([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com"},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NAMESPACE},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "gp3"}},
        _mover([{"name": "v", "mountPath": "/data"}, {"name": "v", "mountPath": "/ro", "readOnly": True},
                {"name": "v", "mountPath": "/app", "subPath": "app"}])])
    assert emulated.sim.settle(10)
    emulated.write_claim_files(NAMESPACE, "data", TREE)
    return emulated


def _exec(emulated, command, stdin=None):
    """(stdout, stderr, exit status, error-channel Status) of a command run with the kubernetes client, stdin sent in frames then closed."""
    core = client.CoreV1Api(emulated.api_client())
    response = stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE, command=command, stdout=True, stderr=True, stdin=stdin is not None,
                      tty=False, _preload_content=False, binary=True)
    if stdin is not None:
        for offset in range(0, len(stdin), 50000):
            response.write_stdin(stdin[offset:offset + 50000])
        response.close_channel(0)
    stdout, stderr, status = bytearray(), bytearray(), b""
    deadline = time.monotonic() + 30
    while response.is_open() and time.monotonic() < deadline:
        response.update(timeout=1)
        stdout += response.read_stdout(timeout=0) or b""
        stderr += response.read_stderr(timeout=0) or b""
        status += response.read_channel(3, timeout=0) or b""
    stdout += response.read_stdout(timeout=0) or b""
    stderr += response.read_stderr(timeout=0) or b""
    status += response.read_channel(3, timeout=0) or b""
    assert not response.is_open()
    status = json.loads(status)
    code = 0 if status["status"] == "Success" else int(status["details"]["causes"][0]["message"])
    return bytes(stdout), bytes(stderr), code, status


def _members(archive):
    """{name: (type, mode, data or link target)} of a tar archive."""
    members = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as opened:
        for info in opened:
            data = opened.extractfile(info).read() if info.isreg() else info.linkname.encode()
            members[info.name] = (info.type, info.mode, data)
    return members


def _archive(entries):
    """A tar made by the standard library: [(name, mode, data or None for a directory)]."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, mode, data in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 1700000000
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# ------------------------------------------------------------------ the backend's trees

def test_volume_tree_keeps_paths_modes_links_and_empty_directories():
    backend = VolumeBackend()
    backend.put_volume_files("vol-1", dict(TREE, **{"./odd//path": (0o644, b"x")}))
    assert backend.volume_files("vol-1") == dict(TREE, **{"odd/path": (0o644, b"x")})
    assert backend.volumes() == [{"handle": "vol-1", "size": sum(len(data) for mode, data in TREE.values() if not stat.S_ISLNK(mode)) + 1,
                                  "source_snapshot": None, "snapshot_data_missing": False}]
    backend.put_volume_files("vol-1", {"cache/": (0o700, b""), "cache/entry": (0o600, b"1")})
    assert backend.volume_files("vol-1") == {"cache/entry": (0o600, b"1")}  # a directory with content is implied
    assert backend.volume_files("vol-unknown") is None


@pytest.mark.parametrize("files, message", [
    ({"../escape": (0o644, b"")}, "stay inside the volume"),
    ({"/etc/passwd": (0o644, b"")}, "must be relative"),
    ({"./": (0o755, b"")}, "below the volume's root"),
    ({"file": (0o644, "text")}, "must be bytes"),
    ({"fifo": (stat.S_IFIFO | 0o644, b"")}, "only regular files, directories and symbolic links"),
])
def test_put_volume_files_refuses_what_a_file_system_cannot_hold(files, message):
    backend = VolumeBackend()
    backend.put_volume_files("vol-1", {"kept": (0o644, b"k")})
    with pytest.raises(FileTreeError, match=message):
        backend.put_volume_files("vol-1", files)
    assert backend.volume_files("vol-1") == {"kept": (0o644, b"k")}


def test_bytes_api_is_one_file_of_the_tree_and_snapshots_copy_the_whole_tree():
    backend = VolumeBackend()
    backend.write_volume("vol-1", b"raw")
    assert backend.volume_files("vol-1") == {BYTES_FILE: (0o644, b"raw")}
    backend.put_volume_files("vol-1", TREE)
    assert backend.read_volume("vol-1") == b""  # no "data" file in this tree
    backend.take_snapshot("vol-1", "snap-1")
    backend.put_volume_files("vol-1", {"changed": (0o644, b"after the snapshot")})
    assert backend.snapshot_files("snap-1") == TREE
    assert backend.restore_volume("snap-1", "vol-2") is True
    assert backend.volume_files("vol-2") == TREE
    assert backend.volume_files("vol-1") == {"changed": (0o644, b"after the snapshot")}


def test_archive_chunks_of_a_large_file_are_slices_of_the_stored_bytes_not_copies():
    content = bytes(8 * 1024 * 1024)
    tree = FileTree.from_files({"big": (0o644, content)})
    chunks = list(tree_archive_chunks(tree, 32 * 1024))
    slices = [chunk for chunk in chunks if isinstance(chunk, memoryview)]
    assert all(len(chunk) == 32 * 1024 for chunk in chunks[:-1])
    assert len(slices) >= len(content) // (32 * 1024) - 1 and all(chunk.obj is content for chunk in slices)
    assert _members(b"".join(bytes(chunk) for chunk in chunks))["./big"][2] == content


# ------------------------------------------------------------------ tar -c over pods/exec

@pytest.mark.parametrize("command", [
    ["tar", "-c", "-C", "/data", "."],
    ["tar", "cf", "-", "-C", "/data", "."],
    ["/bin/tar", "-cf", "-", "--numeric-owner", "-C/data", "."],
    ["tar", "--create", "--file=-", "--directory", "/data", "."],
    ["tar", "-c", "-p", "-f", "-", "-C", "/", "data"],
])
def test_tar_create_streams_the_claims_tree_with_modes(emulated, command):
    stdout, stderr, code, status = _exec(emulated, command)
    assert (code, stderr, status) == (0, b"", {"metadata": {}, "status": "Success"})
    prefix = "data" if command[-1] == "data" else "."
    members = _members(stdout)
    assert members[prefix + "/app/config.yaml"] == (tarfile.REGTYPE, 0o640, b"replicas: 3\n")
    assert members[prefix + "/app/bin/run.sh"] == (tarfile.REGTYPE, 0o755, b"#!/bin/sh\nexec app\n")
    assert members[prefix + "/app/current"] == (tarfile.SYMTYPE, 0o777, b"bin/run.sh")
    assert members[prefix + "/cache"][:2] == (tarfile.DIRTYPE, 0o700)
    assert members[prefix + "/data.db"] == (tarfile.REGTYPE, 0o600, TREE["data.db"][1])
    assert len(stdout) % 10240 == 0  # GNU tar's records


def test_tar_create_of_a_subdirectory_and_of_a_subpath_mount_names_members_below_it(emulated):
    for directory in ("/data/app", "/app", "/ro/app"):
        stdout, _, code, _ = _exec(emulated, ["tar", "cf", "-", "-C", directory, "."])
        assert code == 0
        assert sorted(_members(stdout)) == [".", "./bin", "./bin/run.sh", "./config.yaml", "./current"]


def test_tar_create_outside_the_claims_fails_like_tar(emulated):
    stdout, stderr, code, status = _exec(emulated, ["tar", "-c", "-C", "/data/missing", "."])
    assert (stdout, code) == (b"", 2)
    assert stderr == b"tar: /data/missing: Cannot open: No such file or directory\ntar: Error is not recoverable: exiting now\n"
    assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"] == [{"reason": "ExitCode", "message": "2"}]
    assert _exec(emulated, ["tar", "-c", "-C", "/etc", "."])[2] == 2  # the container's own file system is not modelled
    _, stderr, code, _ = _exec(emulated, ["tar", "-c", "-C", "/data"])
    assert code == 2 and stderr.startswith(b"tar: Cowardly refusing to create an empty archive\n")


# ------------------------------------------------------------------ tar -x over pods/exec

def test_tar_extract_writes_files_with_modes_and_keeps_what_the_archive_does_not_name(emulated):
    archive = _archive([("./", 0o755, None), ("./app/", 0o750, None), ("./app/config.yaml", 0o600, b"replicas: 5\n"),
                        ("./logs/", 0o700, None), ("./logs/big.log", 0o644, b"line\n" * 200000)])
    stdout, stderr, code, status = _exec(emulated, ["tar", "xf", "-", "-C", "/data"], stdin=archive)
    assert (stdout, stderr, code, status["status"]) == (b"", b"", 0, "Success")
    files = emulated.claim_files(NAMESPACE, "data")
    assert files["app/config.yaml"] == (0o600, b"replicas: 5\n")
    assert files["logs/big.log"] == (0o644, b"line\n" * 200000)
    assert files["app/bin/run.sh"] == TREE["app/bin/run.sh"] and files["data.db"] == TREE["data.db"]
    # The directory's mode from the archive is kept: a new archive shows it.
    assert _members(_exec(emulated, ["tar", "-c", "-C", "/data", "."])[0])["./app"][:2] == (tarfile.DIRTYPE, 0o750)
    [record] = [r for r in emulated.sim.exec_registry.records() if r["command"][:2] == ["tar", "xf"]]
    assert record["stdin_bytes"] == len(archive) and record["stdin"] == "" and record["exit_code"] == 0


def test_tar_extract_into_a_subdirectory_round_trips_a_tar_create(emulated):
    archive, _, _, _ = _exec(emulated, ["tar", "-c", "-C", "/data", "."])
    emulated.write_claim_files(NAMESPACE, "data", {"restore/": (0o755, b"")})
    _, stderr, code, _ = _exec(emulated, ["tar", "-x", "-p", "--numeric-owner", "-C", "/data/restore"], stdin=archive)
    assert (code, stderr) == (0, b"")
    assert emulated.claim_files(NAMESPACE, "data") == {"restore/" + path: value for path, value in TREE.items()}


def test_tar_extract_into_a_read_only_mount_fails_and_writes_nothing(emulated):
    archive = _archive([("./new.txt", 0o644, b"new"), ("./dir/", 0o755, None)])
    stdout, stderr, code, status = _exec(emulated, ["tar", "-x", "-C", "/ro"], stdin=archive)
    assert (stdout, code) == (b"", 2)
    assert stderr == (b"tar: ./new.txt: Cannot open: Read-only file system\ntar: ./dir: Cannot mkdir: Read-only file system\n"
                      b"tar: Exiting with failure status due to previous errors\n")
    assert status["message"] == "command terminated with non-zero exit code: error executing command [tar -x -C /ro], exit code 2"
    assert emulated.claim_files(NAMESPACE, "data") == TREE


def test_tar_extract_of_something_else_than_a_tar_fails_like_tar(emulated):
    _, stderr, code, _ = _exec(emulated, ["tar", "-x", "-C", "/data"], stdin=b"")
    assert (code, stderr) == (2, b"tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n")
    archive = _archive([("./cut.bin", 0o644, b"x" * 100000)])
    _, stderr, code, _ = _exec(emulated, ["tar", "-x", "-C", "/data"], stdin=archive[:50000])
    assert code == 2 and stderr.endswith(b"tar: Error is not recoverable: exiting now\n")


def test_tar_extract_over_v4_takes_stdin_until_the_connection_closes(emulated):
    archive = _archive([("./v4.txt", 0o600, b"over v4")])
    query = "command=tar&command=-x&command=-C&command=/data&stdin=true&stderr=true"
    url = emulated.url.replace("http", "ws", 1) + "/api/v1/namespaces/%s/pods/%s/exec?%s" % (NAMESPACE, POD, query)
    socket = websocket.create_connection(url, subprotocols=["v4.channel.k8s.io"], timeout=5)
    for offset in range(0, len(archive), 4096):
        socket.send_binary(b"\x00" + archive[offset:offset + 4096])
    socket.close()  # v4 has no way to close stdin alone: the connection's end is stdin's end
    deadline = time.monotonic() + 10
    while not emulated.sim.exec_registry.records() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulated.sim.exec_registry.records()[0]["exit_code"] == 0
    assert emulated.claim_files(NAMESPACE, "data")["v4.txt"] == (0o600, b"over v4")


def test_a_scripted_rule_answers_tar_before_the_volume_does(emulated):
    emulated.control.add_exec_script(command_prefix=["tar"], stderr="tar: scripted failure\n", exit_code=2)
    assert _exec(emulated, ["tar", "-c", "-C", "/data", "."])[:3] == (b"", b"tar: scripted failure\n", 2)


# ------------------------------------------------------------------ kubectl and the control API

@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_exec_tar_writes_and_reads_a_claim(emulated):
    kubectl = ["kubectl", "--kubeconfig", emulated.kubeconfig, "exec", "-n", NAMESPACE, POD]
    archive = _archive([("./kubectl/", 0o711, None), ("./kubectl/notes.txt", 0o640, b"written by kubectl exec -i\n")])
    result = subprocess.run(kubectl[:-1] + ["-i", POD, "--", "tar", "-x", "-C", "/data"], input=archive, capture_output=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (0, b"")
    result = subprocess.run(kubectl + ["--", "tar", "cf", "-", "-C", "/data", "."], capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    members = _members(result.stdout)
    assert members["./kubectl"][:2] == (tarfile.DIRTYPE, 0o711)
    assert members["./kubectl/notes.txt"] == (tarfile.REGTYPE, 0o640, b"written by kubectl exec -i\n")
    assert members["./data.db"] == (tarfile.REGTYPE, 0o600, TREE["data.db"][1])
    result = subprocess.run(kubectl[:-1] + ["-i", POD, "--", "tar", "-x", "-C", "/ro"], input=archive, capture_output=True, timeout=60, check=False)
    assert result.returncode == 2 and b"tar: ./kubectl/notes.txt: Cannot open: Read-only file system" in result.stderr


def test_control_api_reads_and_writes_a_claims_tree(emulated):
    assert emulated.control.claim_files(NAMESPACE, "data") == TREE
    answer = emulated.control.write_claim_files(NAMESPACE, "data", {"only/file": (0o604, b"1")})
    assert answer == {"handle": emulated.claim_volume_handle(NAMESPACE, "data"), "size": 1}
    assert emulated.claim_files(NAMESPACE, "data") == {"only/file": (0o604, b"1")}


# ------------------------------------------------------------------ two clouds

def test_a_tree_copied_through_two_pods_reaches_a_cluster_whose_storage_shares_nothing(kubesim_factory):
    source, target = kubesim_factory(sample=True), kubesim_factory(sample=True)
    assert source.sim.volume_backend is not target.sim.volume_backend
    for emulated, storage_class in ((source, "nfs-client"), (target, "local-path")):
        emulated.sim.seed([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
                           {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NAMESPACE},
                            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": storage_class}},
                           _mover([{"name": "v", "mountPath": "/data"}])])
        assert emulated.sim.settle(10)
    source.write_claim_files(NAMESPACE, "data", TREE)

    archive, _, code, _ = _exec(source, ["tar", "cf", "-", "-C", "/data", "."])
    assert code == 0
    assert _exec(target, ["tar", "xf", "-", "-C", "/data"], stdin=archive)[2] == 0
    assert target.claim_files(NAMESPACE, "data") == TREE
    assert source.claim_volume_handle(NAMESPACE, "data").startswith("nfs://")
    assert target.claim_volume_handle(NAMESPACE, "data").startswith("hostpath://kubesim-node-1/")
    assert target.sim.volume_backend.volume_files(source.claim_volume_handle(NAMESPACE, "data")) is None


def test_tar_extract_writes_each_member_as_it_arrives(emulated):
    archive = _archive([("./first.bin", 0o644, b"1" * 5000), ("./second.bin", 0o644, b"2" * 5000)])
    core = client.CoreV1Api(emulated.api_client())
    response = stream(core.connect_get_namespaced_pod_exec, POD, NAMESPACE, command=["tar", "-x", "-C", "/data"], stdout=True, stderr=True,
                      stdin=True, tty=False, _preload_content=False, binary=True)
    response.write_stdin(archive[:512 + 5120])  # the first member whole, the second not yet
    deadline = time.monotonic() + 10
    while "first.bin" not in emulated.claim_files(NAMESPACE, "data") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulated.claim_files(NAMESPACE, "data")["first.bin"] == (0o644, b"1" * 5000)
    assert "second.bin" not in emulated.claim_files(NAMESPACE, "data")
    response.write_stdin(archive[512 + 5120:])
    response.close_channel(0)
    response.run_forever(timeout=10)
    assert emulated.claim_files(NAMESPACE, "data")["second.bin"] == (0o644, b"2" * 5000)

"""A restore never writes what it cannot trust: the backup checked against its manifest, the archive path as the
authority, hostile archives refused; every refusal before the first write (the emulator's audit log shows none)."""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zlib

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from module_results import run_module
from velero_archives import velero_archive

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
BACKUP = "snap"


def writes(cluster):
    return [record for record in cluster.control.audit() if record["verb"] in WRITE_VERBS]


def back_up_payments(sample_cluster, location):
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    run_backup(client, open_location(str(location)), BackupOptions(name=BACKUP, included_namespaces=["payments"]))
    return location / "backups" / BACKUP


def repack(tarball, keep=lambda path: True, edit=lambda path, data: data):
    """The tarball re-packed as a tampering tool would: members dropped (``keep``) or edited (``edit``)."""
    source = tarfile.open(fileobj=io.BytesIO(tarball.read_bytes()), mode="r:gz")
    output = io.BytesIO()
    with tarfile.open(fileobj=output, mode="w:gz") as tar:
        for member in source.getmembers():
            if not keep(member.name):
                continue
            data = edit(member.name, source.extractfile(member).read())
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    tarball.write_bytes(output.getvalue())


def edit_config_map(path, data):
    if "/configmaps/" in path and path.endswith("/api-config.json"):
        obj = json.loads(data)
        obj["data"]["PAYMENT_PROVIDER"] = "attacker-bank"
        return json.dumps(obj).encode()
    return data


def every_other_item():
    """Keeps half the objects (both copies of each: unversioned and -preferredversion)."""
    kept = {}

    def keep(path):
        if not path.startswith("resources/"):
            return True
        identity = "/".join(part for part in path.split("/") if not part.endswith("-preferredversion"))
        return kept.setdefault(identity, len(kept) % 2 == 0)
    return keep


def rehash_in_manifest(backup_dir, file_name):
    """What a tamperer who also rewrites the manifest's checksum of a file does (the counts stay)."""
    manifest_path = backup_dir / ("%s-manifest.json" % BACKUP)
    manifest = json.loads(manifest_path.read_text())
    data = (backup_dir / file_name).read_bytes()
    manifest["files"][file_name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest.pop("tarBytes", None)
    manifest_path.write_text(json.dumps(manifest))


def restore_playbook(run_playbook, cluster, location, *extra):
    args = ["-e", "restore_location=%s" % location, "-e", "backup=%s" % BACKUP]
    for variable in extra:
        args.extend(["-e", variable])
    return run_playbook("playbooks/restore.yml", cluster.env(), *args, check=False)


@pytest.mark.parametrize("tampering, rehashed, named", [
    ("config map value edited", False, "%s.tar.gz has" % BACKUP),
    ("half the members dropped", False, "%s.tar.gz has" % BACKUP),
    ("half the members dropped", True, "objects in the archive, the manifest says"),
])
def test_a_tampered_archive_is_refused_before_the_first_write(sample_cluster, kubesim_factory, run_playbook, tmp_path,
                                                              tampering, rehashed, named):
    location = tmp_path / "location"
    backup_dir = back_up_payments(sample_cluster, location)
    tarball = backup_dir / ("%s.tar.gz" % BACKUP)
    if tampering == "config map value edited":
        repack(tarball, edit=edit_config_map)
    else:
        repack(tarball, keep=every_other_item())
    if rehashed:
        rehash_in_manifest(backup_dir, tarball.name)
    target = kubesim_factory()
    target.control.clear_audit()
    result = restore_playbook(run_playbook, target, location)
    assert result.returncode != 0
    assert "does not match its manifest" in result.stdout and named in result.stdout, result.stdout[-3000:]
    assert "nothing was restored" in result.stdout
    assert writes(target) == []
    assert not [o for o in target.control.dump() if o["metadata"].get("namespace") == "payments"]


def test_an_untouched_backup_restores_verified(sample_cluster, kubesim_factory, ansible_playbook, tmp_path):
    location = tmp_path / "location"
    back_up_payments(sample_cluster, location)
    target = kubesim_factory()
    result = run_module(ansible_playbook, target.env(), tmp_path, "restore", {"backup": BACKUP, "location": str(location)})
    assert result["restore"]["integrity"]["verified"] is True
    config = [o for o in target.control.dump() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "api-config"]
    assert config[0]["data"]["PAYMENT_PROVIDER"] == "stripe-sandbox"


def test_a_lost_manifest_refuses_unless_allow_unverified(sample_cluster, kubesim_factory, run_playbook, tmp_path):
    location = tmp_path / "location"
    backup_dir = back_up_payments(sample_cluster, location)
    (backup_dir / ("%s-manifest.json" % BACKUP)).unlink()
    target = kubesim_factory()
    target.control.clear_audit()
    refused = restore_playbook(run_playbook, target, location)
    assert refused.returncode != 0
    assert "%s-manifest.json is missing" % BACKUP in refused.stdout and "restore_allow_unverified" in refused.stdout, refused.stdout[-3000:]
    assert writes(target) == []

    allowed = restore_playbook(run_playbook, target, location, "restore_allow_unverified=true")
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    assert "UNVERIFIED restore of backup '%s'" % BACKUP in allowed.stdout + allowed.stderr
    config = [o for o in target.control.dump() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "api-config"]
    assert config[0]["data"]["PAYMENT_PROVIDER"] == "stripe-sandbox"


def velero_backup_dir(location, name, objects=None, tarball=None):
    folder = location / "backups" / name
    folder.mkdir(parents=True)
    if tarball is None:
        (folder / ("%s.tar.gz" % name)).write_bytes(velero_archive(objects))
    else:
        os.rename(tarball, folder / ("%s.tar.gz" % name))
    (folder / "velero-backup.json").write_text(json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": name, "namespace": "velero"},
        "spec": {"ttl": "720h0m0s", "storageLocation": "default"},
        "status": {"phase": "Completed", "version": 1, "formatVersion": "1.1.0", "startTimestamp": "2026-11-01T00:00:00Z",
                   "completionTimestamp": "2026-11-01T00:01:00Z", "expiration": "2026-12-01T00:00:00Z"}}))
    return folder


def config_map(namespace, name, path_namespace=None, value="v"):
    path = "resources/configmaps/namespaces/%s/%s.json" % (path_namespace or namespace, name)
    return path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace, "uid": "uid-" + name},
                  "data": {"k": value}}


def test_a_velero_made_backup_restores_with_an_unverified_warning(cluster, ansible_playbook, tmp_path):
    location = tmp_path / "location"
    velero_backup_dir(location, BACKUP, [config_map("legacy", "settings")])
    result = run_module(ansible_playbook, cluster.env(), tmp_path, "restore", {"backup": BACKUP, "location": str(location)})
    assert result["restore"]["integrity"]["verified"] is False
    assert any("restored unverified" in warning for warning in result["warnings"]), result["warnings"]
    assert result["restore"]["errors"] == [], result["restore"]
    assert [o["data"] for o in cluster.control.dump() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "settings"] == [{"k": "v"}]


def test_the_archive_path_is_the_authority(cluster, ansible_playbook, tmp_path):
    """An item under namespaces/evilns/ naming kube-system, restored with included_namespaces=evilns and a mapping of evilns."""
    location = tmp_path / "location"
    velero_backup_dir(location, BACKUP, [
        config_map("kube-system", "coredns", path_namespace="evilns", value="hijacked"),
        config_map("evilns", "honest"),
        # A cluster-scoped kind smuggled under a namespaces/ path, and a namespaced kind under cluster/.
        ("resources/clusterroles.rbac.authorization.k8s.io/namespaces/evilns/admin-too.json",
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "admin-too", "namespace": "evilns"},
          "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        ("resources/configmaps/cluster/floating.json", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "floating"}}),
        # A kind that is not its resource's: a Secret stored as a ConfigMap.
        ("resources/configmaps/namespaces/evilns/disguised.json",
         {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "disguised", "namespace": "evilns"}, "data": {}}),
    ])
    cluster.control.clear_audit()
    result = run_module(ansible_playbook, cluster.env(), tmp_path, "restore", {
        "backup": BACKUP, "location": str(location), "included_namespaces": ["evilns"], "namespace_mapping": {"evilns": "safe"},
        "include_cluster_resources": True}, check=False)
    restore = result.get("restore") or {}
    refused = {(o["group_resource"], o["name"]): o["reason"] for o in restore.get("objects", []) if o["action"] == "failed"}
    assert set(refused) == {("configmaps", "coredns"), ("clusterroles.rbac.authorization.k8s.io", "admin-too"),
                            ("configmaps", "floating"), ("configmaps", "disguised")}, restore.get("objects")
    assert "holds an object of namespace 'kube-system'" in refused[("configmaps", "coredns")]
    assert "are cluster-scoped" in refused[("clusterroles.rbac.authorization.k8s.io", "admin-too")]
    assert "are namespaced" in refused[("configmaps", "floating")]
    assert "holds a Secret" in refused[("configmaps", "disguised")]
    written = writes(cluster)
    assert written and not [r for r in written if "kube-system" in r["path"] or "clusterroles" in r["path"] or "evilns" in r["path"]], written
    stored = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in cluster.control.dump()}
    assert ("ConfigMap", "safe", "honest") in stored
    assert not [key for key in stored if key[2] in ("coredns", "admin-too", "floating", "disguised")]


def write_inflating_archive(path, member, inflated_size):
    """A gzip tarball whose one entry is ``inflated_size`` zero bytes, written in pieces (about 1 MiB per GiB on disk)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1024 * 1024)
    with open(path, "wb") as out:
        version = tarfile.TarInfo("metadata/version")
        version.size = 6
        out.write(compressor.compress(version.tobuf(tarfile.GNU_FORMAT) + b"1.1.0\n".ljust(512, b"\0")))
        info = tarfile.TarInfo(member)
        info.size = inflated_size
        out.write(compressor.compress(info.tobuf(tarfile.GNU_FORMAT)))
        for _unused in range(inflated_size // len(zeros)):
            out.write(compressor.compress(zeros))
        out.write(compressor.compress(b"\0" * 1024))
        out.write(compressor.flush())


def test_a_gzip_bomb_entry_is_refused_with_bounded_memory(cluster, tmp_path):
    """1 GiB of one entry, about 1 MiB on disk: refused by its header, the restore (ansible-playbook and the module) below 300 MiB."""
    location = tmp_path / "location"
    bomb = tmp_path / "bomb.tar.gz"
    member = "resources/configmaps/namespaces/big/huge.json"
    write_inflating_archive(bomb, member, 1024 ** 3)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    velero_backup_dir(location, BACKUP, tarball=bomb)
    env = dict(cluster.env(), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    # ru_maxrss of RUSAGE_CHILDREN in a fresh interpreter: the largest process of ansible-playbook's tree, the module included.
    measure = ("import resource, subprocess, sys\n"
               "run = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "sys.stdout.write(run.stdout)\n"
               "print('MAXRSS_KIB=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    cluster.control.clear_audit()
    run = subprocess.run([sys.executable, "-c", measure, os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks/restore.yml"),
                          "-e", "restore_location=%s" % location, "-e", "backup=%s" % BACKUP],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert "hostile entry" in run.stdout and member in run.stdout and "1073741824 bytes" in run.stdout, run.stdout[-3000:]
    max_rss_mib = int(run.stdout.rsplit("MAXRSS_KIB=", 1)[1].split()[0]) / 1024
    assert max_rss_mib < 300, max_rss_mib
    assert writes(cluster) == []


def test_a_hostile_member_is_refused_by_the_restore_playbook(cluster, run_playbook, tmp_path):
    location = tmp_path / "location"
    folder = velero_backup_dir(location, BACKUP, [config_map("legacy", "settings")])
    output = io.BytesIO()
    with tarfile.open(fileobj=output, mode="w:gz") as tar:
        version = tarfile.TarInfo("metadata/version")
        version.size = 6
        tar.addfile(version, io.BytesIO(b"1.1.0\n"))
        link = tarfile.TarInfo("resources/configmaps/namespaces/legacy/passwd.json")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    (folder / ("%s.tar.gz" % BACKUP)).write_bytes(output.getvalue())
    cluster.control.clear_audit()
    result = run_playbook("playbooks/restore.yml", cluster.env(), "-e", "restore_location=%s" % location, "-e", "backup=%s" % BACKUP,
                          check=False)
    assert result.returncode != 0
    assert "resources/configmaps/namespaces/legacy/passwd.json is a symbolic link (to /etc/passwd)" in result.stdout, result.stdout[-3000:]
    assert writes(cluster) == []


def test_a_rewritten_volume_snapshot_sidecar_is_refused(sample_cluster, kubesim_factory, ansible_playbook, tmp_path):
    """The sidecars a restore reads are checked too: volume snapshot records rewritten after the backup are refused."""
    location = tmp_path / "location"
    backup_dir = back_up_payments(sample_cluster, location)
    manifest = json.loads((backup_dir / ("%s-manifest.json" % BACKUP)).read_text())
    manifest.pop("volumeSnapshots", None)  # as a manifest of an older version: the records come from Velero's sidecars
    (backup_dir / ("%s-manifest.json" % BACKUP)).write_text(json.dumps(manifest))
    sidecar = backup_dir / ("%s-volumesnapshots.json.gz" % BACKUP)
    sidecar.write_bytes(gzip.compress(json.dumps([{"spec": {"persistentVolumeName": "pv-x"}, "status": {"phase": "Completed"}}]).encode()))
    target = kubesim_factory()
    target.control.clear_audit()
    result = run_module(ansible_playbook, target.env(), tmp_path, "restore", {"backup": BACKUP, "location": str(location)}, check=False)
    assert result.get("failed") and "%s has" % sidecar.name in result["msg"], result.get("msg")
    assert writes(target) == []


@pytest.mark.parametrize("damaged, named", [
    ("%s.tar.gz.age" % BACKUP, "%s.tar.gz.age has SHA-256" % BACKUP),
    ("%s-identity.age" % BACKUP, "%s-identity.age has" % BACKUP),
])
def test_an_encrypted_backup_is_checked_too(sample_cluster, kubesim_factory, ansible_playbook, tmp_path, damaged, named):
    """The age-encrypted tarball (one byte flipped: also undecryptable, but named as not matching) and the passphrase-wrapped key."""
    pytest.importorskip("pyrage")
    from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import EncryptionSettings  # pylint: disable=import-outside-toplevel
    location = tmp_path / "location"
    client = KubeClient(**connection_options({"kubeconfig": sample_cluster.kubeconfig}))
    run_backup(client, open_location(str(location)), BackupOptions(
        name=BACKUP, included_namespaces=["payments"], encryption=EncryptionSettings.from_options("all", passphrase="correct horse")))
    path = location / "backups" / BACKUP / damaged
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    target = kubesim_factory()
    target.control.clear_audit()
    result = run_module(ansible_playbook, target.env(), tmp_path, "restore",
                        {"backup": BACKUP, "location": str(location), "decryption_passphrase": "correct horse"}, check=False)
    assert result.get("failed") and "does not match its manifest" in result["msg"] and named in result["msg"], result.get("msg")
    assert writes(target) == []

"""Encrypted backups of the sample cluster: nothing readable without the key, the age tool alone decrypts,
restores round-trip, a wrong key writes nothing, and no Secret value shows in any output.

Passphrase-encrypted backups are restored with pyrage here; the age tool reads
passphrases from a terminal only (tests/unit/test_encryption.py drives it through a pseudo-terminal).
"""

import base64
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import tarfile

import pytest

import pyrage

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import DecryptionKeys, EncryptionSettings
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions, run_restore

pytestmark = pytest.mark.integration

# tests/kubesim/fixtures/README.md: the sample's Secret values, decoded and base64. The user name
# "shop-db-user" is left out in plain text: StatefulSet shop/db names it in its readiness probe, as plain config.
SECRET_VALUES = (
    "c2hvcC1kYi11c2Vy",
    "shop-db-password-123", "c2hvcC1kYi1wYXNzd29yZC0xMjM=",
    "shop-session-key-abc", "c2hvcC1zZXNzaW9uLWtleS1hYmM=",
    "payments-api-key-456", "cGF5bWVudHMtYXBpLWtleS00NTY=",
    "payments-webhook-secret-789", "cGF5bWVudHMtd2ViaG9vay1zZWNyZXQtNzg5",
    "shop-registry-token-789",
)
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
PASSPHRASE = "integration passphrase 7"


def client_for(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


@pytest.fixture(scope="module")
def key_pair():
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


@pytest.fixture
def key_file(tmp_path, key_pair):
    path = tmp_path / "key.txt"
    path.write_text("# public key: %s\n%s\n" % (key_pair[1], key_pair[0]))
    return path


def back_up(cluster, location, name, mode, key_pair=None, passphrase=None):
    settings = EncryptionSettings.from_options(mode, recipients=[key_pair[1]] if key_pair else None, passphrase=passphrase)
    return run_backup(client_for(cluster), open_location(str(location)), BackupOptions(name=name, encryption=settings))


def restore(cluster, location, name, keys=None, check_mode=False, **options):
    return run_restore(client_for(cluster), open_location(str(location)), RestoreOptions(backup=name, decryption_keys=keys, **options),
                       check_mode=check_mode)


def cluster_secrets(cluster, namespaces=("shop", "payments")):
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in cluster.control.dump()
            if o["kind"] == "Secret" and o["metadata"].get("namespace") in namespaces and o.get("type") != "kubernetes.io/service-account-token"}


def readable_forms(path):
    """The bytes of a stored file, and what gzip would give for it (plaintext hides in compressed files)."""
    data = path.read_bytes()
    forms = [data]
    if data.startswith(b"\x1f\x8b"):
        forms.append(gzip.decompress(data))
    return forms


def leaked_values(text_or_bytes, values=SECRET_VALUES):
    data = text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes
    return [value for value in values if value.encode() in data]


def assert_no_secret_in_files(directory, values=SECRET_VALUES):
    scanned = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            for form in readable_forms(pathlib.Path(path)):
                assert not leaked_values(form, values), "%s holds %s" % (path, leaked_values(form, values))
            scanned += 1
    assert scanned


def test_mode_all_holds_no_secret_and_the_age_tool_alone_gives_a_velero_tarball(sample_cluster, tmp_path, key_pair, key_file):
    location = tmp_path / "location"
    result = back_up(sample_cluster, location, "sealed", "all", key_pair)
    directory = location / "backups" / "sealed"
    assert sorted(os.listdir(directory)) == sorted([
        "velero-backup.json", "sealed.tar.gz.age", "sealed-resource-list.json.gz", "sealed-logs.gz", "sealed-results.gz",
        "sealed-volumesnapshots.json.gz", "sealed-itemoperations.json.gz", "sealed-volumeinfo.json.gz",
        "sealed-podvolumebackups.json.gz", "sealed-manifest.json"])
    assert_no_secret_in_files(location)
    manifest = json.loads((directory / "sealed-manifest.json").read_text())
    assert manifest["encryption"] == {"mode": "all", "format": "age-v1", "recipients": [key_pair[1]], "passphrase": False}
    assert result["encryption"] == manifest["encryption"] and "sealed.tar.gz.age" in manifest["files"]
    marker = json.loads((directory / "velero-backup.json").read_text())
    assert marker["metadata"]["annotations"]["kubesafe.k8s/encryption"] == "all"

    # README, disaster recovery: age -d -i key.txt backups/B/B.tar.gz.age > B.tar.gz
    assert shutil.which("age"), "the age tool is missing: apt-get install age (make test installs it)"
    subprocess.run("age -d -i %s backups/sealed/sealed.tar.gz.age > sealed.tar.gz" % key_file, shell=True, cwd=str(location), check=True)
    with tarfile.open(str(location / "sealed.tar.gz"), "r:gz") as tar:
        names = tar.getnames()
        assert names[0] == "metadata/version" and tar.extractfile("metadata/version").read() == b"1.1.0\n"
        stored = json.loads(tar.extractfile("resources/secrets/namespaces/shop/db-credentials.json").read())
    assert "resources/secrets/v1-preferredversion/namespaces/payments/api-keys.json" in names
    assert stored["data"] == cluster_secrets(sample_cluster)[("shop", "db-credentials")]["data"]
    assert len([n for n in names if n.startswith("resources/") and "-preferredversion/" not in n]) == result["items_backed_up"]


def test_mode_secrets_keeps_the_archive_velero_readable_and_values_decrypt_with_age(sample_cluster, tmp_path, key_pair, key_file):
    location = tmp_path / "location"
    back_up(sample_cluster, location, "half", "secrets", key_pair)
    assert_no_secret_in_files(location)
    with tarfile.open(str(location / "backups" / "half" / "half.tar.gz"), "r:gz") as tar:
        secret = json.loads(tar.extractfile("resources/secrets/namespaces/shop/db-credentials.json").read())
        config_map = json.loads(tar.extractfile("resources/configmaps/namespaces/shop/web-config.json").read())
    assert secret["metadata"]["annotations"]["kubesafe.k8s/encrypted"] == "age"
    assert sorted(secret["data"]) == ["password", "session-key", "username"] and secret["type"] == "Opaque"
    assert config_map["data"], "other objects stay plain"
    # README: echo VALUE | base64 -d | age -d -i key.txt
    value = subprocess.run('echo "$VALUE" | base64 -d | age -d -i "$KEY"', shell=True, capture_output=True, check=True,
                           env=dict(os.environ, VALUE=secret["data"]["password"], KEY=str(key_file))).stdout
    assert value == b"shop-db-password-123"


def wipe(cluster, namespaces):
    from test_restore import wipe as wipe_namespaces  # pylint: disable=import-outside-toplevel
    wipe_namespaces(cluster, namespaces)


@pytest.mark.parametrize("mode", ["all", "secrets"])
def test_encrypted_backup_round_trips_through_restore(sample_cluster, tmp_path, key_pair, mode):
    from test_restore import RECREATED_BY_CONTROLLERS, desired_state, objects_in  # pylint: disable=import-outside-toplevel
    location = tmp_path / "location"
    back_up(sample_cluster, location, "enc", mode, key_pair)
    before = objects_in(sample_cluster, {"shop", "payments"})
    secrets_before = cluster_secrets(sample_cluster)
    wipe(sample_cluster, ["shop", "payments"])
    result = restore(sample_cluster, location, "enc", DecryptionKeys.from_options(identity=key_pair[0]))
    assert result["phase"] == "Completed", result["errors"]
    sample_cluster.control.settle(30)
    after = objects_in(sample_cluster, {"shop", "payments"})
    for key, obj in before.items():
        if key[0] in RECREATED_BY_CONTROLLERS or key[0] == "Job" or key[2] in ("kube-root-ca.crt", "default", "tmp-cache") or \
                obj.get("type") == "kubernetes.io/service-account-token":
            continue
        assert key in after, "%s was not restored" % (key,)
        assert desired_state(after[key]) == desired_state(obj), key
    secrets_after = cluster_secrets(sample_cluster)
    assert secrets_after.keys() == secrets_before.keys()
    for key, secret in secrets_before.items():
        assert secrets_after[key]["data"] == secret["data"], key
        assert "kubesafe.k8s/encrypted" not in (secrets_after[key]["metadata"].get("annotations") or {})


def test_passphrase_backup_round_trips_with_pyrage(sample_cluster, tmp_path):
    location = tmp_path / "location"
    back_up(sample_cluster, location, "pw", "secrets", passphrase=PASSPHRASE)
    assert (location / "backups" / "pw" / "pw-identity.age").exists()
    assert_no_secret_in_files(location, SECRET_VALUES + (PASSPHRASE,))
    secrets_before = cluster_secrets(sample_cluster)
    wipe(sample_cluster, ["shop", "payments"])
    result = restore(sample_cluster, location, "pw", DecryptionKeys.from_options(passphrase=PASSPHRASE))
    assert result["phase"] == "Completed", result["errors"]
    secrets_after = cluster_secrets(sample_cluster)
    for key, secret in secrets_before.items():
        assert secrets_after[key]["data"] == secret["data"], key


@pytest.mark.parametrize("mode", ["all", "secrets"])
def test_wrong_or_missing_key_fails_before_any_write(sample_cluster, tmp_path, key_pair, mode):
    location = tmp_path / "location"
    back_up(sample_cluster, location, "locked", mode, key_pair)
    wipe(sample_cluster, ["shop", "payments"])
    wrong = DecryptionKeys.from_options(identity=str(pyrage.x25519.Identity.generate()))
    for keys, message in ((wrong, "wrong key \\(the backup was encrypted to %s\\)" % key_pair[1]),
                          (None, "backup 'locked' is encrypted \\(encryption %s, to %s\\): give decryption_identity" % (mode, key_pair[1]))):
        sample_cluster.control.clear_audit()
        with pytest.raises(KubesafeError, match=message):
            restore(sample_cluster, location, "locked", keys)
        writes = [record for record in sample_cluster.control.audit() if record["verb"] in WRITE_VERBS]
        assert writes == [], writes
    assert not (location / "restores").exists()
    assert not [o for o in sample_cluster.control.dump() if o["metadata"].get("namespace") in ("shop", "payments")]


def _extra_vars(tmp_path, name, variables):
    path = tmp_path / ("%s.json" % name)
    path.write_text(json.dumps(variables))
    return "@%s" % path


def test_no_secret_value_in_any_output_of_a_playbook_round_trip(sample_cluster, run_playbook, ansible_playbook, tmp_path, key_pair):
    """Issue 7: backup, backup_info and restore at -vvv; stdout, stderr, module results, logs, results, manifest, record."""
    location = tmp_path / "location"
    env = sample_cluster.env()
    sensitive = SECRET_VALUES + (key_pair[0], PASSPHRASE)
    outputs = []
    outputs.append(run_playbook("playbooks/backup.yml", env, "-vvv", "-e", _extra_vars(tmp_path, "backup", {
        "backup_location": str(location), "backup_name": "scan", "backup_encryption": "secrets",
        "backup_encryption_recipients": [key_pair[1]], "backup_encryption_passphrase": PASSPHRASE})))
    info = ansible_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"kubesafe.k8s.backup_info": {"location": str(location), "name": "scan", "include_contents": True}, "register": "info"},
        {"ansible.builtin.copy": {"content": "{{ info | to_json }}", "dest": str(tmp_path / "info.json")}}]}], env, "-vvv")
    outputs.append(info)
    wipe(sample_cluster, ["shop", "payments"])
    restored = ansible_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"kubesafe.k8s.restore": {"backup": "scan", "name": "scan-restore", "location": str(location),
                                  "decryption_identity": "{{ identity }}"}, "register": "restored"},
        {"ansible.builtin.copy": {"content": "{{ restored | to_json }}", "dest": str(tmp_path / "restored.json")}}]}],
        env, "-vvv", "--diff", "-e", _extra_vars(tmp_path, "keys", {"identity": key_pair[0]}))
    outputs.append(restored)
    again = run_playbook("playbooks/restore.yml", env, "-vvv", "--check", "--diff", "-e", _extra_vars(tmp_path, "restore", {
        "restore_location": str(location), "backup": "scan", "restore_decryption_passphrase": PASSPHRASE,
        "restore_existing_resource_policy": "update"}))
    outputs.append(again)

    secrets = cluster_secrets(sample_cluster)
    assert base64.b64decode(secrets[("shop", "db-credentials")]["data"]["password"]) == b"shop-db-password-123", "the restore worked"
    for output in outputs:
        assert not leaked_values(output.stdout + output.stderr, sensitive), leaked_values(output.stdout + output.stderr, sensitive)
    for name in ("info.json", "restored.json"):
        text = (tmp_path / name).read_text()
        assert '"failed": false' in text or '"changed"' in text
        assert not leaked_values(text, sensitive), (name, leaked_values(text, sensitive))
    assert json.loads((tmp_path / "restored.json").read_text())["restore"]["phase"] == "Completed"
    # Every stored file: the backup (tarball, logs, results, manifest, key file) and the restore record.
    assert (location / "restores" / "scan-restore" / "restore-scan-restore-report.json").exists()
    assert_no_secret_in_files(location, sensitive)

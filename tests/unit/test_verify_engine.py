"""verify: each kind of damage to a backup is detected, a healthy or Velero-written backup verifies, restore_check only reads."""

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import tracemalloc

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubesafe.k8s.plugins.module_utils import sorted_spool
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound, open_location
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops import verify as verify_ops
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.verify import verify_all, verify_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.temp_dirs import make_temp_dir
from ansible_collections.kubesafe.k8s.plugins.modules import verify
from velero_archives import velero_archive

CRDS = "customresourcedefinitions.apiextensions.k8s.io"


def client_for(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


def back_up(cluster, directory, name="snap", **options):
    return run_backup(client_for(cluster), open_location(str(directory)), BackupOptions(name=name, **options))


def folder(directory, name="snap"):
    return directory / "backups" / name


def problems_of(result, check):
    return [problem for problem in result["problems"] if problem.startswith(check + ":")]


def check_named(result, check):
    return next(entry for entry in result["checks"] if entry["check"] == check)


def rewrite_manifest_entry(directory, name, file_name):
    """Make the manifest agree with a file changed on purpose, so only the deeper checks can notice."""
    manifest_path = folder(directory, name) / ("%s-manifest.json" % name)
    manifest = json.loads(manifest_path.read_text())
    data = (folder(directory, name) / file_name).read_bytes()
    manifest["files"][file_name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest_path.write_text(json.dumps(manifest))


def rewrite_tarball(path, change):
    """Rewrite a backup tarball, passing every member's (name, bytes) through ``change`` (None drops it)."""
    members = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else None
            members.append((member.name, data))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member_name, data in members:
            changed = change(member_name, data)
            if changed is None:
                continue
            info = tarfile.TarInfo(member_name)
            info.size = len(changed)
            tar.addfile(info, io.BytesIO(changed))
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def backed_up(sample_cluster, tmp_path):
    """A healthy backup ``snap`` of the sample cluster's shop and payments namespaces in tmp_path."""
    back_up(sample_cluster, tmp_path, included_namespaces=["shop", "payments"])
    return tmp_path


def test_a_healthy_backup_verifies(backed_up):
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert result["ok"], result["problems"]
    assert result["problems"] == [] and result["warnings"] == []
    assert [check["check"] for check in result["checks"]] == ["commit_marker", "manifest", "files", "sidecars", "contents", "counts"]
    assert all(check["ok"] for check in result["checks"])


def test_a_flipped_byte_in_the_tarball(backed_up):
    tarball = folder(backed_up) / "snap.tar.gz"
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0x01
    tarball.write_bytes(bytes(data))
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert not result["ok"]
    assert any("snap.tar.gz has SHA-256" in problem for problem in problems_of(result, "files"))
    assert problems_of(result, "contents")  # the gzip CRC (or the deflate data) notices it too


def test_a_truncated_tarball(backed_up):
    tarball = folder(backed_up) / "snap.tar.gz"
    data = tarball.read_bytes()
    tarball.write_bytes(data[:len(data) - 100])
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert not result["ok"]
    assert any("snap.tar.gz has %d bytes, the manifest says %d" % (len(data) - 100, len(data)) in problem for problem in problems_of(result, "files"))
    assert any("truncated" in problem for problem in problems_of(result, "contents"))


@pytest.mark.parametrize("deleted", ["snap-results.gz", "snap.tar.gz", "snap-resource-list.json.gz"])
def test_a_deleted_file(backed_up, deleted):
    (folder(backed_up) / deleted).unlink()
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert not result["ok"]
    assert "files: %s is missing" % deleted in result["problems"]


def test_a_swapped_file(sample_cluster, tmp_path):
    back_up(sample_cluster, tmp_path, name="a", included_namespaces=["shop"])
    back_up(sample_cluster, tmp_path, name="b", included_namespaces=["payments"])
    shutil.copyfile(folder(tmp_path, "a") / "a-resource-list.json.gz", folder(tmp_path, "b") / "b-resource-list.json.gz")
    location = open_location(str(tmp_path))
    result = verify_backup(location, "b")
    assert not result["ok"]
    assert any(problem.startswith("files: b-resource-list.json.gz has") for problem in result["problems"])
    assert any("is in the resource list but not in the archive" in problem for problem in problems_of(result, "counts"))
    assert verify_backup(location, "a")["ok"]


def test_a_missing_commit_marker(backed_up):
    (folder(backed_up) / "velero-backup.json").unlink()
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert not result["ok"] and not check_named(result, "commit_marker")["ok"]
    assert "velero-backup.json is missing" in problems_of(result, "commit_marker")[0]
    # verify_all lists the interrupted directory too
    assert [(entry["name"], entry["ok"]) for entry in verify_all(open_location(str(backed_up)))] == [("snap", False)]


def test_a_damaged_commit_marker(backed_up):
    (folder(backed_up) / "velero-backup.json").write_text("{not json")
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert "not valid JSON" in problems_of(result, "commit_marker")[0]


def test_an_object_without_name_inside_the_tarball(backed_up):
    tarball = folder(backed_up) / "snap.tar.gz"

    def drop_name(member_name, data):
        if member_name.startswith("resources/configmaps/") and member_name.endswith("/web-config.json"):
            obj = json.loads(data)
            del obj["metadata"]["name"]
            return json.dumps(obj).encode()
        return data
    rewrite_tarball(tarball, drop_name)
    rewrite_manifest_entry(backed_up, "snap", "snap.tar.gz")  # checksums agree: only the object check can tell
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert not result["ok"]
    assert not problems_of(result, "files")
    assert "contents: resources/configmaps/namespaces/shop/web-config.json has no metadata.name" in result["problems"]


def test_an_object_in_the_wrong_namespace_and_invalid_json(backed_up):
    tarball = folder(backed_up) / "snap.tar.gz"

    def damage(member_name, data):
        if member_name == "resources/configmaps/namespaces/shop/web-config.json":
            obj = json.loads(data)
            obj["metadata"]["namespace"] = "payments"
            return json.dumps(obj).encode()
        return data
    rewrite_tarball(tarball, damage)
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert "contents: resources/configmaps/namespaces/shop/web-config.json holds an object of namespace 'payments'" in result["problems"]

    rewrite_tarball(tarball, lambda member_name, data: b"{oops" if member_name.endswith("/web-config.json") else data)
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert any("web-config.json is not valid JSON" in problem for problem in problems_of(result, "contents"))


def test_counts_not_matching_the_resource_list(backed_up):
    resource_list_path = folder(backed_up) / "snap-resource-list.json.gz"
    resource_list = json.loads(gzip.decompress(resource_list_path.read_bytes()))
    resource_list["v1/ConfigMap"].remove("shop/web-config")
    resource_list["v1/ConfigMap"].append("shop/ghost")
    resource_list_path.write_bytes(velero_format.gzip_json(resource_list))
    rewrite_manifest_entry(backed_up, "snap", "snap-resource-list.json.gz")
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert not result["ok"] and not problems_of(result, "files")
    assert set(problems_of(result, "counts")) == {
        "counts: v1/ConfigMap shop/ghost is in the resource list but not in the archive",
        "counts: v1/ConfigMap shop/web-config is in the archive but not in the resource list",
    }


@pytest.mark.parametrize("content, problem", [
    (b'{"v1/ConfigMap":["shop/web-config","shop/kube-root', "is not gzip-compressed JSON: "),
    (b'{"v1/ConfigMap":"shop/web-config"}', 'does not hold a resource list ({"<apiVersion>/<Kind>": ["ns/name", ...]})'),
])
def test_an_unreadable_resource_list(backed_up, content, problem):
    resource_list_path = folder(backed_up) / "snap-resource-list.json.gz"
    resource_list_path.write_bytes(gzip.compress(content))
    rewrite_manifest_entry(backed_up, "snap", "snap-resource-list.json.gz")
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert len(result["problems"]) == 1 and result["problems"][0].startswith("sidecars: snap-resource-list.json.gz " + problem), result["problems"]
    assert "counts: no resource list sidecar: the objects cannot be compared with it" in result["warnings"]


def test_counts_not_matching_the_manifest(backed_up):
    manifest_path = folder(backed_up) / "snap-manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["counts"]["configmaps"] += 1
    manifest_path.write_text(json.dumps(manifest))
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert any(problem.startswith("counts: configmaps: ") and "the manifest says" in problem for problem in result["problems"])


def test_a_file_not_in_the_manifest_is_a_warning(backed_up):
    (folder(backed_up) / "notes.txt").write_text("hello")
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert result["ok"] and result["warnings"] == ["files: notes.txt is not listed in the manifest"]


def test_a_failed_backup_does_not_verify(backed_up):
    marker_path = folder(backed_up) / "velero-backup.json"
    marker = json.loads(marker_path.read_text())
    marker["status"]["phase"] = "Failed"
    marker_path.write_text(json.dumps(marker))
    result = verify_backup(open_location(str(backed_up)), "snap")
    assert result["problems"] == ["commit_marker: phase Failed: only Completed or PartiallyFailed backups can be restored"]


def test_an_unknown_backup(tmp_path):
    with pytest.raises(ObjectNotFound):
        verify_backup(open_location(str(tmp_path)), "nope")


def write_velero_backup(directory, with_resource_list=True):
    backup_folder = directory / "backups" / "velero-made"
    backup_folder.mkdir(parents=True)
    objects = [
        ("resources/namespaces/cluster/legacy.json", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy", "uid": "u-ns"}}),
        ("resources/configmaps/namespaces/legacy/settings.json", {"apiVersion": "v1", "kind": "ConfigMap",
                                                                  "metadata": {"name": "settings", "namespace": "legacy", "uid": "u-cm"},
                                                                  "data": {"mode": "safe"}}),
        ("resources/deployments.apps/namespaces/legacy/app.json", {"apiVersion": "apps/v1", "kind": "Deployment",
                                                                   "metadata": {"name": "app", "namespace": "legacy", "uid": "u-d"},
                                                                   "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
                                                                            "template": {"metadata": {"labels": {"app": "a"}},
                                                                                         "spec": {"containers": [{"name": "a", "image": "nginx"}]}}}}),
        ("resources/deployments.apps/v1-preferredversion/namespaces/legacy/app.json", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "legacy", "uid": "u-d"}}),
    ]
    (backup_folder / "velero-made.tar.gz").write_bytes(velero_archive(objects))
    if with_resource_list:
        resource_list = {"apps/v1/Deployment": ["legacy/app"], "v1/ConfigMap": ["legacy/settings"], "v1/Namespace": ["legacy"]}
        (backup_folder / "velero-made-resource-list.json.gz").write_bytes(velero_format.gzip_json(resource_list))
    (backup_folder / "velero-made-results.gz").write_bytes(velero_format.gzip_json({"errors": {}, "warnings": {}}))
    (backup_folder / "velero-made-logs.gz").write_bytes(gzip.compress(b'time="2026-11-01T00:00:00Z" level=info msg="done"\n'))
    (backup_folder / "velero-backup.json").write_text(json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "velero-made", "namespace": "velero"},
        "spec": {"includedNamespaces": ["legacy"], "ttl": "720h0m0s", "storageLocation": "default"},
        "status": {"phase": "Completed", "version": 1, "formatVersion": "1.1.0", "startTimestamp": "2026-11-01T00:00:00Z",
                   "completionTimestamp": "2026-11-01T00:01:00Z", "expiration": "2026-12-01T00:00:00Z",
                   "progress": {"totalItems": 3, "itemsBackedUp": 3}}}))
    return backup_folder


def test_a_velero_written_backup_verifies_with_a_warning(tmp_path):
    write_velero_backup(tmp_path)
    result = verify_backup(open_location(str(tmp_path)), "velero-made")
    assert result["ok"], result["problems"]
    assert result["warnings"] == ["manifest: no manifest: integrity not checkable (no checksums); the archive and the resource list are still checked"]
    assert check_named(result, "contents")["detail"] == "velero-made.tar.gz: 3 objects read"
    assert "files" not in [check["check"] for check in result["checks"]]


def test_a_velero_written_backup_with_damage_still_fails(tmp_path):
    backup_folder = write_velero_backup(tmp_path, with_resource_list=False)
    tarball = backup_folder / "velero-made.tar.gz"
    tarball.write_bytes(tarball.read_bytes()[:-30])
    result = verify_backup(open_location(str(tmp_path)), "velero-made")
    assert not result["ok"] and problems_of(result, "contents")
    assert "counts" not in [check["check"] for check in result["checks"]]  # not read to the end: nothing to count


@pytest.fixture
def backup_without_crds(sample_cluster, tmp_path):
    """shop and payments without their CRDs (coupons), and without storage classes (namespace-scoped backups have none)."""
    back_up(sample_cluster, tmp_path, included_namespaces=["shop", "payments"], excluded_resources=[CRDS])
    return tmp_path


def test_restore_check_reports_what_a_fresh_cluster_lacks_and_writes_nothing(backup_without_crds, kubesim_factory):
    target = kubesim_factory(name="target")
    before = target.control.dump()
    target.control.clear_audit()
    result = verify_backup(open_location(str(backup_without_crds)), "snap", restore_client=client_for(target))
    assert {entry["verb"] for entry in target.control.audit()} <= {"get", "list"}
    assert target.control.dump() == before
    assert not (backup_without_crds / "restores").exists()
    assert not result["ok"] and not check_named(result, "restore_check")["ok"]
    problems = problems_of(result, "restore_check")
    assert any("does not serve coupons.shop.example.com (shop.example.com/v1): 4 objects would be skipped" in p for p in problems), problems
    assert "restore_check: persistentvolumeclaims payments/ledger uses storage class 'fast', which the target cluster lacks " \
           "(create it, or restore with storage_class_mapping)" in problems
    assert any("persistentvolumeclaims shop/uploads uses storage class 'standard'" in p for p in problems)
    # every other check passed: the backup itself is fine
    assert all(check["ok"] for check in result["checks"] if check["check"] != "restore_check")


def test_restore_check_counts_crds_and_storage_classes_the_backup_brings(sample_cluster, tmp_path, kubesim_factory):
    back_up(sample_cluster, tmp_path, included_namespaces=["shop", "payments"], include_cluster_resources=True)
    target = kubesim_factory(name="target")
    result = verify_backup(open_location(str(tmp_path)), "snap", restore_client=client_for(target))
    assert result["ok"], result["problems"]
    assert "coupons.shop.example.com served once the backup's CRD is restored" in check_named(result, "restore_check")["detail"]


def test_restore_check_into_the_source_cluster_passes(backed_up, sample_cluster):
    result = verify_backup(open_location(str(backed_up)), "snap", restore_client=client_for(sample_cluster))
    assert result["ok"], result["problems"]
    assert check_named(result, "restore_check")["ok"]


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            verify.main()
    return json.loads(capsys.readouterr().out)


def test_module_fails_on_problems_by_default(capsys, backed_up):
    (folder(backed_up) / "snap-results.gz").unlink()
    result = run_module(capsys, {"location": str(backed_up)})
    assert result["failed"] and not result["ok"] and not result["changed"]
    assert result["msg"].startswith("1 of 1 backups do not verify: snap: files: snap-results.gz is missing")
    assert result["backups"][0]["problems"] == ["files: snap-results.gz is missing"]


def test_module_reports_only_when_asked(capsys, backed_up):
    (folder(backed_up) / "snap-results.gz").unlink()
    result = run_module(capsys, {"location": str(backed_up), "name": "snap", "fail_on_problems": False, "_ansible_check_mode": True})
    assert not result.get("failed") and not result["changed"] and result["ok"] is False
    assert result["backups"][0]["name"] == "snap" and not result["backups"][0]["ok"]


def test_module_on_a_healthy_location(capsys, backed_up):
    result = run_module(capsys, {"location": str(backed_up)})
    assert not result.get("failed") and result["ok"] and not result["changed"]
    assert [backup["name"] for backup in result["backups"]] == ["snap"]


def test_module_unknown_backup_fails_clearly(capsys, tmp_path):
    result = run_module(capsys, {"location": str(tmp_path / "empty"), "name": "nope"})
    assert result["failed"] and "backup 'nope' does not exist" in result["msg"]
    assert not (tmp_path / "empty").exists()


# ---------------------------------------------------------------- encrypted backups


@pytest.fixture(scope="module")
def age_keys():
    import pyrage  # pylint: disable=import-outside-toplevel
    identity, other = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    return {"identity": str(identity), "recipient": str(identity.to_public()), "other_identity": str(other)}


def encrypted_backup(cluster, directory, age_keys, mode, name="snap"):
    from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import EncryptionSettings  # pylint: disable=import-outside-toplevel
    settings = EncryptionSettings.from_options(mode, recipients=[age_keys["recipient"]])
    return back_up(cluster, directory, name=name, included_namespaces=["shop", "payments"], encryption=settings)


def keys(identity=None, passphrase=None):
    from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import DecryptionKeys  # pylint: disable=import-outside-toplevel
    return DecryptionKeys.from_options(identity=identity, passphrase=passphrase)


def test_a_wholly_encrypted_backup_needs_the_key_for_its_contents(sample_cluster, tmp_path, age_keys):
    encrypted_backup(sample_cluster, tmp_path, age_keys, "all")
    location = open_location(str(tmp_path))
    without_key = verify_backup(location, "snap")
    assert not without_key["ok"] and check_named(without_key, "files")["ok"]  # the checksums need no key
    assert len(problems_of(without_key, "contents")) == 1 and "decryption_identity" in problems_of(without_key, "contents")[0]

    with_key = verify_backup(location, "snap", keys=keys(age_keys["identity"]))
    assert with_key["ok"], with_key["problems"]
    assert check_named(with_key, "contents")["detail"].endswith("objects read (decrypted)")

    wrong_key = verify_backup(location, "snap", keys=keys(age_keys["other_identity"]))
    assert any("wrong key" in problem for problem in problems_of(wrong_key, "contents")), wrong_key["problems"]
    assert age_keys["other_identity"] not in json.dumps(wrong_key) and age_keys["identity"] not in json.dumps(with_key)


def test_a_flipped_byte_in_an_encrypted_tarball(sample_cluster, tmp_path, age_keys):
    encrypted_backup(sample_cluster, tmp_path, age_keys, "all")
    tarball = folder(tmp_path) / "snap.tar.gz.age"
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0x01
    tarball.write_bytes(bytes(data))
    result = verify_backup(open_location(str(tmp_path)), "snap", keys=keys(age_keys["identity"]))
    assert any("snap.tar.gz.age has SHA-256" in problem for problem in problems_of(result, "files"))
    assert problems_of(result, "contents")  # age's authentication notices it too


def test_encrypted_secrets_decrypt_with_the_key(sample_cluster, tmp_path, age_keys):
    encrypted_backup(sample_cluster, tmp_path, age_keys, "secrets")
    location = open_location(str(tmp_path))
    without_key = verify_backup(location, "snap")
    assert without_key["ok"] and any(warning.startswith("secrets: Secret values are encrypted") for warning in without_key["warnings"])
    with_key = verify_backup(location, "snap", keys=keys(age_keys["identity"]))
    assert with_key["ok"] and check_named(with_key, "secrets")["ok"], with_key["problems"]
    wrong_key = verify_backup(location, "snap", keys=keys(age_keys["other_identity"]))
    assert not wrong_key["ok"] and all("wrong key" in problem for problem in problems_of(wrong_key, "secrets"))


def test_restore_check_of_an_encrypted_backup(sample_cluster, tmp_path, age_keys):
    encrypted_backup(sample_cluster, tmp_path, age_keys, "all")
    sample_cluster.control.clear_audit()
    result = verify_backup(open_location(str(tmp_path)), "snap", keys=keys(age_keys["identity"]), restore_client=client_for(sample_cluster))
    assert result["ok"], result["problems"]
    assert {entry["verb"] for entry in sample_cluster.control.audit()} <= {"get", "list"}


def test_module_with_a_decryption_identity(capsys, sample_cluster, tmp_path, age_keys):
    encrypted_backup(sample_cluster, tmp_path, age_keys, "all")
    result = run_module(capsys, {"location": str(tmp_path), "decryption_identity": age_keys["identity"]})
    assert result["ok"] and not result.get("failed")
    assert age_keys["identity"] not in json.dumps(result)
    result = run_module(capsys, {"location": str(tmp_path)})
    assert result["failed"] and "decryption_identity" in result["msg"]


# ---------------------------------------------------------------- memory that does not grow with the objects


def damage_every_per_object_check(directory):
    """More problems of each per-object kind than a report lists: resource list entries missing and extra,
    objects only under -preferredversion, invalid stored objects; and a resource list entry given twice."""
    tarball = folder(directory) / "snap.tar.gz"

    def damage(member_name, data):
        if member_name.startswith("resources/services/namespaces/"):
            return None  # the unversioned copy gone: restores would not see these Services
        if "-preferredversion/" in member_name and not member_name.startswith("resources/services/"):
            obj = json.loads(data)
            del obj["metadata"]["name"]
            return json.dumps(obj).encode()
        return data
    rewrite_tarball(tarball, damage)
    resource_list_path = folder(directory) / "snap-resource-list.json.gz"
    resource_list = json.loads(gzip.decompress(resource_list_path.read_bytes()))
    for key in set(resource_list) - {"v1/ConfigMap", "v1/Service"}:
        del resource_list[key]
    resource_list["v1/ConfigMap"] += ["shop/ghost-%02d" % number for number in range(25)] + ["shop/web-config"]
    resource_list_path.write_bytes(velero_format.gzip_json(resource_list))
    rewrite_manifest_entry(directory, "snap", "snap.tar.gz")
    rewrite_manifest_entry(directory, "snap", "snap-resource-list.json.gz")


def test_a_verify_spilled_to_disk_reports_what_one_in_memory_does(backed_up, monkeypatch):
    damage_every_per_object_check(backed_up)
    location = open_location(str(backed_up))
    in_memory = verify_backup(location, "snap")
    problems = in_memory["problems"]
    assert "contents: 5 objects stored under a -preferredversion directory lack their unversioned copy, which restores read" in problems
    invalid = int(next(problem for problem in problems if problem.endswith("stored objects are not valid Kubernetes objects")).split()[1])
    assert invalid > 20 and "contents: ... and %d more like these" % (invalid - 20) in problems
    assert len([problem for problem in problems if problem.endswith("has no metadata.name")]) == 20
    counts = problems_of(in_memory, "counts")
    listed_only = [problem for problem in counts if problem.endswith("is in the resource list but not in the archive")]
    archived_only = [problem for problem in counts if problem.endswith("is in the archive but not in the resource list")]
    assert listed_only[0] == "counts: v1/ConfigMap shop/ghost-00 is in the resource list but not in the archive"
    assert len(listed_only) == len(archived_only) == 20 and listed_only == sorted(listed_only) and archived_only == sorted(archived_only)
    assert sum(problem.startswith("counts: ... and ") for problem in counts) == 2
    assert not [problem for problem in counts if "shop/web-config " in problem]  # listed twice, archived once: no difference

    scratch = []

    def recorded_temp_dir(purpose):
        scratch.append((purpose, make_temp_dir(purpose)))
        return scratch[-1][1]
    monkeypatch.setattr(sorted_spool, "make_temp_dir", recorded_temp_dir)
    monkeypatch.setattr(sorted_spool, "MEMORY_RECORDS", 3)
    spilled = verify_backup(location, "snap")
    assert {purpose for purpose, _path in scratch} == {"verifyentries", "verifyidentities", "verifylist"}
    assert spilled == in_memory
    assert not any(os.path.exists(path) for _purpose, path in scratch)  # the runs are removed


def synthetic_backup(directory, objects):
    """A backup as Velero writes one (no manifest), of ``objects`` ConfigMaps each with its -preferredversion copy.

    Their data is random, so that even the smallest tarball is larger than what the archive reader reads
    at a time (its buffers are then the same whatever the size).
    """
    backup_folder = directory / "backups" / "big"
    backup_folder.mkdir(parents=True)
    names = ["ns-%d/config-%06d" % (number % 10, number) for number in range(objects)]
    generator = random.Random(objects)
    with tarfile.open(backup_folder / "big.tar.gz", "w:gz", compresslevel=1) as tar:
        for entry in names:
            namespace, name = entry.split("/")
            data = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                               "data": {"random": "%0800x" % generator.getrandbits(3200)}}).encode()
            for path in ("resources/configmaps/namespaces/%s.json" % entry, "resources/configmaps/v1-preferredversion/namespaces/%s.json" % entry):
                info = tarfile.TarInfo(path)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    (backup_folder / "big-resource-list.json.gz").write_bytes(velero_format.gzip_json({"v1/ConfigMap": names}))
    (backup_folder / "velero-backup.json").write_text(json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "big", "namespace": "velero"},
        "spec": {}, "status": {"phase": "Completed", "progress": {"totalItems": objects, "itemsBackedUp": objects}}}))


def peak_traced_memory_of_verify(directory):
    tracemalloc.start()
    try:
        result = verify_backup(open_location(str(directory)), "big")
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_verify_memory_does_not_grow_with_the_objects(tmp_path, monkeypatch):
    """Ten times the objects, the same memory: what the spools hold is bounded by their records in memory and
    the chunks of at most SPOOL_MAX_RUNS runs."""
    monkeypatch.setattr(sorted_spool, "MEMORY_RECORDS", 1000)
    monkeypatch.setattr(sorted_spool, "_CHUNK_RECORDS", 100)
    monkeypatch.setattr(verify_ops, "SPOOL_MAX_RUNS", 4)
    peaks = {}
    for objects in (2000, 20000):
        synthetic_backup(tmp_path / str(objects), objects)
        peaks[objects], result = peak_traced_memory_of_verify(tmp_path / str(objects))
        assert result["ok"], result["problems"]
        assert check_named(result, "counts")["detail"] == "%d objects in 1 resources" % objects
    assert peaks[20000] - peaks[2000] < 1024 * 1024, peaks

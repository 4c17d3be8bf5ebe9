"""The restic repositories of file-system backups, with the real restic, on a local directory and on S3 (moto)."""

import io
import os
import tarfile

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import restic
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.restic import ResticError, ResticRepositories, repository_password


def _tar_bytes(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, (mode, data) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _feed(data, chunk=65536):
    def feed(write):
        for offset in range(0, len(data), chunk):
            write(data[offset:offset + chunk])
    return feed


def _dumped(repositories, namespace, snapshot_id, filename):
    out = bytearray()

    def consume(read):
        for chunk in iter(lambda: read(65536), b""):
            out.extend(chunk)
    repositories.dump(namespace, snapshot_id, filename, consume)
    return bytes(out)


def _round_trip(repositories):
    payload = _tar_bytes({"a.txt": (0o640, b"hello\n"), "big.bin": (0o600, os.urandom(2 * 1024 * 1024))})
    repositories.ensure("shop")
    first = repositories.backup("shop", "data.tar", ["backup=b1", "claim=data"], _feed(payload))
    assert first["snapshot_id"] and first["total_bytes_processed"] == len(payload)
    second = repositories.backup("shop", "data.tar", ["backup=b2", "claim=data"], _feed(payload))
    assert second["data_added"] < len(payload) // 100  # deduplicated: the second backup stores almost nothing
    assert _dumped(repositories, "shop", first["snapshot_id"], "data.tar") == payload
    assert [snapshot["id"][:8] for snapshot in repositories.snapshots("shop", ["backup=b1"])] == [first["snapshot_id"][:8]]
    repositories.forget("shop", [first["snapshot_id"]])
    repositories.prune("shop")
    assert _dumped(repositories, "shop", second["snapshot_id"], "data.tar") == payload
    assert repositories.namespaces() == ["shop"]
    repositories.check("shop", read_data_subset="100%")
    return payload


def test_local_repository_round_trip(tmp_path):
    location = open_location(str(tmp_path / "backups"))
    repositories = ResticRepositories(location, repository_password("secret-password"))
    _round_trip(repositories)
    config = tmp_path / "backups" / "restic" / "shop" / "config"
    assert config.exists()
    for path in (tmp_path / "backups").rglob("*"):  # the password is in no file of the location
        if path.is_file():
            assert b"secret-password" not in path.read_bytes()


def test_s3_repository_round_trip(s3_bucket, s3_endpoint):
    s3, bucket = s3_bucket
    location = open_location("s3://%s/team" % bucket, {"endpoint_url": s3_endpoint, "force_path_style": True, "region": "us-east-1"})
    repositories = ResticRepositories(location, repository_password(encryption_passphrase="correct horse"))
    assert repositories.url("shop") == "s3:%s/%s/team/restic/shop" % (s3_endpoint, bucket)
    _round_trip(repositories)
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for item in page.get("Contents", [])]
    assert "team/restic/shop/config" in keys


def test_wrong_password_is_named(tmp_path):
    location = open_location(str(tmp_path))
    ResticRepositories(location, "right").ensure("shop")
    with pytest.raises(ResticError, match="does not open with this password"):
        ResticRepositories(location, "wrong").snapshots("shop")


def test_failed_stream_makes_no_snapshot(tmp_path):
    repositories = ResticRepositories(open_location(str(tmp_path)), "pw")
    repositories.ensure("shop")

    def feed(write):
        write(b"x" * 100000)
        raise RuntimeError("exec stream lost")
    with pytest.raises(RuntimeError, match="exec stream lost"):
        repositories.backup("shop", "data.tar", ["backup=b1"], feed)
    assert repositories.snapshots("shop") == []


def test_password_is_required_and_derived():
    with pytest.raises(ConfigurationError, match="fs_backup_password"):
        repository_password()
    derived = repository_password(encryption_passphrase="p")
    assert derived == repository_password(encryption_passphrase="p") and derived != "p"


def test_missing_restic_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ResticError, match="install the restic package"):
        restic.restic_binary()

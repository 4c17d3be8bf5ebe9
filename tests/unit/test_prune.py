"""Pruning a location: backups made by the real engine against the emulator, at controlled dates.

The backup engine's clock (``backup_engine._utcnow``) is fixed per backup, so
start and expiration are real engine output; prune runs with its own ``now``.
Object lock runs against the loopback S3 server (moto) with a bucket created
with object lock enabled.
"""

import datetime
import gzip
import json
import os
import time
import uuid

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup import engine as backup_engine

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import list_backups
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, LocationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location, resolve_location_config
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.prune import PruneOptions, delete_backup, run_prune
from ansible_collections.kubesafe.k8s.plugins.modules import prune

UTC = datetime.timezone.utc
NOW = datetime.datetime(2025, 1, 10, 12, 0, 0, tzinfo=UTC)


def at(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture
def client(cluster):
    return KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))


@pytest.fixture
def make_backup(client, monkeypatch):
    """``make_backup(location, name, start, ttl="720h", labels=None)``: a real backup whose clock says ``start``."""
    def make(location, name, start, ttl="720h", labels=None, **options):
        monkeypatch.setattr(backup_engine, "_utcnow", lambda: at(start))
        try:
            return run_backup(client, location, BackupOptions(name=name, ttl=ttl, labels=labels, included_namespaces=["default"],
                                                              **options))
        finally:
            monkeypatch.undo()
    return make


def names(entries):
    return sorted(entry["name"] for entry in entries)


def listed(location, include_incomplete=False):
    return names(list_backups(location, include_incomplete=include_incomplete))


def test_expired_and_policy_check_mode_then_real(tmp_path, make_backup):
    location = open_location(str(tmp_path / "loc"))
    make_backup(location, "old-expired", "2025-01-01T02:00:00Z", ttl="24h")
    make_backup(location, "day-08-early", "2025-01-08T01:00:00Z")
    make_backup(location, "day-08-late", "2025-01-08T23:30:00Z")  # 2025-01-09 00:30 in Paris
    make_backup(location, "day-09", "2025-01-09T12:00:00Z")
    make_backup(location, "day-10", "2025-01-10T02:00:00Z")
    options = PruneOptions(keep_daily=2, timezone="Europe/Paris")

    plan = run_prune(location, options, check_mode=True, now=NOW)
    assert names(plan["deleted"]) == ["day-08-early", "day-08-late", "old-expired"]
    reasons = dict((entry["name"], entry["reasons"]) for entry in plan["deleted"])
    assert reasons["old-expired"] == ["expired at 2025-01-02T02:00:00Z", "not kept by the keep rules"]
    assert reasons["day-08-late"] == ["not kept by the keep rules"]  # day-09 is the newest of Paris' 9 January
    kept = dict((entry["name"], entry["reasons"]) for entry in plan["kept"])
    assert kept == {"day-10": ["keep_daily: 2025-01-10", "expires at 2025-02-09T02:00:00Z"],
                    "day-09": ["keep_daily: 2025-01-09", "expires at 2025-02-08T12:00:00Z"]}
    assert plan["locked"] == [] and plan["failed"] == [] and plan["check_mode"]
    assert len(listed(location)) == 5  # check mode deletes nothing

    done = run_prune(location, options, now=NOW)
    assert names(done["deleted"]) == names(plan["deleted"])
    assert listed(location) == ["day-09", "day-10"]
    assert not os.path.exists(tmp_path / "loc" / "backups" / "old-expired")


def test_expired_beats_keep_rules_unless_expired_is_false(tmp_path, make_backup):
    location = open_location(str(tmp_path / "loc"))
    make_backup(location, "short", "2025-01-09T00:00:00Z", ttl="1h")
    plan = run_prune(location, PruneOptions(keep_last=5), check_mode=True, now=NOW)
    assert "the keep rules would keep it: keep_last: 1 of 5" in plan["deleted"][0]["reasons"][0]
    plan = run_prune(location, PruneOptions(expired=False, keep_last=5), check_mode=True, now=NOW)
    assert plan["deleted"] == [] and plan["kept"][0]["reasons"] == ["keep_last: 1 of 5", "expiry not applied (expired: false)"]


def test_labels_limit_what_is_considered(tmp_path, make_backup):
    location = open_location(str(tmp_path / "loc"))
    make_backup(location, "a-1", "2025-01-01T00:00:00Z", labels={"cluster": "a"})
    make_backup(location, "a-2", "2025-01-02T00:00:00Z", labels={"cluster": "a"})
    make_backup(location, "b-1", "2025-01-01T00:00:00Z", labels={"cluster": "b"})
    result = run_prune(location, PruneOptions(expired=False, keep_last=1, labels={"cluster": "a"}), now=NOW)
    assert names(result["deleted"]) == ["a-1"] and names(result["kept"]) == ["a-2"]
    assert listed(location) == ["a-2", "b-1"]


def test_failed_backups_never_count_toward_keep(tmp_path, make_backup):
    location = open_location(str(tmp_path / "loc"))
    make_backup(location, "good", "2025-01-01T00:00:00Z")
    make_backup(location, "bad", "2025-01-02T00:00:00Z")
    marker = tmp_path / "loc" / "backups" / "bad" / "velero-backup.json"
    backup = json.loads(marker.read_text())
    backup["status"]["phase"] = "Failed"
    marker.write_text(json.dumps(backup))
    result = run_prune(location, PruneOptions(expired=False, keep_last=1), check_mode=True, now=NOW)
    assert names(result["kept"]) == ["good"]
    assert result["deleted"][0]["reasons"] == ["not kept by the keep rules: a Failed backup does not count toward them"]


def make_debris(root, name, age_hours):
    folder = root / "backups" / name
    folder.mkdir(parents=True)
    (folder / ("%s.tar.gz" % name)).write_bytes(b"partial")
    stamp = time.time() - age_hours * 3600
    os.utime(folder / ("%s.tar.gz" % name), (stamp, stamp))


def test_incomplete_debris_by_age(tmp_path, make_backup):
    root = tmp_path / "loc"
    location = open_location(str(root))
    # Debris ages come from the files' modification times: this test runs at the real time.
    make_backup(location, "done", datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    make_debris(root, "crashed", 30)
    make_debris(root, "running", 1)
    (root / "backups" / "damaged").mkdir()
    (root / "backups" / "damaged" / "velero-backup.json").write_text("{not json")
    os.utime(root / "backups" / "damaged" / "velero-backup.json", (0, 0))

    result = run_prune(location, PruneOptions(expired=True, include_incomplete=True))
    assert names(result["deleted"]) == ["crashed"]
    assert "incomplete debris: no velero-backup.json, last written at" in result["deleted"][0]["reasons"][0]
    kept = dict((entry["name"], entry["reasons"][0]) for entry in result["kept"])
    assert "may be a backup in progress" in kept["running"]
    assert "unreadable" in kept["damaged"]
    assert kept["done"].startswith("expires at")
    assert sorted(os.listdir(root / "backups")) == ["damaged", "done", "running"]
    # Without include_incomplete debris is not even looked at.
    result = run_prune(location, PruneOptions(), check_mode=True)
    assert names(result["kept"]) == ["done"]


def test_debris_rule_sees_unfinished_writes(tmp_path, make_backup):
    root = tmp_path / "loc"
    location = open_location(str(root))
    make_backup(location, "done", datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    # A backup killed while writing its tarball, and a restore killed while writing its record.
    for folder, name, hours in (("backups/killed", ".kubesafe-tmp-killed.tar.gz.abcd1234", 30),
                                ("backups/running", ".kubesafe-tmp-running.tar.gz.efgh5678", 0),
                                ("restores/r1", ".kubesafe-tmp-restore-r1-report.json.ijkl9012", 30)):
        (root / folder).mkdir(parents=True)
        (root / folder / name).write_bytes(b"partial")
        stamp = time.time() - hours * 3600
        os.utime(root / folder / name, (stamp, stamp))
    assert listed(location) == ["done"] and listed(location, include_incomplete=True) == ["done", "killed", "running"]

    preview = run_prune(location, PruneOptions(include_incomplete=True), check_mode=True)
    assert names(preview["deleted"]) == ["killed"] and preview["deleted"][0]["partial_files"][0]["file"] == "killed.tar.gz"
    assert "1 unfinished write(s)" in preview["deleted"][0]["reasons"][0]
    assert [entry["target"] for entry in preview["unfinished_writes"]] == ["restores/r1/restore-r1-report.json"]
    assert sorted(os.listdir(root / "backups")) == ["done", "killed", "running"] and (root / "restores").exists()

    result = run_prune(location, PruneOptions(include_incomplete=True))
    assert names(result["deleted"]) == ["killed"] and len(result["unfinished_writes"]) == 1
    assert sorted(os.listdir(root / "backups")) == ["done", "running"] and not (root / "restores").exists()


def test_deleting_removes_the_marker_first(tmp_path, make_backup, monkeypatch):
    root = tmp_path / "loc"
    location = open_location(str(root))
    make_backup(location, "victim", "2025-01-01T00:00:00Z", ttl="1h")
    calls = []
    real_delete = location.delete

    def record_delete(key):
        calls.append(("delete", key))
        real_delete(key)

    def failing_delete_prefix(prefix):
        calls.append(("delete_prefix", prefix))
        raise LocationError("simulated outage while deleting %s" % prefix)

    monkeypatch.setattr(location, "delete", record_delete)
    monkeypatch.setattr(location, "delete_prefix", failing_delete_prefix)
    result = run_prune(location, PruneOptions(), now=NOW)
    assert calls == [("delete", "backups/victim/velero-backup.json"), ("delete_prefix", "backups/victim/")]
    assert result["deleted"] == [] and result["failed"][0]["name"] == "victim"
    assert "simulated outage" in result["failed"][0]["error"]
    # The rest remains, but it is no longer a complete backup.
    assert os.path.exists(root / "backups" / "victim" / "victim.tar.gz")
    assert listed(location) == []
    incomplete = list_backups(location, include_incomplete=True)
    assert [(b["name"], b["complete"]) for b in incomplete] == [("victim", False)]

    monkeypatch.undo()
    result = run_prune(location, PruneOptions(include_incomplete=True, incomplete_older_than="0"))
    assert names(result["deleted"]) == ["victim"] and not os.path.exists(root / "backups" / "victim")


def test_half_deleted_backups_are_deleted(tmp_path, make_backup):
    root = tmp_path / "loc"
    location = open_location(str(root))
    make_backup(location, "by-hand", "2025-01-01T00:00:00Z", ttl="1h")
    os.remove(root / "backups" / "by-hand" / "by-hand.tar.gz")
    os.remove(root / "backups" / "by-hand" / "by-hand-logs.gz")
    result = run_prune(location, PruneOptions(), now=NOW)
    assert names(result["deleted"]) == ["by-hand"] and result["failed"] == []
    assert not os.path.exists(root / "backups" / "by-hand")
    delete_backup(location, "by-hand")  # nothing left: still fine
    delete_backup(location, "never-existed")


def test_restores_of_a_deleted_backup_go_with_it(tmp_path, make_backup):
    root = tmp_path / "loc"
    location = open_location(str(root))
    make_backup(location, "gone", "2025-01-01T00:00:00Z", ttl="1h")
    make_backup(location, "stays", "2025-01-09T00:00:00Z")
    location.put_bytes("restores/r-gone/restore-r-gone-report.json", json.dumps({"name": "r-gone", "backup": "gone"}).encode())
    location.put_bytes("restores/r-stays/restore-r-stays-report.json", json.dumps({"name": "r-stays", "backup": "stays"}).encode())
    location.put_bytes("restores/velero-r/restore-velero-r-results.gz", gzip.compress(b"{}"))

    plan = run_prune(location, PruneOptions(), check_mode=True, now=NOW)
    assert plan["deleted"][0]["restores"] == ["r-gone"]
    assert sorted(os.listdir(root / "restores")) == ["r-gone", "r-stays", "velero-r"]
    result = run_prune(location, PruneOptions(), now=NOW)
    assert result["deleted"][0]["restores"] == ["r-gone"]
    assert sorted(os.listdir(root / "restores")) == ["r-stays", "velero-r"]

    make_backup(location, "gone2", "2025-01-01T00:00:00Z", ttl="1h")
    location.put_bytes("restores/r-gone2/restore-r-gone2-report.json", json.dumps({"backup": "gone2"}).encode())
    result = run_prune(location, PruneOptions(delete_restores=False), now=NOW)
    assert result["deleted"][0]["restores"] == [] and os.path.exists(root / "restores" / "r-gone2")


def test_snapshots_of_a_velero_backup_without_aws_settings_are_named_in_a_warning(tmp_path, make_backup):
    root = tmp_path / "loc"
    location = open_location(str(root))
    make_backup(location, "with-snapshots", "2025-01-01T00:00:00Z", ttl="1h")
    make_backup(location, "without", "2025-01-01T01:00:00Z", ttl="1h")
    key = velero_format.file_names("with-snapshots")["volume_snapshots"]
    location.put_bytes(key, velero_format.gzip_json([{"spec": {"persistentVolumeName": "pv-1", "volumeAZ": "eu-west-1b"},
                                                      "status": {"providerSnapshotID": "snap-123", "phase": "Completed"}}]))
    location.delete(velero_format.file_names("with-snapshots")["manifest"])  # as Velero wrote it
    result = run_prune(location, PruneOptions(), now=NOW)
    warnings = dict((entry["name"], entry["warnings"]) for entry in result["deleted"])
    assert warnings["without"] == []
    assert "aws ec2 delete-snapshot --snapshot-id snap-123 --region eu-west-1" in warnings["with-snapshots"][0]


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            prune.main()
    return json.loads(capsys.readouterr().out)


def test_module_check_mode_and_errors(capsys, tmp_path, make_backup):
    root = tmp_path / "loc"
    location = open_location(str(root))
    make_backup(location, "ancient", "2020-01-01T00:00:00Z", ttl="1h")
    result = run_module(capsys, {"location": str(root), "_ansible_check_mode": True})
    assert result["changed"] and names(result["deleted"]) == ["ancient"] and listed(location) == ["ancient"]
    result = run_module(capsys, {"location": str(root), "timezone": "Nowhere/Land"})
    assert result["failed"] and "timezone" in result["msg"]
    result = run_module(capsys, {"location": str(root)})
    assert result["changed"] and listed(location) == []
    result = run_module(capsys, {"location": str(root)})
    assert not result["changed"]


# ---------------------------------------------------------------- object lock


@pytest.mark.parametrize("config, message", [
    ({"object_lock_mode": "GOVERNANCE"}, "go together"),
    ({"object_lock_days": 3}, "go together"),
    ({"object_lock_mode": "GOVERNANCE", "object_lock_days": 0}, "1 or more"),
    ({"object_lock_mode": "FOREVER", "object_lock_days": 3}, "GOVERNANCE, COMPLIANCE"),
])
def test_object_lock_options_are_checked(config, message):
    with pytest.raises(ConfigurationError, match=message):
        resolve_location_config(config, use_environment=False)


@pytest.fixture
def locked_bucket(s3_endpoint, s3_credentials):
    """A bucket with object lock enabled; emptied with BypassGovernanceRetention afterwards."""
    import boto3  # pylint: disable=import-outside-toplevel
    del s3_credentials
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    bucket = "kubesafe-lock-%s" % uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    yield s3, bucket
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], BypassGovernanceRetention=True)
    s3.delete_bucket(Bucket=bucket)


def test_object_lock_backup_is_retained_and_never_pruned(client, s3_endpoint, locked_bucket):
    s3, bucket = locked_bucket
    config = {"endpoint_url": s3_endpoint, "force_path_style": True, "object_lock_mode": "GOVERNANCE", "object_lock_days": 1}
    location = open_location("s3://%s/prod" % bucket, config)
    run_backup(client, location, BackupOptions(name="locked", ttl="1h", included_namespaces=["default"]))
    head = s3.head_object(Bucket=bucket, Key="prod/backups/locked/velero-backup.json")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert datetime.timedelta(hours=23) < until - datetime.datetime.now(UTC) <= datetime.timedelta(days=1)
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert all(s3.head_object(Bucket=bucket, Key=key).get("ObjectLockMode") == "GOVERNANCE" for key in keys)

    # Expired by its TTL (now + 2h), but still under retention: reported, never deleted.
    later = datetime.datetime.now(UTC) + datetime.timedelta(hours=2)
    reader = open_location("s3://%s/prod" % bucket, {"endpoint_url": s3_endpoint, "force_path_style": True})
    for check_mode in (True, False):
        result = run_prune(reader, PruneOptions(), check_mode=check_mode, now=later)
        assert result["deleted"] == [] and result["failed"] == []
        locked = result["locked"][0]
        assert locked["name"] == "locked" and locked["lock_mode"] == "GOVERNANCE" and locked["reasons"][0].startswith("expired at")
        assert locked["locked_until"] == velero_format.format_timestamp(until)
        assert "locked (GOVERNANCE retention until" in locked["message"]
    assert sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]) == keys

    # A legal hold alone locks too.
    s3.put_object_legal_hold(Bucket=bucket, Key="prod/backups/locked/velero-backup.json", LegalHold={"Status": "ON"})
    assert reader.retention("backups/locked/")["legal_hold"]
    s3.put_object_legal_hold(Bucket=bucket, Key="prod/backups/locked/velero-backup.json", LegalHold={"Status": "OFF"})

    # Overwriting the backup is refused by the engine; the objects keep their retention.
    with pytest.raises(ConfigurationError, match="already exists"):
        run_backup(client, location, BackupOptions(name="locked", included_namespaces=["default"]))
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == len(keys)
    assert s3.head_object(Bucket=bucket, Key="prod/backups/locked/velero-backup.json")["ObjectLockRetainUntilDate"] == until


def test_a_bucket_without_object_lock_gives_a_clear_error(client, s3_endpoint, s3_bucket):
    _s3, bucket = s3_bucket
    location = open_location("s3://%s" % bucket, {"endpoint_url": s3_endpoint, "object_lock_mode": "COMPLIANCE", "object_lock_days": 1})
    with pytest.raises(Exception, match="object lock"):
        run_backup(client, location, BackupOptions(name="nolock", included_namespaces=["default"]))
    assert location.retention("backups/") is None


def test_multipart_uploads_carry_the_retention(s3_endpoint, locked_bucket):
    _s3, bucket = locked_bucket
    config = {"endpoint_url": s3_endpoint, "object_lock_mode": "COMPLIANCE", "object_lock_days": 7, "part_size_mb": 5}
    location = open_location("s3://%s" % bucket, config)
    calls = {}
    real = location.client

    class Recording:
        def __getattr__(self, name):
            method = getattr(real, name)

            def call(**kwargs):
                calls.setdefault(name, []).append(kwargs)
                return method(**kwargs)
            return call

    location.client = Recording()
    with location.open_write("backups/big/big.tar.gz") as stream:
        stream.write(b"x" * (6 * 1024 * 1024))
        stream.write(b"tail")
    create = calls["create_multipart_upload"][0]
    assert create["ObjectLockMode"] == "COMPLIANCE" and create["ChecksumAlgorithm"] == "SHA256"
    assert datetime.timedelta(days=6) < create["ObjectLockRetainUntilDate"] - datetime.datetime.now(UTC) <= datetime.timedelta(days=7)
    assert all(part["ChecksumAlgorithm"] == "SHA256" for part in calls["upload_part"])
    # moto ignores object lock on multipart uploads (real S3 applies it), so the fixture can still empty the bucket.


def test_named_deletion_deletes_only_those_marker_first(tmp_path, make_backup, monkeypatch):
    root = tmp_path / "loc"
    location = open_location(str(root))
    for name in ("old-expired", "monday", "tuesday"):
        make_backup(location, name, "2025-01-01T00:00:00Z" if name == "old-expired" else "2025-01-09T00:00:00Z", ttl="1h")
    calls = []
    real_delete, real_delete_prefix = location.delete, location.delete_prefix
    monkeypatch.setattr(location, "delete", lambda key: (calls.append(("delete", key)), real_delete(key)))
    monkeypatch.setattr(location, "delete_prefix", lambda prefix: (calls.append(("delete_prefix", prefix)), real_delete_prefix(prefix)))

    with pytest.raises(ConfigurationError, match=r"no backup 'mondy'.*nearest to 'mondy': monday"):
        run_prune(location, PruneOptions(names=["tuesday", "mondy"]), now=NOW)
    assert calls == []  # refused before the first delete, tuesday included

    planned = run_prune(location, PruneOptions(names=["monday"]), check_mode=True, now=NOW)
    assert names(planned["deleted"]) == ["monday"] and planned["deleted"][0]["reasons"] == ["named in names"]
    assert calls == [] and planned["kept"] == []

    done = run_prune(location, PruneOptions(names="monday"), now=NOW)
    assert names(done["deleted"]) == ["monday"]
    assert calls == [("delete", "backups/monday/velero-backup.json"), ("delete_prefix", "backups/monday/")]
    # Expired too, but not named: still there.
    assert listed(location) == ["old-expired", "tuesday"]


@pytest.mark.parametrize("options, refused", [
    (dict(keep_daily=7), "keep_daily"), (dict(include_incomplete=True), "include_incomplete"),
    (dict(labels={"schedule": "nightly"}), "labels"), (dict(names=["a/b"]), "names: name 'a/b' is not a backup name"),
])
def test_named_deletion_refuses_other_rules(options, refused):
    options.setdefault("names", ["monday"])
    with pytest.raises(ConfigurationError, match=refused):
        PruneOptions(**options)


def test_named_deletion_in_an_empty_location_says_so(tmp_path):
    with pytest.raises(ConfigurationError, match="holds no backups"):
        run_prune(open_location(str(tmp_path / "loc")), PruneOptions(names=["monday"]), now=NOW)

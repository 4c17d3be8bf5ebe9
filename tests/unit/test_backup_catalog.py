"""Reading a location's backups: listing with filters, describing one, ours and Velero's alike.

Our backups are written by the real engine from the emulated sample cluster;
the Velero backup is built by hand as Velero writes it (no manifest).
"""

import datetime
import gzip
import io
import json
import os
import shutil
import tarfile

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import catalog as backup_catalog
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import describe_backup, list_backups, open_location_to_read, resolve_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound, open_location

UTC = datetime.timezone.utc
VELERO_START = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
VELERO_NAME = "velero-daily-20240102030405"


# ---------------------------------------------------------------- a Velero-written backup, by hand


def velero_items():
    """(path, object) of the items of a small Velero backup, preferred-version copies included."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web", "uid": "n1", "resourceVersion": "1"},
                 "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "web", "uid": "d1"},
                  "spec": {"replicas": 1}, "status": {}}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "web", "uid": "c1"},
                  "data": {"a": "b"}}
    return [
        ("resources/namespaces/cluster/web.json", namespace),
        ("resources/namespaces/v1-preferredversion/cluster/web.json", namespace),
        ("resources/deployments.apps/namespaces/web/app.json", deployment),
        ("resources/deployments.apps/v1-preferredversion/namespaces/web/app.json", deployment),
        ("resources/configmaps/namespaces/web/cfg.json", config_map),
        ("resources/configmaps/v1-preferredversion/namespaces/web/cfg.json", config_map),
    ]


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _gzip_json(obj):
    return gzip.compress(json.dumps(obj, separators=(",", ":")).encode() + b"\n")


def write_velero_backup(root, name=VELERO_NAME, start=VELERO_START, phase="PartiallyFailed", resource_list=True):
    """Files as Velero 1.14 uploads them for a backup of namespace ``web``."""
    folder = os.path.join(str(root), "backups", name)
    os.makedirs(folder)
    members = [("metadata/version", b"1.1.0\n")]
    members += [(path, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()) for path, obj in velero_items()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    with open(os.path.join(folder, name + ".tar.gz"), "wb") as stream:
        stream.write(buffer.getvalue())
    backup = {
        "kind": "Backup", "apiVersion": "velero.io/v1",
        "metadata": {
            "name": name, "namespace": "velero", "uid": "4e7a-uid", "resourceVersion": "1234", "generation": 7,
            "creationTimestamp": stamp(start),
            "labels": {"velero.io/schedule-name": "velero-daily", "velero.io/storage-location": "default"},
            "annotations": {"velero.io/source-cluster-k8s-gitversion": "v1.29.4", "velero.io/source-cluster-k8s-major-version": "1",
                            "velero.io/source-cluster-k8s-minor-version": "29"},
        },
        "spec": {
            "metadata": {}, "includedNamespaces": ["web"], "excludedResources": ["events"], "ttl": "720h0m0s",
            "labelSelector": {"matchLabels": {"app": "web"}}, "hooks": {}, "storageLocation": "default",
            "defaultVolumesToFsBackup": False, "csiSnapshotTimeout": "10m0s", "itemOperationTimeout": "4h0m0s",
            "snapshotMoveData": False,
        },
        "status": {
            "version": 1, "formatVersion": "1.1.0", "expiration": stamp(start + datetime.timedelta(days=30)), "phase": phase,
            "startTimestamp": stamp(start), "completionTimestamp": stamp(start + datetime.timedelta(seconds=9)),
            "warnings": 2, "errors": 1, "progress": {"totalItems": 3, "itemsBackedUp": 3}, "hookStatus": {},
        },
    }
    with open(os.path.join(folder, "velero-backup.json"), "w") as stream:
        json.dump(backup, stream, indent=2)
    sidecars = {
        "-logs.gz": None,
        "-results.gz": {"errors": {"namespaces": {"web": ["error backing up item: pods \"x\" is forbidden"]}},
                        "warnings": {"velero": ["a plugin was slow"], "cluster": ["no CRD for coupons"]}},
        "-volumesnapshots.json.gz": None, "-itemoperations.json.gz": [], "-volumeinfo.json.gz": [], "-podvolumebackups.json.gz": None,
    }
    if resource_list:
        sidecars["-resource-list.json.gz"] = {"apps/v1/Deployment": ["web/app"], "v1/ConfigMap": ["web/cfg"], "v1/Namespace": ["web"]}
    for suffix, content in sidecars.items():
        data = gzip.compress(b"time=... level=info msg=done\n") if suffix == "-logs.gz" else _gzip_json(content)
        with open(os.path.join(folder, name + suffix), "wb") as stream:
            stream.write(data)
    return folder


# ---------------------------------------------------------------- a location with our backups and Velero's


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """(directory, {backup name: run_backup result}): two backups of the sample cluster and a Velero one."""
    from kubesim.cluster import SAMPLE_FIXTURE, KubeSim  # pylint: disable=import-outside-toplevel
    sim = KubeSim()
    sim.start()
    try:
        sim.seed_file(SAMPLE_FIXTURE)
        sim.settle(30)
        sim.controllers.configure(False)
        kubeconfig = sim.write_kubeconfig(str(tmp_path_factory.mktemp("catalog-cluster") / "kubeconfig"))
        client = KubeClient(**connection_options({"kubeconfig": kubeconfig}))
        root = tmp_path_factory.mktemp("catalog")
        location = open_location(str(root))
        results = {
            "shop-nightly": run_backup(client, location, BackupOptions(
                name="shop-nightly", included_namespaces=["shop"], labels={"schedule": "nightly", "team": "shop"}, ttl="24h")),
            "full-weekly": run_backup(client, location, BackupOptions(name="full-weekly", labels={"schedule": "weekly", "keep": "true"})),
        }
    finally:
        sim.stop()
    write_velero_backup(root)
    return str(root), results


@pytest.fixture
def scratch(populated, tmp_path):
    """A copy of the populated location that a test may change."""
    target = tmp_path / "location"
    shutil.copytree(populated[0], str(target))
    return target


def names(summaries):
    return [summary["name"] for summary in summaries]


def disk_size(root, name):
    folder = os.path.join(root, "backups", name)
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))


# ---------------------------------------------------------------- listing


def test_lists_every_backup_newest_first(populated):
    root, results = populated
    summaries = list_backups(open_location(root))
    # full-weekly started in the same second or after shop-nightly; Velero's is from 2024.
    assert names(summaries)[-1] == VELERO_NAME and set(names(summaries)) == {"shop-nightly", "full-weekly", VELERO_NAME}
    by_name = {s["name"]: s for s in summaries}
    for name, result in results.items():
        summary = by_name[name]
        assert summary["complete"] and summary["problem"] is None and summary["format"] == "kubesafe"
        assert summary["phase"] == result["phase"] == "Completed"
        assert summary["items_backed_up"] == summary["total_items"] == result["items_backed_up"] > 0
        assert summary["start_timestamp"] == result["start_timestamp"] and summary["expiration"] == result["expiration"]
        assert summary["size"] == disk_size(root, name)
        assert summary["storage_location"] == "default" and summary["expired"] is False
        assert summary["warnings"] == len(result["warnings"]) and summary["errors"] == 0
    assert by_name["shop-nightly"]["included_namespaces"] == ["shop"] and by_name["shop-nightly"]["ttl"] == "24h0m0s"
    assert by_name["shop-nightly"]["labels"] == {"schedule": "nightly", "team": "shop", "velero.io/storage-location": "default"}
    assert by_name["full-weekly"]["included_namespaces"] == ["*"] and by_name["full-weekly"]["included_resources"] == ["*"]


def test_velero_backup_summary(populated):
    root = populated[0]
    summary = list_backups(open_location(root), name=VELERO_NAME)[0]
    assert summary == {
        "name": VELERO_NAME, "complete": True, "format": "velero", "encryption": "none", "size": disk_size(root, VELERO_NAME), "problem": None,
        "phase": "PartiallyFailed", "start_timestamp": "2024-01-02T03:04:05Z", "completion_timestamp": "2024-01-02T03:04:14Z",
        "expiration": "2024-02-01T03:04:05Z", "expired": True, "ttl": "720h0m0s", "storage_location": "default",
        "labels": {"velero.io/schedule-name": "velero-daily", "velero.io/storage-location": "default"},
        "items_backed_up": 3, "total_items": 3, "warnings": 2, "errors": 1, "failure_reason": None,
        "included_namespaces": ["web"], "excluded_namespaces": [], "included_resources": ["*"], "excluded_resources": ["events"],
        "include_cluster_resources": None, "label_selector": "app=web", "or_label_selectors": [], "snapshot_volumes": None,
        "format_version": "1.1.0",
    }


def test_filter_by_name(populated):
    location = open_location(populated[0])
    assert names(list_backups(location, name="shop-nightly")) == ["shop-nightly"]
    assert list_backups(location, name="shop") == []  # exact names, not prefixes
    assert list_backups(location, name="nothing-here") == []
    with pytest.raises(ConfigurationError, match="not a backup name"):
        list_backups(location, name="../etc")


def test_filter_by_labels(populated):
    location = open_location(populated[0])
    assert names(list_backups(location, labels={"schedule": "nightly"})) == ["shop-nightly"]
    assert names(list_backups(location, labels={"schedule": "nightly", "team": "payments"})) == []
    # YAML turns an unquoted true into a boolean: it still matches the label value "true".
    assert names(list_backups(location, labels={"keep": True})) == ["full-weekly"]
    assert names(list_backups(location, labels={"velero.io/schedule-name": "velero-daily"})) == [VELERO_NAME]
    with pytest.raises(ConfigurationError, match="labels must be a mapping"):
        list_backups(location, labels="schedule=nightly")


def test_filter_by_age(populated):
    location = open_location(populated[0])
    assert set(names(list_backups(location, newer_than="24h"))) == {"shop-nightly", "full-weekly"}
    assert names(list_backups(location, older_than="24h")) == [VELERO_NAME]
    # Seen from two days later, everything is older than a day.
    later = datetime.datetime.now(UTC) + datetime.timedelta(days=2)
    assert list_backups(location, newer_than="24h", now=later) == []
    assert len(list_backups(location, older_than="24h", now=later)) == 3
    expired = {s["name"] for s in list_backups(location, now=later) if s["expired"]}
    assert expired == {"shop-nightly", VELERO_NAME}  # its ttl was 24h; full-weekly keeps 30 days
    window = list_backups(location, newer_than="20000h", older_than="1h", now=VELERO_START + datetime.timedelta(hours=2))
    assert names(window) == [VELERO_NAME]
    for bad in ("yesterday", "7d", "-1h"):
        with pytest.raises(ConfigurationError, match="newer_than"):
            list_backups(location, newer_than=bad)


def test_filter_by_phase(populated):
    location = open_location(populated[0])
    assert names(list_backups(location, phase="PartiallyFailed")) == [VELERO_NAME]
    assert set(names(list_backups(location, phase=["Completed"]))) == {"shop-nightly", "full-weekly"}
    assert len(list_backups(location, phase=["Completed", "PartiallyFailed"])) == 3
    assert list_backups(location, phase="Failed") == []
    with pytest.raises(ConfigurationError, match="'Done' is not a backup phase"):
        list_backups(location, phase=["Completed", "Done"])


def test_filters_combine(populated):
    location = open_location(populated[0])
    assert names(list_backups(location, labels={"schedule": "weekly"}, phase="Completed", newer_than="1h")) == ["full-weekly"]
    assert list_backups(location, labels={"schedule": "weekly"}, phase="PartiallyFailed") == []


# ---------------------------------------------------------------- incomplete directories


def make_debris(root):
    """An interrupted run (tarball, no marker) and a backup whose marker is damaged."""
    interrupted = os.path.join(str(root), "backups", "interrupted")
    os.makedirs(interrupted)
    with open(os.path.join(interrupted, "interrupted.tar.gz"), "wb") as stream:
        stream.write(b"\x1f\x8b partial")
    damaged = os.path.join(str(root), "backups", "damaged")
    os.makedirs(damaged)
    with open(os.path.join(damaged, "velero-backup.json"), "w") as stream:
        stream.write("{not json")
    with open(os.path.join(str(root), "backups", "stray-file.txt"), "w") as stream:
        stream.write("not a backup")


def test_incomplete_directories_are_skipped_by_default(scratch):
    make_debris(scratch)
    assert set(names(list_backups(open_location(str(scratch))))) == {"shop-nightly", "full-weekly", VELERO_NAME}


def test_incomplete_directories_listed_on_request(scratch):
    make_debris(scratch)
    location = open_location(str(scratch))
    summaries = list_backups(location, include_incomplete=True)
    assert names(summaries)[-2:] == ["damaged", "interrupted"]  # undated: last, by name
    by_name = {s["name"]: s for s in summaries}
    interrupted = by_name["interrupted"]
    assert interrupted["complete"] is False and interrupted["phase"] is None and interrupted["labels"] == {}
    assert interrupted["size"] == 10 and "velero-backup.json is missing" in interrupted["problem"]
    assert by_name["damaged"]["complete"] is False and "not valid JSON" in by_name["damaged"]["problem"]
    assert all(by_name[name]["complete"] for name in ("shop-nightly", "full-weekly", VELERO_NAME))
    # No phase, labels or age: those filters leave them out; the name keeps them.
    assert "interrupted" not in names(list_backups(location, include_incomplete=True, phase="Completed"))
    assert "interrupted" not in names(list_backups(location, include_incomplete=True, older_than="1h"))
    assert names(list_backups(location, name="interrupted", include_incomplete=True)) == ["interrupted"]
    assert list_backups(location, name="interrupted") == []


def test_marker_naming_another_backup_is_incomplete(scratch):
    copy = scratch / "backups" / "copied"
    shutil.copytree(str(scratch / "backups" / "shop-nightly"), str(copy))
    summary = list_backups(open_location(str(scratch)), name="copied", include_incomplete=True)[0]
    assert summary["complete"] is False and "names backup 'shop-nightly'" in summary["problem"]


def test_missing_location_directory_is_empty_and_not_created(tmp_path):
    target = tmp_path / "never-written"
    location = open_location_to_read(str(target))
    assert list_backups(location) == [] and location.url == str(target)
    with pytest.raises(ObjectNotFound, match="holds no backups"):
        describe_backup(location, "anything")
    assert not target.exists()
    with pytest.raises(ConfigurationError, match="unknown option"):
        open_location_to_read(str(target), {"regoin": "eu-west-1"})


# ---------------------------------------------------------------- describing


def test_describe_our_backup(populated):
    root, results = populated
    result = results["shop-nightly"]
    details = describe_backup(open_location(root), "shop-nightly")
    summary = list_backups(open_location(root), name="shop-nightly")[0]
    assert {key: details[key] for key in summary} == summary  # the summary, plus the details
    assert sum(details["resource_counts"].values()) == result["items_backed_up"]
    assert details["resource_counts"] == result["resource_counts"]  # the backup result's keys: deployments.apps
    assert details["resource_counts"]["namespaces"] == 1
    assert details["namespace_counts"] == {"shop": result["namespace_counts"]["shop"]}
    assert details["warning_messages"] == result["warnings"] and details["error_messages"] == []
    assert details["volume_snapshots"] == [] and details["notes"] == []
    assert details["status"]["phase"] == "Completed" and details["spec"]["includedNamespaces"] == ["shop"]
    assert details["files"] == {f: os.path.getsize(os.path.join(root, "backups", "shop-nightly", f))
                                for f in os.listdir(os.path.join(root, "backups", "shop-nightly"))}
    manifest = details["manifest"]
    assert manifest["tool"]["name"] == "kubesafe.k8s" and manifest["totalItems"] == result["items_backed_up"]
    assert set(manifest["files"]) | {"velero-backup.json", "shop-nightly-manifest.json"} == set(details["files"])
    assert "contents" not in details


def test_describe_with_contents(populated):
    root, results = populated
    location = open_location(root)
    details = describe_backup(location, "shop-nightly", include_contents=True)
    contents = details["contents"]
    assert len(contents) == results["shop-nightly"]["items_backed_up"] and details["contents_truncated"] is False
    assert {"api_version": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"} in contents
    assert {"api_version": "v1", "kind": "Namespace", "namespace": None, "name": "shop"} in contents
    assert contents == sorted(contents, key=lambda e: ("%s/%s" % (e["api_version"], e["kind"]), e["namespace"] or "", e["name"]))
    limited = describe_backup(location, "shop-nightly", include_contents=True, contents_limit=5)
    assert limited["contents"] == contents[:5] and limited["contents_truncated"] is True
    assert describe_backup(location, "shop-nightly", include_contents=True, contents_limit=0)["contents"] == []
    with pytest.raises(ConfigurationError, match="contents_limit"):
        describe_backup(location, "shop-nightly", include_contents=True, contents_limit=-1)


def test_describe_velero_backup(populated):
    details = describe_backup(open_location(populated[0]), VELERO_NAME, include_contents=True)
    assert details["format"] == "velero" and details["manifest"] is None and details["notes"] == []
    assert details["resource_counts"] == {"deployments.apps": 1, "configmaps": 1, "namespaces": 1}
    assert details["namespace_counts"] == {"web": 2}
    assert details["warning_messages"] == ["a plugin was slow", "cluster: no CRD for coupons"]
    assert details["error_messages"] == ['namespace web: error backing up item: pods "x" is forbidden']
    assert details["annotations"]["velero.io/source-cluster-k8s-gitversion"] == "v1.29.4"
    assert details["volume_snapshots"] == []
    assert details["contents"] == [
        {"api_version": "apps/v1", "kind": "Deployment", "namespace": "web", "name": "app"},
        {"api_version": "v1", "kind": "ConfigMap", "namespace": "web", "name": "cfg"},
        {"api_version": "v1", "kind": "Namespace", "namespace": None, "name": "web"},
    ]


def test_describe_without_sidecars_reads_the_tarball(tmp_path):
    folder = write_velero_backup(tmp_path, resource_list=False)
    os.remove(os.path.join(folder, VELERO_NAME + "-results.gz"))
    details = describe_backup(open_location(str(tmp_path)), VELERO_NAME, include_contents=True)
    assert details["resource_counts"] == {"deployments.apps": 1, "configmaps": 1, "namespaces": 1}
    assert len(details["contents"]) == 3 and details["warning_messages"] == [] and details["error_messages"] == []
    assert any("counts were read from the tarball" in note for note in details["notes"])
    assert any("results sidecar is missing" in note for note in details["notes"])


def test_describe_damaged_sidecar_is_a_note(tmp_path):
    folder = write_velero_backup(tmp_path)
    with open(os.path.join(folder, VELERO_NAME + "-results.gz"), "wb") as stream:
        stream.write(b"not gzip")
    details = describe_backup(open_location(str(tmp_path)), VELERO_NAME)
    assert details["complete"] and details["warning_messages"] == []
    assert any("-results.gz is not gzip-compressed JSON" in note for note in details["notes"])


def test_describe_incomplete_directory(scratch):
    make_debris(scratch)
    details = describe_backup(open_location(str(scratch)), "interrupted")
    assert details["complete"] is False and details["phase"] is None and details["spec"] == {}
    assert details["files"] == {"interrupted.tar.gz": 10} and details["resource_counts"] == {}
    assert any("not a readable backup" in note for note in details["notes"])


def test_describe_missing_backup_names_the_location_and_its_backups(populated):
    location = open_location(populated[0])
    with pytest.raises(ObjectNotFound) as caught:
        describe_backup(location, "shop-nightly-2")
    message = str(caught.value)
    assert "backup 'shop-nightly-2' does not exist in %s" % location.url in message
    assert "(nearest backups: shop-nightly)" in message


def test_describe_missing_backup_with_no_near_name_lists_the_backups(populated):
    location = open_location(populated[0])
    with pytest.raises(ObjectNotFound) as caught:
        describe_backup(location, "zzz")
    message = str(caught.value)
    assert "backups there: " in message and "full-weekly" in message and "shop-nightly" in message


def test_restoring_a_missing_backup_names_the_nearest_ones(populated):
    """What restore, diff and verify resolve: a typo gets the existing names closest to it."""
    location = open_location(populated[0])
    with pytest.raises(ConfigurationError) as caught:
        resolve_backup(location, "ful-weekly")
    assert "backup 'ful-weekly' does not exist in %s" % location.url in str(caught.value)
    assert "nearest backups: full-weekly" in str(caught.value)


# ---------------------------------------------------------------- S3


def upload(s3, bucket, prefix, root):
    for directory, _dirs, files in os.walk(root):
        for file_name in files:
            path = os.path.join(directory, file_name)
            key = "%s/%s" % (prefix, os.path.relpath(path, root).replace(os.sep, "/"))
            with open(path, "rb") as stream:
                s3.put_object(Bucket=bucket, Key=key, Body=stream.read())


def test_s3_location_reads_the_same(populated, s3_endpoint, s3_bucket, monkeypatch):
    s3, bucket = s3_bucket
    root = populated[0]
    upload(s3, bucket, "cluster-a", root)
    s3.put_object(Bucket=bucket, Key="cluster-a/backups/interrupted/interrupted.tar.gz", Body=b"partial")
    s3.put_object(Bucket=bucket, Key="cluster-b/backups/other/velero-backup.json", Body=b"{}")
    monkeypatch.setattr(backup_catalog, "READ_PARALLELISM", 2)
    location = open_location("s3://%s/cluster-a" % bucket, {"endpoint_url": s3_endpoint, "force_path_style": True})
    assert list_backups(location) == list_backups(open_location(root))
    assert names(list_backups(location, include_incomplete=True))[-1] == "interrupted"
    remote = describe_backup(location, VELERO_NAME, include_contents=True)
    local = describe_backup(open_location(root), VELERO_NAME, include_contents=True)
    assert remote == local
    with pytest.raises(ObjectNotFound, match="does not exist in s3://%s/cluster-a" % bucket):
        describe_backup(location, "other")

"""Backups of the emulated sample cluster, through ansible-playbook, checked the way a user (or Velero) reads them."""

import collections
import gzip
import json
import os

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader
from module_results import run_module

pytestmark = pytest.mark.integration

EXCLUDE_LABEL = "velero.io/exclude-from-backup"


def identity(obj):
    api_version = obj["apiVersion"]
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return (group, obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])


def archive_items(directory, name):
    with open(os.path.join(directory, "backups", name, name + ".tar.gz"), "rb") as stream:
        return list(ArchiveReader(stream))


def expected_in_full_backup(cluster):
    """What a full backup must hold: every object the cluster serves, minus Velero's exclusions and events."""
    objects = cluster.control.dump()
    excluded_namespaces = {o["metadata"]["name"] for o in objects
                           if o["kind"] == "Namespace" and (o["metadata"].get("labels") or {}).get(EXCLUDE_LABEL) == "true"}
    expected = set()
    for obj in objects:
        metadata = obj["metadata"]
        if obj["kind"] == "Event" or metadata.get("deletionTimestamp"):
            continue
        if (metadata.get("labels") or {}).get(EXCLUDE_LABEL) == "true" or metadata.get("namespace") in excluded_namespaces:
            continue
        expected.add(identity(obj))
    return expected


@pytest.fixture
def location(tmp_path):
    """A directory of its own for the backups (tmp_path also holds the emulator's files)."""
    return tmp_path / "location"


def test_backup_playbook_stores_every_object(sample_cluster, run_playbook, location):
    sample_cluster.control.configure(controllers=False)  # a still cluster, so the expectation is exact
    run_playbook("playbooks/backup.yml", sample_cluster.env(), "-e", "backup_location=%s" % location, "-e", "backup_name=full")
    items = archive_items(str(location), "full")
    stored = [identity(item.obj) for item in items]
    assert len(stored) == len(set(stored)), "an object was stored twice"
    expected = expected_in_full_backup(sample_cluster)
    assert set(stored) - expected == set(), "extra objects"
    assert expected - set(stored) == set(), "missing objects"
    # What the sample fixture has for exclusions really was left out.
    assert not [s for s in stored if s[2] == "scratch" or s[3] == "tmp-cache"]
    marker = json.loads((location / "backups" / "full" / "velero-backup.json").read_text())
    assert marker["status"]["phase"] == "Completed" and marker["status"]["progress"]["itemsBackedUp"] == len(stored)


def test_backup_objects_equal_the_cluster_state(sample_cluster, run_playbook, location):
    sample_cluster.control.configure(controllers=False)
    run_playbook("playbooks/backup.yml", sample_cluster.env(), "-e", "backup_location=%s" % location, "-e", "backup_name=exact")
    live = {identity(o): o for o in sample_cluster.control.dump()}
    for item in archive_items(str(location), "exact"):
        assert item.obj == live[identity(item.obj)], identity(item.obj)  # status, uid and resourceVersion kept


def test_velero_layout(sample_cluster, run_playbook, location):
    run_playbook("playbooks/backup.yml", sample_cluster.env(), "-e", "backup_location=%s" % location, "-e", "backup_name=layout",
                 "-e", "backup_ttl=24h")
    folder = location / "backups" / "layout"
    assert sorted(os.listdir(location)) == ["backups"]  # a Velero BSL on the same place stays Available
    import tarfile  # pylint: disable=import-outside-toplevel
    with tarfile.open(folder / "layout.tar.gz", "r:gz") as tar:
        members = tar.getmembers()
        assert members[0].name == "metadata/version" and tar.extractfile(members[0]).read() == b"1.1.0\n"
        names = {m.name for m in members}
        assert all(m.isfile() and m.mode == 0o755 for m in members)
        assert "resources/deployments.apps/namespaces/shop/web.json" in names
        assert "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json" in names
        assert "resources/pods/namespaces/shop/db-0.json" in names or any(n.startswith("resources/pods/namespaces/shop/") for n in names)
        assert "resources/namespaces/cluster/shop.json" in names
        assert "resources/coupons.shop.example.com/v1-preferredversion/namespaces/shop/welcome10.json" in names
        assert "resources/horizontalpodautoscalers.autoscaling/v2-preferredversion/namespaces/shop/web.json" in names
        assert "resources/customresourcedefinitions.apiextensions.k8s.io/cluster/coupons.shop.example.com.json" in names
        assert not [n for n in names if n.startswith("resources/pods./") or n.endswith("/")]
        raw = tar.extractfile("resources/deployments.apps/namespaces/shop/web.json").read()
        assert raw == tar.extractfile("resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json").read()
        assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    marker = json.loads((folder / "velero-backup.json").read_text())
    assert marker["apiVersion"] == "velero.io/v1" and marker["kind"] == "Backup" and marker["metadata"]["name"] == "layout"
    assert marker["metadata"]["labels"]["velero.io/storage-location"] == "default"
    assert marker["spec"]["ttl"] == "24h0m0s" and marker["spec"]["storageLocation"] == "default"
    status = marker["status"]
    assert status["version"] == 1 and status["formatVersion"] == "1.1.0" and status["phase"] == "Completed"
    for field in ("startTimestamp", "completionTimestamp", "expiration"):
        assert len(status[field]) == 20 and status[field].endswith("Z")
    resource_list = json.loads(gzip.decompress((folder / "layout-resource-list.json.gz").read_bytes()))
    assert "shop/web" in resource_list["apps/v1/Deployment"] and "shop" in resource_list["v1/Namespace"]
    manifest = json.loads((folder / "layout-manifest.json").read_text())
    import hashlib  # pylint: disable=import-outside-toplevel
    for file_name, info in manifest["files"].items():
        data = (folder / file_name).read_bytes()
        assert info == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, file_name


def test_check_mode_writes_nothing(sample_cluster, run_playbook, location):
    sample_cluster.control.clear_audit()
    result = run_playbook("playbooks/backup.yml", sample_cluster.env(), "--check", "-e", "backup_location=%s" % location,
                          "-e", "backup_included_namespaces=shop")
    assert "check mode: nothing written" in result.stdout
    assert not location.exists() or not any(location.iterdir())
    assert {r["verb"] for r in sample_cluster.control.audit()} <= {"get", "list"}


def test_relative_paths_mean_the_directory_ansible_playbook_runs_from(sample_cluster, run_playbook, tmp_path):
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    (workdir / "kube").mkdir()
    (workdir / "kube" / "config").write_text(open(sample_cluster.kubeconfig, encoding="utf-8").read())
    env = sample_cluster.env()
    env.pop("K8S_AUTH_KUBECONFIG")
    env.update({"KUBECONFIG": "kube/config", "PWD": str(workdir)})
    run_playbook("playbooks/backup.yml", env, "-e", "backup_location=./rel", "-e", "backup_name=relative",
                 "-e", "backup_included_namespaces=shop", cwd=str(workdir))
    assert (workdir / "rel" / "backups" / "relative" / "velero-backup.json").exists()


# ----------------------------------------------------------------- 410 Expired continue tokens

def seed_bulk(cluster, configmaps=1000, secrets=300):
    """A namespace of about 1,300 objects, so small pages make long LISTs."""
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}}]
    objects += [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%04d" % index, "namespace": "bulk"},
                 "data": {"index": str(index)}} for index in range(configmaps)]
    objects += [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret-%04d" % index, "namespace": "bulk"},
                 "data": {"token": "dG9rZW4="}} for index in range(secrets)]
    cluster.control.seed(objects)
    cluster.control.configure(controllers=False)  # a still cluster, so the expectation is exact


def archive_counts(items, namespace="bulk"):
    return collections.Counter(item.group_resource for item in items if item.namespace == namespace)


def cluster_counts(cluster, namespace="bulk"):
    plural = {"ConfigMap": "configmaps", "Secret": "secrets", "ServiceAccount": "serviceaccounts"}
    return collections.Counter(plural[o["kind"]] for o in cluster.control.dump() if o["metadata"].get("namespace") == namespace)


def first_pages_of_secrets(cluster):
    return [r for r in cluster.control.audit() if r["verb"] == "list" and r["resource"] == "secrets" and "continue=" not in r["path"]]


def test_an_expired_continue_token_lists_the_resource_again_and_stores_each_object_once(cluster, ansible_playbook, location, tmp_path):
    seed_bulk(cluster)
    # An etcd compaction while the Secrets are listed: their third page's token has expired, 100 Secrets are stored already.
    cluster.control.add_fault(action="compact", verbs=["list"], resources=["secrets"], continued=True, after=1, count=1)
    cluster.control.clear_audit()
    result = run_module(ansible_playbook, cluster.env(), tmp_path, "backup",
                        {"location": str(location), "name": "relisted", "page_size": 50, "parallelism": 1})["backup"]
    assert result["phase"] == "Completed" and result["errors"] == []
    assert result["relists"] == {"secrets": 1}
    assert any("secrets in all namespaces: the LIST's continue token expired" in warning for warning in result["warnings"])
    assert len(first_pages_of_secrets(cluster)) == 2
    items = archive_items(str(location), "relisted")
    stored = [identity(item.obj) for item in items]
    assert len(stored) == len(set(stored)), "an object was stored twice"
    counts = archive_counts(items)
    assert counts["secrets"] == 300 and counts["configmaps"] == 1001  # with kube-root-ca.crt
    expected = cluster_counts(cluster)
    assert {resource: counts[resource] for resource in expected} == dict(expected)
    assert set(stored) == expected_in_full_backup(cluster)
    assert result["items_backed_up"] == len(stored)


def test_a_resource_whose_list_keeps_expiring_makes_the_backup_partially_failed(cluster, run_playbook, location):
    seed_bulk(cluster)
    cluster.control.add_fault(action="compact", verbs=["list"], resources=["secrets"], continued=True)
    cluster.control.clear_audit()
    run_playbook("playbooks/backup.yml", cluster.env(), "-e", "backup_location=%s" % location, "-e", "backup_name=expiring",
                 "-e", "backup_page_size=50", "-e", "backup_parallelism=1", check=False)
    folder = location / "backups" / "expiring"
    marker = json.loads((folder / "velero-backup.json").read_text())
    assert marker["status"]["phase"] == "PartiallyFailed"
    errors = json.loads(gzip.decompress((folder / "expiring-results.gz").read_bytes()))["errors"]["velero"]
    assert [error for error in errors if error.startswith("secrets in all namespaces: list failed: 410 Expired after 3 re-lists")]
    assert "page_size (backup_page_size in the backup role, now 50)" in errors[0]
    assert len(first_pages_of_secrets(cluster)) == 4  # the first LIST and 3 re-lists
    items = archive_items(str(location), "expiring")
    stored = [identity(item.obj) for item in items]
    assert len(stored) == len(set(stored))
    assert archive_counts(items)["configmaps"] == 1001  # the other resources are whole

"""Backups to S3 (moto's server on 127.0.0.1): through the playbook, multipart, encryption, and failures."""

import base64
import json
import os

import botocore.exceptions
import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

pytestmark = pytest.mark.integration


def keys_under(s3, bucket, prefix=""):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def test_backup_playbook_to_s3_with_server_side_encryption(sample_cluster, run_playbook, s3_bucket, s3_endpoint):
    s3, bucket = s3_bucket
    config = {"endpoint_url": s3_endpoint, "force_path_style": True, "region": "us-east-1", "sse": "AES256"}
    run_playbook("playbooks/backup.yml", sample_cluster.env(),
                 "-e", "backup_location=s3://%s/prod/cluster-a" % bucket, "-e", "backup_name=nightly",
                 "-e", json.dumps({"backup_location_config": config}), "-e", "backup_included_namespaces=shop,payments")
    keys = keys_under(s3, bucket)
    assert keys and all(key.startswith("prod/cluster-a/backups/nightly/") for key in keys)
    names = {key.rsplit("/", 1)[1] for key in keys}
    assert {"velero-backup.json", "nightly.tar.gz", "nightly-resource-list.json.gz", "nightly-manifest.json", "nightly-logs.gz"} <= names
    for key in keys:
        assert s3.head_object(Bucket=bucket, Key=key).get("ServerSideEncryption") == "AES256", key
    marker = json.loads(s3.get_object(Bucket=bucket, Key="prod/cluster-a/backups/nightly/velero-backup.json")["Body"].read())
    assert marker["status"]["phase"] == "Completed" and marker["spec"]["includedNamespaces"] == ["shop", "payments"]


@pytest.fixture
def bulky_cluster(kubesim_factory):
    """A cluster whose archive needs several 5 MiB parts: ConfigMaps full of incompressible data."""
    cluster = kubesim_factory()
    cluster.control.configure(controllers=False)
    filler = [base64.b64encode(os.urandom(6000)).decode() for _index in range(8)]
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bulk-%04d" % i, "namespace": "bulk"},
                "data": {"blob": filler[i % 8] + str(i), "unique": base64.b64encode(os.urandom(2000)).decode()}}
               for i in range(1600)]
    cluster.control.seed(objects)
    return cluster


def s3_location(bucket, endpoint, prefix="p"):
    config = {"endpoint_url": endpoint, "force_path_style": True, "region": "us-east-1", "part_size_mb": 5}
    return open_location("s3://%s/%s" % (bucket, prefix), config)


def test_multipart_upload_of_a_large_archive(bulky_cluster, s3_bucket, s3_endpoint):
    s3, bucket = s3_bucket
    client = KubeClient(**connection_options({"kubeconfig": bulky_cluster.kubeconfig}))
    result = run_backup(client, s3_location(bucket, s3_endpoint), BackupOptions(name="big", included_namespaces=["bulk"]))
    head = s3.head_object(Bucket=bucket, Key="p/backups/big/big.tar.gz")
    assert head["ContentLength"] == result["archive"]["size"] > 10 * 1024 * 1024
    assert "-" in head["ETag"] and int(head["ETag"].strip('"').rsplit("-", 1)[1]) >= 2  # uploaded in parts
    assert result["resource_counts"]["configmaps"] == 1601  # + kube-root-ca.crt


def test_s3_failure_mid_upload_leaves_no_commit_marker(bulky_cluster, s3_bucket, s3_endpoint):
    s3, bucket = s3_bucket
    client = KubeClient(**connection_options({"kubeconfig": bulky_cluster.kubeconfig}))
    location = s3_location(bucket, s3_endpoint)
    calls = []

    def fail_second_part(**_kwargs):
        calls.append(1)
        if len(calls) >= 2:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url=s3_endpoint)
    location.client.meta.events.register("before-call.s3.UploadPart", fail_second_part)
    with pytest.raises(KubesafeError) as failure:
        run_backup(client, location, BackupOptions(name="broken", included_namespaces=["bulk"]))
    assert "broken" in str(failure.value)
    assert keys_under(s3, bucket, "p/backups/broken") == []  # no marker, no half-written files
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

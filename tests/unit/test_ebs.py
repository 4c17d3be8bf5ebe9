"""EBS snapshot engine: against EC2 on the loopback moto server, and the PersistentVolume helpers."""

import contextlib
import copy
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import ebs
from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.settings import region_from_zone
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs import (
    EbsError,
    EbsNotFound,
    EbsSnapshots,
    EbsTimeout,
    ebs_settings,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs_pv import rewrite_pv_for_volume, volume_id_from_pv
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.backup import VolumeSettings

boto3 = pytest.importorskip("boto3")

REGION = "us-east-1"
ZONE = "us-east-1a"
OTHER_REGION = "us-west-2"

_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_URL", "EC2_URL", "AWS_CA_BUNDLE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2",
)


@pytest.fixture
def no_aws_environment(monkeypatch):
    """Nothing in the environment or the AWS files that could provide credentials or settings."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def engine(ec2_endpoint):
    """EbsSnapshots on moto, credentials and region from the environment as a user would give them."""
    return EbsSnapshots(ebs_settings({"endpoint_url": ec2_endpoint, "timeout": 30}))


def ec2(endpoint, region=REGION, **credentials):
    return boto3.client("ec2", endpoint_url=endpoint, region_name=region, **credentials)


def new_volume(endpoint, zone=ZONE, size=8, tags=None, **credentials):
    tags = dict(tags or {}, Name="kubesafe-test-%s" % uuid.uuid4().hex[:8])
    client = ec2(endpoint, region_from_zone(zone), **credentials)
    volume = client.create_volume(AvailabilityZone=zone, Size=size, VolumeType="gp3",
                                  TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    return volume["VolumeId"]


def snapshot_of(endpoint, snapshot_id, region=REGION):
    return ec2(endpoint, region).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]


def tags_of(resource):
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


# ------------------------------------------------------------------------------------------------ EC2 on moto


def test_snapshot_is_created_completed_and_tagged(ec2_endpoint):
    volume_id = new_volume(ec2_endpoint, tags={"team": "shop", "kubesafe.io/backup": "old"})
    engine = EbsSnapshots(ebs_settings({"endpoint_url": ec2_endpoint, "tags": {"cluster": "prod"}}))
    backup = "b-%s" % uuid.uuid4().hex[:8]

    result = engine.create_snapshot(volume_id, "kubesafe backup %s" % backup, {"kubesafe.io/backup": backup, "kubesafe.io/pv": "pv-1"})

    assert result["snapshot_id"].startswith("snap-")
    assert result["state"] == "completed"
    assert (result["region"], result["volume_id"], result["availability_zone"]) == (REGION, volume_id, ZONE)
    assert (result["volume_type"], result["size_gib"], result["encrypted"]) == ("gp3", 8, False)
    assert result["iops"] == 3000
    assert result["start_time"].endswith("Z") and "T" in result["start_time"]
    stored = snapshot_of(ec2_endpoint, result["snapshot_id"])
    assert stored["State"] == "completed"
    assert stored["VolumeId"] == volume_id
    assert stored["Description"] == "kubesafe backup %s" % backup
    # The volume's own tags come along (as Velero does); ours win over older ones of the same name.
    tags = tags_of(stored)
    assert tags["kubesafe.io/backup"] == backup
    assert tags["kubesafe.io/pv"] == "pv-1"
    assert tags["cluster"] == "prod"
    assert tags["team"] == "shop"
    assert result["tags"] == tags


def test_describe_volume(engine, ec2_endpoint):
    volume_id = new_volume(ec2_endpoint, zone="us-east-1b", size=3)
    info = engine.describe_volume(volume_id)
    assert info["volume_id"] == volume_id
    assert (info["region"], info["availability_zone"], info["size_gib"], info["volume_type"]) == (REGION, "us-east-1b", 3, "gp3")
    assert info["encrypted"] is False and info["kms_key_id"] is None


def test_copy_snapshot_to_another_region_keeps_tags(engine, ec2_endpoint):
    volume_id = new_volume(ec2_endpoint)
    backup = "b-%s" % uuid.uuid4().hex[:8]
    original = engine.create_snapshot(volume_id, "original", {"kubesafe.io/backup": backup})

    result = engine.copy_snapshot(original["snapshot_id"], REGION, OTHER_REGION, tags={"kubesafe.io/copy-of": original["snapshot_id"]})

    assert result["region"] == OTHER_REGION
    assert result["snapshot_id"] != original["snapshot_id"]
    assert (result["source_snapshot_id"], result["source_region"]) == (original["snapshot_id"], REGION)
    assert result["state"] == "completed"
    copied = snapshot_of(ec2_endpoint, result["snapshot_id"], OTHER_REGION)
    assert copied["State"] == "completed"
    tags = tags_of(copied)
    assert tags["kubesafe.io/backup"] == backup
    assert tags["kubesafe.io/copy-of"] == original["snapshot_id"]
    # Nothing of that name in the source region: it really is another region's snapshot.
    with pytest.raises(Exception):
        snapshot_of(ec2_endpoint, result["snapshot_id"], REGION)
    assert [item["snapshot_id"] for item in engine.find_snapshots({"kubesafe.io/backup": backup}, OTHER_REGION)] == [result["snapshot_id"]]


def test_copy_snapshot_with_kms_key_asks_for_encryption(ec2_endpoint):
    key_id = boto3.client("kms", endpoint_url=ec2_endpoint, region_name=OTHER_REGION).create_key()["KeyMetadata"]["KeyId"]
    engine = ebs.ebs_client({"endpoint_url": ec2_endpoint, "copy_to_region": OTHER_REGION, "copy_kms_key_id": key_id})
    snapshot = engine.create_snapshot(new_volume(ec2_endpoint), "to encrypt", {})
    result = engine.copy_snapshot(snapshot["snapshot_id"], REGION, engine.settings["copy_to_region"])  # key from copy_kms_key_id
    assert snapshot_of(ec2_endpoint, result["snapshot_id"], OTHER_REGION)["KmsKeyId"] == key_id


def test_create_volume_from_snapshot_in_the_chosen_zone(engine, ec2_endpoint):
    snapshot = engine.create_snapshot(new_volume(ec2_endpoint, size=5, tags={"team": "shop"}), "for restore", {"kubesafe.io/backup": "b1"})

    result = engine.create_volume(snapshot["snapshot_id"], "us-east-1c", volume_type="io1", iops=400, tags={"kubesafe.io/restore": "r1"})

    assert result["volume_id"].startswith("vol-")
    assert (result["availability_zone"], result["region"], result["size_gib"]) == ("us-east-1c", REGION, 5)
    assert (result["volume_type"], result["iops"], result["state"]) == ("io1", 400, "available")
    volume = ec2(ec2_endpoint).describe_volumes(VolumeIds=[result["volume_id"]])["Volumes"][0]
    assert volume["SnapshotId"] == snapshot["snapshot_id"]
    assert volume["AvailabilityZone"] == "us-east-1c"
    assert volume["State"] == "available"
    tags = tags_of(volume)
    assert (tags["kubesafe.io/backup"], tags["kubesafe.io/restore"], tags["team"]) == ("b1", "r1", "shop")


def test_create_volume_defaults_from_settings(ec2_endpoint):
    engine = EbsSnapshots(ebs_settings({"endpoint_url": ec2_endpoint, "availability_zone": "us-east-1b", "volume_type": "gp2"}))
    snapshot = engine.create_snapshot(new_volume(ec2_endpoint), "defaults", {})
    # gp2 takes no Iops: the one read from the gp3 volume is not passed on.
    result = engine.create_volume(snapshot["snapshot_id"], None, iops=3000)
    assert (result["availability_zone"], result["volume_type"]) == ("us-east-1b", "gp2")


def test_create_volume_in_a_zone_of_another_region_is_refused(engine, ec2_endpoint):
    snapshot = engine.create_snapshot(new_volume(ec2_endpoint), "wrong zone", {})
    with pytest.raises(ConfigurationError) as error:
        engine.create_volume(snapshot["snapshot_id"], "us-west-2a")
    message = str(error.value)
    assert "us-west-2a is not in region us-east-1" in message
    assert "ebs_config.availability_zone" in message and "copy_to_region" in message


def test_create_volume_from_unknown_snapshot(engine):
    with pytest.raises(EbsNotFound) as error:
        engine.create_volume("snap-0123456789abcdef0", ZONE)
    assert "snap-0123456789abcdef0 not found in region us-east-1" in str(error.value)
    assert error.value.resource_id == "snap-0123456789abcdef0"


def test_delete_snapshot_then_again(engine, ec2_endpoint):
    snapshot = engine.create_snapshot(new_volume(ec2_endpoint), "to delete", {})
    assert engine.delete_snapshot(snapshot["snapshot_id"]) is True
    assert not ec2(ec2_endpoint).describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot["snapshot_id"]]}])["Snapshots"]
    assert engine.delete_snapshot(snapshot["snapshot_id"]) is False


def test_find_snapshots_by_tags(engine, ec2_endpoint):
    backup = "b-%s" % uuid.uuid4().hex[:8]
    first = engine.create_snapshot(new_volume(ec2_endpoint), "one", {"kubesafe.io/backup": backup, "kubesafe.io/pv": "a"})
    second = engine.create_snapshot(new_volume(ec2_endpoint), "two", {"kubesafe.io/backup": backup, "kubesafe.io/pv": "b"})
    engine.create_snapshot(new_volume(ec2_endpoint), "other", {"kubesafe.io/backup": backup + "-other"})

    found = engine.find_snapshots({"kubesafe.io/backup": backup})
    assert sorted(item["snapshot_id"] for item in found) == sorted([first["snapshot_id"], second["snapshot_id"]])
    assert all(item["region"] == REGION and item["tags"]["kubesafe.io/backup"] == backup for item in found)
    assert [item["snapshot_id"] for item in engine.find_snapshots({"kubesafe.io/backup": backup, "kubesafe.io/pv": "b"})] == [second["snapshot_id"]]
    assert engine.find_snapshots({"kubesafe.io/backup": "no-such-backup"}) == []
    # None: the tag with any value.
    assert {first["snapshot_id"], second["snapshot_id"]} <= {item["snapshot_id"] for item in engine.find_snapshots({"kubesafe.io/backup": None})}
    with_pv = engine.find_snapshots({"kubesafe.io/backup": backup, "kubesafe.io/pv": None})
    assert sorted(item["snapshot_id"] for item in with_pv) == sorted([first["snapshot_id"], second["snapshot_id"]])


def test_unknown_volume_names_volume_region_and_option(engine):
    with pytest.raises(EbsNotFound) as error:
        engine.create_snapshot("vol-0123456789abcdef0", "missing", {})
    message = str(error.value)
    assert "vol-0123456789abcdef0 not found in region us-east-1" in message
    assert "ebs_config.region" in message
    assert error.value.code == "InvalidVolume.NotFound"


def test_missing_credentials_say_how_to_give_them(no_aws_environment):
    engine = EbsSnapshots(ebs_settings({"endpoint_url": "http://127.0.0.1:9", "region": REGION}))  # no network, no error yet
    with pytest.raises(ConfigurationError) as error:
        engine.describe_volume("vol-0123456789abcdef0")
    message = str(error.value)
    assert "no AWS credentials" in message
    for hint in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ebs_config.access_key", "AWS_PROFILE"):
        assert hint in message


def test_missing_region_says_which_option(no_aws_environment):
    engine = EbsSnapshots(ebs_settings({"access_key": "AKIAEXAMPLE", "secret_key": "very-secret"}))
    with pytest.raises(ConfigurationError) as error:
        engine.describe_volume("vol-0123456789abcdef0")
    assert "ebs_config.region" in str(error.value) and "AWS_REGION" in str(error.value)


def test_unreachable_endpoint_names_the_option(no_aws_environment):
    engine = EbsSnapshots(ebs_settings({"endpoint_url": "http://127.0.0.1:9", "region": REGION,
                                        "access_key": "AKIAEXAMPLE", "secret_key": "very-secret"}))
    engine.retry_attempts = 1
    with pytest.raises(EbsError) as error:
        engine.describe_volume("vol-0123456789abcdef0")
    message = str(error.value)
    assert "cannot connect to http://127.0.0.1:9" in message and "ebs_config.endpoint_url" in message
    assert "very-secret" not in message


def test_constructor_does_no_network(no_aws_environment):
    # Not even credential resolution: an unusable setup only fails on the first call.
    EbsSnapshots(ebs_settings({"endpoint_url": "http://127.0.0.1:9", "profile": "nowhere"}))


def test_unknown_profile(no_aws_environment):
    engine = EbsSnapshots(ebs_settings({"profile": "nowhere", "region": REGION}))
    with pytest.raises(ConfigurationError) as error:
        engine.describe_volume("vol-0123456789abcdef0")
    assert "'nowhere' not found" in str(error.value) and "ebs_config.profile" in str(error.value)


class _PendingSnapshots(EbsSnapshots):
    """Snapshots that stay in one state, as a large first snapshot does on AWS (moto completes them at once)."""

    poll_interval = 0.05
    max_poll_interval = 0.1
    state = "pending"

    def describe_snapshot(self, snapshot_id, region=None):
        return {"snapshot_id": snapshot_id, "region": region, "state": self.state, "progress": "42%", "tags": {}}


def test_wait_timeout_names_the_snapshot_and_the_option(no_aws_environment):
    engine = _PendingSnapshots(ebs_settings({"region": REGION, "timeout": 1}))
    started = time.monotonic()
    with pytest.raises(EbsTimeout) as error:
        engine.wait_for_snapshot("snap-0123456789abcdef0", what="the snapshot of EBS volume vol-1")
    assert time.monotonic() - started < 60  # the 1 s timeout ended the wait (room for a loaded machine)
    message = str(error.value)
    assert "snap-0123456789abcdef0" in message and "vol-1" in message
    assert "pending at 42%" in message
    assert "ebs_config.timeout (now 1)" in message
    assert error.value.resource_id == "snap-0123456789abcdef0"


def test_snapshot_in_error_state_fails(no_aws_environment):
    engine = _PendingSnapshots(ebs_settings({"region": REGION}))
    engine.state = "error"
    with pytest.raises(EbsError) as error:
        engine.wait_for_snapshot("snap-0123456789abcdef0")
    assert "failed (state error)" in str(error.value)


# ------------------------------------------------------------------------------------------------ IAM enforcement

_SERVER_SCRIPT = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("http://%s:%d" % server.get_host_and_port(), flush=True)
sys.stdin.read()
server.stop()
"""

# Everything the engine does, except taking snapshots.
_POLICY_WITHOUT_CREATE_SNAPSHOT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:CreateTags", "ec2:CopySnapshot", "ec2:CreateVolume", "ec2:DeleteSnapshot"]}],
}


@contextlib.contextmanager
def _moto_process(log_path):
    """A moto server in its own process: IAM enforcement is process-wide in moto, and the shared server must not get it."""
    env = dict(os.environ)
    env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-c", _SERVER_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                   env=env, universal_newlines=True)
    try:
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            with open(log_path) as log:
                pytest.fail("the moto server did not start: %s" % log.read())
        yield url
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def enforcing_moto(tmp_path_factory):
    """(endpoint, volume ID, IAM user credentials without ec2:CreateSnapshot) on a moto server that enforces IAM policies."""
    if os.environ.get("KUBESAFE_TEST_S3_ENDPOINT"):
        pytest.skip("needs the loopback moto server")
    with _moto_process(str(tmp_path_factory.mktemp("moto") / "server.log")) as url:
        admin = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
        iam = boto3.client("iam", endpoint_url=url, region_name=REGION, **admin)
        iam.create_user(UserName="snapshotless")
        iam.put_user_policy(UserName="snapshotless", PolicyName="no-create-snapshot", PolicyDocument=json.dumps(_POLICY_WITHOUT_CREATE_SNAPSHOT))
        key = iam.create_access_key(UserName="snapshotless")["AccessKey"]
        volume_id = new_volume(url, **admin)
        # From here on every request is checked against the caller's IAM policies.
        with urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST",
                                                           headers={"Content-Type": "text/plain"})) as response:
            assert response.status == 200
        yield url, volume_id, {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}


def test_missing_permission_names_the_iam_action(no_aws_environment, enforcing_moto):
    url, volume_id, credentials = enforcing_moto
    engine = EbsSnapshots(ebs_settings(dict(credentials, endpoint_url=url, region=REGION)))
    assert engine.describe_volume(volume_id)["volume_id"] == volume_id  # allowed

    with pytest.raises(EbsError) as error:
        engine.create_snapshot(volume_id, "denied", {"kubesafe.io/backup": "b1"})
    message = str(error.value)
    assert "access denied" in message
    assert "create a snapshot of EBS volume %s in us-east-1" % volume_id in message
    assert "grant ec2:CreateSnapshot" in message
    assert "ec2:CreateTags" in message  # tagging at creation needs it as well
    assert credentials["secret_key"] not in message
    assert error.value.code == "AccessDenied"


def test_a_backup_without_the_snapshot_permission_keeps_its_manifests(no_aws_environment, enforcing_moto, cluster, tmp_path):
    url, volume_id, credentials = enforcing_moto
    cluster.control.seed([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "orders"}},
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-orders"},
         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                  "storageClassName": "", "awsElasticBlockStore": {"volumeID": "aws://us-east-1a/%s" % volume_id}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "orders"},
         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": "pv-orders",
                  "resources": {"requests": {"storage": "1Gi"}}}}])
    assert cluster.control.settle(30)
    client = KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig}))
    volumes = VolumeSettings(snapshot_volumes=True, ebs_config=dict(credentials, endpoint_url=url), ebs_factory=ebs.ebs_client)
    result = run_backup(client, open_location(str(tmp_path)), BackupOptions(name="denied", included_namespaces=["orders"], volumes=volumes))
    assert result["phase"] == "PartiallyFailed"
    [error] = result["errors"]
    assert "grant ec2:CreateSnapshot" in error and "data" in error and credentials["secret_key"] not in error
    assert result["resource_counts"]["persistentvolumeclaims"] == 1 and result["resource_counts"]["persistentvolumes"] == 1
    assert os.path.exists(tmp_path / "backups" / "denied" / "velero-backup.json")


def test_unknown_access_key_is_explained(no_aws_environment, enforcing_moto):
    url, volume_id, _credentials = enforcing_moto
    engine = EbsSnapshots(ebs_settings({"endpoint_url": url, "region": REGION, "access_key": "AKIANOTKNOWN", "secret_key": "not-the-secret"}))
    with pytest.raises(EbsError) as error:
        engine.describe_volume(volume_id)
    message = str(error.value)
    assert "did not accept the AWS credentials" in message and "AWS_ACCESS_KEY_ID" in message
    assert "not-the-secret" not in message


# ------------------------------------------------------------------------------------------------ settings


def test_settings_from_environment():
    environ = {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
               "AWS_SESSION_TOKEN": "env-token", "AWS_URL": "http://aws.example", "AWS_PROFILE": "ignored"}
    settings = ebs_settings(None, environ)
    assert (settings["region"], settings["access_key"], settings["secret_key"], settings["session_token"]) == (
        "eu-west-1", "AKIAENV", "env-secret", "env-token")
    assert settings["endpoint_url"] is None  # AWS_URL is often the backup location's S3-compatible store, never EC2
    assert settings["profile"] is None  # keys win over a profile, as in boto3
    assert (settings["timeout"], settings["validate_certs"], settings["tags"]) == (600, True, {})
    assert ebs_settings(None, dict(environ, EC2_URL="http://ec2.example"))["endpoint_url"] == "http://ec2.example"


def test_explicit_settings_beat_the_environment():
    environ = {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "t"}
    settings = ebs_settings({"region": "us-east-2", "profile": "backup"}, environ)
    assert (settings["region"], settings["profile"], settings["access_key"], settings["session_token"]) == ("us-east-2", "backup", None, None)


def test_aliases_as_ansible_leaves_them():
    settings = ebs_settings({"aws_access_key_id": "AKIA1", "access_key": "AKIA1", "aws_secret_access_key": "s", "aws_region": "us-east-2"}, {})
    assert (settings["access_key"], settings["secret_key"], settings["region"]) == ("AKIA1", "s", "us-east-2")


def _bad_settings():
    return [
        ({"access_key": "AKIA1"}, "secret_key (AWS_SECRET_ACCESS_KEY) is missing"),
        ({"access_key": "AKIA1", "aws_access_key_id": "AKIA2", "secret_key": "s"}, "set access_key or its alias aws_access_key_id"),
        ({"profile": "p", "access_key": "AKIA1", "secret_key": "s"}, "either profile or access_key"),
        ({"regoin": "us-east-1"}, "unknown option(s) regoin"),
        ({"timeout": 0}, "ebs_config.timeout must be 1 second or more"),
        ({"timeout": "soon"}, "ebs_config.timeout must be a whole number"),
        ({"validate_certs": "maybe"}, "ebs_config.validate_certs must be true or false"),
        ({"region": "US East"}, "ebs_config.region 'US East' is not an AWS region name"),
        ({"availability_zone": "us-east-1"}, "ebs_config.availability_zone 'us-east-1' is not an availability zone name"),
        ({"volume_type": "ssd"}, "ebs_config.volume_type must be one of"),
        ({"copy_kms_key_id": "k"}, "set copy_to_region too"),
        ({"endpoint_url": "ec2.example.com"}, "ebs_config.endpoint_url 'ec2.example.com'"),
        ({"endpoint_url": "ftp://ec2.example.com"}, "is not a URL"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ebs_config.ca_bundle (or AWS_CA_BUNDLE) /nonexistent/ca.pem is not a file"),
        ({"tags": {"aws:cloudformation": "x"}}, "which AWS reserves"),
        ({"tags": ["a"]}, "ebs_config.tags must be a dictionary"),
        ({"tags": {"k%d" % number: "v" for number in range(51)}}, "at most 50"),
    ]


@pytest.mark.parametrize("config, expected", _bad_settings())
def test_bad_settings(config, expected):
    with pytest.raises(ConfigurationError) as error:
        ebs_settings(config, {})
    assert expected in str(error.value)


def test_secrets_never_in_setting_errors():
    with pytest.raises(ConfigurationError) as error:
        ebs_settings({"secret_key": "top-secret", "session_token": "secret-token"}, {})
    assert "top-secret" not in str(error.value) and "secret-token" not in str(error.value)


def test_tags_become_strings():
    assert ebs_settings({"tags": {"n": 3, "flag": True, "none": None}}, {})["tags"] == {"n": "3", "flag": "true", "none": ""}


def test_argument_spec_matches_the_settings():
    assert set(ebs.EBS_CONFIG_SPEC) == set(ebs_settings(None, {}))
    assert all(ebs.EBS_CONFIG_SPEC[name].get("no_log") for name in ("access_key", "secret_key", "session_token"))
    assert ebs.EBS_ARGUMENT_SPEC["ebs_config"]["options"] is ebs.EBS_CONFIG_SPEC


def test_merge_tags_keeps_explicit_ones_within_the_limit():
    copied = {"aws:cloudformation:stack-name": "s", "team": "old", **{"c%02d" % number: "v" for number in range(60)}}
    merged = ebs.merge_tags(copied, {"team": "new"}, {"kubesafe.io/backup": "b"})
    assert len(merged) == 50
    assert merged["team"] == "new" and merged["kubesafe.io/backup"] == "b"
    assert "aws:cloudformation:stack-name" not in merged


# ------------------------------------------------------------------------------------------------ persistent volumes


def _pv(spec, labels=None, name="pv-1"):
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def _affinity(*expressions):
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": list(expressions)}]}}


def _expression(key, *values):
    return {"key": key, "operator": "In", "values": list(values)}


PV_CASES = [
    ("in-tree bare ID", _pv({"awsElasticBlockStore": {"volumeID": "vol-0abc", "fsType": "ext4"}}), ("vol-0abc", None, None)),
    ("in-tree URL", _pv({"awsElasticBlockStore": {"volumeID": "aws://eu-west-1b/vol-0abc"}}), ("vol-0abc", "eu-west-1", "eu-west-1b")),
    ("in-tree URL without zone", _pv({"awsElasticBlockStore": {"volumeID": "aws:///vol-0abc"}}, {"topology.kubernetes.io/zone": "us-east-1d"}),
     ("vol-0abc", "us-east-1", "us-east-1d")),
    ("in-tree beta label", _pv({"awsElasticBlockStore": {"volumeID": "vol-0abc"}}, {"failure-domain.beta.kubernetes.io/zone": "us-east-2c"}),
     ("vol-0abc", "us-east-2", "us-east-2c")),
    ("in-tree node affinity", _pv({"awsElasticBlockStore": {"volumeID": "vol-0abc"},
                                   "nodeAffinity": _affinity(_expression("failure-domain.beta.kubernetes.io/zone", "ap-south-1a"))}),
     ("vol-0abc", "ap-south-1", "ap-south-1a")),
    ("CSI with driver topology", _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0def"},
                                      "nodeAffinity": _affinity(_expression("topology.ebs.csi.aws.com/zone", "us-west-2b"))}),
     ("vol-0def", "us-west-2", "us-west-2b")),
    ("CSI with well-known topology", _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0def"},
                                          "nodeAffinity": _affinity(_expression("topology.kubernetes.io/zone", "us-gov-west-1a"))}),
     ("vol-0def", "us-gov-west-1", "us-gov-west-1a")),
    ("CSI zone label beats affinity", _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0def"},
                                           "nodeAffinity": _affinity(_expression("topology.ebs.csi.aws.com/zone", "us-west-2b"))},
                                          {"topology.kubernetes.io/zone": "us-west-2a"}),
     ("vol-0def", "us-west-2", "us-west-2a")),
    ("local zone", _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0def"}}, {"topology.kubernetes.io/zone": "us-west-2-lax-1a"}),
     ("vol-0def", "us-west-2", "us-west-2-lax-1a")),
    ("CSI without zone", _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0def"}}), ("vol-0def", None, None)),
    ("other CSI driver", _pv({"csi": {"driver": "pd.csi.storage.gke.io", "volumeHandle": "projects/p/zones/z/disks/d"}}), (None, None, None)),
    ("NFS", _pv({"nfs": {"server": "nfs", "path": "/export"}}), (None, None, None)),
    ("empty", {}, (None, None, None)),
]


@pytest.mark.parametrize("pv, expected", [case[1:] for case in PV_CASES], ids=[case[0] for case in PV_CASES])
def test_volume_id_from_pv(pv, expected):
    assert volume_id_from_pv(pv) == expected


@pytest.mark.parametrize("spec, field", [
    ({"awsElasticBlockStore": {"volumeID": ""}}, "spec.awsElasticBlockStore.volumeID"),
    ({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "disk-1"}}, "spec.csi.volumeHandle"),
])
def test_volume_id_from_malformed_pv(spec, field):
    with pytest.raises(EbsError) as error:
        volume_id_from_pv(_pv(spec, name="broken"))
    assert "PersistentVolume broken: %s" % field in str(error.value)


@pytest.mark.parametrize("zone, region", [
    ("us-east-1a", "us-east-1"), ("eu-central-1c", "eu-central-1"), ("us-gov-west-1b", "us-gov-west-1"), ("cn-north-1a", "cn-north-1"),
    ("us-west-2-lax-1a", "us-west-2"), ("us-east-1-wl1-bos-wlz-1", "us-east-1"), ("us-isob-east-1a", "us-isob-east-1"),
    ("us-east-1", None), ("", None), (None, None), ("use1-az1", None),
])
def test_region_from_zone(zone, region):
    assert region_from_zone(zone) == region


REWRITE_CASES = [
    (
        "in-tree URL and beta labels and affinity",
        _pv({"awsElasticBlockStore": {"volumeID": "aws://us-east-1a/vol-old", "fsType": "ext4"},
             "nodeAffinity": _affinity(_expression("failure-domain.beta.kubernetes.io/zone", "us-east-1a"),
                                       _expression("failure-domain.beta.kubernetes.io/region", "us-east-1"))},
            {"failure-domain.beta.kubernetes.io/zone": "us-east-1a", "failure-domain.beta.kubernetes.io/region": "us-east-1", "app": "db"}),
        ("vol-new", "us-west-2b"),
        _pv({"awsElasticBlockStore": {"volumeID": "aws://us-west-2b/vol-new", "fsType": "ext4"},
             "nodeAffinity": _affinity(_expression("failure-domain.beta.kubernetes.io/zone", "us-west-2b"),
                                       _expression("failure-domain.beta.kubernetes.io/region", "us-west-2"))},
            {"failure-domain.beta.kubernetes.io/zone": "us-west-2b", "failure-domain.beta.kubernetes.io/region": "us-west-2", "app": "db"}),
    ),
    (
        "in-tree bare ID",
        _pv({"awsElasticBlockStore": {"volumeID": "vol-old"}}, {"topology.kubernetes.io/zone": "us-east-1a"}),
        ("vol-new", "us-east-1c"),
        _pv({"awsElasticBlockStore": {"volumeID": "vol-new"}}, {"topology.kubernetes.io/zone": "us-east-1c"}),
    ),
    (
        "CSI driver topology and zone ID dropped",
        _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-old", "fsType": "xfs"},
             "nodeAffinity": _affinity(_expression("topology.ebs.csi.aws.com/zone", "us-east-1a"),
                                       _expression("topology.k8s.aws/zone-id", "use1-az1"))}),
        ("vol-new", "us-east-1b"),
        _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-new", "fsType": "xfs"},
             "nodeAffinity": _affinity(_expression("topology.ebs.csi.aws.com/zone", "us-east-1b"))}),
    ),
    (
        "CSI same zone keeps the zone ID",
        _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-old"},
             "nodeAffinity": _affinity(_expression("topology.kubernetes.io/zone", "us-east-1a"), _expression("topology.k8s.aws/zone-id", "use1-az1"))}),
        ("vol-new", "us-east-1a"),
        _pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-new"},
             "nodeAffinity": _affinity(_expression("topology.kubernetes.io/zone", "us-east-1a"), _expression("topology.k8s.aws/zone-id", "use1-az1"))}),
    ),
]


@pytest.mark.parametrize("pv, arguments, expected", [case[1:] for case in REWRITE_CASES], ids=[case[0] for case in REWRITE_CASES])
def test_rewrite_pv_for_volume(pv, arguments, expected):
    original = copy.deepcopy(pv)
    rewritten = rewrite_pv_for_volume(pv, *arguments)
    assert rewritten == expected
    assert pv == original  # a copy; the caller's PV is untouched
    assert volume_id_from_pv(rewritten) == (arguments[0], region_from_zone(arguments[1]), arguments[1])


@pytest.mark.parametrize("pv, arguments, error_type, expected", [
    (_pv({"nfs": {"server": "s", "path": "/"}}), ("vol-new", "us-east-1a"), EbsError, "is not an EBS volume"),
    (_pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-old"}}), ("disk-1", "us-east-1a"), EbsError, "not an EBS volume ID"),
    (_pv({"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-old"}}), ("vol-new", "us-east-1"), ConfigurationError,
     "not an availability zone name"),
])
def test_rewrite_pv_refuses(pv, arguments, error_type, expected):
    with pytest.raises(error_type) as error:
        rewrite_pv_for_volume(pv, *arguments)
    assert expected in str(error.value)

"""Backup locations: local directory and S3 (against the loopback moto server)."""

import errno
import io
import os
import stat
import uuid

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.storage import s3 as location_s3

from ansible_collections.kubesafe.k8s.plugins.module_utils.storage import locations
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, LocationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound, open_location

MIB = 1024 * 1024
MOTO_ONLY = pytest.mark.skipif(bool(os.environ.get("KUBESAFE_TEST_S3_ENDPOINT")), reason="needs the loopback moto server")

_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_URL", "AWS_CA_BUNDLE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
)


class Boom(Exception):
    """Raised inside a write block to check that the write is aborted."""


@pytest.fixture
def no_aws_environment(monkeypatch):
    """Nothing in the environment or the AWS files that could provide credentials or settings."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def chunks(total, size=MIB, seed=0):
    """Deterministic, incompressible-enough data in pieces."""
    block = bytes((seed + i * 7) % 251 for i in range(size))
    sent = 0
    while sent < total:
        piece = block[:min(size, total - sent)]
        sent += len(piece)
        yield piece


# ---------------------------------------------------------------- configuration

def test_defaults_and_aliases(no_aws_environment):
    settings = locations.resolve_location_config({"aws_access_key_id": "AKID", "secret_key": "SECRET"})
    assert settings["access_key"] == "AKID"
    assert settings["validate_certs"] is True
    assert settings["force_path_style"] is False
    assert settings["part_size_mb"] == 16
    assert set(settings) == set(locations.LOCATION_CONFIG_OPTIONS)


def test_module_shaped_config_is_accepted(no_aws_environment):
    """What AnsibleModule hands over: every suboption present, unset ones None."""
    config = {name: spec.get("default") for name, spec in locations.LOCATION_CONFIG_OPTIONS.items()}
    config["aws_access_key_id"] = None
    settings = locations.resolve_location_config(config)
    assert settings["access_key"] is None


def test_unknown_option_lists_allowed_ones():
    with pytest.raises(ConfigurationError) as error:
        locations.resolve_location_config({"regoin": "eu-west-1"})
    assert "regoin" in str(error.value)
    assert "region" in str(error.value) and "endpoint_url" in str(error.value)


@pytest.mark.parametrize("config, words", [
    ({"sse": "aes256"}, ["sse", "AES256", "aws:kms"]),
    ({"kms_key_id": "abc"}, ["kms_key_id", "aws:kms"]),
    ({"kms_key_id": "abc", "sse": "AES256"}, ["kms_key_id", "aws:kms"]),
    ({"part_size_mb": 4}, ["part_size_mb", "5"]),
    ({"part_size_mb": 6000}, ["part_size_mb", "5120"]),
    ({"validate_certs": "maybe"}, ["validate_certs"]),
    ({"profile": "p", "access_key": "a", "secret_key": "s"}, ["profile", "access_key"]),
    ({"access_key": "a"}, ["secret_key"]),
    ({"access_key": "a", "aws_access_key_id": "b", "secret_key": "s"}, ["aws_access_key_id"]),
])
def test_bad_config(no_aws_environment, config, words):
    with pytest.raises(ConfigurationError) as error:
        locations.resolve_location_config(config)
    for word in words:
        assert word in str(error.value)


def test_environment_fallbacks(no_aws_environment, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_URL", "http://minio:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY", "AKID")
    monkeypatch.setenv("AWS_SECRET_KEY", "SECRET")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "TOKEN")
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/ca.pem")
    settings = locations.resolve_location_config(None)
    assert (settings["region"], settings["endpoint_url"], settings["ca_bundle"]) == ("eu-central-1", "http://minio:9000", "/etc/ca.pem")
    assert (settings["access_key"], settings["secret_key"], settings["session_token"]) == ("AKID", "SECRET", "TOKEN")
    assert locations.resolve_location_config({"region": "us-west-2"})["region"] == "us-west-2"


def test_explicit_profile_ignores_environment_keys(no_aws_environment, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
    settings = locations.resolve_location_config({"profile": "backup"})
    assert settings["profile"] == "backup" and settings["access_key"] is None
    monkeypatch.setenv("AWS_PROFILE", "other")
    settings = locations.resolve_location_config({"access_key": "A2", "secret_key": "S2"})
    assert settings["profile"] is None and settings["access_key"] == "A2"
    # Both from the environment: keys win, as in boto3.
    settings = locations.resolve_location_config(None)
    assert settings["profile"] is None and settings["access_key"] == "AKID"


def test_local_location_ignores_aws_environment(tmp_path, no_aws_environment, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "only-half-of-the-credentials")
    assert open_location(str(tmp_path), {"region": "eu-west-1"}).url == str(tmp_path)
    with pytest.raises(ConfigurationError):
        open_location(str(tmp_path), {"regoin": "eu-west-1"})


def test_unsupported_scheme(tmp_path):
    with pytest.raises(ConfigurationError) as error:
        open_location("gs://bucket/prefix")
    assert "s3://bucket/prefix" in str(error.value)


@pytest.mark.parametrize("url, bucket, prefix", [
    ("s3://bucket", "bucket", ""),
    ("s3://bucket/", "bucket", ""),
    ("s3://bucket/velero", "bucket", "velero"),
    ("s3://bucket//team/velero/", "bucket", "team/velero"),
])
def test_parse_s3_url(url, bucket, prefix):
    assert location_s3.parse_s3_url(url) == (bucket, prefix)


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://bad bucket/x", "s3://bucket/../x"])
def test_parse_bad_s3_url(url):
    with pytest.raises(ConfigurationError):
        location_s3.parse_s3_url(url)


def test_argument_spec_matches_doc_fragment():
    """validate-modules compares them in every module; catch a drift here first."""
    import yaml
    from ansible_collections.kubesafe.k8s.plugins.doc_fragments.location import ModuleDocFragment
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = locations.LOCATION_ARGUMENT_SPEC
    assert set(documented) == set(spec)
    assert documented["location"]["default"] == spec["location"]["default"]
    suboptions = documented["location_config"]["suboptions"]
    assert set(suboptions) == set(spec["location_config"]["options"])
    for name, option in spec["location_config"]["options"].items():
        doc = suboptions[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("aliases", []) == option.get("aliases", []), name
        assert doc.get("choices") == option.get("choices"), name


def test_argument_spec_through_ansible_validator(no_aws_environment):
    """The dict AnsibleModule produces from the spec is what open_location accepts."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    result = ArgumentSpecValidator(locations.LOCATION_ARGUMENT_SPEC).validate(
        {"location": "s3://b/p", "location_config": {"aws_access_key_id": "A", "secret_key": "S", "sse": "aws:kms", "kms_key_id": "k"}})
    assert not result.error_messages, result.error_messages
    settings = locations.resolve_location_config(result.validated_parameters["location_config"])
    assert settings["access_key"] == "A" and settings["kms_key_id"] == "k"
    assert "S" in result._no_log_values  # pylint: disable=protected-access


# ---------------------------------------------------------------- local directory

def test_local_directory_is_created_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    location = open_location(None)
    assert location.url == str(tmp_path / "backups")
    assert (tmp_path / "backups").is_dir()
    nested = open_location("a/b/c")
    assert os.path.isdir(nested.url)


def test_local_round_trip(tmp_path):
    location = open_location(str(tmp_path / "store"))
    location.put_bytes("backups/b1/b1-manifest.json", b"{}")
    with location.open_write("backups/b1/b1.tar.gz") as stream:
        for piece in chunks(3 * MIB):
            stream.write(piece)
        assert stream.tell() == 3 * MIB
    assert location.get_bytes("backups/b1/b1-manifest.json") == b"{}"
    assert location.exists("backups/b1/b1.tar.gz") and location.size("backups/b1/b1.tar.gz") == 3 * MIB
    assert not location.exists("backups/b1/missing")
    with location.open_read("backups/b1/b1.tar.gz") as stream:
        assert stream.read(10) == next(chunks(10))
        rest = 10
        while True:
            piece = stream.read(MIB)
            if not piece:
                break
            rest += len(piece)
    assert rest == 3 * MIB
    assert (tmp_path / "store" / "backups" / "b1" / "b1.tar.gz").is_file()
    location.put_bytes("backups/b1/b1-manifest.json", b'{"v": 2}')  # overwrite in place
    assert location.get_bytes("backups/b1/b1-manifest.json") == b'{"v": 2}'


def test_local_abort_leaves_nothing(tmp_path):
    location = open_location(str(tmp_path))
    location.put_bytes("backups/b1/b1.tar.gz", b"old")
    with pytest.raises(Boom):
        with location.open_write("backups/b1/b1.tar.gz") as stream:
            stream.write(b"new partial data")
            raise Boom()
    assert location.get_bytes("backups/b1/b1.tar.gz") == b"old"
    with pytest.raises(Boom):
        with location.open_write("backups/b2/b2.tar.gz") as stream:
            stream.write(b"x" * 100)
            raise Boom()
    assert sorted(os.listdir(tmp_path / "backups" / "b1")) == ["b1.tar.gz"]
    assert not location.exists("backups/b2/b2.tar.gz")
    assert list(location.list("backups")) == [("backups/b1/b1.tar.gz", 3)]


def test_local_temp_files_are_not_listed(tmp_path):
    location = open_location(str(tmp_path))
    with location.open_write("backups/b1/b1.tar.gz") as stream:
        stream.write(b"data")
        assert list(location.list()) == []
        assert len(os.listdir(tmp_path / "backups" / "b1")) == 1
    assert list(location.list()) == [("backups/b1/b1.tar.gz", 4)]


def test_local_unfinished_writes_are_listed_apart_and_deleted(tmp_path):
    location = open_location(str(tmp_path))
    with location.open_write("backups/b1/b1.tar.gz") as stream:
        stream.write(b"data")
        stream.flush()
        [partial] = list(location.list_partial("backups"))
        assert partial["key"].startswith("backups/b1/.kubesafe-tmp-b1.tar.gz.") and partial["target"] == "backups/b1/b1.tar.gz"
        assert partial["size"] == 4 and partial["kind"] == locations.PARTIAL_FILE and partial["last_written"].tzinfo
    assert list(location.list_partial()) == []
    # What a killed process leaves (an older release named no target); deleting it removes the emptied directories.
    (tmp_path / "restores" / "r1").mkdir(parents=True)
    (tmp_path / "restores" / "r1" / ".kubesafe-tmp-abcd1234").write_bytes(b"xy")
    [partial] = list(location.list_partial())
    assert partial["key"] == "restores/r1/.kubesafe-tmp-abcd1234" and partial["target"] is None and partial["size"] == 2
    location.delete_partial(partial)
    assert not (tmp_path / "restores").exists()
    location.delete_partial(partial)  # already gone: fine
    with pytest.raises(LocationError, match="refusing to delete"):
        location.delete_partial({"key": "backups/b1/b1.tar.gz"})
    assert location.exists("backups/b1/b1.tar.gz")


def test_local_list_list_dirs_delete(tmp_path):
    location = open_location(str(tmp_path))
    for key, data in [("backups/b1/b1.tar.gz", b"12345"), ("backups/b1/velero-backup.json", b"{}"),
                      ("backups/b10/b10.tar.gz", b"1"), ("backups/b2/b2.tar.gz", b"22"), ("restores/r1/log.gz", b"r")]:
        location.put_bytes(key, data)
    assert list(location.list("backups/b1")) == [("backups/b1/b1.tar.gz", 5), ("backups/b1/velero-backup.json", 2)]
    assert list(location.list("backups/b1/")) == list(location.list("backups/b1"))
    assert len(list(location.list())) == 5
    assert list(location.list("nothing/here")) == []
    assert list(location.list("backups/b1/b1.tar.gz")) == []  # a prefix is a directory, as in S3
    assert list(location.list_dirs("backups/b1/b1.tar.gz")) == []
    assert list(location.list_dirs("backups")) == ["b1", "b10", "b2"]
    assert list(location.list_dirs()) == ["backups", "restores"]
    assert list(location.list_dirs("missing")) == []

    location.delete_prefix("backups/b1")
    assert list(location.list_dirs("backups")) == ["b10", "b2"]
    location.delete_prefix("backups/b1")  # already gone: fine
    location.delete("backups/b2/b2.tar.gz")
    location.delete("backups/b2/b2.tar.gz")  # missing: fine
    assert list(location.list_dirs("backups")) == ["b10"]  # empty directories go too, as in S3
    with pytest.raises(LocationError):
        location.delete_prefix("")
    assert os.path.isdir(str(tmp_path))


def test_local_missing_key(tmp_path):
    location = open_location(str(tmp_path))
    with pytest.raises(ObjectNotFound):
        location.get_bytes("backups/none/x.json")
    with pytest.raises(ObjectNotFound):
        location.size("backups/none/x.json")


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "backups/../../x", "", "backups/"])
def test_local_refuses_keys_outside(tmp_path, key):
    location = open_location(str(tmp_path / "store"))
    with pytest.raises(LocationError):
        location.put_bytes(key, b"x")
    assert os.listdir(tmp_path) == ["store"]


def test_local_location_is_a_file(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(LocationError) as error:
        open_location(str(tmp_path / "file"))
    assert "not a directory" in str(error.value)


def test_local_write_errors_name_the_fix(tmp_path, monkeypatch):
    location = open_location(str(tmp_path))

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(locations.tempfile, "mkstemp", refuse)
    with pytest.raises(LocationError) as error:
        location.put_bytes("backups/b1/b1.tar.gz", b"x")
    assert "not writable" in str(error.value) and "backups/b1/b1.tar.gz" in str(error.value)
    monkeypatch.undo()

    class FullDisk:
        def __init__(self, real):
            self.real = real

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.real, name)
    real_fdopen = os.fdopen
    monkeypatch.setattr(locations.os, "fdopen", lambda *args: FullDisk(real_fdopen(*args)))
    with pytest.raises(LocationError) as error:
        location.put_bytes("backups/b1/b1.tar.gz", b"x")
    assert "disk is full" in str(error.value)
    monkeypatch.undo()
    assert list(location.list()) == [] and os.listdir(str(tmp_path / "backups" / "b1")) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_local_unwritable_directory(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    location = open_location(str(store))
    store.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(LocationError) as error:
            location.put_bytes("backups/b1/b1.tar.gz", b"x")
        assert "not writable" in str(error.value) and str(store) in str(error.value)
        with pytest.raises(LocationError):
            location.check(write=True)
        location.check()
        with pytest.raises(LocationError) as error:
            open_location(str(store / "sub"))
        assert "cannot create" in str(error.value)
    finally:
        store.chmod(stat.S_IRWXU)


# ---------------------------------------------------------------- S3

def s3_config(endpoint, **options):
    config = {"endpoint_url": endpoint}
    config.update(options)
    return config


def record_calls(location, operation):
    """Parameters of every call of ``operation`` (e.g. 'UploadPart') the location's client makes."""
    calls = []
    location.client.meta.events.register("provide-client-params.s3.%s" % operation, lambda params, **kwargs: calls.append(dict(params)))
    return calls


def test_s3_round_trip(s3_endpoint, s3_bucket):
    s3, bucket = s3_bucket
    location = open_location("s3://%s/velero" % bucket, s3_config(s3_endpoint))
    assert location.url == "s3://%s/velero" % bucket
    puts = record_calls(location, "PutObject")
    multipart = record_calls(location, "CreateMultipartUpload")
    location.put_bytes("backups/b1/velero-backup.json", b'{"kind": "Backup"}')
    assert len(puts) == 1 and not multipart  # a small object is one PUT
    assert s3.get_object(Bucket=bucket, Key="velero/backups/b1/velero-backup.json")["Body"].read() == b'{"kind": "Backup"}'
    assert location.get_bytes("backups/b1/velero-backup.json") == b'{"kind": "Backup"}'
    assert location.exists("backups/b1/velero-backup.json")
    assert not location.exists("backups/b1/missing.json")
    assert location.size("backups/b1/velero-backup.json") == 18
    with pytest.raises(ObjectNotFound):
        location.get_bytes("backups/b1/missing.json")
    with pytest.raises(ObjectNotFound):
        location.size("backups/b1/missing.json")
    location.check(write=True)


def test_s3_multipart_upload_streams_part_by_part(s3_endpoint, s3_bucket):
    s3, bucket = s3_bucket
    location = open_location("s3://%s" % bucket, s3_config(s3_endpoint, part_size_mb=5))
    uploads = record_calls(location, "UploadPart")
    puts = record_calls(location, "PutObject")
    with location.open_write("backups/big/big.tar.gz") as stream:
        for piece in chunks(12 * MIB, size=MIB // 2 + 3):
            stream.write(piece)
            assert len(stream._buffer) < 5 * MIB  # pylint: disable=protected-access
        assert len(uploads) == 2  # two full parts left while writing
    assert [len(call["Body"]) for call in uploads] == [5 * MIB, 5 * MIB, 2 * MIB]
    assert not puts
    head = s3.head_object(Bucket=bucket, Key="backups/big/big.tar.gz")
    assert head["ContentLength"] == 12 * MIB
    assert head["ETag"].strip('"').endswith("-3")
    assert location.size("backups/big/big.tar.gz") == 12 * MIB
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")

    expected = b"".join(chunks(12 * MIB, size=MIB // 2 + 3))
    with location.open_read("backups/big/big.tar.gz") as stream:
        received = bytearray()
        while True:
            piece = stream.read(700 * 1024)
            if not piece:
                break
            assert len(piece) <= 700 * 1024
            received += piece
    assert received == expected


def test_s3_part_size_grows_for_huge_uploads(monkeypatch):
    monkeypatch.setattr(location_s3, "PART_GROWTH_INTERVAL", 2)

    class FakeLocation:
        part_size = 5 * MIB
    writer = location_s3._MultipartWriter.__new__(location_s3._MultipartWriter)  # pylint: disable=protected-access
    writer._location = FakeLocation()  # pylint: disable=protected-access
    sizes = []
    for count in range(7):
        writer._parts = [None] * count  # pylint: disable=protected-access
        sizes.append(writer._next_part_size() // MIB)  # pylint: disable=protected-access
    assert sizes == [5, 5, 10, 10, 20, 20, 40]


def test_s3_exact_part_size_and_empty_object(s3_endpoint, s3_bucket):
    s3, bucket = s3_bucket
    location = open_location("s3://%s" % bucket, s3_config(s3_endpoint, part_size_mb=5))
    uploads = record_calls(location, "UploadPart")
    with location.open_write("exact") as stream:
        stream.write(b"a" * (5 * MIB))
    assert len(uploads) == 1
    assert s3.head_object(Bucket=bucket, Key="exact")["ContentLength"] == 5 * MIB
    with location.open_write("empty"):
        pass
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_s3_sse_s3_and_storage_class(s3_endpoint, s3_bucket):
    s3, bucket = s3_bucket
    location = open_location("s3://%s/p" % bucket, s3_config(s3_endpoint, sse="AES256", storage_class="STANDARD_IA", part_size_mb=5))
    location.put_bytes("small", b"x")
    with location.open_write("large") as stream:
        for piece in chunks(6 * MIB):
            stream.write(piece)
    for key in ("p/small", "p/large"):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256", key
        assert head["StorageClass"] == "STANDARD_IA", key


@MOTO_ONLY
def test_s3_sse_kms(s3_endpoint, s3_bucket):
    import boto3
    s3, bucket = s3_bucket
    kms = boto3.client("kms", endpoint_url=s3_endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    key_id = kms.create_key(Description="kubesafe test")["KeyMetadata"]["KeyId"]
    location = open_location("s3://%s" % bucket, s3_config(s3_endpoint, sse="aws:kms", kms_key_id=key_id, part_size_mb=5))
    location.put_bytes("small", b"secret")
    with location.open_write("large") as stream:
        for piece in chunks(6 * MIB):
            stream.write(piece)
    for key in ("small", "large"):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert key_id in head["SSEKMSKeyId"], key
    assert location.get_bytes("small") == b"secret"


@pytest.mark.parametrize("size", [100, 11 * MIB])
def test_s3_exception_mid_write_aborts(s3_endpoint, s3_bucket, size):
    s3, bucket = s3_bucket
    location = open_location("s3://%s" % bucket, s3_config(s3_endpoint, part_size_mb=5))
    aborts = record_calls(location, "AbortMultipartUpload")
    with pytest.raises(Boom):
        with location.open_write("backups/b1/b1.tar.gz") as stream:
            for piece in chunks(size):
                stream.write(piece)
            raise Boom()
    assert len(aborts) == (1 if size > 5 * MIB else 0)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not location.exists("backups/b1/b1.tar.gz")


def test_s3_failed_completion_aborts(s3_endpoint, s3_bucket, monkeypatch):
    s3, bucket = s3_bucket
    location = open_location("s3://%s" % bucket, s3_config(s3_endpoint, part_size_mb=5))

    def refuse(**kwargs):
        raise location_s3.botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CompleteMultipartUpload")
    monkeypatch.setattr(location.client, "complete_multipart_upload", refuse)
    with pytest.raises(LocationError) as error:
        with location.open_write("backups/b1/b1.tar.gz") as stream:
            for piece in chunks(6 * MIB):
                stream.write(piece)
    assert "access denied" in str(error.value) and "s3://%s/backups/b1/b1.tar.gz" % bucket in str(error.value)
    assert "s3:PutObject" in str(error.value)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_s3_prefix_handling(s3_endpoint, s3_bucket):
    s3, bucket = s3_bucket
    s3.put_object(Bucket=bucket, Key="outside.txt", Body=b"o")
    s3.put_object(Bucket=bucket, Key="team/veleroX/backups/x/x.tar.gz", Body=b"o")
    location = open_location("s3://%s//team/velero/" % bucket, s3_config(s3_endpoint))
    assert location.url == "s3://%s/team/velero" % bucket
    for key, data in [("backups/b1/b1.tar.gz", b"12345"), ("backups/b1/velero-backup.json", b"{}"),
                      ("backups/b10/b10.tar.gz", b"1"), ("backups/b2/b2.tar.gz", b"22"), ("restores/r1/log.gz", b"r")]:
        location.put_bytes(key, data)
    raw_keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert "team/velero/backups/b1/b1.tar.gz" in raw_keys and "outside.txt" in raw_keys
    assert list(location.list("backups/b1")) == [("backups/b1/b1.tar.gz", 5), ("backups/b1/velero-backup.json", 2)]
    assert len(list(location.list())) == 5
    assert list(location.list_dirs("backups/")) == ["b1", "b10", "b2"]
    assert list(location.list_dirs()) == ["backups", "restores"]
    location.delete_prefix("backups/b1")
    assert list(location.list_dirs("backups")) == ["b10", "b2"]
    location.delete("backups/b2/b2.tar.gz")
    location.delete("backups/b2/b2.tar.gz")
    assert list(location.list_dirs("backups")) == ["b10"]
    with pytest.raises(LocationError):
        location.delete_prefix("/")
    remaining = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert remaining == ["outside.txt", "team/velero/backups/b10/b10.tar.gz", "team/velero/restores/r1/log.gz",
                         "team/veleroX/backups/x/x.tar.gz"]


def test_s3_delete_prefix_in_batches(s3_endpoint, s3_bucket, monkeypatch):
    s3, bucket = s3_bucket
    monkeypatch.setattr(location_s3, "DELETE_BATCH", 3)
    location = open_location("s3://%s" % bucket, s3_config(s3_endpoint))
    batches = record_calls(location, "DeleteObjects")
    for number in range(7):
        location.put_bytes("backups/b1/file-%d" % number, b"x")
    location.put_bytes("backups/b2/keep", b"x")
    location.delete_prefix("backups/b1")
    assert [len(call["Delete"]["Objects"]) for call in batches] == [3, 3, 1]
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["backups/b2/keep"]


@MOTO_ONLY
def test_s3_force_path_style(s3_endpoint, s3_bucket):
    _s3, bucket = s3_bucket
    endpoint = s3_endpoint.replace("127.0.0.1", "localhost")
    location = open_location("s3://%s/p" % bucket, s3_config(endpoint, force_path_style=True))
    urls = []
    location.client.meta.events.register("before-send.s3", lambda request, **kwargs: urls.append(request.url))
    location.put_bytes("k", b"v")
    assert location.get_bytes("k") == b"v"
    assert urls and all(url.startswith("%s/%s/" % (endpoint, bucket)) for url in urls), urls


def test_s3_client_settings(s3_endpoint, s3_credentials, tmp_path):
    ca_bundle = str(tmp_path / "ca.pem")
    location = open_location("s3://bucket", s3_config(s3_endpoint, region="eu-west-1", ca_bundle=ca_bundle, force_path_style=True))
    config = location.client.meta.config
    # botocore counts max_attempts as retries: 10 retries after the first attempt.
    assert config.retries == {"mode": "standard", "total_max_attempts": 11}
    assert config.s3 == {"addressing_style": "path"}
    assert config.signature_version == "s3v4"
    assert location.client.meta.region_name == "eu-west-1"
    assert location.client._endpoint.http_session._verify == ca_bundle  # pylint: disable=protected-access
    insecure = open_location("s3://bucket", s3_config(s3_endpoint, ca_bundle=ca_bundle, validate_certs=False))
    assert insecure.client._endpoint.http_session._verify is False  # pylint: disable=protected-access


def test_s3_no_such_bucket(s3_endpoint, s3_credentials):
    missing = "kubesafe-missing-bucket-%s" % uuid.uuid4().hex[:12]
    location = open_location("s3://%s/prefix" % missing, s3_config(s3_endpoint))
    with pytest.raises(LocationError) as error:
        location.put_bytes("backups/b1/velero-backup.json", b"{}")
    assert missing in str(error.value) and "NoSuchBucket" in str(error.value)
    with pytest.raises(LocationError) as error:
        list(location.list_dirs("backups"))
    assert missing in str(error.value)
    with pytest.raises(LocationError) as error:
        location.check()
    assert missing in str(error.value) and "does not exist" in str(error.value)


def test_s3_missing_credentials(s3_endpoint, no_aws_environment):
    with pytest.raises(LocationError) as error:
        open_location("s3://bucket/prefix", s3_config(s3_endpoint))
    message = str(error.value)
    for word in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "access_key", "backup_location_config"):
        assert word in message


def test_s3_unknown_profile(s3_endpoint, no_aws_environment):
    with pytest.raises(LocationError) as error:
        open_location("s3://bucket/prefix", s3_config(s3_endpoint, profile="nope"))
    assert "nope" in str(error.value) and "profile" in str(error.value)


def test_s3_bad_endpoint_url(s3_credentials):
    with pytest.raises(ConfigurationError) as error:
        open_location("s3://bucket", {"endpoint_url": "not a url"})
    assert "endpoint_url" in str(error.value)


def test_s3_wrong_secret_key(s3_endpoint, s3_bucket, monkeypatch):
    """moto accepts any secret unless told to check signatures; only map the error here."""
    error = location_s3.s3_error(
        location_s3.botocore.exceptions.ClientError({"Error": {"Code": "SignatureDoesNotMatch", "Message": "x"}}, "PutObject"),
        "write", "b", "k", {})
    assert "secret_key" in str(error) and "AWS_SECRET_ACCESS_KEY" in str(error)


def test_s3_read_stream_maps_errors():
    class BrokenBody:
        def read(self, size):
            raise location_s3.botocore.exceptions.ReadTimeoutError(endpoint_url="http://s3")

        def close(self):
            pass

    class FakeLocation:
        bucket = "b"

        def _error(self, exc, action, key):
            return location_s3.s3_error(exc, action, "b", key, {})
    stream = io.BufferedReader(location_s3._ReadStream(BrokenBody(), FakeLocation(), "k"))  # pylint: disable=protected-access
    with pytest.raises(LocationError) as error:
        stream.read(10)
    assert "s3://b/k" in str(error.value)


def test_s3_without_boto3(monkeypatch):
    monkeypatch.setattr(location_s3, "HAS_BOTO3", False)
    monkeypatch.setattr(location_s3, "BOTO3_IMPORT_ERROR", ImportError("No module named 'boto3'"))
    with pytest.raises(LocationError) as error:
        open_location("s3://bucket/prefix")
    assert "boto3" in str(error.value)

"""The one way the S3 location and EBS snapshots make boto3 clients: settings' credentials and endpoint, standard retries."""

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs import ebs_client
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

pytest.importorskip("boto3")

CREDENTIALS = {"access_key": "AKIAEXAMPLE", "secret_key": "example-secret"}
# botocore counts max_attempts as retries: 10 retries after the first attempt.
STANDARD_RETRIES = {"mode": "standard", "total_max_attempts": 11}


@pytest.fixture
def aws_files_absent(monkeypatch):
    """No AWS config files and no instance metadata: only what the test gives counts."""
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_s3_and_ec2_clients_use_the_standard_retry_mode(aws_files_absent):
    # No network: clients are made, not called.
    s3 = open_location("s3://bucket/prefix", dict(CREDENTIALS, endpoint_url="http://127.0.0.1:9", region="eu-west-1")).client
    ec2 = ebs_client(dict(CREDENTIALS, endpoint_url="http://127.0.0.1:9", region="eu-west-1"), {}).client()
    for client in (s3, ec2):
        assert client.meta.config.retries == STANDARD_RETRIES
        assert client.meta.region_name == "eu-west-1"
        assert client.meta.endpoint_url == "http://127.0.0.1:9"
        credentials = client._request_signer._credentials  # pylint: disable=protected-access
        assert (credentials.access_key, credentials.secret_key) == ("AKIAEXAMPLE", "example-secret")


def test_both_name_their_option_for_an_unusable_endpoint(aws_files_absent):
    with pytest.raises(ConfigurationError) as error:
        open_location("s3://bucket", dict(CREDENTIALS, endpoint_url="not a url"))
    assert "location_config.endpoint_url 'not a url' is not usable" in str(error.value)
    with pytest.raises(ConfigurationError) as error:
        ebs_client(dict(CREDENTIALS, endpoint_url="http://exa mple.com", region="us-east-1"), {}).client()
    assert "ebs_config.endpoint_url 'http://exa mple.com' is not usable" in str(error.value)

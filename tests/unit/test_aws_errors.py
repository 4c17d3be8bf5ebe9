"""The one AWS error classifier of the S3 location and EBS snapshots: kinds, IAM actions, options to fix, no secrets."""

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.aws import errors as aws_errors
from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.errors import explain
from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes.ebs import EC2_ERRORS, EbsError, EbsSnapshots, ebs_settings
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, LocationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.base import ObjectNotFound
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.s3 import S3_ERRORS, s3_error

botocore = pytest.importorskip("botocore")
import botocore.awsrequest  # noqa: E402  pylint: disable=wrong-import-position
import botocore.exceptions  # noqa: E402  pylint: disable=wrong-import-position

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
SETTINGS = {"access_key": "AKIAEXAMPLE", "secret_key": SECRET_KEY, "session_token": SESSION_TOKEN, "profile": None,
            "endpoint_url": "http://127.0.0.1:9"}
# What the service rules name besides the common fields (the S3 location and EBS give them).
FIELDS = {"bucket": "missing", "target": "s3://missing/backups/", "storage_class": None, "resource_id": "vol-1"}


def client_error(code, message="", operation="Operation"):
    """The exception botocore raises for an error answer of AWS."""
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, operation)


# (id, service, AWS's exception, action, IAM permissions of the call, kind, what the message says)
CASES = [
    ("S3 AccessDenied names the action and the object", S3_ERRORS, client_error("AccessDenied", "Access Denied"),
     "write s3://b/backups/b1/b1.tar.gz", ("s3:PutObject",), aws_errors.DENIED,
     ["access denied (AccessDenied) to write s3://b/backups/b1/b1.tar.gz", "grant s3:PutObject to the credentials"]),
    ("EC2 UnauthorizedOperation names the action AWS says is missing", EC2_ERRORS,
     client_error("UnauthorizedOperation", "User: arn:aws:iam::1:user/u is not authorized to perform: ec2:CreateSnapshot on resource"),
     "create a snapshot of EBS volume vol-1 in us-east-1", ("ec2:CreateSnapshot", "ec2:CreateTags"), aws_errors.DENIED,
     ["access denied (UnauthorizedOperation) to create a snapshot of EBS volume vol-1",
      "grant ec2:CreateSnapshot (the call also needs ec2:CreateTags)"]),
    ("EC2 AccessDenied without the action names every permission of the call", EC2_ERRORS, client_error("AccessDenied"),
     "copy EBS snapshot snap-1 from us-east-1 to us-west-2", ("ec2:CopySnapshot", "ec2:CreateTags", "kms:Decrypt on the KMS keys"),
     aws_errors.DENIED, ["grant ec2:CopySnapshot, ec2:CreateTags and kms:Decrypt on the KMS keys"]),
    ("NoSuchBucket names the bucket and the options", S3_ERRORS, client_error("NoSuchBucket", "The specified bucket does not exist"),
     "list s3://missing/backups/", ("s3:ListBucket",), aws_errors.SETTINGS,
     ["S3 bucket 'missing' does not exist (NoSuchBucket)", "location_config.endpoint_url"]),
    ("S3 SlowDown is throttling", S3_ERRORS, client_error("SlowDown", "Please reduce your request rate."),
     "write s3://b/k", ("s3:PutObject",), aws_errors.THROTTLED, ["S3 throttled the requests to write s3://b/k (SlowDown) even after retries"]),
    ("EC2 RequestLimitExceeded is throttling", EC2_ERRORS, client_error("RequestLimitExceeded", "Request limit exceeded."),
     "read EBS volume vol-1 in us-east-1", ("ec2:DescribeVolumes",), aws_errors.THROTTLED,
     ["EC2 throttled the requests to read EBS volume vol-1 in us-east-1 (RequestLimitExceeded)", "snapshot fewer volumes at a time"]),
    ("S3 endpoint unreachable", S3_ERRORS, botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
     "read s3://b/k", ("s3:GetObject",), aws_errors.CONNECTION,
     ["cannot connect to http://127.0.0.1:9 to read s3://b/k", "location_config.endpoint_url (AWS_URL)"]),
    ("EC2 endpoint timing out", EC2_ERRORS, botocore.exceptions.ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
     "read EBS volume vol-1 in us-east-1", ("ec2:DescribeVolumes",), aws_errors.CONNECTION,
     ["cannot connect to http://127.0.0.1:9 to read EBS volume vol-1", "ebs_config.endpoint_url (EC2_URL)"]),
    ("S3 expired token", S3_ERRORS, client_error("ExpiredToken", "The provided token has expired."),
     "read s3://b/k", ("s3:GetObject",), aws_errors.CREDENTIALS,
     ["expired or the session token is invalid (ExpiredToken) to read s3://b/k", "renew location_config.session_token / AWS_SESSION_TOKEN"]),
    ("EC2 expired credentials", EC2_ERRORS, client_error("RequestExpired", "Request has expired."),
     "delete EBS snapshot snap-1 in us-east-1", ("ec2:DeleteSnapshot",), aws_errors.CREDENTIALS,
     ["(RequestExpired) to delete EBS snapshot snap-1", "renew ebs_config.session_token", "check the clock of this host"]),
    ("no credentials at all", EC2_ERRORS, botocore.exceptions.NoCredentialsError(), "find credentials for the EBS snapshots", (),
     aws_errors.SETTINGS, ["no AWS credentials found to find credentials for the EBS snapshots", "ebs_config.access_key",
                           "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "backup_ebs_config"]),
    ("unknown codes still say what failed", S3_ERRORS, client_error("Teapot", "short and stout"), "check s3://b", ("s3:ListBucket",),
     aws_errors.OTHER, ["cannot check s3://b: Teapot: short and stout"]),
    ("a message echoing a secret", EC2_ERRORS, client_error("AuthFailure", "signed with %s / %s" % (SECRET_KEY, SESSION_TOKEN)),
     "read EBS volume vol-1 in us-east-1", ("ec2:DescribeVolumes",), aws_errors.CREDENTIALS,
     ["EC2 did not accept the AWS credentials to read EBS volume vol-1 in us-east-1 (AuthFailure)", "ebs_config.access_key"]),
]


@pytest.mark.parametrize("service, exc, action, permissions, kind, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_classifier(service, exc, action, permissions, kind, expected):
    problem = explain(exc, service, action, SETTINGS, permissions, region="us-east-1", **FIELDS)
    assert problem.kind == kind
    for text in expected:
        assert text in problem.message
    assert SECRET_KEY not in problem.message and SESSION_TOKEN not in problem.message


def test_denied_message_of_real_aws():
    """AWS's UnauthorizedOperation carries an encoded message instead of the action: name the permissions we need."""
    message = explain(client_error("UnauthorizedOperation",
                                   "You are not authorized to perform this operation. Encoded authorization failure message: abc"),
                      EC2_ERRORS, "delete EBS snapshot snap-1 in us-east-1", {}, ("ec2:DeleteSnapshot",)).message
    assert "grant ec2:DeleteSnapshot to the credentials" in message
    assert "decode-authorization-message" in message and message.endswith("abc")


def test_each_service_raises_its_own_errors():
    """S3: ObjectNotFound for a missing key, LocationError otherwise; EBS: EbsError, ConfigurationError for settings to fix."""
    assert isinstance(s3_error(client_error("NoSuchKey"), "read", "b", "k", {}), ObjectNotFound)
    missing_bucket = s3_error(client_error("NoSuchBucket"), "read", "b", "k", {})
    assert isinstance(missing_bucket, LocationError) and not isinstance(missing_bucket, ObjectNotFound)
    engine = EbsSnapshots(ebs_settings({"region": "us-east-1"}, {}))
    # pylint: disable=protected-access
    throttled = engine._error(client_error("RequestLimitExceeded"), "read EBS volume vol-1 in us-east-1", "us-east-1")
    assert isinstance(throttled, EbsError) and (throttled.code, throttled.resource_id) == ("RequestLimitExceeded", "vol-1")
    assert isinstance(engine._error(botocore.exceptions.NoRegionError(), "read EBS volume vol-1", None), ConfigurationError)


def test_sse_kms_denial_names_the_kms_permissions():
    error = s3_error(client_error("AccessDenied"), "write", "b", "k", {"sse": "aws:kms"})
    assert "grant s3:PutObject and kms:GenerateDataKey and kms:Decrypt on the KMS key" in str(error)


class _ThrottledSend:
    """EC2's answer to a client over its limit, on every attempt (moto does not throttle)."""

    body = (b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
            b'<Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>')

    def __init__(self):
        self.attempts = 0

    def __call__(self, request, **_kwargs):
        self.attempts += 1
        return botocore.awsrequest.AWSResponse(request.url, 503, {}, _Raw(self.body))


class _Raw:
    def __init__(self, body):
        self._body = body

    def stream(self, **_kwargs):
        yield self._body


def test_throttling_is_retried_then_explained():
    engine = EbsSnapshots(ebs_settings({"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9", "access_key": "AKIAEXAMPLE",
                                        "secret_key": SECRET_KEY}, {}))
    engine.retry_attempts = 1
    throttled = _ThrottledSend()
    engine.client().meta.events.register("before-send.ec2.DescribeVolumes", throttled)
    with pytest.raises(EbsError) as error:
        engine.describe_volume("vol-0123456789abcdef0")
    assert throttled.attempts == 2  # the first call and one retry of the standard mode
    assert "EC2 throttled the requests to read EBS volume vol-0123456789abcdef0 in us-east-1 (RequestLimitExceeded)" in str(error.value)
    assert error.value.code == "RequestLimitExceeded" and SECRET_KEY not in str(error.value)

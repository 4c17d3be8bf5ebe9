# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One explanation of AWS errors for the S3 location and EBS snapshots.

``explain(exc, service, action, settings, permissions)`` sorts a botocore
exception into an AwsProblem: its kind (what fixes it), AWS's error code, and
a message saying what was tried, which IAM action to grant or which option to
fix (``location_config.`` or ``ebs_config.``). Messages never hold the
secret key or session token of the settings. Each service puts its own rules
(a missing bucket, a missing snapshot, ...) in front of the common ones.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

# Kinds of problem, by what fixes them.
NOT_FOUND = "not_found"  # the object, volume or snapshot does not exist
SETTINGS = "settings"  # an option or the environment: credentials, profile, region, bucket, zone
DENIED = "denied"  # the credentials lack an IAM permission
CREDENTIALS = "credentials"  # the credentials are rejected or expired
KMS = "kms"  # the KMS key cannot be used
THROTTLED = "throttled"  # still throttled after the standard retry mode's attempts
CONNECTION = "connection"  # the endpoint cannot be reached, its certificate is not trusted, the connection broke
ACCOUNT = "account"  # the account's state: a region not enabled, a quota reached
INVALID_REQUEST = "invalid_request"
OTHER = "other"

AwsProblem = collections.namedtuple("AwsProblem", "kind code message")

# ``codes``: the AWS error codes the rule takes (for errors without an answer from AWS: botocore's
# exception classes), or a function of AWS's (code, message) saying whether it takes them.
Rule = collections.namedtuple("Rule", "codes kind template")

DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403", "AllAccessDisabled")
REJECTED_CODES = ("AuthFailure", "InvalidClientTokenId", "InvalidAccessKeyId", "UnrecognizedClientException")
EXPIRED_CODES = ("ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired", "InvalidToken")
THROTTLING_CODES = ("Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown", "TooManyRequestsException",
                    "RequestThrottled")
INVALID_REQUEST_CODES = ("InvalidParameterValue", "InvalidParameterCombination", "InvalidParameter", "MissingParameter",
                         "InvalidArgument", "InvalidRequest")
REDACTED = "********"
SECRET_SETTINGS = ("secret_key", "session_token")

# AWS names the missing permission in some refusals: "... is not authorized to perform: ec2:CreateSnapshot on ...".
_DENIED_ACTION = re.compile(r"perform:? ([a-z0-9-]+:[A-Za-z0-9*]+)")


def _uses_kms(code, message):
    return "kms" in code.lower() or "kms" in message.lower()


def _invalid_request(code, message):
    del message
    return code in INVALID_REQUEST_CODES or code.endswith(".Malformed")


COMMON_RULES = (
    Rule(DENIED_CODES, DENIED,
         "access denied ({code}) to {action}: grant {grant} to the credentials in use (IAM user or role), or use other "
         "credentials{decode_hint}"),
    Rule(REJECTED_CODES, CREDENTIALS,
         "{service} did not accept the AWS credentials to {action} ({code}): check {option}.access_key / AWS_ACCESS_KEY_ID "
         "and secret_key / AWS_SECRET_ACCESS_KEY (or the profile), and that {option}.endpoint_url belongs to them"),
    Rule(("SignatureDoesNotMatch",), CREDENTIALS,
         "{service} rejected the request signature to {action} (SignatureDoesNotMatch): check {option}.secret_key / "
         "AWS_SECRET_ACCESS_KEY"),
    Rule(EXPIRED_CODES, CREDENTIALS,
         "the AWS credentials expired or the session token is invalid ({code}) to {action}: renew {option}.session_token / "
         "AWS_SESSION_TOKEN (and check the clock of this host)"),
    Rule(_uses_kms, KMS,
         "the KMS key could not be used to {action} ({cause}): check {kms_options}, that the key is enabled, and grant "
         "{kms_permissions} on it"),
    Rule(_invalid_request, INVALID_REQUEST, "{service} refused the request to {action} ({cause})"),
    Rule(THROTTLING_CODES, THROTTLED,
         "{service} throttled the requests to {action} ({code}) even after retries: try again later{throttle_hint}"),
    # Errors without a response from AWS: their codes are botocore's exception classes.
    Rule(("NoCredentialsError",), SETTINGS, "no AWS credentials found to {action}: {credentials_help}"),
    Rule(("PartialCredentialsError",), SETTINGS, "incomplete AWS credentials ({cause}): {credentials_help}"),
    Rule(("ProfileNotFound",), SETTINGS,
         "AWS profile {profile!r} not found in ~/.aws/config or ~/.aws/credentials: check {option}.profile or AWS_PROFILE"),
    Rule(("NoRegionError",), SETTINGS, "no AWS region to {action}: set {option}.region (or AWS_REGION / AWS_DEFAULT_REGION)"),
    Rule(("SSLError",), CONNECTION,
         "TLS verification of {endpoint} failed ({cause}) to {action}: set {option}.ca_bundle (or AWS_CA_BUNDLE) to the CA "
         "certificate that signed the endpoint's, or validate_certs: false for a test endpoint"),
    Rule(("EndpointConnectionError", "ConnectTimeoutError"), CONNECTION,
         "cannot connect to {endpoint} to {action} ({cause}): check {option}.endpoint_url ({endpoint_variable}), the region "
         "and the network"),
    Rule(("ReadTimeoutError", "ConnectionClosedError"), CONNECTION,
         "the connection to {endpoint} failed while trying to {action} ({cause}); try again"),
    Rule(("ParamValidationError",), INVALID_REQUEST, "invalid {service} request to {action}: {cause}"),
)


class AwsService:
    """How the errors of one use of AWS are worded: the service, the option holding its settings, its own rules.

    ``role_option``: the role variable of that option, for the credentials help; ``kms_options`` and
    ``kms_permissions``: what to check and grant when a KMS key cannot be used; ``throttle_hint``: how to ask less.
    """

    def __init__(self, name, option, endpoint_variable, role_option, kms_options, kms_permissions, throttle_hint="", rules=()):
        self.name = name
        self.option = option
        self.endpoint_variable = endpoint_variable
        self.kms_options = kms_options
        self.kms_permissions = kms_permissions
        self.throttle_hint = throttle_hint
        self.rules = tuple(rules) + COMMON_RULES
        self.credentials_help = (
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), or "
            "{option}.access_key and {option}.secret_key ({role_option} in the roles), or a profile (AWS_PROFILE or "
            "{option}.profile), or run where an instance profile or IRSA web identity provides them"
        ).format(option=option, role_option=role_option)


def explain(exc, service, action, settings, permissions=(), region=None, **fields):
    """AwsProblem of a botocore exception raised while trying to ``action`` (what was tried, with its target).

    ``permissions``: the IAM actions the call needs, named when access is denied; ``fields``: what the
    service's rule templates use besides the common ones (bucket, resource_id, ...).
    """
    response = getattr(exc, "response", None)
    answered = isinstance(response, dict)  # a ClientError: AWS answered with a code
    if answered:
        error = response.get("Error") or {}
        code = str(error.get("Code") or (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or "")
        message = str(error.get("Message") or "")
        names, cause = (code,), "%s%s" % (code or "error", ": " + message if message else "")
    else:  # no answer: botocore's exception classes stand for the code
        code, message = type(exc).__name__, str(exc)
        names, cause = [cls.__name__ for cls in type(exc).__mro__], message
    fields.update(
        service=service.name, option=service.option, endpoint_variable=service.endpoint_variable,
        credentials_help=service.credentials_help, kms_options=service.kms_options, kms_permissions=service.kms_permissions,
        throttle_hint=service.throttle_hint, action=action, code=code, message=message, cause=cause, region=region,
        profile=settings.get("profile"), endpoint=_endpoint(service, settings, region),
        grant=_grant(permissions, message), decode_hint=_decode_hint(message))
    for rule in service.rules:
        if callable(rule.codes):
            matches = answered and rule.codes(code, message)
        else:
            matches = any(name in rule.codes for name in names)
        if matches:
            return AwsProblem(rule.kind, code, _redact(rule.template.format(**fields), settings))
    return AwsProblem(OTHER, code, _redact("cannot {action}: {cause}".format(**fields), settings))


def _endpoint(service, settings, region):
    if settings.get("endpoint_url"):
        return settings["endpoint_url"]
    return "the AWS %s endpoint%s" % (service.name, " of %s" % region if region else "")


def _grant(permissions, message):
    """The permissions to grant: the one AWS names as missing first, else all the call needs."""
    denied = _DENIED_ACTION.search(message)
    if denied:
        needed = denied.group(1)
        others = [permission for permission in permissions if permission != needed]
        return needed + (" (the call also needs %s)" % ", ".join(others) if others else "")
    if not permissions:
        return "the IAM permission of this call"
    return " and ".join(permissions) if len(permissions) < 3 else ", ".join(permissions[:-1]) + " and " + permissions[-1]


def _decode_hint(message):
    # Real AWS hides the refused action in an encoded message only STS can decode.
    if "encoded authorization failure message" not in message.lower():
        return ""
    return "; `aws sts decode-authorization-message --encoded-message ...` explains AWS's refusal: %s" % message


def _redact(text, settings):
    for name in SECRET_SETTINGS:
        secret = settings.get(name)
        if secret:
            text = text.replace(str(secret), REDACTED)
    return text

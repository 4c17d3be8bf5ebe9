# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""boto3 sessions and clients for the S3 location and EBS snapshots, from settings of aws/settings.py.

Credentials come from the settings' profile or keys, else from boto3's own
chain (instance profile, IRSA web identity, ...). Every client retries with
botocore's standard mode: throttling and transient errors are retried with
backoff before they reach aws/errors.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
    # What a boto3 call raises: AWS's error answers and botocore's own (no credentials, no connection, ...).
    BOTOCORE_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
except ImportError as exc:  # the modules report it with missing_required_lib("boto3")
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc
    BOTOCORE_ERRORS = ()

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError

# Retries after the first attempt (botocore counts max_attempts as retries in the standard mode).
RETRY_ATTEMPTS = 10


def aws_session(settings):
    """A boto3 Session with the settings' profile or keys and region; raises botocore's NoCredentialsError without credentials.

    Finding no credentials here, before the first call, lets the error say how to give them.
    """
    session_args = dict(region_name=settings.get("region"))
    if settings.get("profile"):
        session_args["profile_name"] = settings["profile"]
    elif settings.get("access_key"):
        session_args.update(aws_access_key_id=settings["access_key"], aws_secret_access_key=settings["secret_key"],
                            aws_session_token=settings.get("session_token"))
    session = boto3.session.Session(**session_args)
    if session.get_credentials() is None:
        raise botocore.exceptions.NoCredentialsError()
    return session


def client_config(max_attempts=RETRY_ATTEMPTS, **options):
    """botocore Config with the standard retry mode and ``options`` (signature_version, s3, ...)."""
    return botocore.config.Config(retries={"mode": "standard", "max_attempts": max_attempts}, **options)


def aws_client(session, service, settings, option, region=None, max_attempts=RETRY_ATTEMPTS, **config_options):
    """A boto3 client of ``service`` on the settings' endpoint_url, ca_bundle and validate_certs, with standard retries.

    ``option`` (location_config, ebs_config) names the settings in the ConfigurationError of an unusable endpoint_url;
    other botocore errors propagate.
    """
    endpoint_url = settings.get("endpoint_url") or None
    try:
        return session.client(service, region_name=region, endpoint_url=endpoint_url, verify=_verify(settings),
                              config=client_config(max_attempts, **config_options))
    except ValueError as exc:  # botocore's "Invalid endpoint"
        raise ConfigurationError("%s.endpoint_url %r is not usable: %s; give a URL such as https://%s.%s.amazonaws.com"
                                 % (option, endpoint_url, exc, service, region or session.region_name or "us-east-1"))


def _verify(settings):
    """boto3's verify: the CA bundle, or whether to check certificates at all."""
    validate_certs = settings.get("validate_certs", True)
    return settings["ca_bundle"] if validate_certs and settings.get("ca_bundle") else validate_certs

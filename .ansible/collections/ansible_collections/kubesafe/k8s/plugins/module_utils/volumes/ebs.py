# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS EBS snapshots of persistent volumes, through boto3: create, copy, restore to a volume, delete, find.

``ebs_settings(ebs_config)`` checks the ``ebs_config`` option and applies the AWS_*
environment fallbacks; ``EbsSnapshots(settings)`` does the EC2 calls, waiting for
the results with ``ebs_config.timeout``. botocore errors become messages naming
the cause and the fix (IAM action, option): aws/errors.py, with the EC2 rules of
EC2_ERRORS. The EBS volume of a PersistentVolume is read and rewritten in volumes/ebs_pv.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re
import threading
import time

from urllib.parse import urlparse

from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.client import (
    BOTO3_IMPORT_ERROR,
    BOTOCORE_ERRORS,
    HAS_BOTO3,
    aws_client,
    aws_session,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.errors import (
    ACCOUNT,
    NOT_FOUND,
    OTHER,
    SETTINGS,
    AwsService,
    Rule,
    explain,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.settings import (
    ENV_FALLBACKS,
    apply_environment,
    region_from_zone,
    take_options,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError

VOLUME_TYPES = ("gp2", "gp3", "io1", "io2", "st1", "sc1", "standard")
# CreateVolume rejects Iops / Throughput for the other types.
IOPS_VOLUME_TYPES = ("gp3", "io1", "io2")
THROUGHPUT_VOLUME_TYPES = ("gp3",)
DEFAULT_TIMEOUT = 600
MAX_TAGS = 50  # per EC2 resource
RESERVED_TAG_PREFIX = "aws:"  # AWS refuses tags under it, so they are never copied

# Suboptions of ebs_config. No env fallbacks here: ebs_settings applies them, so they also
# work when ebs_config is omitted and for callers that are not modules.
EBS_CONFIG_SPEC = dict(
    region=dict(type="str", aliases=["aws_region", "ec2_region"]),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url", "ec2_url"]),
    profile=dict(type="str", aliases=["aws_profile"]),
    access_key=dict(type="str", no_log=True, aliases=["aws_access_key_id", "aws_access_key", "ec2_access_key"]),
    secret_key=dict(type="str", no_log=True, aliases=["aws_secret_access_key", "aws_secret_key", "ec2_secret_key"]),
    session_token=dict(type="str", no_log=True, aliases=["aws_session_token", "security_token", "aws_security_token"]),
    validate_certs=dict(type="bool", default=True),
    ca_bundle=dict(type="path", aliases=["aws_ca_bundle"]),
    kms_key_id=dict(type="str"),
    copy_to_region=dict(type="str"),
    copy_kms_key_id=dict(type="str"),
    availability_zone=dict(type="str"),
    volume_type=dict(type="str", choices=list(VOLUME_TYPES)),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    tags=dict(type="dict"),
)

EBS_ARGUMENT_SPEC = dict(ebs_config=dict(type="dict", options=EBS_CONFIG_SPEC))

# The same variables as the S3 location (and amazon.aws), except the endpoint: AWS_URL often points at an
# S3-compatible store (MinIO) for the backup location, and EC2 calls must not go there; only EC2_URL counts.
# botocore itself still honours AWS_ENDPOINT_URL_EC2 when no endpoint is set here.
EBS_ENV_FALLBACKS = dict(ENV_FALLBACKS, endpoint_url=("EC2_URL",))

_REGION_HELP = "set ebs_config.region (or AWS_REGION / AWS_DEFAULT_REGION)"
_REGION_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_RESOURCE_ID = re.compile(r"\b((?:vol|snap)-[0-9a-zA-Z]+)")
# What the encrypted snapshot and volume operations need on the KMS key besides the EC2 action.
_KMS_PERMISSIONS = "kms:CreateGrant, kms:Decrypt, kms:DescribeKey, kms:GenerateDataKeyWithoutPlaintext and kms:ReEncrypt*"

_VOLUME_NOT_FOUND = ("EBS volume {resource_id} not found in region {region} ({code}): if the volume is in another region set "
                     "ebs_config.region (or AWS_REGION) to it, otherwise the PersistentVolume points at a deleted volume")
_SNAPSHOT_NOT_FOUND = ("EBS snapshot {resource_id} not found in region {region} ({code}): it was deleted, or it is in another "
                       "region (ebs_config.region, or copy_to_region for copies)")


def _region_not_enabled(code, message):
    return code == "OptInRequired" or (code == "UnsupportedOperation" and "region" in message.lower())


def _invalid_zone(code, message):
    return code in ("InvalidZone.NotFound", "InvalidAvailabilityZone") or (code == "InvalidParameterValue" and "zone" in message.lower())


EC2_ERRORS = AwsService(
    "EC2", "ebs_config", "EC2_URL", role_option="backup_ebs_config or restore_ebs_config",
    kms_options="ebs_config.kms_key_id / copy_kms_key_id (a key of the region used)", kms_permissions=_KMS_PERMISSIONS,
    throttle_hint=", or snapshot fewer volumes at a time",
    rules=(
        Rule(("InvalidVolume.NotFound", "InvalidVolumeID.NotFound"), NOT_FOUND, _VOLUME_NOT_FOUND),
        Rule(("InvalidSnapshot.NotFound", "InvalidSnapshotID.NotFound"), NOT_FOUND, _SNAPSHOT_NOT_FOUND),
        Rule(_region_not_enabled, ACCOUNT,
             "region {region} is not enabled for this account ({code}) to {action}: enable it or choose another region "
             "(ebs_config.region / copy_to_region)"),
        Rule(("SnapshotLimitExceeded", "VolumeLimitExceeded", "ResourceLimitExceeded", "MaxIOPSLimitExceeded", "TagLimitExceeded",
              "SnapshotCreationPerVolumeRateExceeded"), ACCOUNT,
             "an EC2 limit stops us to {action} ({cause}): delete old snapshots or volumes, or ask AWS for a higher quota"),
        Rule(("InvalidSnapshot.InUse",), OTHER, "cannot {action}: it is in use ({message}), usually by an AMI; deregister the image first"),
        Rule(_invalid_zone, SETTINGS,
             "cannot {action}: the availability zone is not valid in {region} ({cause}); set ebs_config.availability_zone "
             "to a zone of that region"),
    ))


class EbsError(KubesafeError):
    """An EC2 call failed; ``code`` is AWS's error code, ``resource_id`` the snapshot or volume concerned."""

    def __init__(self, message, code=None, resource_id=None):
        super(EbsError, self).__init__(message)
        self.code = code
        self.resource_id = resource_id


class EbsNotFound(EbsError):
    """The volume or snapshot does not exist in the region asked."""


class EbsTimeout(EbsError):
    """A snapshot or volume did not reach its final state within ebs_config.timeout; ``resource_id`` still exists."""


# ---------------------------------------------------------------------------------------------- settings


def ebs_settings(config, environ=None):
    """Checked ebs_config with the AWS_* environment fallbacks applied; raises ConfigurationError.

    ``environ`` defaults to os.environ. Alias keys (aws_access_key_id, ...) may be present next to
    their option, as AnsibleModule leaves them, as long as the values agree.
    """
    environ = os.environ if environ is None else environ
    if config is not None and not isinstance(config, dict):
        raise ConfigurationError("ebs_config must be a dictionary of options (region, endpoint_url, ...), got %r" % (type(config).__name__,))
    settings = take_options(config, EBS_CONFIG_SPEC, "ebs_config")
    apply_environment(settings, "ebs_config", EBS_ENV_FALLBACKS, environ)
    _check_settings(settings)
    return settings


def _check_settings(settings):
    if settings["validate_certs"] is None:
        settings["validate_certs"] = True
    elif not isinstance(settings["validate_certs"], bool):
        raise ConfigurationError("ebs_config.validate_certs must be true or false, got %r" % (settings["validate_certs"],))
    settings["timeout"] = _check_timeout(settings["timeout"])
    for name in ("region", "copy_to_region"):
        if settings[name] is not None and not _REGION_NAME.match(str(settings[name])):
            raise ConfigurationError("ebs_config.%s %r is not an AWS region name such as us-east-1" % (name, settings[name]))
    zone = settings["availability_zone"]
    if zone is not None and region_from_zone(zone) is None:
        raise ConfigurationError("ebs_config.availability_zone %r is not an availability zone name such as us-east-1a" % (zone,))
    if settings["volume_type"] is not None and settings["volume_type"] not in VOLUME_TYPES:
        raise ConfigurationError("ebs_config.volume_type must be one of %s, got %r" % (", ".join(VOLUME_TYPES), settings["volume_type"]))
    if settings["copy_kms_key_id"] and not settings["copy_to_region"]:
        raise ConfigurationError("ebs_config.copy_kms_key_id encrypts the copies made in copy_to_region: set copy_to_region too")
    endpoint = settings["endpoint_url"]
    if endpoint is not None:
        parsed = urlparse(str(endpoint))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigurationError("ebs_config.endpoint_url %r (or EC2_URL) is not a URL: give one such as "
                                     "https://ec2.us-east-1.amazonaws.com, or leave it unset for AWS" % (endpoint,))
    if settings["ca_bundle"] and not os.path.isfile(settings["ca_bundle"]):
        raise ConfigurationError("ebs_config.ca_bundle (or AWS_CA_BUNDLE) %s is not a file: give the path of a PEM CA certificate"
                                 % settings["ca_bundle"])
    settings["tags"] = clean_tags(settings["tags"], "ebs_config.tags")


def _check_timeout(value):
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool):
        value = None  # int(True) would pass
    try:
        timeout = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError("ebs_config.timeout must be a whole number of seconds, got %r" % (value,))
    if timeout < 1:
        raise ConfigurationError("ebs_config.timeout must be 1 second or more, got %d" % timeout)
    return timeout


def clean_tags(tags, what="tags"):
    """Tags as a dict of strings; refuses what EC2 would refuse, naming ``what``."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ConfigurationError("%s must be a dictionary of tag names and values, got %r" % (what, type(tags).__name__))
    cleaned = {}
    for key, value in tags.items():
        key = "" if key is None else str(key)
        if not key or len(key) > 128:
            raise ConfigurationError("%s: tag name %r must have 1 to 128 characters" % (what, key))
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            raise ConfigurationError("%s: tag name %r starts with %r, which AWS reserves: rename it" % (what, key, RESERVED_TAG_PREFIX))
        value = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        if len(value) > 256:
            raise ConfigurationError("%s: the value of tag %r is longer than 256 characters" % (what, key))
        cleaned[key] = value
    if len(cleaned) > MAX_TAGS:
        raise ConfigurationError("%s: %d tags, EC2 allows at most %d per snapshot or volume" % (what, len(cleaned), MAX_TAGS))
    return cleaned


def ebs_client(config, environ=None):
    """EbsSnapshots for an ebs_config dict (the modules' factory); ConfigurationError on bad settings, no network yet."""
    return EbsSnapshots(ebs_settings(config, environ))


# ---------------------------------------------------------------------------------------------- EC2


def _iso_time(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _tag_dict(tag_list):
    return dict((tag["Key"], tag.get("Value", "")) for tag in tag_list or [] if "Key" in tag)


def _tag_specification(resource_type, tags):
    return [{"ResourceType": resource_type, "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}]


def merge_tags(copied, *explicit):
    """Tags copied from another resource, overridden by the explicit ones; copied ones are dropped first past EC2's limit."""
    chosen = {}
    for tags in explicit:
        chosen.update(tags or {})
    copied = dict((key, value) for key, value in (copied or {}).items()
                  if not key.lower().startswith(RESERVED_TAG_PREFIX) and key not in chosen)
    for key in sorted(copied):
        if len(chosen) >= MAX_TAGS:
            break
        chosen[key] = copied[key]
    return chosen


def _volume_info(volume, region):
    return {
        "volume_id": volume["VolumeId"],
        "region": region,
        "availability_zone": volume.get("AvailabilityZone"),
        "volume_type": volume.get("VolumeType"),
        "iops": volume.get("Iops"),
        "throughput": volume.get("Throughput"),
        "size_gib": volume.get("Size"),
        "encrypted": bool(volume.get("Encrypted")),
        "kms_key_id": volume.get("KmsKeyId"),
        "snapshot_id": volume.get("SnapshotId") or None,
        "state": volume.get("State"),
        "tags": _tag_dict(volume.get("Tags")),
    }


def _snapshot_info(snapshot, region):
    return {
        "snapshot_id": snapshot["SnapshotId"],
        "region": region,
        "volume_id": snapshot.get("VolumeId"),
        "size_gib": snapshot.get("VolumeSize"),
        "state": snapshot.get("State"),
        "progress": snapshot.get("Progress"),
        "start_time": _iso_time(snapshot.get("StartTime")),
        "encrypted": bool(snapshot.get("Encrypted")),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "description": snapshot.get("Description"),
        "tags": _tag_dict(snapshot.get("Tags")),
    }


class EbsSnapshots:
    """EBS snapshot operations with the settings of ``ebs_settings``; one boto3 EC2 client per region, made on first use."""

    # Polling of pending snapshots and volumes: short first, then every MAX_POLL_INTERVAL seconds.
    poll_interval = 2.0
    max_poll_interval = 15.0
    # A resource just created may not be visible to Describe* for a moment (EC2 is eventually consistent).
    not_found_grace = 30.0
    retry_attempts = 10

    def __init__(self, settings):
        if not HAS_BOTO3:
            raise ConfigurationError("EBS snapshots need the boto3 Python library on the host running the module: %s" % BOTO3_IMPORT_ERROR)
        self.settings = settings
        self._session = None
        self._clients = {}
        self._lock = threading.Lock()

    # -- clients

    def region(self, region=None):
        """The region to use: the one given, ebs_config.region / AWS_REGION, or the profile's; ConfigurationError if none."""
        region = region or self.settings.get("region") or self._get_session().region_name
        if not region:
            raise ConfigurationError("no AWS region for the EBS snapshots: %s, or give the region of the volume" % _REGION_HELP)
        return region

    def _get_session(self):
        with self._lock:
            if self._session is None:
                self._session = self._create_session()
            return self._session

    def _create_session(self):
        try:
            return aws_session(self.settings)
        except BOTOCORE_ERRORS as exc:
            raise self._error(exc, "find credentials for the EBS snapshots", None)

    def client(self, region=None):
        """The boto3 EC2 client of ``region`` (default: self.region())."""
        region = self.region(region)
        session = self._get_session()
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._clients[region] = self._create_client(session, region)
            return client

    def _create_client(self, session, region):
        try:
            return aws_client(session, "ec2", self.settings, "ebs_config", region=region, max_attempts=self.retry_attempts)
        except BOTOCORE_ERRORS as exc:
            raise self._error(exc, "connect to EC2 in %s" % region, None)

    def _call(self, region, operation, action, permissions, **params):
        """client.<operation>(**params); errors explained with ``action`` (what we tried) and the IAM ``permissions`` it needs."""
        client = self.client(region)
        method = getattr(client, re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower())
        try:
            return method(**params)
        except BOTOCORE_ERRORS as exc:
            raise self._error(exc, action, region, permissions)

    # -- volumes and snapshots

    def describe_volume(self, volume_id, region=None):
        """{volume_id, region, availability_zone, volume_type, iops, throughput, size_gib, encrypted, kms_key_id, snapshot_id, state, tags}."""
        region = self.region(region)
        response = self._call(region, "DescribeVolumes", "read EBS volume %s in %s" % (volume_id, region),
                              ("ec2:DescribeVolumes",), VolumeIds=[volume_id])
        volumes = response.get("Volumes") or []
        if not volumes:
            raise self._volume_not_found(volume_id, region, "InvalidVolume.NotFound")
        return _volume_info(volumes[0], region)

    def describe_snapshot(self, snapshot_id, region=None):
        """{snapshot_id, region, volume_id, size_gib, state, progress, start_time, encrypted, kms_key_id, description, tags}."""
        region = self.region(region)
        response = self._call(region, "DescribeSnapshots", "read EBS snapshot %s in %s" % (snapshot_id, region),
                              ("ec2:DescribeSnapshots",), SnapshotIds=[snapshot_id])
        snapshots = response.get("Snapshots") or []
        if not snapshots:
            raise self._snapshot_not_found(snapshot_id, region, "InvalidSnapshot.NotFound")
        return _snapshot_info(snapshots[0], region)

    def create_snapshot(self, volume_id, description, tags, region=None, wait=True, copy_volume_tags=True):
        """Snapshot ``volume_id``, tagged with its own tags (as Velero does), ebs_config.tags and ``tags``; waits for completed.

        {snapshot_id, region, volume_id, availability_zone, volume_type, iops, throughput, size_gib, state, progress,
        start_time, encrypted, kms_key_id, description, tags}. EbsTimeout (resource_id: the snapshot) after ebs_config.timeout.
        """
        region = self.region(region)
        volume = self.describe_volume(volume_id, region)
        snapshot_tags = merge_tags(volume["tags"] if copy_volume_tags else {}, self.settings.get("tags"), clean_tags(tags))
        params = dict(VolumeId=volume_id, Description=description or "")
        permissions = ("ec2:CreateSnapshot",)
        if snapshot_tags:
            params["TagSpecifications"] = _tag_specification("snapshot", snapshot_tags)
            permissions += ("ec2:CreateTags",)
        response = self._call(region, "CreateSnapshot", "create a snapshot of EBS volume %s in %s" % (volume_id, region),
                              permissions, **params)
        snapshot_id = response["SnapshotId"]
        info = _snapshot_info(response, region)
        if wait:
            info = self.wait_for_snapshot(snapshot_id, region, "the snapshot of EBS volume %s" % volume_id)
        info.update(volume_id=volume_id, availability_zone=volume["availability_zone"], volume_type=volume["volume_type"],
                    iops=volume["iops"], throughput=volume["throughput"], size_gib=volume["size_gib"])
        if not info.get("tags"):
            info["tags"] = snapshot_tags
        return info

    def copy_snapshot(self, snapshot_id, source_region, destination_region, description=None, kms_key_id=None, tags=None, wait=True):
        """Copy a snapshot to another region (for DR), with its tags, encrypted with ``kms_key_id`` when given; waits for completed.

        ``kms_key_id`` defaults to ebs_config.copy_kms_key_id. {snapshot_id, region, source_snapshot_id, source_region,
        state, ...} as describe_snapshot.
        """
        source_region = self.region(source_region)
        kms_key_id = kms_key_id or self.settings.get("copy_kms_key_id")
        if not destination_region:
            raise ConfigurationError("no destination region to copy EBS snapshot %s to: set ebs_config.copy_to_region" % snapshot_id)
        source = self.describe_snapshot(snapshot_id, source_region)
        copy_tags = merge_tags(source["tags"], self.settings.get("tags"), clean_tags(tags))
        params = dict(SourceSnapshotId=snapshot_id, SourceRegion=source_region,
                      Description=description or source.get("description") or "Copy of %s from %s" % (snapshot_id, source_region))
        permissions = ("ec2:CopySnapshot",)
        if copy_tags:
            params["TagSpecifications"] = _tag_specification("snapshot", copy_tags)
            permissions += ("ec2:CreateTags",)
        if kms_key_id:
            params.update(Encrypted=True, KmsKeyId=kms_key_id)
        if kms_key_id or source["encrypted"]:
            permissions += (_KMS_PERMISSIONS + " on the KMS keys",)
        action = "copy EBS snapshot %s from %s to %s" % (snapshot_id, source_region, destination_region)
        response = self._call(destination_region, "CopySnapshot", action, permissions, **params)
        copy_id = response["SnapshotId"]
        if wait:
            info = self.wait_for_snapshot(copy_id, destination_region, "the copy of EBS snapshot %s" % snapshot_id)
        else:
            info = {"snapshot_id": copy_id, "region": destination_region, "state": "pending", "tags": copy_tags}
        info.update(source_snapshot_id=snapshot_id, source_region=source_region)
        if not info.get("tags"):
            info["tags"] = copy_tags
        return info

    def delete_snapshot(self, snapshot_id, region=None):
        """True when deleted, False when it was already gone."""
        region = self.region(region)
        try:
            self._call(region, "DeleteSnapshot", "delete EBS snapshot %s in %s" % (snapshot_id, region),
                       ("ec2:DeleteSnapshot",), SnapshotId=snapshot_id)
        except EbsNotFound:
            return False
        return True

    def create_volume(self, snapshot_id, availability_zone, region=None, volume_type=None, iops=None, kms_key_id=None, tags=None,
                      throughput=None, wait=True, copy_snapshot_tags=True):
        """A new volume from ``snapshot_id`` in ``availability_zone`` (in the snapshot's region); waits until available.

        Tags: the snapshot's (as Velero does), ebs_config.tags and ``tags``. Defaults: ebs_config.volume_type and
        ebs_config.kms_key_id. {volume_id, availability_zone, region, size_gib, volume_type, iops, throughput, encrypted,
        kms_key_id, snapshot_id, state, tags}.
        """
        region = self.region(region)
        zone = availability_zone or self.settings.get("availability_zone")
        if not zone:
            raise ConfigurationError("no availability zone for the volume restored from EBS snapshot %s: set ebs_config.availability_zone" % snapshot_id)
        if region_from_zone(zone) != region:
            raise ConfigurationError("availability zone %s is not in region %s, where EBS snapshot %s is: choose a zone of %s "
                                     "(ebs_config.availability_zone), or copy the snapshot to that zone's region first "
                                     "(ebs_config.copy_to_region)" % (zone, region, snapshot_id, region))
        volume_type = volume_type or self.settings.get("volume_type")
        kms_key_id = kms_key_id or self.settings.get("kms_key_id")
        snapshot = self.describe_snapshot(snapshot_id, region)
        if snapshot["state"] != "completed":
            raise EbsError("EBS snapshot %s in %s is %s, not completed: a volume can only be made from a completed snapshot; "
                           "wait and retry" % (snapshot_id, region, snapshot["state"]), code="IncorrectState", resource_id=snapshot_id)
        volume_tags = merge_tags(snapshot["tags"] if copy_snapshot_tags else {}, self.settings.get("tags"), clean_tags(tags))
        params = dict(SnapshotId=snapshot_id, AvailabilityZone=zone)
        permissions = ("ec2:CreateVolume",)
        if volume_type:
            params["VolumeType"] = volume_type
        if iops and volume_type in IOPS_VOLUME_TYPES:
            params["Iops"] = int(iops)
        if throughput and volume_type in THROUGHPUT_VOLUME_TYPES:
            params["Throughput"] = int(throughput)
        if kms_key_id:
            params.update(Encrypted=True, KmsKeyId=kms_key_id)
        if kms_key_id or snapshot["encrypted"]:
            permissions += (_KMS_PERMISSIONS + " on the KMS key",)
        if volume_tags:
            params["TagSpecifications"] = _tag_specification("volume", volume_tags)
            permissions += ("ec2:CreateTags",)
        response = self._call(region, "CreateVolume", "create a volume from EBS snapshot %s in %s" % (snapshot_id, zone),
                              permissions, **params)
        info = _volume_info(response, region)
        if wait:
            info = self.wait_for_volume(info["volume_id"], region, "the volume restored from EBS snapshot %s" % snapshot_id,
                                        kms_key_id=kms_key_id or snapshot.get("kms_key_id"))
        if not info.get("tags"):
            info["tags"] = volume_tags
        return info

    def find_snapshots(self, tags, region=None):
        """Snapshots of this account in ``region`` carrying every tag of ``tags`` (a None value: the tag with any value).

        Dicts as describe_snapshot, oldest first.
        """
        region = self.region(region)
        any_value = sorted(key for key, value in (tags or {}).items() if value is None)
        filters = [{"Name": "tag-key", "Values": [key]} for key in any_value]
        filters += [{"Name": "tag:%s" % key, "Values": [value]} for key, value in sorted(clean_tags(tags).items()) if key not in any_value]
        action = "list the EBS snapshots in %s" % region
        paginator = self.client(region).get_paginator("describe_snapshots")
        found = []
        try:
            for page in paginator.paginate(OwnerIds=["self"], Filters=filters):
                found.extend(_snapshot_info(snapshot, region) for snapshot in page.get("Snapshots") or [])
        except BOTOCORE_ERRORS as exc:
            raise self._error(exc, action, region, ("ec2:DescribeSnapshots",))
        return sorted(found, key=lambda item: (item.get("start_time") or "", item["snapshot_id"]))

    # -- waiting

    def wait_for_snapshot(self, snapshot_id, region=None, what=None):
        """describe_snapshot once the snapshot is completed; EbsError if it failed, EbsTimeout after ebs_config.timeout."""
        region = self.region(region)
        what = what or "EBS snapshot %s" % snapshot_id

        def check():
            info = self.describe_snapshot(snapshot_id, region)
            if info["state"] == "completed":
                return info
            if info["state"] == "error":
                raise EbsError("%s (%s in %s) failed (state error): delete it and try again; the volume may have been "
                               "detached or deleted while it was taken" % (what, snapshot_id, region), code="error", resource_id=snapshot_id)
            return None

        def progress():
            return "still %s" % self._snapshot_progress(snapshot_id, region)

        return self._wait(check, progress, "%s (%s in %s)" % (what, snapshot_id, region), snapshot_id,
                          "the snapshot was not deleted and carries on; the first snapshot of a large volume can take hours")

    def wait_for_volume(self, volume_id, region=None, what=None, kms_key_id=None):
        """describe_volume once the volume is available; EbsError if it failed, EbsTimeout after ebs_config.timeout."""
        region = self.region(region)
        what = what or "EBS volume %s" % volume_id
        label = "%s (%s in %s)" % (what, volume_id, region)
        started = time.monotonic()

        def check():
            try:
                info = self.describe_volume(volume_id, region)
            except EbsNotFound:
                if time.monotonic() - started < self.not_found_grace:
                    return None
                info = {"state": "deleted"}
            if info["state"] in ("available", "in-use"):
                return info
            if info["state"] in ("deleted", "deleting", "error"):
                cause = ""
                if kms_key_id:
                    cause = ("; EC2 removes a new volume when it cannot use its KMS key %s: grant %s on it to the credentials "
                             "and check the key is enabled (ebs_config.kms_key_id)" % (kms_key_id, _KMS_PERMISSIONS))
                raise EbsError("%s failed: it is %s%s" % (label, info["state"], cause), code=info["state"], resource_id=volume_id)
            return None

        return self._wait(check, lambda: "still creating", label, volume_id, "the volume may still become available: check it and delete it if unused")

    def _snapshot_progress(self, snapshot_id, region):
        try:
            info = self.describe_snapshot(snapshot_id, region)
        except EbsError:
            return "pending"
        return "%s at %s" % (info.get("state"), info.get("progress") or "0%")

    def _wait(self, check, describe_progress, label, resource_id, aftermath):
        timeout = self.settings.get("timeout") or DEFAULT_TIMEOUT
        started = time.monotonic()
        deadline = started + timeout
        delay = self.poll_interval
        while True:
            try:
                result = check()
            except EbsNotFound:
                # Just created and not yet visible; gone for real after the grace period.
                if time.monotonic() - started >= self.not_found_grace:
                    raise
                result = None
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EbsTimeout("%s is %s after %d seconds: raise ebs_config.timeout (now %d) to wait longer; %s"
                                 % (label, describe_progress(), timeout, timeout, aftermath), code="Timeout", resource_id=resource_id)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, self.max_poll_interval)

    # -- errors

    def _volume_not_found(self, volume_id, region, code):
        return EbsNotFound(_VOLUME_NOT_FOUND.format(resource_id=volume_id, region=region, code=code), code=code, resource_id=volume_id)

    def _snapshot_not_found(self, snapshot_id, region, code):
        return EbsNotFound(_SNAPSHOT_NOT_FOUND.format(resource_id=snapshot_id, region=region, code=code), code=code,
                           resource_id=snapshot_id)

    def _error(self, exc, action, region, permissions=()):
        """EbsError (EbsNotFound, or ConfigurationError for settings to fix) explaining a botocore exception raised trying to ``action``."""
        match = _RESOURCE_ID.search(action)
        resource_id = match.group(1) if match else None
        problem = explain(exc, EC2_ERRORS, action, self.settings, permissions, region=region, resource_id=resource_id)
        if problem.kind == SETTINGS:
            return ConfigurationError(problem.message)
        error_type = EbsNotFound if problem.kind == NOT_FOUND else EbsError
        return error_type(problem.message, code=problem.code, resource_id=resource_id)

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup location in an S3 bucket (AWS or any S3-compatible store), through boto3.

Writes stream as a multipart upload, one part in memory at a time; botocore
errors become LocationError messages naming the cause and the option to fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import io
import re

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # the module reports it with missing_required_lib("boto3")
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, LocationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.location_base import (
    MAX_PART_SIZE_MB,
    PARTIAL_UPLOAD,
    Location,
    ObjectNotFound,
    check_key,
    check_prefix,
)

MIB = 1024 * 1024
# Parts grow after every PART_GROWTH_INTERVAL parts so S3's 10,000-part limit
# is never reached, while small uploads keep small parts.
PART_GROWTH_INTERVAL = 1000
DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
READ_BUFFER = MIB
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# IAM permission behind each action, named in AccessDenied messages.
_PERMISSIONS = {
    "write": "s3:PutObject",
    "read": "s3:GetObject",
    "list": "s3:ListBucket",
    "delete": "s3:DeleteObject",
    "abort the upload of": "s3:AbortMultipartUpload",
    "list the multipart uploads under": "s3:ListBucketMultipartUploads",
    "list the uploaded parts of": "s3:ListMultipartUploadParts",
    "check": "s3:ListBucket",
    "read the object lock configuration of": "s3:GetBucketObjectLockConfiguration",
}
_CREDENTIALS_HELP = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), "
    "or access_key and secret_key in location_config (backup_location_config in the roles), "
    "or a profile (AWS_PROFILE or location_config.profile)")


def parse_s3_url(location):
    """``s3://bucket[/prefix]`` -> (bucket, prefix without leading or trailing slashes)."""
    rest = location[len("s3://"):] if location.startswith("s3://") else location
    bucket, _sep, prefix = rest.partition("/")
    if not _BUCKET_NAME.match(bucket):
        raise ConfigurationError("location %r: expected s3://bucket or s3://bucket/prefix with a valid bucket name" % location)
    prefix = "/".join(part for part in prefix.split("/") if part)
    if prefix:
        try:
            prefix = check_key(prefix)
        except LocationError:
            raise ConfigurationError("location %r: the prefix may not contain '..' or '.' segments" % location)
    return bucket, prefix


class S3Location(Location):
    """``s3://bucket/prefix``; every key is stored under the prefix."""

    def __init__(self, location, settings):
        if not HAS_BOTO3:
            raise LocationError("an s3:// location needs the boto3 Python library on the host running the module: %s"
                                % BOTO3_IMPORT_ERROR)
        self.bucket, self.prefix = parse_s3_url(location)
        self.url = "s3://%s/%s" % (self.bucket, self.prefix) if self.prefix else "s3://%s" % self.bucket
        self.settings = settings
        self.part_size = settings["part_size_mb"] * MIB
        self.extra_args = _object_extra_args(settings)
        self.client = self._create_client(settings)
        self._object_lock_enabled = None

    def _create_client(self, settings):
        session_args = dict(region_name=settings["region"])
        if settings["profile"]:
            session_args["profile_name"] = settings["profile"]
        else:
            session_args.update(aws_access_key_id=settings["access_key"], aws_secret_access_key=settings["secret_key"],
                                aws_session_token=settings["session_token"])
        config_args = dict(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 10})
        if settings["force_path_style"]:
            config_args["s3"] = {"addressing_style": "path"}
        if settings["endpoint_url"] and "request_checksum_calculation" in botocore.config.Config.OPTION_DEFAULTS:
            # S3-compatible stores (older MinIO, Ceph, ...) reject the checksum trailers
            # botocore >= 1.36 sends by default; the backup manifest has sha256 sums anyway.
            config_args.update(request_checksum_calculation="when_required", response_checksum_validation="when_required")
        verify = settings["ca_bundle"] if settings["validate_certs"] and settings["ca_bundle"] else settings["validate_certs"]
        try:
            session = boto3.session.Session(**session_args)
            client = session.client("s3", endpoint_url=settings["endpoint_url"] or None, verify=verify,
                                    config=botocore.config.Config(**config_args))
            # Fail now, not after the whole cluster has been read into the first part.
            if session.get_credentials() is None:
                raise botocore.exceptions.NoCredentialsError()
        except ValueError as exc:  # botocore's "Invalid endpoint"
            raise ConfigurationError("location_config.endpoint_url %r is not usable: %s; give a URL such as https://s3.example.com"
                                     % (settings["endpoint_url"], exc))
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "connect to", None)
        return client

    def write_args(self):
        """Arguments of PutObject and CreateMultipartUpload for an object written now: extra_args plus its retention."""
        args = dict(self.extra_args)
        days = self.settings.get("object_lock_days")
        if days:
            now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            args["ObjectLockMode"] = self.settings["object_lock_mode"]
            args["ObjectLockRetainUntilDate"] = now + datetime.timedelta(days=days)
        return args

    def write_checksum(self):
        """S3 wants a checksum (Content-MD5 or x-amz-checksum-*) on every upload that sets a retention."""
        return {"ChecksumAlgorithm": "SHA256"} if self.settings.get("object_lock_days") else {}

    def _full_key(self, key):
        key = check_key(key)
        return "%s/%s" % (self.prefix, key) if self.prefix else key

    def _full_prefix(self, prefix):
        prefix = check_prefix(prefix)
        return "%s/%s" % (self.prefix, prefix) if self.prefix else prefix

    def _relative(self, full_key):
        return full_key[len(self.prefix) + 1:] if self.prefix else full_key

    def _error(self, exc, action, key):
        return s3_error(exc, action, self.bucket, key, self.settings)

    @contextlib.contextmanager
    def open_write(self, key):
        writer = _MultipartWriter(self, self._full_key(key))
        try:
            yield writer
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def open_read(self, key):
        full_key = self._full_key(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=full_key)["Body"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "read", full_key)
        return io.BufferedReader(_ReadStream(body, self, full_key), buffer_size=READ_BUFFER)

    def _head(self, key):
        full_key = self._full_key(key)
        try:
            return self.client.head_object(Bucket=self.bucket, Key=full_key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "read", full_key)

    def exists(self, key):
        try:
            self._head(key)
        except ObjectNotFound:
            return False
        return True

    def size(self, key):
        return self._head(key)["ContentLength"]

    def list(self, prefix=""):
        full_prefix = self._full_prefix(prefix)
        for page in self._pages(full_prefix):
            for item in page.get("Contents", []):
                yield self._relative(item["Key"]), item["Size"]

    def list_dirs(self, prefix=""):
        full_prefix = self._full_prefix(prefix)
        for page in self._pages(full_prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                yield common["Prefix"][len(full_prefix):].rstrip("/")

    def _pages(self, full_prefix, **options):
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            yield from paginator.paginate(Bucket=self.bucket, Prefix=full_prefix, **options)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "list", full_prefix)

    def delete(self, key):
        full_key = self._full_key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full_key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            error = self._error(exc, "delete", full_key)
            if not isinstance(error, ObjectNotFound):
                raise error

    def delete_prefix(self, prefix):
        if not check_prefix(prefix):
            raise LocationError("refusing to delete the whole location %s: give a prefix such as backups/NAME" % self.url)
        full_prefix = self._full_prefix(prefix)
        batch = []
        for page in self._pages(full_prefix):
            batch.extend({"Key": item["Key"]} for item in page.get("Contents", []))
            while len(batch) >= DELETE_BATCH:
                self._delete_batch(batch[:DELETE_BATCH], full_prefix)
                del batch[:DELETE_BATCH]
        if batch:
            self._delete_batch(batch, full_prefix)
        # Uploads a killed backup never completed hold parts (billed) that no listing of objects shows.
        try:
            partials = list(self.list_partial(prefix))
        except LocationError:
            partials = []  # listing uploads needs s3:ListBucketMultipartUploads, which a policy for Velero does not grant
        for partial in partials:
            self.delete_partial(partial)

    def _uploads(self, full_prefix):
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                yield from page.get("Uploads", [])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "list the multipart uploads under", full_prefix)

    def list_partial(self, prefix=""):
        full_prefix = self._full_prefix(prefix)
        for upload in self._uploads(full_prefix):
            size, newest = 0, upload["Initiated"]
            try:
                for page in self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]):
                    for part in page.get("Parts", []):
                        size += part.get("Size") or 0
                        newest = max(newest, part.get("LastModified") or newest)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                error = self._error(exc, "list the uploaded parts of", upload["Key"])
                if "NoSuchUpload" in str(error):
                    continue  # completed or aborted while listing
                raise error
            key = self._relative(upload["Key"])
            yield {"key": key, "target": key, "upload_id": upload["UploadId"], "size": size, "last_written": newest,
                   "kind": PARTIAL_UPLOAD}

    def delete_partial(self, partial):
        full_key = self._full_key(partial["key"])
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=partial["upload_id"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            error = self._error(exc, "abort the upload of", full_key)
            if not isinstance(error, ObjectNotFound) and "NoSuchUpload" not in str(error):
                raise error

    def _delete_batch(self, objects, full_prefix):
        try:
            response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "delete", full_prefix)
        failures = response.get("Errors") or []
        if failures:
            first = failures[0]
            fake = botocore.exceptions.ClientError({"Error": {"Code": first.get("Code"), "Message": first.get("Message")}}, "DeleteObjects")
            error = self._error(fake, "delete", first.get("Key"))
            raise LocationError("%s (%d of %d objects could not be deleted)" % (error, len(failures), len(objects)))

    def object_lock_enabled(self):
        """Whether the bucket has object lock enabled (asked once); without it no object can be locked."""
        if self._object_lock_enabled is None:
            try:
                configuration = self.client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = configuration.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except botocore.exceptions.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code") or "")
                if code not in ("ObjectLockConfigurationNotFoundError", "NotImplemented", "MethodNotAllowed", "NotFound", "404"):
                    raise self._error(exc, "read the object lock configuration of", None)
                enabled = False
            except botocore.exceptions.BotoCoreError as exc:
                raise self._error(exc, "read the object lock configuration of", None)
            self._object_lock_enabled = enabled
        return self._object_lock_enabled

    def retention(self, prefix):
        if not self.object_lock_enabled():
            return None
        now = datetime.datetime.now(datetime.timezone.utc)
        found = {"until": None, "mode": None, "legal_hold": False}
        for key, _size in self.list(prefix):
            head = self._head(key)
            until = head.get("ObjectLockRetainUntilDate")
            if until is not None and until > now and (found["until"] is None or until > found["until"]):
                found["until"], found["mode"] = until, head.get("ObjectLockMode")
            if head.get("ObjectLockLegalHoldStatus") == "ON":
                found["legal_hold"] = True
        return found if found["until"] is not None or found["legal_hold"] else None

    def last_modified(self, prefix):
        full_prefix = self._full_prefix(prefix)
        times = [item["LastModified"] for page in self._pages(full_prefix) for item in page.get("Contents", [])]
        # An upload in progress (the tarball of a running backup) is not listed as an object yet; its parts tell when it was last written.
        times.extend(partial["last_written"] for partial in self.list_partial(prefix))
        return max(times) if times else None

    def check(self, write=False):
        del write  # S3 cannot tell whether a write would be allowed without writing
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            error = self._error(exc, "check", None)
            if isinstance(error, ObjectNotFound):  # HEAD has no error body: 404 is the bucket
                error = LocationError(_no_such_bucket(self.bucket))
            raise error


def _object_extra_args(settings):
    """Arguments of PutObject and CreateMultipartUpload: encryption and storage class."""
    extra = {}
    if settings["sse"]:
        extra["ServerSideEncryption"] = settings["sse"]
    if settings["kms_key_id"]:
        extra["SSEKMSKeyId"] = settings["kms_key_id"]
    if settings["storage_class"]:
        extra["StorageClass"] = settings["storage_class"]
    return extra


class _MultipartWriter:
    """Buffers one part, uploads it, and so on; a single PutObject when everything fit in one part."""

    def __init__(self, location, key):
        self._location = location
        self._client = location.client
        self._key = key
        self._buffer = bytearray()
        self._parts = []
        self._upload_id = None
        self._written = 0
        self._finished = False

    def writable(self):
        return True

    def tell(self):
        return self._written

    def flush(self):
        """Nothing to do: data leaves in whole parts (S3 parts have a 5 MiB minimum)."""

    def write(self, data):
        if self._finished:
            raise ValueError("write to a finished S3 upload of %s" % self._key)
        self._buffer += data
        size = len(data)
        self._written += size
        part_size = self._next_part_size()
        while len(self._buffer) >= part_size:
            # Hand the full buffer to the upload and keep only the remainder: no copy of the part.
            part, self._buffer = self._buffer, self._buffer[part_size:]
            del part[part_size:]
            self._upload_part(part)
            part_size = self._next_part_size()
        return size

    def _next_part_size(self):
        growth = 2 ** (len(self._parts) // PART_GROWTH_INTERVAL)
        return min(self._location.part_size * growth, MAX_PART_SIZE_MB * MIB)

    def _call(self, action, method, **kwargs):
        try:
            return method(Bucket=self._location.bucket, Key=self._key, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._location._error(exc, action, self._key)  # pylint: disable=protected-access

    def _args(self, args):
        args.update(self._location.write_checksum())
        return args

    def _upload_part(self, data):
        if self._upload_id is None:
            response = self._call("write", self._client.create_multipart_upload, **self._args(self._location.write_args()))
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        response = self._call("write", self._client.upload_part, UploadId=self._upload_id, PartNumber=number, Body=data,
                              **self._location.write_checksum())
        part = {"PartNumber": number, "ETag": response["ETag"]}
        # Checksums botocore sent with the part must be repeated when completing the upload.
        part.update((name, value) for name, value in response.items() if name.startswith("Checksum") and name != "ChecksumType")
        self._parts.append(part)

    def commit(self):
        if self._upload_id is None:
            self._call("write", self._client.put_object, Body=self._buffer, **self._args(self._location.write_args()))
        else:
            if self._buffer:
                self._upload_part(self._buffer)
            self._call("write", self._client.complete_multipart_upload, UploadId=self._upload_id,
                       MultipartUpload={"Parts": self._parts})
        self._finished = True
        self._buffer = bytearray()

    def abort(self):
        """Drop the upload so no part lingers (and is billed); the original error matters more than a failed abort."""
        self._finished = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            try:
                self._call("abort the upload of", self._client.abort_multipart_upload, UploadId=self._upload_id)
            except LocationError:
                pass


class _ReadStream(io.RawIOBase):
    """The GetObject body; network errors while reading become LocationError."""

    def __init__(self, body, location, key):
        super(_ReadStream, self).__init__()
        self._body = body
        self._location = location
        self._key = key

    def readable(self):
        return True

    def readinto(self, buffer):
        try:
            data = self._body.read(len(buffer))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._location._error(exc, "read", self._key)  # pylint: disable=protected-access
        except (IOError, ValueError) as exc:  # urllib3 protocol errors surface as these
            raise LocationError("reading s3://%s/%s failed: %s; try again" % (self._location.bucket, self._key, exc))
        size = len(data)
        buffer[:size] = data
        return size

    def close(self):
        if not self.closed:
            self._body.close()
        super(_ReadStream, self).close()


def _no_such_bucket(bucket):
    return ("S3 bucket '%s' does not exist (NoSuchBucket): check the bucket name in location (s3://%s/...) "
            "and location_config.endpoint_url / region" % (bucket, bucket))


def s3_error(exc, action, bucket, key, settings):
    """A LocationError (ObjectNotFound for a missing key) explaining a botocore exception and its fix."""
    target = "s3://%s/%s" % (bucket, key) if key else "s3://%s" % bucket
    endpoint = settings.get("endpoint_url") or "the AWS S3 endpoint"
    if isinstance(exc, botocore.exceptions.ClientError):
        return _client_error(exc, action, bucket, key, target, settings)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return LocationError("no AWS credentials found to access %s: %s" % (target, _CREDENTIALS_HELP))
    if isinstance(exc, botocore.exceptions.PartialCredentialsError):
        return LocationError("incomplete AWS credentials (%s): %s" % (exc, _CREDENTIALS_HELP))
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return LocationError("AWS profile %r not found in ~/.aws/config or ~/.aws/credentials: check location_config.profile "
                             "or AWS_PROFILE" % settings.get("profile"))
    if isinstance(exc, botocore.exceptions.SSLError):
        return LocationError("TLS verification of %s failed (%s): set location_config.ca_bundle (or AWS_CA_BUNDLE) to the CA "
                             "certificate that signed the endpoint's, or validate_certs: false for a test endpoint" % (endpoint, exc))
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
        return LocationError("cannot connect to %s (%s) to %s %s: check location_config.endpoint_url (AWS_URL), region "
                             "and the network" % (endpoint, exc, action, target))
    if isinstance(exc, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError)):
        return LocationError("the connection to %s failed while trying to %s %s (%s); try again" % (endpoint, action, target, exc))
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return LocationError("invalid S3 request to %s %s: %s" % (action, target, exc))
    return LocationError("cannot %s %s: %s" % (action, target, exc))


def _client_error(exc, action, bucket, key, target, settings):
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")
    message = error.get("Message") or ""
    if code in ("NoSuchKey", "404", "NotFound"):
        return ObjectNotFound("%s does not exist" % target)
    if code == "NoSuchBucket":
        return LocationError(_no_such_bucket(bucket))
    if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
        permission = _PERMISSIONS.get(action, "s3 access")
        hint = ""
        if settings.get("sse") == "aws:kms" and action in ("write", "read"):
            hint = " (with SSE-KMS the credentials also need kms:GenerateDataKey and kms:Decrypt on the key)"
        return LocationError("access denied (%s) to %s %s: grant %s on it to the credentials in use, or use other credentials%s"
                             % (code, action, target, permission, hint))
    if code == "InvalidAccessKeyId":
        return LocationError("the AWS access key ID is not known to the S3 endpoint (InvalidAccessKeyId): check "
                             "location_config.access_key / AWS_ACCESS_KEY_ID, or the endpoint_url it belongs to")
    if code == "SignatureDoesNotMatch":
        return LocationError("the S3 endpoint rejected the request signature (SignatureDoesNotMatch): check "
                             "location_config.secret_key / AWS_SECRET_ACCESS_KEY")
    if code in ("ExpiredToken", "TokenRefreshRequired", "InvalidToken", "ExpiredTokenException"):
        return LocationError("the AWS session token is expired or invalid (%s): renew location_config.session_token / "
                             "AWS_SESSION_TOKEN" % code)
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "301"):
        return LocationError("bucket '%s' is in another region than the one used (%s: %s): set location_config.region "
                             "(or AWS_REGION) to the bucket's region" % (bucket, code, message))
    if code.startswith("KMS.") or code in ("KMSDisabledException", "KMSNotFoundException", "KMSInvalidStateException"):
        return LocationError("the KMS key could not be used to %s %s (%s: %s): check location_config.kms_key_id and the key's "
                             "state and policy" % (action, target, code, message))
    if code == "InvalidStorageClass":
        return LocationError("storage class %r is not accepted by the endpoint (InvalidStorageClass): check "
                             "location_config.storage_class" % settings.get("storage_class"))
    if "objectlock" in message.lower().replace(" ", "") or code in ("InvalidRetentionPeriod", "ObjectLocked"):
        return LocationError("S3 object lock refused to %s %s (%s: %s): the bucket needs object lock enabled (create it with "
                             "ObjectLockEnabledForBucket) for location_config.object_lock_mode/object_lock_days, and the "
                             "credentials need s3:PutObjectRetention; locked objects cannot be changed before their retention "
                             "ends" % (action, target, code or "error", message))
    if code == "NoSuchUpload":
        return LocationError("the multipart upload of %s disappeared (NoSuchUpload), maybe aborted by a bucket lifecycle "
                             "rule: try again" % target)
    return LocationError("cannot %s %s: %s%s" % (action, target, code or "error", ": " + message if message else ""))

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup location in an S3 bucket (AWS or any S3-compatible store), through boto3.

Writes stream as a multipart upload, one part in memory at a time; botocore
errors become LocationError messages naming the cause and the option to fix
(aws/errors.py, with the S3 rules of S3_ERRORS).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import io
import re

try:
    import botocore.config
    import botocore.exceptions
except ImportError:
    pass  # HAS_BOTO3 is False then, and S3Location says boto3 is needed

from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.client import BOTO3_IMPORT_ERROR, HAS_BOTO3, aws_client, aws_session
from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.errors import NOT_FOUND, OTHER, SETTINGS, AwsService, Rule, explain
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, LocationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.base import (
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
        config_options = dict(signature_version="s3v4")
        if settings["force_path_style"]:
            config_options["s3"] = {"addressing_style": "path"}
        if settings["endpoint_url"] and "request_checksum_calculation" in botocore.config.Config.OPTION_DEFAULTS:
            # S3-compatible stores (older MinIO, Ceph, ...) reject the checksum trailers
            # botocore >= 1.36 sends by default; the backup manifest has sha256 sums anyway.
            config_options.update(request_checksum_calculation="when_required", response_checksum_validation="when_required")
        try:
            # Fails now without credentials, not after the whole cluster has been read into the first part.
            return aws_client(aws_session(settings), "s3", settings, "location_config", **config_options)
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "connect to", None)

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


_NO_SUCH_BUCKET = ("S3 bucket '{bucket}' does not exist (NoSuchBucket): check the bucket name in location (s3://{bucket}/...) "
                   "and location_config.endpoint_url / region")


def _object_lock_refused(code, message):
    return "objectlock" in message.lower().replace(" ", "") or code in ("InvalidRetentionPeriod", "ObjectLocked")


S3_ERRORS = AwsService(
    "S3", "location_config", "AWS_URL", role_option="backup_location_config",
    kms_options="location_config.kms_key_id", kms_permissions="kms:GenerateDataKey and kms:Decrypt",
    rules=(
        Rule(("NoSuchKey", "404", "NotFound"), NOT_FOUND, "{target} does not exist"),
        Rule(("NoSuchBucket",), SETTINGS, _NO_SUCH_BUCKET),
        Rule(("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "301"), SETTINGS,
             "bucket '{bucket}' is in another region than the one used ({cause}): set location_config.region (or AWS_REGION) "
             "to the bucket's region"),
        Rule(("InvalidStorageClass",), SETTINGS,
             "storage class {storage_class!r} is not accepted by the endpoint (InvalidStorageClass): check location_config.storage_class"),
        Rule(_object_lock_refused, SETTINGS,
             "S3 object lock refused to {action} ({cause}): the bucket needs object lock enabled (create it with "
             "ObjectLockEnabledForBucket) for location_config.object_lock_mode/object_lock_days, and the credentials need "
             "s3:PutObjectRetention; locked objects cannot be changed before their retention ends"),
        Rule(("NoSuchUpload",), OTHER,
             "the multipart upload of {target} disappeared (NoSuchUpload), maybe aborted by a bucket lifecycle rule: try again"),
    ))


def _no_such_bucket(bucket):
    return _NO_SUCH_BUCKET.format(bucket=bucket)


def s3_error(exc, action, bucket, key, settings):
    """A LocationError (ObjectNotFound for a missing key) explaining a botocore exception and its fix."""
    target = "s3://%s/%s" % (bucket, key) if key else "s3://%s" % bucket
    permissions = (_PERMISSIONS.get(action, "s3 access"),)
    if settings.get("sse") == "aws:kms" and action in ("write", "read"):
        permissions += ("kms:GenerateDataKey and kms:Decrypt on the KMS key (SSE-KMS)",)
    problem = explain(exc, S3_ERRORS, "%s %s" % (action, target), settings, permissions,
                      bucket=bucket, target=target, storage_class=settings.get("storage_class"))
    return (ObjectNotFound if problem.kind == NOT_FOUND else LocationError)(problem.message)

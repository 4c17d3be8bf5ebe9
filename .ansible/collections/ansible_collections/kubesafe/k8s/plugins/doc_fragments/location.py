# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the backup location, shared by every module that reads or writes backups."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Must agree with LOCATION_ARGUMENT_SPEC in plugins/module_utils/storage/locations.py.
    DOCUMENTATION = r"""
options:
  location:
    description:
      - Where backups are stored.
      - A local directory on the host running the module (relative paths start from its working directory;
        created when missing), or an S3 bucket as C(s3://bucket) or C(s3://bucket/prefix).
      - Backups are laid out as Velero lays them out, under C(backups/) below the directory or prefix,
        so a Velero BackupStorageLocation can point at the same bucket and prefix.
    type: str
    default: ./backups
  location_config:
    description:
      - Settings of an S3 C(location); ignored for a local directory.
      - Settings left unset are read from the same C(AWS_*) environment variables the C(amazon.aws) modules read,
        then from the AWS SDK's usual sources (C(~/.aws/config), C(~/.aws/credentials), instance or container roles).
    type: dict
    suboptions:
      region:
        description:
          - The AWS region of the bucket.
          - The C(AWS_REGION) or C(AWS_DEFAULT_REGION) environment variables may also be used, in decreasing order of preference.
        type: str
      endpoint_url:
        description:
          - URL of an S3-compatible endpoint (MinIO, Ceph, ...) to use instead of AWS, for example C(https://minio.example.com:9000).
          - The C(AWS_URL) environment variable may also be used.
        type: str
      force_path_style:
        description:
          - Address the bucket in the URL path (C(https://endpoint/bucket/key)) instead of the host name
            (C(https://bucket.endpoint/key)); most S3-compatible stores need this.
        type: bool
        default: false
      profile:
        description:
          - A named profile from the AWS configuration files.
          - The C(AWS_PROFILE) or C(AWS_DEFAULT_PROFILE) environment variables may also be used, in decreasing order of preference.
          - Mutually exclusive with I(access_key), I(secret_key) and I(session_token).
        type: str
      access_key:
        description:
          - AWS access key ID.
          - The C(AWS_ACCESS_KEY_ID) or C(AWS_ACCESS_KEY) environment variables may also be used, in decreasing order of preference.
        type: str
        aliases: [aws_access_key_id]
      secret_key:
        description:
          - AWS secret access key.
          - The C(AWS_SECRET_ACCESS_KEY) or C(AWS_SECRET_KEY) environment variables may also be used, in decreasing order of preference.
        type: str
        aliases: [aws_secret_access_key]
      session_token:
        description:
          - AWS STS session token, for temporary credentials.
          - The C(AWS_SESSION_TOKEN) or C(AWS_SECURITY_TOKEN) environment variables may also be used, in decreasing order of preference.
        type: str
        aliases: [aws_session_token]
      ca_bundle:
        description:
          - Path of a CA certificate bundle to verify the endpoint's TLS certificate, for an endpoint with a private CA.
          - The C(AWS_CA_BUNDLE) environment variable may also be used.
        type: path
      validate_certs:
        description:
          - Whether to verify the endpoint's TLS certificate.
          - Setting this to C(false) is strongly discouraged; consider I(ca_bundle) instead.
        type: bool
        default: true
      sse:
        description:
          - Server-side encryption of the objects written.
          - C(AES256) is SSE-S3 (keys managed by S3), C(aws:kms) is SSE-KMS (see I(kms_key_id)).
          - When unset, the bucket's default encryption applies.
        type: str
        choices: [AES256, aws:kms]
      kms_key_id:
        description:
          - ID, ARN or alias ARN of the KMS key for I(sse=aws:kms); when unset, S3 uses the account's AWS managed key.
          - Requires I(sse=aws:kms).
        type: str
      storage_class:
        description:
          - Storage class of the objects written, for example C(STANDARD_IA) or C(GLACIER_IR).
          - Avoid classes that need a restore before reading (C(GLACIER), C(DEEP_ARCHIVE)) unless restores can wait for them.
          - When unset, the endpoint's default (C(STANDARD) on AWS) applies.
        type: str
      part_size_mb:
        description:
          - Size in MiB of the parts of a multipart upload, between 5 and 5120.
          - Memory use of an upload is about one part. Parts of a very large upload grow after every 1000 parts,
            so S3's limit of 10000 parts is never reached.
        type: int
        default: 16
      object_lock_mode:
        description:
          - S3 Object Lock retention mode of every object written (C(GOVERNANCE) or C(COMPLIANCE)), for a bucket created
            with object lock enabled; requires I(object_lock_days).
          - A C(COMPLIANCE) object cannot be deleted or overwritten by anyone, root included, until its retention ends;
            a C(GOVERNANCE) one only by credentials with C(s3:BypassGovernanceRetention) that ask for it (this collection
            never does).
          - M(kubesafe.k8s.prune) never deletes a backup while any of its objects is under retention or legal hold, and
            reports it as locked. Backups are never overwritten either (an existing backup name is refused).
          - The credentials need C(s3:PutObjectRetention); to see retentions, C(s3:GetObjectRetention),
            C(s3:GetObjectLegalHold) and C(s3:GetBucketObjectLockConfiguration).
        type: str
        choices: [GOVERNANCE, COMPLIANCE]
      object_lock_days:
        description:
          - Number of days every object written stays under the I(object_lock_mode) retention, counted from its upload.
          - Requires I(object_lock_mode); 1 or more. Usually the backup TTL or longer, so that the TTL can be honoured
            by M(kubesafe.k8s.prune) once the retention has ended.
        type: int
"""

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ebs_config option: AWS settings of EBS snapshots, shared by backup, restore, prune and volume_snapshot."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Must agree with EBS_CONFIG_SPEC in plugins/module_utils/volumes/ebs.py.
    DOCUMENTATION = r"""
options:
  ebs_config:
    description:
      - AWS settings of EBS snapshots (volumes whose snapshot method is C(ebs)).
      - Settings left unset are read from the C(AWS_*) environment variables the C(amazon.aws) modules read
        (C(EC2_URL) or C(AWS_URL) for the endpoint), then from the AWS SDK's usual sources (C(~/.aws), instance or
        container roles).
      - The IAM permissions used are C(ec2:CreateSnapshot), C(ec2:CreateTags), C(ec2:DescribeSnapshots),
        C(ec2:DescribeVolumes), C(ec2:CopySnapshot) (with I(copy_to_region)), C(ec2:CreateVolume) (restores),
        C(ec2:DeleteSnapshot) (prune), plus KMS grants for encrypted volumes.
    type: dict
    suboptions:
      region:
        description: Region of the volumes; by default the region of each volume's zone, else C(AWS_REGION).
        type: str
        aliases: [aws_region, ec2_region]
      endpoint_url:
        description: URL of the EC2 API, for a private endpoint or a test server.
        type: str
        aliases: [aws_endpoint_url, ec2_url]
      profile:
        description: AWS profile to use instead of keys.
        type: str
        aliases: [aws_profile]
      access_key:
        description: AWS access key ID.
        type: str
        aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
      secret_key:
        description: AWS secret access key.
        type: str
        aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
      session_token:
        description: AWS session token of temporary credentials.
        type: str
        aliases: [aws_session_token, security_token, aws_security_token]
      validate_certs:
        description: Whether to verify the EC2 endpoint's TLS certificate.
        type: bool
        default: true
      ca_bundle:
        description: CA bundle to verify the endpoint with.
        type: path
        aliases: [aws_ca_bundle]
      kms_key_id:
        description: KMS key for volumes created from snapshots by a restore.
        type: str
      copy_to_region:
        description:
          - Copy every snapshot to this region after it completes, for disaster recovery in another region. The copy
            is recorded with the backup, restored from when I(region) names that region, and deleted with the backup.
        type: str
      copy_kms_key_id:
        description: KMS key of the copies in I(copy_to_region) (copies are then encrypted).
        type: str
      availability_zone:
        description:
          - Zone of volumes created by a restore; by default the zone the volume was in, which must then be in the
            restore's region.
        type: str
      volume_type:
        description: Type of volumes created by a restore; by default the type of the snapshotted volume.
        type: str
        choices: [gp2, gp3, io1, io2, st1, sc1, standard]
      timeout:
        description: Seconds to wait for a snapshot, copy or volume to complete.
        type: int
        default: 600
      tags:
        description: Extra tags for the snapshots and volumes created.
        type: dict
"""

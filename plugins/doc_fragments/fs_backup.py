# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of file-system volume backups (restic repositories in the backup location, mover pods): backup and restore."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Must agree with FS_BACKUP_ARGUMENT_SPEC and FS_MOVER_SPEC in plugins/module_utils/volumes/mover.py.
    DOCUMENTATION = r"""
options:
  fs_backup_password:
    description:
      - Password of the restic repositories that hold file-system volume backups (one per namespace, under C(restic/)
        in the location). Never written to the location.
      - By default it is derived from I(encryption_passphrase) (backup) or I(decryption_passphrase) (restore); one of
        them is needed for file-system backups.
    type: str
  fs_mover:
    description:
      - The mover pod that mounts a claim so that its files are streamed with C(tar) over C(pods/exec) (no agent on the
        nodes). It runs in the claim's namespace, on the node of the pod using a ReadWriteOnce claim.
    type: dict
    suboptions:
      image:
        description: Image of the mover; it needs C(tar) and C(sleep).
        type: str
        default: busybox:1.36.1
      resources:
        description: The container's C(resources), as in a pod spec.
        type: dict
      node_selector:
        description: The pod's C(nodeSelector).
        type: dict
      tolerations:
        description: The pod's C(tolerations).
        type: list
        elements: dict
      security_context:
        description: The container's C(securityContext) (for example C(runAsUser) to read files only their owner may read).
        type: dict
      service_account:
        description: The pod's service account.
        type: str
      image_pull_secrets:
        description: Names of the pod's image pull secrets.
        type: list
        elements: str
  fs_mover_timeout:
    description: How long a mover pod may take to run (scheduling, image pull), as a Go duration; after it the volume fails.
    type: str
    default: 5m
  fs_timeout:
    description: How long the copy of one volume may take, as a Go duration.
    type: str
    default: 4h
"""

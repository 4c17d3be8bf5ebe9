# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options that encrypt a backup (age format), for the backup module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Must agree with ENCRYPTION_ARGUMENT_SPEC in plugins/module_utils/archive/encryption.py.
    DOCUMENTATION = r"""
options:
  encryption:
    description:
      - Client-side encryption of the backup in the L(age format,https://age-encryption.org/v1), before it leaves the host.
      - C(none) stores the backup as Velero does.
      - C(secrets) encrypts only the values of Secret objects (each value of C(data) and C(stringData), and the
        C(kubectl.kubernetes.io/last-applied-configuration) annotation that repeats them, becomes base64 of an age file,
        and the Secret is annotated C(kubesafe.k8s/encrypted=age)); everything else stays readable by Velero and
        C(backup_info). A Velero restore of such a backup creates the Secrets with the encrypted values.
      - C(all) encrypts the whole tarball, stored as C(<name>.tar.gz.age) instead of C(<name>.tar.gz); Velero cannot
        restore such a backup. The resource list, logs and results stay plain (they hold names, no values).
      - Decrypting needs only the standard C(age) tool, for example
        C(age -d -i key.txt backups/<name>/<name>.tar.gz.age > <name>.tar.gz), or for one Secret value
        C(echo VALUE | base64 -d | age -d -i key.txt).
      - Needs the Python package C(pyrage) on the host running the module.
    type: str
    choices: [none, secrets, all]
    default: none
  encryption_recipients:
    description:
      - age public keys (C(age1...), from C(age-keygen)) or SSH public keys (C(ssh-ed25519 ...), C(ssh-rsa ...)) the backup
        is encrypted to; any one of the matching private keys decrypts it.
      - Only public keys are needed to back up, so the backup job cannot read its own backups.
    type: list
    elements: str
    default: []
  encryption_recipients_file:
    description: A file of recipients, one a line, C(#) comments allowed (the format of C(age -R)).
    type: path
  encryption_passphrase:
    description:
      - Encrypt with a passphrase instead of, or in addition to, public keys.
      - The data is encrypted to a key pair made for this backup, whose private key is stored next to the backup as
        C(<name>-identity.age), encrypted with the passphrase (scrypt); C(age -d -i backups/<name>/<name>-identity.age ...)
        asks for the passphrase and decrypts.
    type: str
"""

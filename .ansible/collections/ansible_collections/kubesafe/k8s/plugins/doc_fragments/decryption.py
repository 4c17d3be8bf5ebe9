# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options that decrypt an encrypted backup, for the modules that read backups (restore, verify)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Must agree with DECRYPTION_ARGUMENT_SPEC in plugins/module_utils/archive/encryption.py.
    DOCUMENTATION = r"""
options:
  decryption_identity:
    description:
      - age private key(s) (C(AGE-SECRET-KEY-1...) lines, C(#) comments allowed, as C(age-keygen) writes them) or an SSH
        private key, to read a backup made with I(encryption=secrets) or I(encryption=all).
      - A wrong or missing key fails before anything is written to the cluster.
      - Never logged.
    type: str
  decryption_identity_file:
    description:
      - A file holding the private key(s), as for I(decryption_identity). A passphrase-protected identity file
        (an age file, as C(age -p) writes it) is read with I(decryption_passphrase).
    type: path
  decryption_passphrase:
    description:
      - The passphrase of a backup made with I(encryption_passphrase), or of a passphrase-protected
        I(decryption_identity_file). Never logged.
    type: str
"""

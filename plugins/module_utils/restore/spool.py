# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects parked on disk between the read of an archive and their turn to be restored.

A restore must create objects in dependency order while the archive holds
them in any order; keeping them in temporary files, one per group/resource,
bounds memory whatever the size of the backup.

Those objects include decrypted Secrets, so every record is sealed with a key
that only this process holds (random per spool, never written anywhere): a
file left behind by a killed process (SIGKILL cannot be caught) holds
ciphertext only. The spool's directory is a scratch directory of temp_dirs,
removed on exit, SIGTERM and SIGINT, and swept by a later run otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import os
import struct

from ansible_collections.kubesafe.k8s.plugins.module_utils import fast_json
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.temp_dirs import make_temp_dir, remove_temp_dir

_LENGTH = struct.Struct(">I")
_NONCE = struct.Struct(">QQ")  # (bucket number, record number): unique under one key, and fixes each record's place
TAG_SIZE = 32


class SealedRecords:
    """Authenticated encryption of records with a key of this process only.

    The collection may not require ``cryptography``, so the cipher is built from
    hashlib: SHAKE-256 over (key, nonce) is an extendable-output PRF, used as a
    keystream XORed with the record (a stream cipher; each nonce used once), then
    a keyed BLAKE2b tag over (nonce, ciphertext) (encrypt-then-MAC). The nonce is
    the record's bucket and position, never stored: a record moved, replaced,
    dropped or altered fails its tag.
    """

    def __init__(self):
        self._cipher_key = os.urandom(32)
        self._mac_key = os.urandom(32)

    def _keystream(self, nonce, size):
        return hashlib.shake_256(self._cipher_key + nonce).digest(size)

    def _tag(self, nonce, ciphertext):
        return hashlib.blake2b(nonce + ciphertext, key=self._mac_key, digest_size=TAG_SIZE).digest()

    def seal(self, bucket_number, record_number, plaintext):
        nonce = _NONCE.pack(bucket_number, record_number)
        ciphertext = _xor(plaintext, self._keystream(nonce, len(plaintext)))
        return self._tag(nonce, ciphertext) + ciphertext

    def open(self, bucket_number, record_number, sealed):
        nonce = _NONCE.pack(bucket_number, record_number)
        tag, ciphertext = sealed[:TAG_SIZE], sealed[TAG_SIZE:]
        if len(tag) != TAG_SIZE or not hmac.compare_digest(tag, self._tag(nonce, ciphertext)):
            raise KubesafeError("a spooled object was altered on disk while the restore ran (its tag does not match): "
                                "check who else writes to the temp directory, and run the restore again")
        return _xor(ciphertext, self._keystream(nonce, len(ciphertext)))


def _xor(data, keystream):
    size = len(data)
    return (int.from_bytes(data, "little") ^ int.from_bytes(keystream, "little")).to_bytes(size, "little")


class Spool:
    def __init__(self, purpose="restore"):
        self._directory = make_temp_dir(purpose)
        self._sealer = SealedRecords()
        self._files = {}
        self._counts = {}

    @property
    def directory(self):
        return self._directory

    def add(self, bucket, record):
        """Append ``record`` (JSON-serializable) to ``bucket``."""
        if bucket not in self._files:
            path = os.path.join(self._directory, "%d.sealed" % len(self._files))
            self._files[bucket] = (len(self._files), path, open(path, "wb"))  # pylint: disable=consider-using-with
            self._counts[bucket] = 0
        number, _path, stream = self._files[bucket]
        sealed = self._sealer.seal(number, self._counts[bucket], fast_json.dumps_tagged(record))
        stream.write(_LENGTH.pack(len(sealed)))
        stream.write(sealed)
        self._counts[bucket] += 1

    def buckets(self):
        return list(self._files)

    def count(self, bucket):
        return self._counts.get(bucket, 0)

    def read(self, bucket):
        """The records of ``bucket`` in the order they were added."""
        if bucket not in self._files:
            return
        number, path, stream = self._files[bucket]
        stream.flush()
        expected = self._counts[bucket]
        with open(path, "rb") as reader:
            for index in range(expected):
                header = reader.read(_LENGTH.size)
                sealed = reader.read(_LENGTH.unpack(header)[0]) if len(header) == _LENGTH.size else b""
                yield fast_json.loads_tagged(self._sealer.open(number, index, sealed))

    def close(self):
        for _number, _path, stream in self._files.values():
            stream.close()
        remove_temp_dir(self._directory)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compressors and decompressors of gzip streams: ISA-L's when the optional ``isal`` package is installed, zlib's otherwise.

Both write and read standard gzip (RFC 1952): Velero, ``tar -xz`` and either
path of this module read what the other wrote.  Measured on generated
manifests (every object stored twice), one core: zlib level 2 compresses
about 300 MB/s to 10.6 % of the tar; ISA-L level 1 about 1,700 MB/s to
10.2 %, level 3 about 460 MB/s to 9.5 %.  At 100k objects that is most of a
core-second taken off a backup whose other core serves the LIST.

Levels 1 to 3 go to ISA-L's levels 1 to 3 (it has no others); level 0
(stored) and levels 4 to 9 (asked for to make archives smaller, whatever the
time) stay with zlib.  The archive's bytes therefore depend on whether
``isal`` is installed, never what they decompress to: checksums are taken of
the bytes written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import zlib

try:
    from isal import isal_zlib
except ImportError:  # optional: zlib reads and writes the same format, slower
    isal_zlib = None

GZIP_WBITS = 16 + zlib.MAX_WBITS
ISAL_LEVELS = (1, 2, 3)
# What a corrupted stream raises: ISA-L's error is not a zlib.error.
ERRORS = (zlib.error,) if isal_zlib is None else (zlib.error, isal_zlib.error)


def compressor(level):
    """A compress object writing a gzip stream at zlib ``level`` (0-9)."""
    if isal_zlib is not None and level in ISAL_LEVELS:
        return isal_zlib.compressobj(level, isal_zlib.DEFLATED, GZIP_WBITS)
    return zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)


def decompressor():
    """A decompress object of one gzip member: ``decompress(data, max_length)``, ``unconsumed_tail``, ``unused_data``,
    ``eof``, and the trailer's CRC and length checked, as zlib's."""
    if isal_zlib is not None:
        return isal_zlib.decompressobj(GZIP_WBITS)
    return zlib.decompressobj(GZIP_WBITS)

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a tar stream member by member, front to back, for the backup reader.

``tarfile`` in stream mode spends about 25 microseconds of Python on each
header; a backup holds two entries per object, so at 100,000 objects that was
5 seconds of every restore before its first write. This reader parses only
what a backup reader needs, as ``tarfile`` parses it: ustar, GNU and V7
headers (with both checksum variants and base-256 numbers), PAX extended and
global headers (``path``, ``linkpath``, ``size``), and GNU long names and
link names. Members come as ``tarfile.TarInfo`` objects, so the checks on
them are shared.

It is stricter than ``tarfile`` where that matters for a restore: a header
with a wrong checksum after the first one ends ``tarfile``'s iteration
silently, as if the archive ended there; here it is an error. Extended-header
data bigger than MAX_ENTRY_BYTES is refused before it is read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import tarfile

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError

BLOCK = 512
_ZERO_BLOCK = b"\0" * BLOCK
_SKIP_CHUNK = 1024 * 1024
# Entry types whose size counts data blocks (tarfile: regular files and types it does not know); others have none.
_NO_DATA_TYPES = frozenset((tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE))
_EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_SIGNED_SUM = struct.Struct("148b8x356b")


def _string(field):
    """A NUL-terminated header string, as tarfile decodes it in stream mode (UTF-8, undecodable bytes kept)."""
    end = field.find(b"\0")
    return (field if end == -1 else field[:end]).decode("utf-8", "surrogateescape")


def _number(field):
    """A header number: octal text, or base-256 (first byte 0x80 or 0xff), as tarfile.nti reads it."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[:1] == b"\xff" else value
    end = field.find(b"\0")
    text = (field if end == -1 else field[:end]).strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise tarfile.InvalidHeaderError("invalid header: the number field %r is not octal" % field) from None


def _checksum_matches(block):
    """The header's checksum field against both sums tarfile accepts (bytes unsigned, or signed as old tars made it)."""
    stored = _number(block[148:156])
    # The field itself counts as eight spaces (256).
    if stored == sum(block) - sum(block[148:156]) + 256:
        return True
    return stored == 256 + sum(_SIGNED_SUM.unpack_from(block))


def _padding(size):
    return -size % BLOCK


def parse_pax_records(data):
    """The keyword/value pairs of PAX extended-header data (``"<length> <keyword>=<value>\\n"`` records)."""
    headers = {}
    position = 0
    while position < len(data) and data[position:position + 1] != b"\0":
        space = data.find(b" ", position)
        try:
            length = int(data[position:space]) if space != -1 else 0
        except ValueError:
            length = 0
        end = position + length
        if length < 5 or end > len(data) or data[end - 1:end] != b"\n":
            raise tarfile.InvalidHeaderError("invalid header: a PAX record at byte %d is malformed" % position)
        keyword, equals, value = data[space + 1:end - 1].partition(b"=")
        if not equals:
            raise tarfile.InvalidHeaderError("invalid header: a PAX record at byte %d has no '='" % position)
        headers[keyword.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position = end
    return headers


class TarStream:
    """Members of the tar read from ``stream`` (``read(size)`` only), in order.

    ``next()`` gives the next member (None at the end-of-archive block, or where the stream ends between
    members, as tarfile does), skipping the data of the previous one if ``read_data`` did not take it.
    Errors are tarfile's (ReadError for what is not a tar at all, InvalidHeaderError, and EOFError for a
    member cut short) or BackupFormatError for an oversized extended header.
    """

    def __init__(self, stream, max_extended_bytes):
        self._stream = stream
        self._max_extended_bytes = max_extended_bytes
        self._unread = 0  # data and padding of the current member not read yet
        self._global_headers = {}
        self._offset = 0

    def _read_exactly(self, size):
        data = self._stream.read(size)
        if len(data) != size:
            raise EOFError("unexpected end of data: %d of %d bytes at offset %d" % (len(data), size, self._offset))
        self._offset += size
        return data

    def _skip(self, size):
        while size > 0:
            size -= len(self._read_exactly(min(size, _SKIP_CHUNK)))

    def next(self):
        self._skip(self._unread)
        self._unread = 0
        headers = dict(self._global_headers)
        long_name = long_link = None
        while True:
            first = self._offset == 0
            block = self._stream.read(BLOCK)
            if not block:
                if first:
                    raise tarfile.ReadError("empty file")
                return None
            if len(block) < BLOCK:
                raise (tarfile.ReadError if first else EOFError)("truncated header: %d bytes at offset %d" % (len(block), self._offset))
            self._offset += BLOCK
            if block == _ZERO_BLOCK:
                return None
            if not _checksum_matches(block):
                raise (tarfile.ReadError if first else tarfile.InvalidHeaderError)("bad checksum in the header at offset %d" % (self._offset - BLOCK))
            member_type = block[156:157]
            size = _number(block[124:136])
            if member_type not in _EXTENDED_TYPES:
                return self._member(block, member_type, size, headers, long_name, long_link)
            if size > self._max_extended_bytes or size < 0:
                raise BackupFormatError("tar header %r declares %d bytes of extended header data, more than the %d bytes any entry may have"
                                        % (_string(block[0:100]), size, self._max_extended_bytes))
            data = self._read_exactly(size)
            self._skip(_padding(size))
            if member_type == tarfile.XHDTYPE:
                headers.update(parse_pax_records(data))
            elif member_type == tarfile.XGLTYPE:
                records = parse_pax_records(data)
                self._global_headers.update(records)
                headers.update(records)
            elif member_type == tarfile.GNUTYPE_LONGNAME:
                long_name = _string(data)
            else:
                long_link = _string(data)

    def _member(self, block, member_type, size, headers, long_name, long_link):
        member = tarfile.TarInfo(_string(block[0:100]))
        member.type = member_type
        # mode, uid, gid, mtime and the names of owners are left at TarInfo's defaults: no reader here uses them.
        member.linkname = _string(block[157:257])
        prefix = _string(block[345:500])
        if member.type == tarfile.AREGTYPE and member.name.endswith("/"):
            member.type = tarfile.DIRTYPE  # V7: a directory is a file whose name ends with "/"
        if member.isdir():
            member.name = member.name.rstrip("/")
        if prefix and member.type not in tarfile.GNU_TYPES:
            member.name = prefix + "/" + member.name
        if long_name is not None:
            member.name = long_name.rstrip("/") if member.isdir() else long_name
        if long_link is not None:
            member.linkname = long_link
        if "path" in headers:
            member.name = headers["path"].rstrip("/") if member.isdir() else headers["path"]
        if "linkpath" in headers:
            member.linkname = headers["linkpath"]
        if "size" in headers:
            try:
                size = int(headers["size"])
            except ValueError:
                raise tarfile.InvalidHeaderError("invalid header: PAX size %r of %s" % (headers["size"], member.name)) from None
        if size < 0:
            raise tarfile.InvalidHeaderError("invalid header: %s has a negative size" % member.name)
        member.size = size
        member.pax_headers = headers
        if member_type not in _NO_DATA_TYPES:
            self._unread = size + _padding(size)
        return member

    def read_data(self, member):
        """The data of ``member``, the member ``next()`` returned last; call it at most once."""
        if self._unread != member.size + _padding(member.size):
            raise tarfile.StreamError("the data of %s was already read or skipped" % member.name)
        data = self._read_exactly(member.size)
        self._skip(_padding(member.size))
        self._unread = 0
        return data

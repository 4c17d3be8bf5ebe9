"""The tar archive format as GNU tar writes and reads it, streamed: a FileTree out as chunks, a tar stream in as tree entries.

Headers come from the standard library's tarfile (GNU format, long names included); file contents go out
as slices of the stored bytes, so archiving a large volume never copies it whole. Reading parses headers
with tarfile.TarInfo from any object with ``read(size)``, taking each file's content in one read.
"""

import stat
import tarfile

from kubesim.volume_backend import DIRECTORY_MODE, FileTree, FileTreeError, TreeEntry, normalize_path

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE  # GNU tar's default blocking factor 20: archives are padded to 10240 bytes


class TarError(Exception):
    """A stream that is not a tar archive, or ends inside one; ``messages`` are GNU tar's lines, ``fatal`` its "not recoverable"."""

    def __init__(self, messages, fatal=False):
        super().__init__("; ".join(messages))
        self.messages, self.fatal = list(messages), fatal


def _header(name, entry, numeric_owner):
    info = tarfile.TarInfo(name)
    info.mtime = entry.mtime if entry is not None else 0
    info.uid = info.gid = 0
    info.uname = info.gname = "" if numeric_owner else "root"
    if entry is None or entry.kind == "dir":
        info.type, info.mode = tarfile.DIRTYPE, entry.mode if entry is not None else DIRECTORY_MODE
    elif entry.kind == "link":
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.data.decode("utf-8", "surrogateescape")
    else:
        info.type, info.mode, info.size = tarfile.REGTYPE, entry.mode, len(entry.data)
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


class _Chunker:
    """Cuts a sequence of byte strings into pieces of exactly ``size`` bytes (the last may be shorter), copying only small parts."""

    def __init__(self, size):
        self.size, self.parts, self.filled = size, [], 0

    def add(self, data):
        view = memoryview(data)
        while view:
            if not self.parts and len(view) >= self.size:
                yield view[:self.size]  # a slice of the stored bytes, not a copy
                view = view[self.size:]
                continue
            taken = view[:self.size - self.filled]
            self.parts.append(taken)
            self.filled += len(taken)
            view = view[len(taken):]
            if self.filled == self.size:
                yield self.flush()

    def flush(self):
        joined = b"".join(self.parts)
        self.parts, self.filled = [], 0
        return joined


def archive_chunks(members, chunk_size, numeric_owner=False):
    """The bytes of a tar archive of ``members`` ((archive name, TreeEntry or None for an implied directory)), in pieces of ``chunk_size``.

    Small headers and files are gathered into one piece; a large file's content goes out as memoryview slices of the stored bytes.
    """
    chunker, total = _Chunker(chunk_size), 0
    for name, entry in members:
        data = entry.data if entry is not None and entry.kind == "file" else b""
        for part in (_header(name, entry, numeric_owner), data, bytes(-len(data) % BLOCK)):
            total += len(part)
            yield from chunker.add(part)
    end = 2 * BLOCK
    yield from chunker.add(bytes(end + -(total + end) % RECORD))
    if chunker.filled:
        yield chunker.flush()


def member_name(raw):
    """An archive name as tar -x places it below -C: leading "/" and "./" dropped; None for the archive's root ("./").

    Raises FileTreeError for a name climbing out with "..", which GNU tar refuses to extract.
    """
    name = raw.lstrip("/")
    if name.strip("/").strip(".") == "" and ".." not in name:
        return None
    return normalize_path(name)


_REGULAR_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
_KINDS = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "link", tarfile.LNKTYPE: "hardlink"}
_PAX_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_ZERO_BLOCK = bytes(BLOCK)
_UNEXPECTED_EOF = ["Unexpected EOF in archive", "Error is not recoverable: exiting now"]


def _read_data(stream, size):
    """``size`` bytes of member data and the padding to the next block; TarError when the stream ends first."""
    data = stream.read(size) if size else b""
    padding = -size % BLOCK
    if len(data) < size or (padding and len(stream.read(padding)) < padding):
        raise TarError(_UNEXPECTED_EOF, fatal=True)
    return data


def _pax_records(data):
    """{keyword: value} of a pax extended header ("<length> <keyword>=<value>\\n" records)."""
    records, position = {}, 0
    while position < len(data):
        space = data.find(b" ", position)
        if space < 0 or not data[position:space].isdigit():
            break
        length = int(data[position:space])
        if length <= 0:
            break
        keyword, _, value = data[space + 1:position + length - 1].partition(b"=")
        records[keyword.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


def read_members(stream):
    """Yield (name as archived, kind, mode, data, mtime, linkname) for each member of the tar read from ``stream``.

    ``kind`` is "file", "dir", "link", "hardlink" or "other"; ``data`` is the content of a regular file, read
    with one copy (headers are parsed by tarfile.TarInfo; GNU long names and pax headers are applied).
    Raises TarError with GNU tar's messages for a stream that is not a tar or ends inside a member.
    """
    overrides, first = {}, True
    while True:
        header = stream.read(BLOCK)
        if not header:
            if first:
                raise TarError(["This does not look like a tar archive"])
            return  # the archive stops between members: GNU tar accepts it silently
        if len(header) < BLOCK:
            raise TarError(_UNEXPECTED_EOF, fatal=True)
        if header == _ZERO_BLOCK:
            return  # the end-of-archive marker
        try:
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise TarError(["This does not look like a tar archive"] + ([] if first else ["Skipping to next header"])) from exc
        first = False
        if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
            value = tarfile.nts(_read_data(stream, info.size), "utf-8", "surrogateescape")
            overrides["path" if info.type == tarfile.GNUTYPE_LONGNAME else "linkpath"] = value
            continue
        if info.type in _PAX_TYPES:
            records = _pax_records(_read_data(stream, info.size))
            if info.type != tarfile.XGLTYPE:
                overrides.update(records)
            continue
        name, linkname = overrides.get("path", info.name), overrides.get("linkpath", info.linkname)
        size = int(overrides["size"]) if "size" in overrides else info.size
        mtime = float(overrides["mtime"]) if "mtime" in overrides else info.mtime
        overrides = {}
        if info.type in _REGULAR_TYPES:
            kind, data = "file", _read_data(stream, size)
        else:
            kind, data = _KINDS.get(info.type, "other"), b""
            _read_data(stream, size if info.type not in _KINDS else 0)
        yield name, kind, stat.S_IMODE(info.mode), data, int(mtime), linkname


def entry_from_member(kind, mode, data, mtime, linkname):
    """The stored TreeEntry for a read member (not for hard links or special files)."""
    if kind == "dir":
        return TreeEntry("dir", mode, b"", mtime)
    if kind == "link":
        return TreeEntry("link", 0o777, linkname.encode("utf-8", "surrogateescape"), mtime)
    if kind == "file":
        return TreeEntry("file", mode, data, mtime)
    raise FileTreeError("cannot store a member of kind %s" % kind)


def tree_archive_chunks(tree, chunk_size):
    """A whole FileTree as ``tar -c -C <root> .`` archives it, in pieces."""
    return archive_chunks([("./", None)] + [("./" + name, entry) for name, entry in tree.walk()], chunk_size)


def tree_from_archive(stream):
    """A new FileTree holding the files, directories and symbolic links of the tar read from ``stream``.

    Raises TarError or FileTreeError (a member climbing out with "..").
    """
    tree = FileTree()
    for name, kind, mode, data, mtime, linkname in read_members(stream):
        path = member_name(name)
        if path is not None and kind in ("file", "dir", "link"):
            tree.put(path.rstrip("/"), entry_from_member(kind, mode, data, mtime, linkname))
    return tree

"""The tar archive format as GNU tar writes and reads it, streamed: a FileTree out as chunks, a tar stream in as tree entries.

Headers come from the standard library's tarfile (GNU format, long names included); file contents go out
as slices of the stored bytes, so archiving a large volume never copies it whole. Reading uses tarfile's
stream mode ("r|") over any object with ``read(size)``.
"""

import stat
import tarfile

from kubesim.volume_backend import DIRECTORY_MODE, FileTree, FileTreeError, _Entry, normalize_path

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE  # GNU tar's default blocking factor 20: archives are padded to 10240 bytes
READ_PIECE = 1 << 20


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
    """The bytes of a tar archive of ``members`` ((archive name, _Entry or None for an implied directory)), in pieces of ``chunk_size``.

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


def read_members(stream):
    """Yield (name as archived, kind, mode, data, mtime, linkname) for each member of the tar read from ``stream``.

    ``kind`` is "file", "dir", "link", "hardlink" or "other"; ``data`` is the content of a regular file.
    Raises TarError with GNU tar's messages for a stream that is not a tar or ends inside a member.
    """
    try:
        archive = tarfile.open(fileobj=stream, mode="r|", bufsize=READ_PIECE)
    except tarfile.ReadError as exc:
        raise TarError(["This does not look like a tar archive"]) from exc
    try:
        for info in archive:
            data = b""
            if info.isreg():
                kind = "file"
                source = archive.extractfile(info)
                pieces, remaining = [], info.size
                while remaining:
                    piece = source.read(min(READ_PIECE, remaining))
                    if not piece:
                        raise TarError(["Unexpected EOF in archive", "Error is not recoverable: exiting now"], fatal=True)
                    pieces.append(piece)
                    remaining -= len(piece)
                data = b"".join(pieces)
                del pieces
            elif info.isdir():
                kind = "dir"
            elif info.issym():
                kind = "link"
            elif info.islnk():
                kind = "hardlink"
            else:
                kind = "other"
            yield info.name, kind, stat.S_IMODE(info.mode), data, info.mtime, info.linkname
    except (tarfile.ReadError, EOFError) as exc:
        if "empty file" in str(exc):
            raise TarError(["This does not look like a tar archive"]) from exc
        if "unexpected end" in str(exc) or isinstance(exc, EOFError):
            raise TarError(["Unexpected EOF in archive", "Error is not recoverable: exiting now"], fatal=True) from exc
        raise TarError(["This does not look like a tar archive", "Skipping to next header"]) from exc


def entry_from_member(kind, mode, data, mtime, linkname):
    """The stored _Entry for a read member (not for hard links or special files)."""
    if kind == "dir":
        return _Entry("dir", mode, b"", mtime)
    if kind == "link":
        return _Entry("link", 0o777, linkname.encode("utf-8", "surrogateescape"), mtime)
    if kind == "file":
        return _Entry("file", mode, data, mtime)
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

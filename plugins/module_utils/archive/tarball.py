# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming writer and reader of the backup tarball, in Velero's layout.

A backup tarball is a gzip-compressed tar.  Its first entry is
``metadata/version`` (``1.1.0`` and a newline); each Kubernetes object is the
compact JSON of what the API returned, at
``resources/<group_resource>/namespaces/<ns>/<name>.json`` or
``resources/<group_resource>/cluster/<name>.json``, and, when it was read at
its group's preferred version, once more with the same bytes under
``resources/<group_resource>/<version>-preferredversion/``.

The writer builds the tar headers itself (ustar, PAX only for paths that do
not fit) and compresses in large chunks: ``tarfile`` spends most of its time
in per-member bookkeeping, which dominates with many small objects.  Nothing
seeks, so the output can go straight into an S3 multipart upload.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import queue
import tarfile
import threading
import time

from ansible_collections.kubesafe.k8s.plugins.module_utils import fast_json
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import gzip_codec
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tar_stream import TarStream
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError

FORMAT_VERSION = "1.1.0"
VERSION_MEMBER = "metadata/version"
RESOURCES_DIR = "resources"
CLUSTER_DIR = "cluster"
NAMESPACES_DIR = "namespaces"
PREFERRED_VERSION_SUFFIX = "-preferredversion"

# Velero writes every entry with mode 0755 (pkg/backup/item_backupper.go).
ENTRY_MODE = 0o755
_BLOCK = 512
_END_OF_ARCHIVE = b"\0" * (2 * _BLOCK)
# Tar bytes gathered before compressing: fewer, larger zlib calls.
_COMPRESS_CHUNK = 1024 * 1024
# Any level reads the same (Velero's own archives are gzip level 6). Measured on generated manifests with
# every object stored twice, one core: zlib's level 6 compresses 123 MB/s to 8.4 % of the tar, level 2
# 311 MB/s to 10.4 %, level 1 no faster than 2 and larger. At 100k objects level 6 is about 3 s of CPU, as
# much as the rest of the backup, on a machine whose other core serves the LIST; so level 2, and
# compression_level for those who would rather pay in time than in storage. With isal installed, levels 1-3
# are several times faster still (gzip_codec).
DEFAULT_COMPRESS_LEVEL = 2
COMPRESS_LEVELS = range(0, 10)
_GZIP_MAGIC = b"\x1f\x8b"
# Compressed bytes read at a time, and the most decompressed bytes held at once.
_READ_CHUNK = 1024 * 1024
# The largest archive entry read.  etcd refuses requests over 1.5 MiB by default
# (--max-request-bytes), so no stored object is bigger; its JSON can be a few times
# the size of its protobuf (escaping, a managedFields-heavy object), and a cluster
# may raise the etcd limit.  16 MiB keeps every real object and bounds what one
# hostile entry (or a PAX or GNU long-name header) can make a reader hold.
MAX_ENTRY_BYTES = 16 * 1024 * 1024
# What a tar writer may leave after the end-of-archive blocks (record padding).
_MAX_TRAILING_BYTES = MAX_ENTRY_BYTES


# Go's json.Marshal escapes these inside strings (HTML safety, JS line separators);
# doing the same keeps our item bytes identical to Velero's.
_GO_ESCAPES = (
    (b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"),
    ("\u2028".encode("utf-8"), b"\\u2028"), ("\u2029".encode("utf-8"), b"\\u2029"),
)
_GO_ASCII_ESCAPES = _GO_ESCAPES[:3]


def encode_item(obj):
    """The bytes stored for an object: what Go's json.Marshal gives for it (compact, sorted keys, UTF-8)."""
    try:
        data = fast_json.dumps_sorted(obj)
    except UnicodeEncodeError:
        # A lone surrogate (from a "\ud800" escape) has no UTF-8 form: keep it escaped.
        data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("ascii")
    # U+2028 and U+2029 are not ASCII: isascii (a word-at-a-time scan) spares most objects their two searches.
    for raw, escaped in (_GO_ASCII_ESCAPES if data.isascii() else _GO_ESCAPES):
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def item_path(group_resource, namespace, name, version_dir=None):
    """Archive path of an item; ``version_dir`` is e.g. ``v1-preferredversion`` or None for the unversioned path."""
    # Formatted in one step: this runs twice per object of a backup.
    version_part = version_dir + "/" if version_dir else ""
    if namespace:
        return _NAMESPACED_ITEM_PATH % (group_resource, version_part, namespace, name)
    return _CLUSTER_ITEM_PATH % (group_resource, version_part, name)


_NAMESPACED_ITEM_PATH = RESOURCES_DIR + "/%s/%s" + NAMESPACES_DIR + "/%s/%s.json"
_CLUSTER_ITEM_PATH = RESOURCES_DIR + "/%s/%s" + CLUSTER_DIR + "/%s.json"


def _check_path_segment(value, what):
    if not value or "/" in value or value in (".", "..") or "\0" in value:
        raise BackupFormatError("cannot store %s %r in a backup archive: it must be a non-empty name without '/'" % (what, value))


def _split_ustar_name(path_bytes):
    """(prefix, name) for the ustar header, or None when the path needs a PAX header."""
    if len(path_bytes) <= 100:
        return b"", path_bytes
    # The prefix holds up to 155 bytes before a '/', the name field the rest.
    cut = path_bytes.rfind(b"/", 0, 156)
    while cut > 0:
        if len(path_bytes) - cut - 1 <= 100:
            return path_bytes[:cut], path_bytes[cut + 1:]
        cut = path_bytes.rfind(b"/", 0, cut)
    return None


# The ustar header fields that never change: mode, uid, gid after the name;
# linkname, magic, version, uname, gname, devmajor, devminor after the typeflag.
_MODE_UID_GID = b"%07o\0" % ENTRY_MODE + b"0000000\0" * 2
_AFTER_TYPEFLAG = b"\0" * 100 + b"ustar\x0000" + b"\0" * 80
_CONSTANT_CHECKSUM = sum(_MODE_UID_GID) + sum(b" " * 8) + sum(_AFTER_TYPEFLAG)
_ZEROS = b"\0" * _BLOCK
# An item's header ends the same way every time: typeflag "0" (after the checksum), then the constant fields and an
# empty prefix; the checksum of those fixed parts, the typeflag and the ".json" that ends every item path.
_ITEM_SUFFIX = b".json"
_NAME_FIELD = 100
_PREFIX_FIELD = 155
_SLASH = ord("/")
_ITEM_HEADER_TAIL = _AFTER_TYPEFLAG + _ZEROS[:_PREFIX_FIELD + 12]
_ITEM_HEADER_CHECKSUM = _CONSTANT_CHECKSUM + ord("0") + sum(_ITEM_SUFFIX)


def _numeric_fields(size, mtime):
    """The adjacent size and mtime fields of a ustar header, and their share of its checksum (two entries of one
    object have the same: computed once)."""
    fields = b"%011o\0%011o\0" % (size, mtime)
    return fields, sum(fields)


def _ustar_header(name, prefix, size, mtime, typeflag=b"0", numeric=None):
    """A 512-byte POSIX ustar header of a regular file (or a PAX extended header, typeflag ``x``).

    ``numeric``: _numeric_fields(size, mtime), when the caller has it.
    """
    fields, fields_sum = numeric or _numeric_fields(size, mtime)
    checksum = _CONSTANT_CHECKSUM + sum(name) + sum(prefix) + fields_sum + typeflag[0]
    return b"".join((
        name, _ZEROS[:100 - len(name)], _MODE_UID_GID, fields, b"%06o\0 " % checksum,
        typeflag, _AFTER_TYPEFLAG, prefix, _ZEROS[:167 - len(prefix)],
    ))


def _pax_record(keyword, value):
    """One ``"<length> <keyword>=<value>\\n"`` record; the length counts its own digits."""
    payload = b" " + keyword + b"=" + value + b"\n"
    length = len(payload) + 1
    while len(str(length)) + len(payload) != length:
        length += 1
    return str(length).encode("ascii") + payload


def _padding(size):
    return _ZEROS[:-size % _BLOCK]


def tar_entry(path, data, mtime):
    """Header, data and padding of one regular-file entry (a PAX header first when the path needs one)."""
    return b"".join(tar_entry_parts(path, data, mtime))


def tar_entry_parts(path, data, mtime, numeric=None):
    """tar_entry as a tuple of byte strings, so that a writer joins a whole chunk once instead of each entry.

    ``numeric``: _numeric_fields(len(data), mtime), when the caller has it.
    """
    path_bytes = path.encode("utf-8")
    split = _split_ustar_name(path_bytes) if path_bytes.isascii() else None
    if split is not None:
        return _ustar_header(split[1], split[0], len(data), mtime, numeric=numeric), data, _padding(len(data))
    records = _pax_record(b"path", path_bytes)
    short_name = path_bytes.rsplit(b"/", 1)[-1][:100]
    pax_name = b"PaxHeaders.0/" + short_name[:87]
    return (
        _ustar_header(pax_name, b"", len(records), mtime, typeflag=b"x"), records, _padding(len(records)),
        _ustar_header(short_name, b"", len(data), mtime, numeric=numeric), data, _padding(len(data)),
    )


class HashingWriter:
    """Forwards writes to a binary stream, counting bytes and hashing them (sha256)."""

    def __init__(self, fileobj):
        self._fileobj = fileobj
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self._fileobj.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self):
        flush = getattr(self._fileobj, "flush", None)
        if flush is not None:
            flush()

    @property
    def sha256(self):
        return self._hash.hexdigest()


class ReadOnlyStream:
    """The file-object methods besides ``read`` that a wrapping reader needs (tarfile, gzip and io call them)."""

    def read(self, size=-1):
        raise NotImplementedError

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readable(self):
        return True


class HashingReader(ReadOnlyStream):
    """A readable stream that hashes (SHA-256) and counts the bytes read through it."""

    def __init__(self, stream):
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        data = self._stream.read(size)
        self._hash.update(data)
        self.size += len(data)
        return data

    def finish(self):
        """Read what the consumer left unread (after an error, or trailing bytes) so the hash covers the whole file."""
        while self.read(_READ_CHUNK):
            pass

    @property
    def sha256(self):
        return self._hash.hexdigest()


class _InlineGzip:
    """Compresses and writes on the caller's thread."""

    def __init__(self, fileobj, level):
        self._fileobj = fileobj
        self._compressor = gzip_codec.compressor(level)

    def put(self, chunk):
        compressed = self._compressor.compress(chunk)
        if compressed:
            self._fileobj.write(compressed)

    def finish(self):
        self._fileobj.write(self._compressor.flush())

    def abort(self):
        pass


class _BackgroundGzip:
    """Compresses and writes on a thread of its own: zlib releases the GIL, so
    compression overlaps with JSON encoding (and the upload with both).

    A bounded queue keeps memory at a few chunks; an error of the stream is
    raised to the producer at its next put or at finish.
    """

    _QUEUE_CHUNKS = 4
    _FINISH = object()

    def __init__(self, fileobj, level):
        self._inline = _InlineGzip(fileobj, level)
        self._queue = queue.Queue(maxsize=self._QUEUE_CHUNKS)
        self._stop = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="kubesafe-archive-gzip")
        self._thread.daemon = True
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                chunk = self._queue.get()
                if self._stop.is_set():
                    return
                if chunk is self._FINISH:
                    self._inline.finish()
                    return
                self._inline.put(chunk)
        except Exception as error:  # pylint: disable=broad-except
            # Handed to the producer thread, which raises it.
            self._error = error

    def _raise_error(self):
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, chunk):
        while True:
            self._raise_error()
            if not self._thread.is_alive():
                raise BackupFormatError("the archive compression thread stopped unexpectedly")
            try:
                self._queue.put(chunk, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self):
        self.put(self._FINISH)
        self._thread.join()
        self._raise_error()

    def abort(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.put_nowait(self._FINISH)
            except queue.Full:
                pass
            self._thread.join(0.2)


class ArchiveWriter:
    """Writes a backup tarball to a binary writable stream, item by item, without seeking.

    ``close()`` finishes the archive.  As a context manager: leaving the block
    normally closes it, leaving it by an exception aborts it (stops writing,
    the caller then discards the upload).  With ``background=True`` (default)
    the stream is written from a helper thread; ``close()`` and ``abort()``
    return only once that thread is done with the stream.
    """

    def __init__(self, fileobj, compress_level=DEFAULT_COMPRESS_LEVEL, background=True):
        gzip_class = _BackgroundGzip if background else _InlineGzip
        self._gzip = gzip_class(fileobj, compress_level)
        self._pending = []
        self._pending_size = 0
        self._closed = False
        # (group_resource, preferred version or None, namespace) -> the item directories: checked and encoded once.
        self._directories = {}
        # The numeric header fields of this second's items by size: many items share a size (memory: a second's worth).
        self._numeric_mtime, self._numeric_by_size = None, {}
        self.item_count = 0
        self.entry_count = 0
        self.item_bytes = 0
        # Bytes of the uncompressed tar, recorded in the manifest to bound what a reader inflates.
        self.tar_bytes = 0
        self.counts_by_resource = {}
        self._add_entry(VERSION_MEMBER, (FORMAT_VERSION + "\n").encode("ascii"), int(time.time()))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    def add_item(self, group_resource, version, namespace, name, obj, preferred=True):
        """Store one object; returns the size of its JSON.

        ``group_resource`` is GroupResource.String() (``pods``, ``deployments.apps``);
        ``namespace`` None or "" for cluster-scoped objects; ``preferred`` when the
        object was read at its group's preferred version (Velero then also stores
        it under ``<version>-preferredversion``).
        """
        if self._closed:
            raise BackupFormatError("cannot add %s %s: the backup archive is already closed" % (group_resource, name))
        directories = self._directories.get((group_resource, version if preferred else None, namespace))
        if directories is None:
            directories = self._item_directories(group_resource, version if preferred else None, namespace)
        _check_path_segment(name, "object name")
        data = encode_item(obj)
        size = len(data)
        mtime = int(time.time())
        if mtime != self._numeric_mtime:
            self._numeric_mtime, self._numeric_by_size = mtime, {}
        numeric = self._numeric_by_size.get(size)
        if numeric is None:
            numeric = self._numeric_by_size[size] = _numeric_fields(size, mtime)
        name_bytes = name.encode("utf-8")
        padding = _ZEROS[:-size % _BLOCK]
        pending = self._pending
        name_fits = len(name_bytes) <= _NAME_FIELD - len(_ITEM_SUFFIX) and name_bytes.isascii()
        for directory, directory_sum, prefix_tail in directories:
            # The common cases inlined: a short ASCII path is the header's name field as it is; a longer one whose
            # directory fits the prefix field is split there (as _split_ustar_name would); anything else takes PAX.
            if name_fits and directory_sum is not None and len(directory) + len(name_bytes) + len(_ITEM_SUFFIX) <= _NAME_FIELD:
                name_field, tail, checksum = directory + name_bytes + _ITEM_SUFFIX, _ITEM_HEADER_TAIL, directory_sum
            elif name_fits and prefix_tail is not None:
                name_field, tail, checksum = name_bytes + _ITEM_SUFFIX, prefix_tail, directory_sum - _SLASH
            else:
                pending.extend(tar_entry_parts((directory + name_bytes + _ITEM_SUFFIX).decode("utf-8"), data, mtime, numeric))
                continue
            checksum += _ITEM_HEADER_CHECKSUM + sum(name_bytes) + numeric[1]
            pending.extend((b"".join((name_field, _ZEROS[:_NAME_FIELD - len(name_field)], _MODE_UID_GID, numeric[0], b"%06o\0 0" % checksum, tail)),
                            data, padding))
        self.entry_count += len(directories)
        self._pending_size += len(directories) * (_BLOCK + size + len(padding))
        if self._pending_size >= _COMPRESS_CHUNK:
            self._flush_pending()
        self.item_count += 1
        self.item_bytes += size
        self.counts_by_resource[group_resource] = self.counts_by_resource.get(group_resource, 0) + 1
        return size

    def _item_directories(self, group_resource, preferred_version, namespace):
        """Each directory an item of this resource and namespace is stored under, cached: (its bytes, their sum or None
        when not ASCII, the header's end when the directory fits the ustar prefix field or None)."""
        _check_path_segment(group_resource, "resource")
        if namespace:
            _check_path_segment(namespace, "namespace")
        if preferred_version is not None:
            _check_path_segment(preferred_version, "version")
        versions = [None] if preferred_version is None else [None, preferred_version + PREFERRED_VERSION_SUFFIX]
        directories = []
        for version_dir in versions:
            directory = item_path(group_resource, namespace, "", version_dir)[:-len(".json")].encode("utf-8")
            if not directory.isascii():
                directories.append((directory, None, None))  # never inlined: ustar fields hold ASCII, PAX the rest
                continue
            prefix = directory[:-1]
            prefix_tail = _AFTER_TYPEFLAG + prefix + _ZEROS[:_PREFIX_FIELD + 12 - len(prefix)] if len(prefix) <= _PREFIX_FIELD else None
            directories.append((directory, sum(directory), prefix_tail))
        self._directories[(group_resource, preferred_version, namespace)] = directories
        return directories

    def _add_entry(self, path, data, mtime):
        self._add_parts(tar_entry_parts(path, data, mtime))

    def _add_parts(self, parts):
        self._pending.extend(parts)
        self._pending_size += sum(map(len, parts))
        self.entry_count += 1
        if self._pending_size >= _COMPRESS_CHUNK:
            self._flush_pending()

    def _flush_pending(self):
        chunk = b"".join(self._pending)
        self._pending = []
        self._pending_size = 0
        self.tar_bytes += len(chunk)
        self._gzip.put(chunk)

    def close(self):
        """Write the end-of-archive blocks and the gzip trailer. Closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pending.append(_END_OF_ARCHIVE)
            self._flush_pending()
            self._gzip.finish()
        except BaseException:
            self._gzip.abort()
            raise

    def abort(self):
        """Stop writing without finishing the archive (after an error)."""
        self._closed = True
        self._pending = []
        self._gzip.abort()


class ArchiveItem:
    """One object read from a backup tarball."""

    __slots__ = ("group_resource", "version", "namespace", "name", "preferred_version_path", "obj", "path")

    def __init__(self, group_resource, version, namespace, name, preferred_version_path, obj, path):
        self.group_resource = group_resource
        # None for the unversioned path; the API version (``v1``) under a version directory.
        self.version = version
        # None for cluster-scoped objects.
        self.namespace = namespace
        self.name = name
        self.preferred_version_path = preferred_version_path
        self.obj = obj
        self.path = path

    def __repr__(self):
        return "ArchiveItem(%r)" % self.path


def item_path_problem(item):
    """Why an archive item is not the object its path names, or None.

    The path is the authority (restores select, map and write by it): the object
    must have apiVersion, kind and metadata.name, the name and namespace of its
    path (none under ``cluster/``), and the API group of its resource directory.
    Whether the kind is that resource's needs the target's discovery (restore checks it).
    """
    obj = item.obj
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj.get(field):
            return "%s has no %s" % (item.path, field)
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata.get("name"):
        return "%s has no metadata.name" % item.path
    if metadata["name"] != item.name:
        return "%s holds an object named %r" % (item.path, metadata["name"])
    if item.namespace and metadata.get("namespace") != item.namespace:
        return "%s holds an object of namespace %r" % (item.path, metadata.get("namespace"))
    if not item.namespace and metadata.get("namespace"):
        return "%s is stored as cluster-scoped but names namespace %r" % (item.path, metadata["namespace"])
    group = obj["apiVersion"].rpartition("/")[0]
    if group != item.group_resource.partition(".")[2]:
        return "%s holds a %s of API group %r, not of %s" % (item.path, obj["kind"], group, item.group_resource)
    return None


def normalize_member_name(name):
    """The archive path without the ``./`` or ``/`` prefixes other tar writers add."""
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def parse_item_path(path):
    """(group_resource, version, namespace, name, preferred) for an item path, or None for other paths.

    Understands the unversioned paths, ``<version>-preferredversion`` and plain
    ``<version>`` directories (Velero's EnableAPIGroupVersions backups).
    """
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != RESOURCES_DIR or not parts[-1].endswith(".json") or "" in parts:
        return None
    group_resource, rest = parts[1], parts[2:]
    version = None
    preferred = False
    if rest[0] not in (CLUSTER_DIR, NAMESPACES_DIR):
        version, rest = rest[0], rest[1:]
        if version.endswith(PREFERRED_VERSION_SUFFIX):
            version = version[:-len(PREFERRED_VERSION_SUFFIX)]
            preferred = True
    if len(rest) == 2 and rest[0] == CLUSTER_DIR:
        namespace = None
    elif len(rest) == 3 and rest[0] == NAMESPACES_DIR:
        namespace = rest[1]
    else:
        return None
    name = rest[-1][:-len(".json")]
    if not name:
        return None
    return group_resource, version, namespace, name, preferred


class _GunzipStream:
    """A readable stream of the decompressed bytes of a gzip stream.

    Unlike tarfile's own gzip layer it notices truncation (the stream ends
    before the gzip trailer) and checks the trailer's CRC and length;
    concatenated gzip members are read as one stream, as Go's reader does.
    Memory stays bounded: at most _READ_CHUNK decompressed bytes at a time.
    """

    def __init__(self, fileobj, fail, max_bytes=None):
        self._fileobj = fileobj
        self._fail = fail
        self._max_bytes = max_bytes
        self.inflated = 0
        self._decompressor = gzip_codec.decompressor()
        self._buffer = b""
        self._position = 0
        self._input_done = False
        self._pending_input = fileobj.read(_READ_CHUNK)
        if not self._pending_input:
            raise fail("the file is empty")
        if not self._pending_input.startswith(_GZIP_MAGIC):
            raise fail("not gzip-compressed (a Velero backup is a .tar.gz)")

    def _refill(self):
        """Decompress the next piece into the buffer; False at the end of the data."""
        while True:
            if self._decompressor.unconsumed_tail:
                data = self._decompressor.unconsumed_tail
            elif self._decompressor.eof and self._decompressor.unused_data:
                data = self._decompressor.unused_data
                self._decompressor = gzip_codec.decompressor()
            elif self._pending_input:
                data, self._pending_input = self._pending_input, b""
            elif self._input_done:
                return False
            else:
                data = self._fileobj.read(_READ_CHUNK)
                if not data:
                    self._input_done = True
                    if not self._decompressor.eof:
                        raise self._fail("the archive is truncated (the gzip stream ends early)")
                    return False
            try:
                output = self._decompressor.decompress(data, _READ_CHUNK)
            except gzip_codec.ERRORS as error:
                raise self._fail("the gzip data is corrupted", error)
            if output:
                self.inflated += len(output)
                if self._max_bytes is not None and self.inflated > self._max_bytes:
                    raise self._fail("it inflates to more than the %d bytes of tar its manifest records (refused unread)" % self._max_bytes)
                self._buffer = output
                self._position = 0
                return True

    def read(self, size=-1):
        if 0 <= size <= len(self._buffer) - self._position:
            # The common case (a tar header, a small entry): a slice of the buffer.
            start = self._position
            self._position += size
            return self._buffer[start:self._position]
        pieces = []
        wanted = size if size >= 0 else float("inf")
        while wanted > 0:
            if self._position >= len(self._buffer) and not self._refill():
                break
            end = min(len(self._buffer), self._position + wanted)
            pieces.append(self._buffer[self._position:end])
            wanted -= end - self._position
            self._position = end
        return b"".join(pieces)

    def drain(self):
        """Read to the end, so that a truncated or corrupted tail is noticed too (bounded: a tail is record padding)."""
        end_of_tar = self.inflated - (len(self._buffer) - self._position)
        while self._refill():
            if self.inflated - end_of_tar > _MAX_TRAILING_BYTES:
                raise self._fail("more than %d bytes follow the end of the tar archive" % _MAX_TRAILING_BYTES)


def member_problem(member):
    """Why a tar member must not be read, or None: a path escaping the archive, a link, device or fifo, an entry too big.

    Nothing is ever extracted to disk, but an archive holding these was not written by
    a backup tool: refusing them names the tampering instead of skipping it.
    """
    name = member.name
    parts = name.split("/")
    if name.startswith("/"):
        return "%s has an absolute path" % name
    if ".." in parts:
        return "%s has a '..' path component" % name
    if member.issym() or member.islnk():
        return "%s is a %s link (to %s)" % (name, "symbolic" if member.issym() else "hard", member.linkname)
    if member.ischr() or member.isblk() or member.isfifo():
        return "%s is a %s" % (name, "fifo" if member.isfifo() else "device")
    if not (member.isdir() or member.type in (tarfile.REGTYPE, tarfile.AREGTYPE)):
        return "%s is a tar entry of type %r, not a file or directory" % (name, member.type)
    if member.size > MAX_ENTRY_BYTES:
        return "%s has %d bytes, more than the %d bytes any Kubernetes object can have" % (name, member.size, MAX_ENTRY_BYTES)
    return None


class ArchiveReader:
    """Streams the items of a backup tarball (ours or Velero's) from a binary readable stream.

    By default each object comes once, from its unversioned path, as Velero's
    restore reads it; ``include_versioned=True`` also yields the copies under
    version directories (``preferred_version_path`` tells them apart).
    Iterate once: the stream is read front to back, and to its end, so that
    truncation is reported.  Files that are not items are skipped and listed
    in ``skipped_members``.
    """

    def __init__(self, fileobj, include_versioned=False, source="backup archive", max_tar_bytes=None):
        self._fileobj = fileobj
        self._max_tar_bytes = max_tar_bytes
        self._include_versioned = include_versioned
        self._source = source
        self._gunzip = None
        self._tar = None
        self._first_member = None
        self._started = False
        self._iterated = False
        self._metadata_version = None
        self.skipped_members = []

    @property
    def metadata_version(self):
        """Content of ``metadata/version`` without the newline (``1.1.0``); None when the archive has none.

        Read from the first file of the archive, where Velero and this
        collection put it; known after iterating in any case.
        """
        if not self._started:
            self._open()
        return self._metadata_version

    def _fail(self, what, error=None):
        detail = ": %s" % error if error is not None and str(error) else ""
        return BackupFormatError("%s is not a readable backup: %s%s" % (self._source, what, detail))

    def _open(self):
        self._started = True
        self._gunzip = _GunzipStream(self._fileobj, self._fail, self._max_tar_bytes)
        self._tar = TarStream(self._gunzip, MAX_ENTRY_BYTES)
        member = self._next_member(first=True)
        while member is not None and not member.isfile():
            member = self._next_member()
        if member is not None and normalize_member_name(member.name) == VERSION_MEMBER:
            self._metadata_version = self._read_member(member, VERSION_MEMBER).decode("utf-8", "replace").strip()
            member = self._next_member()
        self._first_member = member

    def _next_member(self, first=False):
        """The next member, checked; ``first``: a stream that fails at its first header is not a tar at all."""
        try:
            member = self._tar.next()
        except (tarfile.TarError, EOFError, OSError) as error:
            not_a_tar = first and isinstance(error, (tarfile.ReadError, EOFError))
            raise self._fail("the gzip data is not a tar archive" if not_a_tar else "the archive is truncated or corrupted", error)
        except BackupFormatError as error:
            raise self._fail("it holds a hostile entry", error)
        problem = member_problem(member) if member is not None else None
        if problem:
            raise self._fail("it holds a hostile entry", problem)
        return member

    def _read_member(self, member, path):
        try:
            data = self._tar.read_data(member)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise self._fail("%s is truncated or corrupted" % path, error)
        if len(data) != member.size:
            raise self._fail("%s is truncated" % path)
        return data

    def _members(self):
        if self._iterated:
            raise BackupFormatError("%s: its items can be read only once per ArchiveReader" % self._source)
        self._iterated = True
        if not self._started:
            self._open()
        member, self._first_member = self._first_member, None
        while member is not None:
            yield member
            member = self._next_member()
        self._gunzip.drain()

    def __iter__(self):
        for member in self._members():
            if not member.isfile():
                continue
            path = normalize_member_name(member.name)
            if path == VERSION_MEMBER:
                self._metadata_version = self._read_member(member, path).decode("utf-8", "replace").strip()
                continue
            parsed = parse_item_path(path)
            if parsed is None:
                self.skipped_members.append(path)
                continue
            group_resource, version, namespace, name, preferred = parsed
            if version is not None and not self._include_versioned:
                continue
            data = self._read_member(member, path)
            try:
                obj = fast_json.loads_exact(data)
            except ValueError as error:
                raise BackupFormatError("%s: %s is not valid JSON: %s" % (self._source, path, error))
            if not isinstance(obj, dict):
                raise BackupFormatError("%s: %s does not hold a Kubernetes object (a JSON object)" % (self._source, path))
            yield ArchiveItem(group_resource, version, namespace, name, preferred, obj, path)

"""The tar reader under the backup reader: what tarfile reads, read the same way, and a damaged header refused."""

import gzip
import io
import json
import random
import tarfile

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tar_stream import TarStream, parse_pax_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError


def tar_of(entries, tar_format):
    """An uncompressed tar of (name, data or None for a directory) entries, written by tarfile."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read_all(tar_bytes):
    stream = TarStream(io.BytesIO(tar_bytes), max_extended_bytes=1 << 20)
    read = []
    while True:
        member = stream.next()
        if member is None:
            return read
        read.append((member.name, member.type, stream.read_data(member) if member.isfile() else None))


def read_with_tarfile(tar_bytes):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r|") as tar:
        return [(member.name, member.type, tar.extractfile(member).read() if member.isfile() else None) for member in tar]


def generated_entries(seed):
    generator = random.Random(seed)
    entries = []
    for index in range(60):
        depth = generator.randint(1, 6)
        # Short and long names, some past ustar's 100 + 155 bytes, some not ASCII.
        parts = ["d%d-%s" % (index, "x" * generator.choice((1, 30, 90, 160))) for _part in range(depth)]
        if generator.random() < 0.2:
            parts[-1] += "-\u00e9t\u00e9-\u4e2d"
        name = "/".join(parts)
        entries.append((name, None) if generator.random() < 0.1 else (name, generator.randbytes(generator.randint(0, 1500))))
    return entries


@pytest.mark.parametrize("tar_format", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_what_tarfile_reads(tar_format):
    entries = generated_entries(tar_format)
    if tar_format == tarfile.USTAR_FORMAT:
        # ustar holds names of up to 100 bytes (or split at a "/" into 155 + 100).
        entries = [(name, data) for name, data in entries if len(name.encode()) <= 100]
        assert len(entries) >= 10
    tar_bytes = tar_of(entries, tar_format)
    assert read_all(tar_bytes) == read_with_tarfile(tar_bytes)
    assert [name for name, _type, _data in read_all(tar_bytes)] == [name for name, _data in entries]


def test_base_256_sizes_and_v7_directories_read_as_tarfile_reads_them():
    header = bytearray(tar_of([("big.json", b"{}")], tarfile.USTAR_FORMAT)[:512])
    header[124:136] = b"\x80" + (2).to_bytes(11, "big")  # the size, base-256
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    v7_directory = bytearray(tar_of([("old-dir/", b"")], tarfile.USTAR_FORMAT)[:512])
    v7_directory[156:157] = b"\0"  # AREGTYPE with a trailing slash: a directory
    v7_directory[148:156] = b"        "
    v7_directory[148:156] = b"%06o\0 " % sum(v7_directory)
    tar_bytes = bytes(header) + b"{}" + b"\0" * 510 + bytes(v7_directory) + b"\0" * 1024
    assert read_all(tar_bytes) == read_with_tarfile(tar_bytes) == [("big.json", tarfile.REGTYPE, b"{}"), ("old-dir", tarfile.DIRTYPE, None)]


def test_a_damaged_header_after_the_first_is_an_error_not_the_end():
    # tarfile takes a header with a bad checksum for the end of the archive and stops without a word:
    # a restore would have lost every object after it.
    items = [("resources/configmaps/namespaces/shop/cm-%d.json" % index,
              json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%d" % index, "namespace": "shop"}}).encode())
             for index in range(3)]
    tar_bytes = bytearray(tar_of(items, tarfile.USTAR_FORMAT))
    second_header = 512 + 512  # the first entry's header and its one data block
    tar_bytes[second_header + 10] ^= 0x01  # a byte of the name; the checksum no longer matches
    assert len(read_with_tarfile(bytes(tar_bytes))) == 1  # what tarfile does
    with pytest.raises(BackupFormatError, match="truncated or corrupted.*checksum"):
        list(ArchiveReader(io.BytesIO(gzip.compress(bytes(tar_bytes)))))


def test_an_oversized_gnu_long_name_is_refused_before_it_is_read():
    header = bytearray(tar_of([("x", b"")], tarfile.USTAR_FORMAT)[:512])
    header[0:100] = b"././@LongLink".ljust(100, b"\0")
    header[156:157] = tarfile.GNUTYPE_LONGNAME
    header[124:136] = b"%011o\0" % (1 << 30)
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    stream = TarStream(io.BytesIO(bytes(header)), max_extended_bytes=1 << 20)
    with pytest.raises(BackupFormatError, match="1073741824 bytes of extended header data"):
        stream.next()


def test_pax_records():
    assert parse_pax_records(b"29 path=resources/a/b/c.json\n11 size=42\n") == {"path": "resources/a/b/c.json", "size": "42"}
    for broken in (b"99 path=x\n", b"12 pathx-y\n\n", b"x path=y\n"):
        with pytest.raises(tarfile.InvalidHeaderError):
            parse_pax_records(broken)

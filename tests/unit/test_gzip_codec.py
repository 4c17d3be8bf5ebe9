"""Archives compressed by ISA-L (the optional isal package) are standard gzip: every reader gets the same tar from them."""

import gzip
import io
import tarfile
import zlib

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import gzip_codec
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader, ArchiveWriter
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError

isal_zlib = pytest.importorskip("isal.isal_zlib")


def written(level=2, count=600):
    sink = io.BytesIO()
    with ArchiveWriter(sink, compress_level=level) as writer:
        for index in range(count):
            writer.add_item("configmaps", "v1", "shop-%d" % (index % 7), "cm-%04d" % index,
                            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%04d" % index}, "data": {"k": "value %d;" % index * 30}})
    return sink.getvalue()


def tar_contents(data):
    """(path, bytes) of every entry, as Python's tarfile and zlib read them."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [(member.name, tar.extractfile(member).read()) for member in tar.getmembers()]


def items(data):
    return [(item.group_resource, item.namespace, item.name, item.preferred_version_path, item.obj) for item in ArchiveReader(io.BytesIO(data))]


def test_isal_is_really_used_when_installed():
    # Guards the comparisons below: without it they would compare zlib with itself.
    assert gzip_codec.isal_zlib is isal_zlib
    assert type(gzip_codec.compressor(2)) is not type(zlib.compressobj(2, zlib.DEFLATED, gzip_codec.GZIP_WBITS))


@pytest.mark.parametrize("level", [1, 2, 3])
def test_isal_and_zlib_archives_hold_the_same_tar_and_each_reads_the_other(monkeypatch, level):
    fast = written(level)
    monkeypatch.setattr(gzip_codec, "isal_zlib", None)
    slow = written(level)
    assert fast != slow  # really two compressors
    assert tar_contents(fast) == tar_contents(slow)
    assert len(gzip.decompress(fast)) == len(gzip.decompress(slow))
    # zlib (isal_zlib is None now) reads ISA-L's archive ...
    expected = items(slow)
    assert items(fast) == expected and len(expected) == 600
    monkeypatch.undo()
    # ... and ISA-L reads zlib's.
    assert items(slow) == expected


@pytest.mark.parametrize("level", [0, 4, 6, 9])
def test_other_levels_are_zlib_s_own(level):
    data = b"".join(b"line %d of a manifest\n" % number for number in range(5000))
    ours = gzip_codec.compressor(level)
    theirs = zlib.compressobj(level, zlib.DEFLATED, gzip_codec.GZIP_WBITS)
    assert ours.compress(data) + ours.flush() == theirs.compress(data) + theirs.flush()


@pytest.mark.parametrize("isal_installed", [True, False])
@pytest.mark.parametrize("offset_from_end", [8, 5, 1], ids=["crc", "crc-high-byte", "length"])
def test_a_damaged_gzip_trailer_is_refused_on_both_paths(monkeypatch, isal_installed, offset_from_end):
    data = bytearray(written())
    data[-offset_from_end] ^= 0x01
    if not isal_installed:
        monkeypatch.setattr(gzip_codec, "isal_zlib", None)
    with pytest.raises(BackupFormatError, match="corrupted"):
        items(bytes(data))

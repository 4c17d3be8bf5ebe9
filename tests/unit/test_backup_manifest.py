"""Reads of a backup's files checked against its manifest: every way of reading, every way of tampering."""

import hashlib

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.manifest import IntegrityError, ManifestCheckedLocation
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

ORIGINAL = b"the volume snapshot records, as backed up" * 100
KEY = "backups/b/b-volumesnapshots.json.gz"


def read_all(location):
    with location.open_read(KEY) as stream:
        return stream.read()


def read_in_chunks(location):
    with location.open_read(KEY) as stream:
        chunks = []
        while True:
            chunk = stream.read(512)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def read_part_then_finish(location):
    stream = location.open_read(KEY)
    data = stream.read(10)
    location.finish()
    stream.close()
    return data


READS = {"get_bytes": lambda location: location.get_bytes(KEY), "read()": read_all, "read(512) to the end": read_in_chunks,
         "read(10), then finish()": read_part_then_finish}


def checked(tmp_path, stored, listed=True, strict=True):
    (tmp_path / "backups" / "b").mkdir(parents=True)
    (tmp_path / "backups" / "b" / "b-volumesnapshots.json.gz").write_bytes(stored)
    files = {"b-volumesnapshots.json.gz": {"size": len(ORIGINAL), "sha256": hashlib.sha256(ORIGINAL).hexdigest()}} if listed else {}
    return ManifestCheckedLocation(open_location(str(tmp_path)), "b", {"files": files}, strict=strict)


@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize("stored, listed, problem", [
    (ORIGINAL.replace(b"records", b"RECORDS"), True, "has SHA-256"),
    (ORIGINAL + b"x", True, "bytes"),
    (ORIGINAL[:-1], True, "has %d bytes, the manifest says %d" % (len(ORIGINAL) - 1, len(ORIGINAL))),
    (ORIGINAL, False, "is not listed in the manifest"),
])
def test_a_file_that_is_not_what_the_manifest_records_is_refused(tmp_path, read, stored, listed, problem):
    location = checked(tmp_path, stored, listed)
    with pytest.raises(IntegrityError) as raised:
        READS[read](location)
        location.finish()
    assert "backup 'b' does not match its manifest: b-volumesnapshots.json.gz" in str(raised.value) and problem in str(raised.value)


@pytest.mark.parametrize("read", sorted(READS))
def test_an_intact_file_reads_as_it_is(tmp_path, read):
    location = checked(tmp_path, ORIGINAL)
    assert READS[read](location) in (ORIGINAL, ORIGINAL[:10])
    location.finish()
    assert location.problems == []


def test_without_strict_a_mismatch_is_kept_for_a_warning(tmp_path):
    location = checked(tmp_path, ORIGINAL[:-1], strict=False)
    assert read_all(location) == ORIGINAL[:-1]
    location.finish()
    assert len(location.problems) == 1 and "the manifest says" in location.problems[0]

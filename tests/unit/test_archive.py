"""The backup tarball: what we write is what Velero writes, and we read Velero's tarballs as our own."""

import base64
import gzip
import hashlib
import io
import json
import tarfile
import time

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import tarball as archive
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import (
    ArchiveItem,
    ArchiveReader,
    ArchiveWriter,
    HashingWriter,
    encode_item,
    item_path_problem,
    parse_item_path,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError, LocationError

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "shop", "uid": "8c1f", "resourceVersion": "42",
                 "annotations": {"note": "a<b & c>d", "city": "Z\u00fcrich"}},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
    "status": {"phase": "Running"},
}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 3}}
COUPON = {"apiVersion": "shop.example.com/v1", "kind": "Coupon", "metadata": {"name": "spring", "namespace": "shop"}, "spec": {"discount": 0.25}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}}
CLUSTER_ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:viewer"}}

# (group_resource, version, namespace, name, object)
ITEMS = [
    ("pods", "v1", "shop", "web-1", POD),
    ("deployments.apps", "v1", "shop", "web", DEPLOYMENT),
    ("coupons.shop.example.com", "v1", "shop", "spring", COUPON),
    ("namespaces", "v1", None, "shop", NAMESPACE),
    ("clusterroles.rbac.authorization.k8s.io", "v1", None, "system:viewer", CLUSTER_ROLE),
]

# Written by Go's archive/tar and compress/gzip exactly as Velero's backupper
# does (tar.Header{Typeflag: TypeReg, Mode: 0755, ModTime: now}, json.Marshal of
# the object, unversioned path then <version>-preferredversion), with ITEMS'
# paths and objects; POD without uid, resourceVersion, spec and status, plus
# a float and a U+2028 to exercise Go's escaping.
GO_WRITTEN_TARBALL = base64.b64decode(
    "H4sIAAAAAAAA/+yZwXLaPBDHOX9Pwez1I2Ylg8n42p47nR56ykXYm8QJtjSSTZpm8kB9jr5Yx6YNVHEAl4lTyv4uGs0wI4P299di"
    "5VSqVJVqvCTrMl0MXgFExNl02oyI6I+IGA3ENESJoYxCOUAhJ3I2GOJrPIxP5UplB3jwWv6XOxJEIAL8762fgnkrLDld2YTc2OjU"
    "jQuVkzOqnrtrbcZ3ND8TwY07KBh2+R8+838mBPvfCw+gTPZ5lf0Qw1LACG6zIoUYPuoURvDrgID4AVRR6FKVmS5cPaVc32QQQ6Iu"
    "v38bXlQS5TmMoNAlQQzqokIMk/mwHmU0TJo5pfA4grrMIIamumA1baoOYqjLrv6IM5TUi8yzK4gF/S/FCGy9NsQYTEdgySyyRDmI"
    "w8fHt/4VjxfP/6U4M5YuyVpKf3YEh2dCZ/9liHz+9wP7f9qs/U/JLPR9TkXpAmVMay/wZ53ALv9FKDz/RSim7H8feP43G78ZAu+f"
    "qsLLgrXCrQKzksfBFv/37AV2Z0J3/6dSsv+9wP6fNmv/E10ZXbig3r+AvqjcLChIdP7MeWdsVlx1aAV2+j+Z+P3/BCP2vw88/59t"
    "/mYWvGsqpD0HVkXBUXBs7OH/Pn3A1kzo7v8sFOx/L7D/p83a/w2lk0XlSrKN2oe+/N/Hf/T6fxHNhGD/+2DL+78PTya3G89y/wO0"
    "+t924h+QCZ39lzKS7H8vsP+nzUb/vxLc6gW5wM5VEqiqvNY2+9rc+AS35y7I9DoH7l1JebzM6I7s9kDY3f/793+RCPn+rxc8/1/e"
    "99/+CKxq4JNevJQNm8XBIfEX09n/rb1BeyZ09j+UOGH/e4H9ZxiGOU1+BAAA//9jpo4lADAAAA=="
)


def write_archive(items=None, background=True, preferred=True):
    items = ITEMS if items is None else items
    sink = io.BytesIO()
    with ArchiveWriter(sink, background=background) as writer:
        for group_resource, version, namespace, name, obj in items:
            writer.add_item(group_resource, version, namespace, name, obj, preferred=preferred)
    return sink.getvalue(), writer


def members(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [(member, tar.extractfile(member).read() if member.isfile() else None) for member in tar.getmembers()]


def read_items(data, **options):
    return [(item.group_resource, item.version, item.namespace, item.name, item.preferred_version_path, item.obj)
            for item in ArchiveReader(io.BytesIO(data), **options)]


def compact(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class OnlyWrites:
    """A sink that cannot seek or tell, like an S3 upload stream."""

    def __init__(self):
        self.chunks = []

    def write(self, data):
        self.chunks.append(bytes(data))
        return len(data)


class OnlyReads:
    """A source that cannot seek or tell, like an S3 download stream."""

    def __init__(self, data):
        self._stream = io.BytesIO(data)

    def read(self, size=-1):
        return self._stream.read(size)


# --- what we write --------------------------------------------------------------


@pytest.mark.parametrize("background", [True, False])
def test_layout_is_velero_s(background):
    data, _writer = write_archive(background=background)
    entries = members(data)
    names = [member.name for member, _content in entries]
    assert names == [
        "metadata/version",
        "resources/pods/namespaces/shop/web-1.json",
        "resources/pods/v1-preferredversion/namespaces/shop/web-1.json",
        "resources/deployments.apps/namespaces/shop/web.json",
        "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
        "resources/coupons.shop.example.com/namespaces/shop/spring.json",
        "resources/coupons.shop.example.com/v1-preferredversion/namespaces/shop/spring.json",
        "resources/namespaces/cluster/shop.json",
        "resources/namespaces/v1-preferredversion/cluster/shop.json",
        "resources/clusterroles.rbac.authorization.k8s.io/cluster/system:viewer.json",
        "resources/clusterroles.rbac.authorization.k8s.io/v1-preferredversion/cluster/system:viewer.json",
    ]
    assert entries[0][1] == b"1.1.0\n"
    for member, _content in entries:
        assert member.isreg(), member.name
        assert member.mode == 0o755, member.name
        assert not member.name.startswith(("./", "/"))
        assert abs(member.mtime - time.time()) < 60


def test_items_are_compact_sorted_json_and_duplicates_identical():
    data, _writer = write_archive()
    content = dict((member.name, body) for member, body in members(data))
    for group_resource, _version, namespace, name, obj in ITEMS:
        scope = "namespaces/%s" % namespace if namespace else "cluster"
        plain = content["resources/%s/%s/%s.json" % (group_resource, scope, name)]
        preferred = content["resources/%s/v1-preferredversion/%s/%s.json" % (group_resource, scope, name)]
        assert plain == preferred
        assert json.loads(plain) == obj
        # Compact, sorted keys; Go's escapes of <, >, & are the only difference from json.dumps.
        assert plain == compact(obj).replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    assert "Z\u00fcrich".encode("utf-8") in content["resources/pods/namespaces/shop/web-1.json"]


def test_item_bytes_match_go_json_marshal():
    """encode_item gives the bytes Go's json.Marshal wrote into the Go-written tarball."""
    with tarfile.open(fileobj=io.BytesIO(GO_WRITTEN_TARBALL), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.startswith("resources/"):
                go_bytes = tar.extractfile(member).read()
                assert encode_item(json.loads(go_bytes)) == go_bytes, member.name


def test_not_preferred_items_are_written_once():
    data, _writer = write_archive(items=ITEMS[:1], preferred=False)
    assert [member.name for member, _content in members(data)] == ["metadata/version", "resources/pods/namespaces/shop/web-1.json"]


def test_counts_and_returned_size():
    sink = io.BytesIO()
    writer = ArchiveWriter(sink)
    size = writer.add_item("pods", "v1", "shop", "web-1", POD)
    writer.add_item("pods", "v1", "shop", "web-2", POD, preferred=False)
    writer.add_item("namespaces", "v1", None, "shop", NAMESPACE)
    writer.close()
    assert size == len(encode_item(POD))
    assert writer.item_count == 3
    assert writer.counts_by_resource == {"pods": 2, "namespaces": 1}
    assert writer.item_bytes == 2 * size + len(encode_item(NAMESPACE))
    assert writer.entry_count == 1 + 2 + 1 + 2


def test_output_is_one_valid_gzip_stream_to_a_sink_that_cannot_seek():
    sink = OnlyWrites()
    with ArchiveWriter(sink) as writer:
        for index in range(3000):
            writer.add_item("configmaps", "v1", "ns-%d" % (index % 7), "cm-%05d" % index,
                            {"kind": "ConfigMap", "data": {"k": hashlib.sha256(b"%d" % index).hexdigest() * 4}})
    data = b"".join(sink.chunks)
    assert len(sink.chunks) > 2  # streamed in pieces, not in one write at the end
    assert data[:2] == b"\x1f\x8b"
    tar_bytes = gzip.decompress(data)  # checks the CRC and length trailer
    assert len(tar_bytes) % 512 == 0 and tar_bytes.endswith(b"\0" * 1024)
    assert len(read_items(data)) == 3000


def test_compression_levels_change_the_size_not_the_tar():
    def written(level):
        sink = io.BytesIO()
        with ArchiveWriter(sink, compress_level=level) as writer:
            for index in range(400):
                writer.add_item("configmaps", "v1", "shop", "cm-%03d" % index, {"kind": "ConfigMap", "data": {"k": "value %d " % index * 40}})
        return sink.getvalue()

    archives = dict((level, written(level)) for level in (0, 2, 6, 9))
    tars = dict((level, gzip.decompress(data)) for level, data in archives.items())
    # mtimes are whole seconds: compare the tars without the headers' mtime fields.
    for level, tar_bytes in tars.items():
        assert len(tar_bytes) == len(tars[0]), level
    assert [len(read_items(data)) for data in archives.values()] == [400] * 4
    assert len(archives[0]) > len(tars[0]) > len(archives[2]) > len(archives[6]) >= len(archives[9])
    assert archive.DEFAULT_COMPRESS_LEVEL == 2


def test_long_paths_use_pax_headers_that_tar_readers_understand():
    long_group = "a" * 120 + ".example.com"
    long_name = "n" * 240
    data, _writer = write_archive(items=[(long_group, "v1beta1", "shop", long_name, {"kind": "Thing"})])
    names = [member.name for member, _content in members(data)]
    assert names[1:] == [
        "resources/%s/namespaces/shop/%s.json" % (long_group, long_name),
        "resources/%s/v1beta1-preferredversion/namespaces/shop/%s.json" % (long_group, long_name),
    ]
    assert read_items(data) == [(long_group, None, "shop", long_name, False, {"kind": "Thing"})]


@pytest.mark.parametrize("group_resource, namespace, name", [
    ("pods", "shop", "a/b"),
    ("pods", "shop", ".."),
    ("pods", "../etc", "x"),
    ("", "shop", "x"),
    ("pods", "shop", ""),
])
def test_unsafe_path_parts_are_refused(group_resource, namespace, name):
    writer = ArchiveWriter(io.BytesIO())
    with pytest.raises(BackupFormatError):
        writer.add_item(group_resource, "v1", namespace, name, {})
    writer.abort()


def test_add_after_close_is_refused_and_close_twice_is_harmless():
    writer = ArchiveWriter(io.BytesIO())
    writer.close()
    writer.close()
    with pytest.raises(BackupFormatError, match="already closed"):
        writer.add_item("pods", "v1", "shop", "web-1", POD)


class FailingSink:
    def __init__(self, fail_after):
        self.written = 0
        self.fail_after = fail_after

    def write(self, data):
        if self.written + len(data) > self.fail_after:
            raise LocationError("upload of part 2 failed: AccessDenied")
        self.written += len(data)
        return len(data)


@pytest.mark.parametrize("background", [True, False])
def test_errors_of_the_stream_reach_the_caller(background):
    big = {"kind": "ConfigMap", "data": {"k": "".join("%08x" % n for n in range(20000))}}
    with pytest.raises(LocationError, match="AccessDenied"):
        with ArchiveWriter(FailingSink(fail_after=200000), background=background) as writer:
            for index in range(200):
                writer.add_item("configmaps", "v1", "shop", "cm-%d" % index, big)


def test_an_exception_in_the_block_aborts_without_finishing():
    sink = OnlyWrites()
    big = {"kind": "ConfigMap", "data": {"k": "".join("%08x" % n for n in range(20000))}}
    with pytest.raises(RuntimeError):
        with ArchiveWriter(sink) as writer:
            for index in range(50):
                writer.add_item("configmaps", "v1", "shop", "cm-%d" % index, big)
            raise RuntimeError("listing failed")
    assert sink.chunks  # some of it went out before the failure, but no end of archive
    with pytest.raises(BackupFormatError, match="truncated"):
        read_items(b"".join(sink.chunks))


def test_hashing_writer_counts_and_hashes_what_passes_through():
    sink = io.BytesIO()
    hashing = HashingWriter(sink)
    with ArchiveWriter(hashing) as writer:
        writer.add_item("pods", "v1", "shop", "web-1", POD)
    assert hashing.size == len(sink.getvalue())
    assert hashing.sha256 == hashlib.sha256(sink.getvalue()).hexdigest()


# --- reading ours and Velero's -----------------------------------------------------


def velero_style_tarball():
    """A tarball as other tar writers produce it: directory entries, ./ prefixes, pretty-printed JSON."""
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:

        def add_dir(path):
            info = tarfile.TarInfo("./" + path)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)

        def add_file(path, data):
            info = tarfile.TarInfo("./" + path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add_dir("metadata")
        add_file("metadata/version", b"1.1.0\n")
        add_dir("resources")
        for group_resource, version, namespace, name, obj in ITEMS:
            pretty = json.dumps(obj, indent=4).encode("utf-8")
            scope = "namespaces/%s" % namespace if namespace else "cluster"
            add_dir("resources/%s" % group_resource)
            add_dir("resources/%s/%s" % (group_resource, scope))
            add_file("resources/%s/%s/%s.json" % (group_resource, scope, name), pretty)
            add_dir("resources/%s/%s-preferredversion/%s" % (group_resource, version, scope))
            add_file("resources/%s/%s-preferredversion/%s/%s.json" % (group_resource, version, scope, name), pretty)
        # EnableAPIGroupVersions backups also hold other versions; restores read them only on request.
        add_file("resources/coupons.shop.example.com/v1beta1/namespaces/shop/spring.json", json.dumps(COUPON).encode())
        add_file("resources/README.txt", b"not an item")
    return sink.getvalue()


def test_velero_style_and_our_tarballs_read_the_same():
    ours, _writer = write_archive()
    theirs = velero_style_tarball()
    expected = [(group_resource, None, namespace, name, False, obj) for group_resource, _version, namespace, name, obj in ITEMS]
    assert read_items(ours) == expected
    assert read_items(theirs) == expected
    reader = ArchiveReader(io.BytesIO(theirs))
    assert reader.metadata_version == "1.1.0"
    list(reader)
    assert reader.skipped_members == ["resources/README.txt"]


def test_go_written_tarball_reads_like_ours():
    reader = ArchiveReader(OnlyReads(GO_WRITTEN_TARBALL))
    assert reader.metadata_version == "1.1.0"
    items = [(item.group_resource, item.namespace, item.name, item.obj["kind"]) for item in reader]
    assert items == [
        ("pods", "shop", "web-1", "Pod"),
        ("deployments.apps", "shop", "web", "Deployment"),
        ("coupons.shop.example.com", "shop", "spring", "Coupon"),
        ("namespaces", None, "shop", "Namespace"),
        ("clusterroles.rbac.authorization.k8s.io", None, "system:viewer", "ClusterRole"),
    ]


def test_versioned_copies_on_request():
    items = read_items(velero_style_tarball(), include_versioned=True)
    coupons = [(version, preferred) for group_resource, version, _ns, _name, preferred, _obj in items if group_resource == "coupons.shop.example.com"]
    assert coupons == [(None, False), ("v1", True), ("v1beta1", False)]


@pytest.mark.parametrize("path, expected", [
    ("resources/pods/namespaces/shop/web-1.json", ("pods", None, "shop", "web-1", False)),
    ("resources/pods/v1-preferredversion/namespaces/shop/web-1.json", ("pods", "v1", "shop", "web-1", True)),
    ("resources/namespaces/cluster/shop.json", ("namespaces", None, None, "shop", False)),
    ("resources/namespaces/v1-preferredversion/cluster/shop.json", ("namespaces", "v1", None, "shop", True)),
    # A namespace called "cluster" is still a namespace.
    ("resources/pods/namespaces/cluster/web.json", ("pods", None, "cluster", "web", False)),
    ("resources/hpa.autoscaling/v2/namespaces/shop/web.json", ("hpa.autoscaling", "v2", "shop", "web", False)),
    ("resources/pods/namespaces/shop/web.v2.json", ("pods", None, "shop", "web.v2", False)),
    ("resources/pods/namespaces/shop/web-1.yaml", None),
    ("resources/pods/shop/web-1.json", None),
    ("resources/pods/namespaces/web-1.json", None),
    ("metadata/version", None),
])
def test_item_paths(path, expected):
    assert parse_item_path(path) == expected


def test_metadata_version_is_known_before_iterating():
    data, _writer = write_archive(items=ITEMS[:1])
    reader = ArchiveReader(io.BytesIO(data))
    assert reader.metadata_version == "1.1.0"
    assert [item.name for item in reader] == ["web-1"]
    with pytest.raises(BackupFormatError, match="only once"):
        list(reader)


# --- broken archives ---------------------------------------------------------------


def test_not_gzip():
    plain_tar = io.BytesIO()
    with tarfile.open(fileobj=plain_tar, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("metadata/version"), io.BytesIO(b""))
    for data in (plain_tar.getvalue(), b"{\"kind\": \"Backup\"}"):
        with pytest.raises(BackupFormatError, match="not gzip"):
            read_items(data)
    with pytest.raises(BackupFormatError, match="empty"):
        read_items(b"")


def test_gzip_that_is_not_a_tar():
    with pytest.raises(BackupFormatError, match="not a readable backup"):
        read_items(gzip.compress(b"hello, this is not a tar archive" * 40))


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_truncated_archives_are_reported(fraction):
    data, _writer = write_archive(items=[("configmaps", "v1", "shop", "cm-%d" % index, {"data": {"k": "%d" % index * 50}})
                                         for index in range(300)])
    with pytest.raises(BackupFormatError, match="truncated|corrupted|not a readable backup"):
        read_items(data[:int(len(data) * fraction)])


def test_truncated_just_before_the_gzip_trailer():
    data, _writer = write_archive()
    with pytest.raises(BackupFormatError, match="truncated"):
        read_items(data[:-4])


def test_corrupted_bytes_are_reported():
    data, _writer = write_archive(items=[("configmaps", "v1", "shop", "cm-%d" % index, {"data": {"k": "%d" % index * 50}})
                                         for index in range(300)])
    corrupted = bytearray(data)
    for position in range(len(data) // 2, len(data) // 2 + 16):
        corrupted[position] ^= 0xFF
    with pytest.raises(BackupFormatError):
        read_items(bytes(corrupted))


def tarball_with(path, data):
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w:gz") as tar:
        info = tarfile.TarInfo(path)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return sink.getvalue()


def test_invalid_json_names_the_member():
    data = tarball_with("resources/pods/namespaces/shop/web-1.json", b"{\"kind\": \"Pod\",")
    with pytest.raises(BackupFormatError, match="resources/pods/namespaces/shop/web-1.json is not valid JSON"):
        read_items(data)


def test_json_that_is_not_an_object_names_the_member():
    data = tarball_with("resources/pods/namespaces/shop/web-1.json", b"[1, 2]")
    with pytest.raises(BackupFormatError, match="web-1.json does not hold a Kubernetes object"):
        read_items(data)


# ---------------------------------------------------------------- hostile archives


def tarball_of(*members):
    """A gzip tarball of (TarInfo, data or None) members, written by tarfile."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def tar_info(name, type_=tarfile.REGTYPE, size=0, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = type_
    info.size = size
    info.linkname = linkname
    return info


CONFIG_MAP_PATH = "resources/configmaps/namespaces/shop/settings.json"


@pytest.mark.parametrize("member, named", [
    (tar_info("../../etc/cron.d/evil.json"), "../../etc/cron.d/evil.json has a '..' path component"),
    (tar_info("resources/configmaps/namespaces/../../x.json"), "has a '..' path component"),
    (tar_info("/etc/passwd"), "/etc/passwd has an absolute path"),
    (tar_info(CONFIG_MAP_PATH, tarfile.SYMTYPE, linkname="/etc/shadow"), CONFIG_MAP_PATH + " is a symbolic link (to /etc/shadow)"),
    (tar_info(CONFIG_MAP_PATH, tarfile.LNKTYPE, linkname="metadata/version"), CONFIG_MAP_PATH + " is a hard link (to metadata/version)"),
    (tar_info("resources/dev/sda", tarfile.BLKTYPE), "resources/dev/sda is a device"),
    (tar_info("resources/dev/tty", tarfile.CHRTYPE), "resources/dev/tty is a device"),
    (tar_info("resources/pipe", tarfile.FIFOTYPE), "resources/pipe is a fifo"),
    (tar_info("resources/contiguous.json", tarfile.CONTTYPE), "resources/contiguous.json is a tar entry of type"),
])
def test_hostile_members_are_refused_and_named(member, named):
    data = tarball_of((tar_info("metadata/version", size=6), b"1.1.0\n"), (member, None))
    with pytest.raises(BackupFormatError, match="hostile entry") as raised:
        read_items(data)
    assert named in str(raised.value)


def test_an_entry_bigger_than_any_object_is_refused_by_its_header_before_it_is_read():
    """The header says 1 GiB: refused without inflating it (only the header is ever compressed here)."""
    header = tar_info(CONFIG_MAP_PATH, size=archive.MAX_ENTRY_BYTES + 1).tobuf(tarfile.GNU_FORMAT)
    data = gzip.compress(tar_info("metadata/version", size=6).tobuf(tarfile.GNU_FORMAT) + b"1.1.0\n".ljust(512, b"\0") + header)
    with pytest.raises(BackupFormatError, match="more than the %d bytes any Kubernetes object can have" % archive.MAX_ENTRY_BYTES):
        read_items(data)


def test_a_pax_header_bigger_than_any_entry_is_refused_before_tarfile_reads_it():
    pax = tar_info("PaxHeaders/x", tarfile.XHDTYPE, size=archive.MAX_ENTRY_BYTES + 1).tobuf(tarfile.USTAR_FORMAT)
    with pytest.raises(BackupFormatError, match="extended header data"):
        read_items(gzip.compress(pax))


def test_an_archive_inflating_past_the_manifests_size_is_refused():
    data, writer = write_archive()
    assert [item[3] for item in read_items(data, max_tar_bytes=writer.tar_bytes)]
    with pytest.raises(BackupFormatError, match="inflates to more than the %d bytes" % (writer.tar_bytes - 1)):
        read_items(data, max_tar_bytes=writer.tar_bytes - 1)


def test_data_after_the_end_of_the_tar_is_bounded():
    data, _writer = write_archive()
    padded = gzip.compress(gzip.decompress(data) + b"\0" * (archive.MAX_ENTRY_BYTES + 2 * 1024 * 1024))
    with pytest.raises(BackupFormatError, match="follow the end of the tar archive"):
        read_items(padded)


def test_directories_and_dot_slash_prefixes_of_other_writers_are_fine():
    body = json.dumps(NAMESPACE).encode()
    data = tarball_of((tar_info("./resources/namespaces/cluster", tarfile.DIRTYPE), None),
                      (tar_info("./resources/namespaces/cluster/shop.json", size=len(body)), body))
    assert [item[3] for item in read_items(data)] == ["shop"]


def item_at(path, obj):
    group_resource, version, namespace, name, preferred = parse_item_path(path)
    return ArchiveItem(group_resource, version, namespace, name, preferred, obj, path)


@pytest.mark.parametrize("path, obj, problem", [
    ("resources/configmaps/namespaces/evilns/x.json", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "kube-system"}},
     "holds an object of namespace 'kube-system'"),
    ("resources/configmaps/namespaces/shop/x.json", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y", "namespace": "shop"}},
     "holds an object named 'y'"),
    ("resources/namespaces/cluster/x.json", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "x"}},
     "stored as cluster-scoped but names namespace 'x'"),
    ("resources/deployments.apps/namespaces/shop/x.json", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}},
     "holds a ConfigMap of API group '', not of deployments.apps"),
    ("resources/configmaps/namespaces/shop/x.json",
     {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "x", "namespace": "shop"}},
     "holds a Role of API group 'rbac.authorization.k8s.io', not of configmaps"),
    ("resources/configmaps/namespaces/shop/x.json", {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}}, "has no apiVersion"),
    ("resources/configmaps/namespaces/shop/x.json", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "has no metadata.name"),
    ("resources/deployments.apps/namespaces/shop/x.json", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "shop"}},
     None),
])
def test_the_path_is_the_authority_over_the_object(path, obj, problem):
    found = item_path_problem(item_at(path, obj))
    assert (found is None) if problem is None else (problem in found), found


@pytest.mark.parametrize("preferred", [True, False])
def test_item_headers_are_the_general_tar_entry_for_every_path_shape(monkeypatch, preferred):
    # add_item builds item headers from cached directory parts; the reference is tar_entry, which builds any entry
    # from its path: short paths, paths split into the ustar prefix field, PAX paths, non-ASCII names and directories.
    class FixedClock:
        @staticmethod
        def time():
            return 1780000000.5

    monkeypatch.setattr(archive, "time", FixedClock)
    shapes = [
        ("configmaps", "shop", "web"),
        ("appconfigs.bench.kubesafe.io", "bench-07", "alpha-bravo-appconfig-000123"),  # > 100 bytes with preferred
        ("configmaps", "shop", "n" * 95),  # the longest name the name field takes beside the prefix field
        ("configmaps", "shop", "n" * 96),  # one more: PAX
        ("a" * 150 + ".example.com", "shop", "x"),  # a directory too long for the prefix field: PAX
        ("configmaps", "shop", "caf\u00e9"),  # non-ASCII name: PAX
        ("configmaps", "sh\u00f6p", "web"),  # non-ASCII directory: PAX
        ("clusterroles.rbac.authorization.k8s.io", None, "system:" + "r" * 60),
    ]
    sink = io.BytesIO()
    with ArchiveWriter(sink) as writer:
        for group_resource, namespace, name in shapes:
            writer.add_item(group_resource, "v1", namespace, name, {"kind": "Thing", "metadata": {"name": name}}, preferred=preferred)
    expected = [archive.tar_entry(archive.VERSION_MEMBER, (archive.FORMAT_VERSION + "\n").encode(), 1780000000)]
    for group_resource, namespace, name in shapes:
        data = encode_item({"kind": "Thing", "metadata": {"name": name}})
        expected.append(archive.tar_entry(archive.item_path(group_resource, namespace, name), data, 1780000000))
        if preferred:
            expected.append(archive.tar_entry(archive.item_path(group_resource, namespace, name, "v1" + archive.PREFERRED_VERSION_SUFFIX),
                                              data, 1780000000))
    assert gzip.decompress(sink.getvalue()) == b"".join(expected) + b"\0" * 1024
    with tarfile.open(fileobj=io.BytesIO(sink.getvalue()), mode="r:gz") as tar:
        assert len(tar.getnames()) == len(expected)

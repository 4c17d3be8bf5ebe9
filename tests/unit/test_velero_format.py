"""Velero's metadata formats: velero-backup.json, sidecars, file names, names, durations, timestamps, selectors."""

import datetime
import gzip
import hashlib
import io
import json
import random

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format as vf
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError, ConfigurationError

UTC = datetime.timezone.utc
START = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- durations and timestamps --------------------------------------------------------


@pytest.mark.parametrize("text, expected, canonical", [
    ("720h0m0s", datetime.timedelta(days=30), "720h0m0s"),
    ("24h", datetime.timedelta(hours=24), "24h0m0s"),
    ("90m", datetime.timedelta(minutes=90), "1h30m0s"),
    ("1h30m", datetime.timedelta(minutes=90), "1h30m0s"),
    ("1.5h", datetime.timedelta(minutes=90), "1h30m0s"),
    ("45s", datetime.timedelta(seconds=45), "45s"),
    ("90s", datetime.timedelta(seconds=90), "1m30s"),
    ("1.5s", datetime.timedelta(seconds=1.5), "1.5s"),
    ("300ms", datetime.timedelta(milliseconds=300), "300ms"),
    ("1500us", datetime.timedelta(microseconds=1500), "1.5ms"),
    ("2\u00b5s", datetime.timedelta(microseconds=2), "2\u00b5s"),
    ("0", datetime.timedelta(), "0s"),
    ("0s", datetime.timedelta(), "0s"),
    ("-1m", datetime.timedelta(minutes=-1), "-1m0s"),
    ("+2h", datetime.timedelta(hours=2), "2h0m0s"),
    (" 10m ", datetime.timedelta(minutes=10), "10m0s"),
])
def test_go_durations(text, expected, canonical):
    assert vf.parse_go_duration(text) == expected
    assert vf.format_go_duration(expected) == canonical


@pytest.mark.parametrize("text", ["3x", "", "h", "24", "1h 30m", "-", "1d", "ten minutes", None, 5])
def test_bad_durations_name_the_value(text):
    with pytest.raises(ConfigurationError, match="ttl '%s' is not a duration like 720h0m0s or 24h" % (text,)):
        vf.parse_go_duration(text)


def test_duration_errors_name_the_option():
    with pytest.raises(ConfigurationError, match="^csi_snapshot_timeout '3x'"):
        vf.parse_go_duration("3x", what="csi_snapshot_timeout")


def test_timedelta_passes_through():
    assert vf.parse_go_duration(datetime.timedelta(hours=1)) == datetime.timedelta(hours=1)


@pytest.mark.parametrize("value, expected", [
    (START, "2024-01-02T03:04:05Z"),
    (datetime.datetime(2024, 1, 2, 3, 4, 5, 999999), "2024-01-02T03:04:05Z"),  # naive: UTC, fraction dropped
    (datetime.datetime(2024, 1, 2, 5, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))), "2024-01-02T03:04:05Z"),
])
def test_format_timestamp(value, expected):
    assert vf.format_timestamp(value) == expected


@pytest.mark.parametrize("text, expected", [
    ("2024-01-02T03:04:05Z", START),
    ("2024-01-02T05:04:05+02:00", START),
    ("2024-01-01T22:04:05-05:00", START),
    ("2024-01-02T03:04:05.123456789Z", START.replace(microsecond=123456)),
    ("2024-01-02t03:04:05z", START),
])
def test_parse_timestamp(text, expected):
    assert vf.parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["2024-01-02", "yesterday", "2024-13-02T03:04:05Z", "", None])
def test_bad_timestamps(text):
    with pytest.raises(BackupFormatError, match="completionTimestamp"):
        vf.parse_timestamp(text, what="completionTimestamp")


# --- names and files -------------------------------------------------------------------


def test_file_names():
    assert vf.file_names("nightly") == {
        "metadata": "backups/nightly/velero-backup.json",
        "contents": "backups/nightly/nightly.tar.gz",
        "contents_encrypted": "backups/nightly/nightly.tar.gz.age",
        "logs": "backups/nightly/nightly-logs.gz",
        "resource_list": "backups/nightly/nightly-resource-list.json.gz",
        "results": "backups/nightly/nightly-results.gz",
        "volume_snapshots": "backups/nightly/nightly-volumesnapshots.json.gz",
        "item_operations": "backups/nightly/nightly-itemoperations.json.gz",
        "volume_info": "backups/nightly/nightly-volumeinfo.json.gz",
        "pod_volume_backups": "backups/nightly/nightly-podvolumebackups.json.gz",
        "csi_volume_snapshots": "backups/nightly/nightly-csi-volumesnapshots.json.gz",
        "csi_volume_snapshot_contents": "backups/nightly/nightly-csi-volumesnapshotcontents.json.gz",
        "csi_volume_snapshot_classes": "backups/nightly/nightly-csi-volumesnapshotclasses.json.gz",
        "manifest": "backups/nightly/nightly-manifest.json",
        "encryption_identity": "backups/nightly/nightly-identity.age",
    }
    assert vf.backup_dir("nightly") == "backups/nightly/"


def test_default_backup_name():
    assert vf.default_backup_name("nightly", START) == "nightly-20240102030405"
    local = datetime.datetime(2024, 1, 2, 5, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert vf.default_backup_name("nightly", local) == "nightly-20240102030405"
    with pytest.raises(ConfigurationError, match="prefix 'Nightly'"):
        vf.default_backup_name("Nightly", START)
    with pytest.raises(ConfigurationError, match="at most 48 characters"):
        vf.default_backup_name("x" * 49, START)


@pytest.mark.parametrize("name", ["nightly", "prod-20240102030405", "a", "v1.2", "x" * 63])
def test_valid_backup_names(name):
    assert vf.validate_backup_name(name) == name


@pytest.mark.parametrize("name, reason", [
    ("", "empty"),
    (None, "empty"),
    ("Nightly", "lowercase"),
    ("-nightly", "starting and ending"),
    ("nightly_1", "lowercase letters, digits"),
    ("x" * 64, "64 characters, at most 63"),
    ("a/b", "lowercase letters"),
])
def test_invalid_backup_names_explain_why(name, reason):
    with pytest.raises(ConfigurationError, match=reason):
        vf.validate_backup_name(name)


def test_label_value_is_hashed_like_velero():
    assert vf.label_value("default") == "default"
    long_value = "a-very-long-storage-location-name-" * 3
    expected = long_value[:57] + hashlib.sha256(long_value.encode()).hexdigest()[:6]
    assert vf.label_value(long_value) == expected
    assert len(expected) == 63


# --- sidecars ------------------------------------------------------------------------------


def test_resource_list():
    builder = vf.ResourceListBuilder()
    builder.add("v1", "ConfigMap", "shop", "settings")
    builder.add("apps/v1", "Deployment", "shop", "web")
    builder.add("v1", "ConfigMap", "kube-system", "coredns")
    builder.add("v1", "Namespace", None, "shop")
    builder.add("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "coupons.shop.example.com")
    assert len(builder) == 5
    data = gzip.decompress(builder.to_gzip_bytes())
    assert data == (
        b'{"apiextensions.k8s.io/v1/CustomResourceDefinition":["coupons.shop.example.com"],'
        b'"apps/v1/Deployment":["shop/web"],'
        b'"v1/ConfigMap":["kube-system/coredns","shop/settings"],'
        b'"v1/Namespace":["shop"]}\n'
    )
    assert builder.to_gzip_bytes() == builder.to_gzip_bytes()  # no timestamp in the gzip header


@pytest.mark.parametrize("api_version, kind, key", [
    ("apps/v1", "Deployment", "apps/v1/Deployment"),
    ("v1", "ConfigMap", "v1/ConfigMap"),
    ("shop.example.com/v1beta1", "Coupon", "shop.example.com/v1beta1/Coupon"),
])
def test_resource_list_key(api_version, kind, key):
    assert vf.resource_list_key(api_version, kind) == key


# --- reading the resource list a name at a time --------------------------------------------------


def streamed_pairs(data, what="snap-resource-list.json.gz"):
    return list(vf.read_resource_list(io.BytesIO(data), what))


def loaded_pairs(data):
    return [(key, name) for key, names in json.loads(gzip.decompress(data)).items() for name in names]


@pytest.mark.parametrize("text", [
    '{}\n',
    '{"v1/Namespace":[]}',
    '{"v1/ConfigMap":["a/b"],"v1/Secret":[],"v1/Namespace":["shop"]}\n',
    # escapes of every kind, in names and keys, and names left unescaped as Velero's json.Encoder writes them
    '{"v1/\\u0043onfigMap":["q\\"uote","back\\\\slash","\\/\\b\\f\\n\\r\\t","\\u00e9t\\u00e9","\\ud83d\\ude00"],'
    '"example.com/v1/Caf\u00e9":["\u00e9t\u00e9/\u65e5\u672c","\U0001f600","a\u2028b"]}\n',
    # whitespace anywhere JSON allows it, as an indenting encoder writes
    ' \r\n{ "v1/ConfigMap" :\n  [\n    "a/b" ,\n\t"c/d"\n  ] ,\n  "v1/Pod": [ ]\n}\n\n',
])
def test_read_resource_list_yields_what_json_loads_gives(text):
    data = gzip.compress(text.encode("utf-8"))
    assert streamed_pairs(data) == loaded_pairs(data)


def test_read_resource_list_of_more_than_one_window():
    """Names across the reader's window boundaries, some long, some escaped: all of them, in file order."""
    names = ["namespace-%d/%s" % (number, ("x" * (number % 300)) + ("\u00e9\"\\" if number % 7 == 0 else "")) for number in range(6000)]
    listed = {"v1/ConfigMap": names, "v1/Secret": names[:10], "v1/Pod": [], "v1/Node": ["n" * 60000]}
    for data in (vf.gzip_json(listed), gzip.compress(json.dumps(listed, indent=3).encode())):
        assert len(gzip.decompress(data)) > 2 * vf._READ_CHARS  # pylint: disable=protected-access
        assert streamed_pairs(data) == loaded_pairs(data)


@pytest.mark.parametrize("read_chars", [1, 7, 64, 1000])
def test_read_resource_list_whatever_the_window(monkeypatch, read_chars):
    """Random names, escapes and whitespace, read through windows of every size: what json.loads gives."""
    monkeypatch.setattr(vf, "_READ_CHARS", read_chars)
    monkeypatch.setattr(vf, "_MAX_STRING_CHARS", 200)
    generator = random.Random(read_chars)
    alphabet = ["a", "-", "/", ".", "\u00e9", "\u65e5", "\U0001f600", '"', "\\", "\n", "\u2028", "\u0000", " "]
    listed = {}
    for kind in range(8):
        listed["v%d/Kind%s" % (kind, generator.choice(alphabet))] = [
            "".join(generator.choice(alphabet) for _index in range(generator.randrange(0, 40))) for _name in range(generator.randrange(0, 60))]
    for ensure_ascii in (True, False):
        text = json.dumps(listed, ensure_ascii=ensure_ascii, separators=(",", ":"))
        spaced = "".join(character + generator.choice(["", "", " ", "\n\t "]) if character in ",:[]{}" else character for character in text)
        for document in (text, spaced):
            data = gzip.compress(document.encode("utf-8"))
            assert streamed_pairs(data) == loaded_pairs(data)


def test_read_resource_list_reads_what_the_builder_writes():
    builder = vf.ResourceListBuilder()
    builder.add_entries("v1", "ConfigMap", ["shop/%d" % number for number in range(5000)] + ["\u00e9t\u00e9/a\nb"])
    builder.add("v1", "Namespace", None, "shop")
    data = builder.to_gzip_bytes()
    assert streamed_pairs(data) == loaded_pairs(data)


def test_read_resource_list_is_lazy():
    pairs = vf.read_resource_list(io.BytesIO(vf.gzip_json({"v1/ConfigMap": ["a/b", "c/d"]})), "x")
    assert next(pairs) == ("v1/ConfigMap", "a/b")


@pytest.mark.parametrize("text, message", [
    ("", "Expecting value"),
    ("{", "Expecting property name"),
    ('{"v1/ConfigMap":["a/b"', "Expecting ',' delimiter"),
    ('{"v1/ConfigMap":["a/b"]', "Expecting ',' delimiter"),
    ('{"v1/ConfigMap":["a/', "Unterminated string"),
    ('{"v1/ConfigMap":["a/b",]}', "Expecting value"),
    ('{"v1/ConfigMap":["a/b"],}', "Expecting property name"),
    ('{"v1/ConfigMap"["a/b"]}', "Expecting ':' delimiter"),
    ('{"v1/ConfigMap":["a/b"]}x', "Extra data"),
    ('{"v1/ConfigMap":["a/b"]}{}', "Extra data"),
    ('{"v1/ConfigMap":["a\x01b"]}', "Invalid control character"),
    ('{"v1/ConfigMap":["a\\xb"]}', "Invalid \\\\escape"),
    ('{"v1/ConfigMap":[tru]}', "Expecting value"),
    ("nul", "Expecting value"),
])
def test_read_resource_list_refuses_what_json_loads_refuses(text, message):
    data = gzip.compress(text.encode("utf-8"))
    with pytest.raises(ValueError):
        json.loads(gzip.decompress(data))
    with pytest.raises(BackupFormatError, match="^snap-resource-list.json.gz is not gzip-compressed JSON: %s" % message):
        streamed_pairs(data)


@pytest.mark.parametrize("text", ["[]", "null", '"v1/ConfigMap"', "5", '{"v1/ConfigMap":{}}', '{"v1/ConfigMap":"a/b"}',
                                  '{"v1/ConfigMap":["a/b",5]}', '{"v1/ConfigMap":[null]}', '{"v1/ConfigMap":[["a/b"]]}'])
def test_read_resource_list_refuses_json_of_another_shape(text):
    data = gzip.compress(text.encode("utf-8"))
    with pytest.raises(vf.NotAResourceList, match=r'^x does not hold a resource list \({"<apiVersion>/<Kind>": \["ns/name", ...\]}\)$'):
        streamed_pairs(data, "x")


def test_read_resource_list_refuses_a_key_given_twice():
    """json.loads would keep the last list only; Velero never writes a key twice: a damaged file, not a silent merge."""
    data = gzip.compress(b'{"v1/ConfigMap":["a/b"],"v1/ConfigMap":[]}')
    with pytest.raises(vf.NotAResourceList, match='the key "v1/ConfigMap" is given twice'):
        streamed_pairs(data)


def test_read_resource_list_refuses_truncated_and_damaged_gzip():
    data = vf.gzip_json({"v1/ConfigMap": ["shop/%d" % number for number in range(2000)]})
    for cut in (len(data) - 4, len(data) // 2, 11):
        with pytest.raises(BackupFormatError, match="is not gzip-compressed JSON: Compressed file ended before the end-of-stream marker"):
            streamed_pairs(data[:cut])
    with pytest.raises(BackupFormatError, match=r"is not gzip-compressed JSON: Not a gzipped file"):
        streamed_pairs(b'{"v1/ConfigMap":[]}')
    with pytest.raises(BackupFormatError, match=r"is not gzip-compressed JSON: 'utf-8' codec can't decode"):
        streamed_pairs(gzip.compress(b'{"v1/ConfigMap":["\xff"]}'))
    # A cut at the end of a gzip member's JSON is a JSON error, not silence
    with pytest.raises(BackupFormatError, match="Unterminated string"):
        streamed_pairs(gzip.compress(gzip.decompress(data)[:-5]))
    with pytest.raises(BackupFormatError, match="Expecting ',' delimiter"):
        streamed_pairs(gzip.compress(gzip.decompress(data)[:-3]))


def test_read_resource_list_holds_a_bounded_window():
    """A string longer than any name is refused, not read into memory whole."""
    data = gzip.compress(b'{"v1/ConfigMap":["' + b"x" * (4 * vf._MAX_STRING_CHARS) + b'"]}')  # pylint: disable=protected-access
    with pytest.raises(BackupFormatError, match="is not gzip-compressed JSON: a string longer than 65536 characters"):
        streamed_pairs(data)


def test_results_sidecar_has_velero_s_result_shape():
    errors = vf.Result()
    errors.add("shop", "error backing up pods/web-1: boom")
    errors.add(None, "error backing up nodes/n1: boom")
    errors.add_velero("error uploading log")
    assert len(errors) == 3
    assert vf.results_sidecar(errors, {}) == {
        "errors": {
            "velero": ["error uploading log"],
            "cluster": ["error backing up nodes/n1: boom"],
            "namespaces": {"shop": ["error backing up pods/web-1: boom"]},
        },
        "warnings": {},
    }
    assert vf.results_sidecar(None, {"namespaces": {"a": ["w"]}, "cluster": []}) == {"errors": {}, "warnings": {"namespaces": {"a": ["w"]}}}


def test_gzip_json_roundtrip_and_errors():
    data = vf.gzip_json({"b": [], "a": None})
    assert gzip.decompress(data) == b'{"a":null,"b":[]}\n'
    assert vf.gunzip_json(data, "x") == {"a": None, "b": []}
    assert gzip.decompress(vf.gzip_json(vf.EMPTY_SIDECARS["volume_snapshots"])) == b"null\n"
    assert gzip.decompress(vf.gzip_json(vf.EMPTY_SIDECARS["item_operations"])) == b"[]\n"
    with pytest.raises(BackupFormatError, match="nightly-results.gz is not gzip-compressed JSON"):
        vf.gunzip_json(b"{}", "nightly-results.gz")


# --- label selectors ---------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("app=web", {"matchLabels": {"app": "web"}}),
    ("app==web,tier=frontend", {"matchLabels": {"app": "web", "tier": "frontend"}}),
    ("app!=web", {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
    ("tier in (b, a)", {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}),
    ("tier notin (a)", {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}),
    ("backup", {"matchExpressions": [{"key": "backup", "operator": "Exists"}]}),
    ("!legacy", {"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]}),
    ("app=web,tier in (a,b),!x", {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}, {"key": "x", "operator": "DoesNotExist"}],
    }),
    ("app.kubernetes.io/name=shop", {"matchLabels": {"app.kubernetes.io/name": "shop"}}),
    ("empty=", {"matchLabels": {"empty": ""}}),
    ("a=1,a=2", {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "a", "operator": "In", "values": ["2"]}]}),
    ("", None),
    ("   ", None),
    (None, None),
])
def test_label_selector_to_dict(text, expected):
    assert vf.label_selector_to_dict(text) == expected


@pytest.mark.parametrize("text, message", [
    ("app=web,", "is not a label selector like"),
    ("=web", "is not a label selector like"),
    ("app in web", "is not a label selector like"),
    ("app in (web", "is not a label selector like"),
    ("app web", "is not a label selector like"),
    ("!", "is not a label selector like"),
    ("replicas>3", "< and > cannot be used"),
    ("-app=web", "'-app' is not a valid label key"),
    ("app=" + "x" * 64, "is not a valid label value"),
    ("Example.COM/app=web", "is not a valid label key"),
])
def test_bad_label_selectors(text, message):
    with pytest.raises(ConfigurationError, match="^label_selector '.*': |^label_selector '.*' is not"):
        vf.label_selector_to_dict(text)
    with pytest.raises(ConfigurationError, match=message):
        vf.label_selector_to_dict(text)


def test_label_selector_mappings():
    assert vf.label_selector_to_dict({"app": "web"}) == {"matchLabels": {"app": "web"}}
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "Exists"}]}
    assert vf.label_selector_to_dict(selector) == selector
    assert vf.label_selector_to_dict({}) is None
    with pytest.raises(ConfigurationError, match="operator 'Gt'"):
        vf.label_selector_to_dict({"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["1"]}]})
    with pytest.raises(ConfigurationError, match="In needs values"):
        vf.label_selector_to_dict({"matchExpressions": [{"key": "x", "operator": "In"}]})


@pytest.mark.parametrize("text", ["app=web", "app=web,tier in (a,b),!x", "a notin (b),c", "empty="])
def test_label_selector_string_roundtrip(text):
    selector = vf.label_selector_to_dict(text)
    assert vf.label_selector_to_dict(vf.label_selector_to_string(selector)) == selector


# --- velero-backup.json ------------------------------------------------------------------------


def completed_backup(**spec_options):
    return vf.backup_object(
        "nightly-20240102030405", "default", spec_options,
        {"phase": "Completed", "start_timestamp": START, "completion_timestamp": START + datetime.timedelta(seconds=42),
         "total_items": 120, "items_backed_up": 120},
        labels={"app.kubernetes.io/managed-by": "kubesafe"},
    )


def test_backup_object_defaults():
    assert completed_backup() == {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {
            "name": "nightly-20240102030405",
            "namespace": "velero",
            "labels": {"app.kubernetes.io/managed-by": "kubesafe", "velero.io/storage-location": "default"},
            "creationTimestamp": "2024-01-02T03:04:05Z",
        },
        "spec": {
            "metadata": {},
            "includedNamespaces": ["*"],
            "ttl": "720h0m0s",
            "hooks": {},
            "storageLocation": "default",
            "defaultVolumesToFsBackup": False,
            "csiSnapshotTimeout": "10m0s",
            "itemOperationTimeout": "4h0m0s",
            "snapshotMoveData": False,
        },
        "status": {
            "version": 1,
            "formatVersion": "1.1.0",
            "expiration": "2024-02-01T03:04:05Z",
            "phase": "Completed",
            "startTimestamp": "2024-01-02T03:04:05Z",
            "completionTimestamp": "2024-01-02T03:04:47Z",
            "progress": {"totalItems": 120, "itemsBackedUp": 120},
        },
    }


def test_backup_object_spec_fields():
    spec = completed_backup(
        included_namespaces=["shop", "web-*"], excluded_namespaces="kube-system, velero",
        included_resources=["deployments", "configmaps"], excluded_resources=["events"],
        label_selector="app=web", or_label_selectors=None, include_cluster_resources=False,
        snapshot_volumes=True, ttl="24h", volume_snapshot_locations=["aws-default"],
    )["spec"]
    assert spec["includedNamespaces"] == ["shop", "web-*"]
    assert spec["excludedNamespaces"] == ["kube-system", "velero"]
    assert spec["includedResources"] == ["deployments", "configmaps"]
    assert spec["excludedResources"] == ["events"]
    assert spec["labelSelector"] == {"matchLabels": {"app": "web"}}
    assert "orLabelSelectors" not in spec
    assert spec["includeClusterResources"] is False  # *bool: false is kept, only nil is omitted
    assert spec["snapshotVolumes"] is True
    assert spec["ttl"] == "24h0m0s"
    assert spec["volumeSnapshotLocations"] == ["aws-default"]
    assert list(spec) == [  # Velero's BackupSpec field order
        "metadata", "includedNamespaces", "excludedNamespaces", "includedResources", "excludedResources", "labelSelector",
        "snapshotVolumes", "ttl", "includeClusterResources", "hooks", "storageLocation", "volumeSnapshotLocations",
        "defaultVolumesToFsBackup", "csiSnapshotTimeout", "itemOperationTimeout", "snapshotMoveData",
    ]


def test_or_label_selectors():
    spec = completed_backup(or_label_selectors=["app=web", "tier in (db)", {"team": "a"}])["spec"]
    assert spec["orLabelSelectors"] == [
        {"matchLabels": {"app": "web"}},
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]},
        {"matchLabels": {"team": "a"}},
    ]
    with pytest.raises(ConfigurationError, match="^or_label_selectors 'app in web'"):
        completed_backup(or_label_selectors=["app in web"])


def test_backup_object_status_counts_follow_omitempty():
    status = vf.backup_object("b", "default", {}, {
        "phase": "PartiallyFailed", "start_timestamp": "2024-01-02T03:04:05Z", "completion_timestamp": START,
        "total_items": 10, "items_backed_up": 9, "warnings": 2, "errors": 1, "failure_reason": "",
        "volume_snapshots_attempted": 0, "hooks_attempted": 3, "hooks_failed": 0,
    })["status"]
    assert status["phase"] == "PartiallyFailed"
    assert status["warnings"] == 2 and status["errors"] == 1
    assert "failureReason" not in status and "volumeSnapshotsAttempted" not in status
    assert status["hookStatus"] == {"hooksAttempted": 3}
    assert status["expiration"] == "2024-02-01T03:04:05Z"


def test_backup_object_refuses_unknown_keys_and_phases():
    with pytest.raises(ValueError, match="unknown keys included_namespace"):
        vf.backup_object("b", "default", {"included_namespace": ["x"]}, {"phase": "Completed"})
    with pytest.raises(ValueError, match="phase 'Done'"):
        vf.backup_object("b", "default", {}, {"phase": "Done"})
    with pytest.raises(ConfigurationError, match="ttl '3x'"):
        vf.backup_object("b", "default", {"ttl": "3x"}, {"phase": "Completed"})


def test_long_storage_location_label_is_hashed():
    backup = vf.backup_object("b", "x" * 70, {}, {"phase": "Completed", "start_timestamp": START})
    assert backup["spec"]["storageLocation"] == "x" * 70
    assert len(backup["metadata"]["labels"]["velero.io/storage-location"]) == 63


def test_source_cluster_annotations():
    annotations = vf.source_cluster_annotations({"gitVersion": "v1.30.2", "major": "1", "minor": "30"})
    assert annotations == {
        "velero.io/source-cluster-k8s-gitversion": "v1.30.2",
        "velero.io/source-cluster-k8s-major-version": "1",
        "velero.io/source-cluster-k8s-minor-version": "30",
    }
    backup = vf.backup_object("b", "default", {}, {"phase": "Completed", "start_timestamp": START}, annotations=annotations)
    assert backup["metadata"]["annotations"] == annotations


def test_encode_and_decode_backup():
    backup = completed_backup()
    data = vf.encode_backup(backup)
    assert data.endswith(b"}\n") and b'\n  "kind": "Backup",' in data
    assert vf.decode_backup(data, expected_name="nightly-20240102030405") == backup
    with pytest.raises(BackupFormatError, match="names backup 'nightly-20240102030405', but it is stored as 'other'"):
        vf.decode_backup(data, expected_name="other")
    with pytest.raises(BackupFormatError, match="not a velero.io Backup"):
        vf.decode_backup(json.dumps({"kind": "Restore", "apiVersion": "velero.io/v1"}))
    with pytest.raises(BackupFormatError, match="not valid JSON"):
        vf.decode_backup(b"{")

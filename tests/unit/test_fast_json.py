"""The orjson path gives the same objects and the same item bytes as the standard library path.

Item bytes are what the manifest's checksums and Velero compatibility rest on, so
both paths are compared on the sample fixture and on generated values that hold
every escape class (control characters, quotes, backslashes, the HTML characters
Go escapes, U+2028/U+2029, non-BMP characters, lone surrogates) and every number
form where the libraries could differ (small and large floats, integers past 64
bits).
"""

import io
import json
import random

import pytest
import yaml

from ansible_collections.kubesafe.k8s.plugins.module_utils import fast_json
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader, ArchiveWriter, encode_item
from kubesim.cluster import SAMPLE_FIXTURE

orjson = pytest.importorskip("orjson")

ESCAPE_CLASSES = (
    [chr(c) for c in range(0x20)] + ['"', "\\", "/", "<", ">", "&", "\u2028", "\u2029", "\x7f", "\u00e9", "\uffff",
                                     "\U0001F600", "\ud800", "\udfff", " ", "a", "0", ":", ",", "[", "e", "."]
)
NUMBERS = (
    [0, -0, 1, -1, 2 ** 31, 2 ** 53 + 1, 2 ** 63 - 1, -2 ** 63, 2 ** 63, 2 ** 64 - 1, 2 ** 64, -2 ** 63 - 1, 10 ** 30, -10 ** 25]
    + [0.0, -0.0, 0.5, 1.0, 100.0, 1e-4, 1e-5, 1.5e-7, 5e-324, 1e15, 1e16, 1.2345678901234568e+17, 1e21, 1e22, 1e300, -2.5e-9]
)


def random_string(rng):
    return "".join(rng.choice(ESCAPE_CLASSES) for _character in range(rng.randint(0, 12)))


def random_value(rng, depth=0):
    pick = rng.random()
    if depth > 3 or pick < 0.35:
        return random_string(rng)
    if pick < 0.5:
        return rng.choice(NUMBERS)
    if pick < 0.55:
        return rng.choice([True, False, None])
    if pick < 0.75:
        return [random_value(rng, depth + 1) for _item in range(rng.randint(0, 4))]
    return {random_string(rng): random_value(rng, depth + 1) for _key in range(rng.randint(0, 5))}


def generated_objects(count=3000, seed=20261206):
    rng = random.Random(seed)
    for _number in range(count):
        yield {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": random_value(rng)}


def sample_objects():
    with open(SAMPLE_FIXTURE) as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def test_orjson_is_really_used_when_installed():
    # Guards the comparisons below: if fast_json never took the orjson path they would compare stdlib with itself.
    assert fast_json.orjson is orjson
    assert fast_json.dumps_sorted({"b": 1, "a": [True, None, "x"]}) == orjson.dumps({"b": 1, "a": [True, None, "x"]}, option=orjson.OPT_SORT_KEYS)


def test_item_bytes_are_identical_on_the_sample_fixture(monkeypatch):
    objects = sample_objects()
    assert len(objects) > 20
    fast = [encode_item(obj) for obj in objects]
    monkeypatch.setattr(fast_json, "orjson", None)
    assert [encode_item(obj) for obj in objects] == fast


def test_item_bytes_are_identical_on_generated_values_with_every_escape_class(monkeypatch):
    objects = list(generated_objects())
    fast = []
    for obj in objects:
        fast.append(encode_item(obj))
    monkeypatch.setattr(fast_json, "orjson", None)
    mismatches = [(obj, data) for obj, data in zip(objects, fast) if encode_item(obj) != data]
    assert mismatches == []


def api_like(value):
    """What kube-apiserver could send: integers within int64 (it stores larger ones as float64), no lone surrogates."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -2 ** 63 <= value < 2 ** 63 else float(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [api_like(item) for item in value]
    if isinstance(value, dict):
        return {api_like(key): api_like(item) for key, item in value.items()}
    return value


def test_api_answers_decode_to_identical_objects(monkeypatch):
    objects = [api_like(obj) for obj in generated_objects(1500, seed=7)]
    documents = [json.dumps(obj, ensure_ascii=flag).encode("utf-8") for obj, flag in zip(objects, [True, False] * 750)]
    documents += [b'{"a":1,"a":2}', b'{"n": 9223372036854775807, "m": -9223372036854775808, "f": 1.8446744073709552e+19}']
    fast = [fast_json.loads_api_response(data) for data in documents]
    monkeypatch.setattr(fast_json, "orjson", None)
    standard = [fast_json.loads_api_response(data) for data in documents]
    # repr tells 1 from 1.0, which == would not
    assert [repr(value) for value in fast] == [repr(value) for value in standard]


def test_archive_items_keep_integers_beyond_64_bits():
    # orjson would decode 2**70 as a float: items read back from an archive must keep every digit.
    obj = {"apiVersion": "example.com/v1", "kind": "Big", "metadata": {"name": "big", "namespace": "ns"}, "spec": {"n": 2 ** 70, "m": -2 ** 64}}
    stream = io.BytesIO()
    with ArchiveWriter(stream) as writer:
        writer.add_item("bigs.example.com", "v1", "ns", "big", obj)
    stream.seek(0)
    items = list(ArchiveReader(stream))
    assert [item.obj["spec"] for item in items] == [{"n": 2 ** 70, "m": -2 ** 64}]
    assert encode_item(obj) == json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def test_invalid_json_is_refused_on_both_paths(monkeypatch):
    with pytest.raises(ValueError):
        fast_json.loads_api_response(b'{"a":')
    monkeypatch.setattr(fast_json, "orjson", None)
    with pytest.raises(ValueError):
        fast_json.loads_api_response(b'{"a":')


def test_request_bodies_decode_to_the_same_value(monkeypatch):
    objects = list(generated_objects(500, seed=11))
    fast = [fast_json.dumps_compact(obj) for obj in objects]
    monkeypatch.setattr(fast_json, "orjson", None)
    slow = [fast_json.dumps_compact(obj) for obj in objects]
    assert [repr(json.loads(data)) for data in fast] == [repr(json.loads(data)) for data in slow]


def test_tagged_records_come_back_equal_whichever_library_wrote_them():
    # The restore spool's records: values with integers past 64 bits and lone surrogates must come back exactly.
    values = list(generated_objects(1500)) + sample_objects()
    tags = set()
    for value in values:
        data = fast_json.dumps_tagged(value)
        tags.add(data[:1])
        back = fast_json.loads_tagged(data)
        # What a standard library round trip gives (it joins a "\ud800" "\udfff" pair made by concatenation;
        # values decoded from JSON, as restored objects are, never hold one).
        expected = json.loads(json.dumps(value))
        assert back == expected and json.dumps(back, sort_keys=True) == json.dumps(expected, sort_keys=True)
        assert [type(number) for number in _numbers(back)] == [type(number) for number in _numbers(value)]
    assert tags == {b"o", b"j"}  # both paths were taken


def _numbers(value):
    if isinstance(value, dict):
        return [number for item in value.values() for number in _numbers(item)]
    if isinstance(value, list):
        return [number for item in value for number in _numbers(item)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def test_floats_python_writes_otherwise_are_found_wherever_a_number_can_start():
    for value in (1e-5, -1.5e-5, 1e-7, -2.5e-9, 0.00001234):
        for document in (value, [value], ["x", value], {"a": value}, {"a": [1, {"b": value}]}):
            assert fast_json.dumps_sorted(document) == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def test_strings_that_look_like_small_floats_keep_the_fast_path(monkeypatch):
    # A UID such as "...-3e-7..." or a version "0.00001" in a string is not a float: sending every such object to
    # the standard library cost a backup one object in nine at five times the price.
    def refuse(*_args, **_kwargs):
        raise AssertionError("the standard library encoder was used")

    monkeypatch.setattr(fast_json.json, "dumps", refuse)
    obj = {"metadata": {"uid": "0b1c2d3e-7f60-4a1b-9c2d-3e4f5a6b7c8d", "annotations": {"v": "0.00001", "w": "1e-5"}}}
    assert fast_json.dumps_sorted(obj) == orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def decoded_or_refused(loads, data):
    try:
        return repr(loads(data))  # repr tells 1 from 1.0, which == would not
    except (ValueError, RecursionError) as error:
        return "refused: %s" % type(error).__name__


# What anybody may put in an archive: integers on both sides of 64 bits, numbers orjson refuses, other encodings.
HOSTILE_ITEMS = [
    b'{"n":9223372036854775807,"m":-9223372036854775808,"u":18446744073709551615}',
    b'{"n":18446744073709551616}', b'{"m":-9223372036854775809}', b'{"n":123456789012345678901234567890}',
    b'{"s":"1234567890123456789012345"}', b'{"f":1e400}', b'{"f":NaN}', b'{"f":-Infinity}', b'\xef\xbb\xbf{"a":1}',
    '{"a":"\u00e9"}'.encode("utf-16"), b'{"a":"\\ud800"}', b'{"a":1,"a":2}', b'{"a":-0}', b'{"a":0.1e1}', b'{"a":4.9e-324}',
    b'{"a":"\x01"}', b'{"a":1,}', b'{"a":01}', b'["\xff"]', b'[' * 5000 + b']' * 5000, b'',
]


def test_archive_items_decode_to_what_the_standard_library_gives_or_are_refused_alike(monkeypatch):
    documents = [encode_item(obj) for obj in generated_objects(1500, seed=11)] + HOSTILE_ITEMS
    fast = [decoded_or_refused(fast_json.loads_exact, data) for data in documents]
    monkeypatch.setattr(fast_json, "orjson", None)
    assert fast == [decoded_or_refused(fast_json.loads_exact, data) for data in documents]
    assert fast == [decoded_or_refused(json.loads, data) for data in documents]
    assert "123456789012345678901234567890" in fast[1500 + 3]


def test_archive_items_without_long_digit_runs_are_read_by_orjson(monkeypatch):
    # Guards the comparison above: the fast path is really taken for ordinary items, and only for them.
    def refuse(*_args, **_kwargs):
        raise AssertionError("the standard library decoder was used")

    monkeypatch.setattr(fast_json.json, "loads", refuse)
    assert fast_json.loads_exact(b'{"metadata":{"name":"web","uid":"0b1c2d3e-7f60"},"spec":{"replicas":3,"n":922337203685477580}}')
    with pytest.raises(AssertionError):
        fast_json.loads_exact(b'{"n":-9223372036854775809}')

"""Kubernetes' protobuf encoding of built-in objects, read into the JSON kube-apiserver would store.

kubectl 1.32 sends built-in objects as protobuf (``kubectl create
serviceaccount|deployment|role|secret ...``, ``kubectl auth can-i``) and does
not fall back to JSON on 415, so the emulator reads them: the envelope
(``k8s\\x00`` + runtime.Unknown) names the kind, and the field tables in
``fixtures/protobuf_fields.json`` (made by ``fixtures/make_protobuf_fields.py``
from the Go types of every GA API group) give each field's number, JSON name
and Go type. The result is what Go's decoder then JSON encoder make of the
message: absent non-pointer fields hold their zero value, ``omitempty`` drops
empty ones, structs are never omitted, a nil pointer, slice or map without
``omitempty`` is ``null``, inline structs are merged into their parent.
"""

import base64
import functools
import json
import os
import struct
import time

ENVELOPE_MAGIC = b"k8s\x00"
_TABLES = os.path.join(os.path.dirname(__file__), "fixtures", "protobuf_fields.json")


class ProtobufError(ValueError):
    """The body is not a protobuf message this emulator can read."""


@functools.lru_cache(maxsize=1)
def field_tables():
    with open(_TABLES, encoding="utf-8") as stream:
        return json.load(stream)


def _varint(data, position):
    result, shift = 0, 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def fields(data):
    """[(field number, wire type, value)]: ints for varints, bytes otherwise."""
    position, found = 0, []
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 2:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire_type == 1:
            value, position = data[position:position + 8], position + 8
        elif wire_type == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise ProtobufError("unsupported wire type %d" % wire_type)
        if position > len(data):
            raise ProtobufError("truncated field %d" % number)
        found.append((number, wire_type, value))
    return found


def decode(body):
    """The JSON-shaped object in a protobuf envelope, or raise ProtobufError."""
    if not body.startswith(ENVELOPE_MAGIC):
        raise ProtobufError("missing the k8s protobuf envelope")
    envelope = {number: value for number, _, value in fields(body[len(ENVELOPE_MAGIC):])}
    type_meta = {number: value for number, _, value in fields(envelope.get(1, b""))}
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    group, _, version = api_version.rpartition("/")
    message = "%s/%s.%s" % (group.split(".")[0] if group else "core", version, kind)
    if message not in field_tables()["messages"]:
        raise ProtobufError("protobuf is not supported for %s %s" % (api_version, kind))
    obj = {"apiVersion": api_version, "kind": kind}
    obj.update(_message(message, envelope.get(2, b"")))
    return obj


def _message(name, data):
    special = field_tables()["special"].get(name)
    if special:
        return _special(special, data)
    table = field_tables()["messages"].get(name)
    if table is None:
        raise ProtobufError("no field table for %s" % name)
    values = {}
    for number, wire_type, value in fields(data):
        values.setdefault(number, []).append((wire_type, value))
    obj = {}
    for number, json_name, go_type, omitempty, inline in table:
        present = values.get(number)
        if inline:
            obj.update(_message(go_type[1], b"".join(value for _, value in present or [])))
            continue
        decoded = _field(go_type, present, omitempty)
        if decoded is not _OMIT:
            obj[json_name] = decoded
    return obj


_OMIT = object()


def _field(go_type, present, omitempty):
    shape = go_type[0]
    if shape == "ptr":
        if not present:
            return _OMIT if omitempty else None
        return _single(go_type[1], present[-1])
    if shape == "list":
        items = []
        for wire_type, value in present or []:
            if wire_type == 2 and go_type[1][0] == "scalar" and go_type[1][1] in ("int", "bool"):
                items.extend(_scalar(go_type[1][1], 0, packed) for packed in _packed_varints(value))  # packed repeated
            else:
                items.append(_single(go_type[1], (wire_type, value)))
        return items if items else (_OMIT if omitempty else None)
    if shape == "map":
        mapping = {}
        for _, entry in present or []:
            parts = {number: (wire_type, value) for number, wire_type, value in fields(entry)}
            key = _single(go_type[1], parts.get(1, (2, b"")))
            mapping[key] = _map_value(go_type[2], parts.get(2))
        return mapping if mapping else (_OMIT if omitempty else None)
    if shape == "message":
        if field_tables()["special"].get(go_type[1]) in ("time", "microtime", "raw", "string", "quantity", "intorstring", "duration"):
            value = _message(go_type[1], present[-1][1] if present else b"")
            if omitempty and value in (None, "", 0):
                return _OMIT
            return value
        return _message(go_type[1], present[-1][1] if present else b"")  # Go's encoding/json never omits a struct
    value = _single(go_type, present[-1]) if present else _zero(go_type[1])
    if omitempty and value in ("", 0, False, 0.0):
        return _OMIT
    return value


def _single(go_type, wire_value):
    wire_type, value = wire_value
    if go_type[0] == "scalar":
        return _scalar(go_type[1], wire_type, value)
    if go_type[0] == "message":
        return _message(go_type[1], value)
    return _field(go_type, [wire_value], False)


def _map_value(go_type, wire_value):
    if wire_value is None:
        return _zero(go_type[1]) if go_type[0] == "scalar" else None
    if go_type[0] == "list":  # a named slice type is a message holding the items in field 1
        return [_single(go_type[1], (wire_type, value)) for number, wire_type, value in fields(wire_value[1]) if number == 1]
    return _single(go_type, wire_value)


def _packed_varints(data):
    position, values = 0, []
    while position < len(data):
        value, position = _varint(data, position)
        values.append(value)
    return values


def _scalar(kind, wire_type, value):
    if kind == "string":
        return value.decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "bool":
        return bool(value)
    if kind == "float":
        return struct.unpack("<d" if wire_type == 1 else "<f", value)[0]
    return value - (1 << 64) if value >= 1 << 63 else value  # negative int32/int64 are 10-byte varints


def _zero(kind):
    return {"string": "", "bytes": "", "bool": False, "float": 0.0}.get(kind, 0)


def _special(kind, data):
    if kind == "string":  # a named string type (types.UID): the bytes are the value
        return data.decode("utf-8")
    parts = {number: value for number, _, value in fields(data)}
    if kind == "quantity":
        return parts.get(1, b"").decode() if data else "0"
    if kind in ("time", "microtime"):
        if not data:
            return None  # the zero time is null in JSON
        seconds = parts.get(1, 0)
        seconds = seconds - (1 << 64) if seconds >= 1 << 63 else seconds
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        return stamp + (".%06dZ" % (parts.get(2, 0) // 1000) if kind == "microtime" else "Z")
    if kind == "intorstring":
        return parts.get(3, b"").decode() if parts.get(1, 0) == 1 else _scalar("int", 0, parts.get(2, 0))
    if kind == "raw":
        raw = parts.get(1, b"")
        return json.loads(raw) if raw else None
    if kind == "duration":
        return _go_duration(_scalar("int", 0, parts.get(1, 0)))
    raise ProtobufError("unknown special message %s" % kind)


def _go_duration(nanoseconds):
    """time.Duration.String(): 1h2m3.5s, 1.5ms, 0s."""
    if nanoseconds == 0:
        return "0s"
    sign, nanoseconds = ("-", -nanoseconds) if nanoseconds < 0 else ("", nanoseconds)
    if nanoseconds < 1000000000:
        for unit, size in (("ms", 1000000), ("µs", 1000), ("ns", 1)):
            if nanoseconds >= size:
                return sign + _trim(nanoseconds / size) + unit
    hours, rest = divmod(nanoseconds, 3600 * 10 ** 9)
    minutes, rest = divmod(rest, 60 * 10 ** 9)
    text = ("%dh" % hours if hours else "") + ("%dm" % minutes if hours or minutes else "")
    return sign + text + _trim(rest / 10 ** 9) + "s"


def _trim(number):
    return ("%.9f" % number).rstrip("0").rstrip(".")

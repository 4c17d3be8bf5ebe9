"""Just enough of Kubernetes' protobuf encoding to read what kubectl's typed clients send.

kubectl 1.32 sends built-in objects as protobuf from generators such as
``kubectl create namespace|configmap|secret`` and does not fall back to JSON
on 415. Other kinds still answer 415 (documented limit).
"""

import base64

ENVELOPE_MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not a protobuf message this emulator can read."""


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
    """[(field number, value)]: ints for varints, bytes for length-delimited fields."""
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
        found.append((number, value))
    return found


def _map_entry(raw, binary=False):
    entry = dict(fields(raw))
    key = entry.get(1, b"").decode()
    value = entry.get(2, b"")
    return key, base64.b64encode(value).decode() if binary else value.decode()


def _object_meta(raw):
    metadata, labels, annotations, finalizers = {}, {}, {}, []
    for number, value in fields(raw):
        if number in (1, 2, 3):
            metadata[{1: "name", 2: "generateName", 3: "namespace"}[number]] = value.decode()
        elif number == 11:
            key, text = _map_entry(value)
            labels[key] = text
        elif number == 12:
            key, text = _map_entry(value)
            annotations[key] = text
        elif number == 14:
            finalizers.append(value.decode())
    for name, value in (("labels", labels), ("annotations", annotations), ("finalizers", finalizers)):
        if value:
            metadata[name] = value
    return metadata


def _namespace(message):
    obj = {}
    for number, value in fields(message):
        if number == 1:
            obj["metadata"] = _object_meta(value)
        elif number == 2:
            finalizers = [item.decode() for field_number, item in fields(value) if field_number == 1]
            if finalizers:
                obj["spec"] = {"finalizers": finalizers}
    return obj


def _config_map(message):
    obj = {}
    for number, value in fields(message):
        if number == 1:
            obj["metadata"] = _object_meta(value)
        elif number in (2, 4):
            key, text = _map_entry(value, binary=number == 4)
            obj.setdefault("data" if number == 2 else "binaryData", {})[key] = text
        elif number == 3:
            obj["immutable"] = bool(value)
    return obj


def _secret(message):
    obj = {}
    for number, value in fields(message):
        if number == 1:
            obj["metadata"] = _object_meta(value)
        elif number == 2:
            key, text = _map_entry(value, binary=True)
            obj.setdefault("data", {})[key] = text
        elif number == 3:
            obj["type"] = value.decode()
        elif number == 4:
            key, text = _map_entry(value)
            obj.setdefault("stringData", {})[key] = text
        elif number == 5:
            obj["immutable"] = bool(value)
    return obj


_DECODERS = {("v1", "Namespace"): _namespace, ("v1", "ConfigMap"): _config_map, ("v1", "Secret"): _secret}


def decode(body):
    """The JSON-shaped object in a protobuf envelope, or raise ProtobufError."""
    if not body.startswith(ENVELOPE_MAGIC):
        raise ProtobufError("missing the k8s protobuf envelope")
    envelope = dict(fields(body[len(ENVELOPE_MAGIC):]))
    type_meta = dict(fields(envelope.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    decoder = _DECODERS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError("protobuf is not supported for %s %s" % (api_version, kind))
    obj = decoder(envelope.get(2, b""))
    obj.update({"apiVersion": api_version, "kind": kind})
    return obj

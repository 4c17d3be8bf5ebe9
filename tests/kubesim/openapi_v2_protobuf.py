"""An OpenAPI v2 document in the protobuf encoding kubectl reads (gnostic's openapi_v2.Document).

kubectl asks /openapi/v2 for ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``
and unmarshals the answer as protobuf whatever its content type, so JSON
would not do. Field numbers are those of gnostic's OpenAPIv2.proto; only the
parts of Schema the emulator's definitions use are written. Vendor
extensions (``x-kubernetes-group-version-kind``) are NamedAny values holding
YAML text, which JSON is.
"""

import json
import struct

# gnostic openapi_v2.Schema field numbers.
_SCHEMA_REF, _SCHEMA_FORMAT, _SCHEMA_TITLE, _SCHEMA_DESCRIPTION = 1, 2, 3, 4
_SCHEMA_MAXIMUM, _SCHEMA_MINIMUM, _SCHEMA_REQUIRED, _SCHEMA_ENUM = 7, 9, 19, 20
_SCHEMA_ADDITIONAL_PROPERTIES, _SCHEMA_TYPE, _SCHEMA_ITEMS, _SCHEMA_ALL_OF = 21, 22, 23, 24
_SCHEMA_PROPERTIES, _SCHEMA_READ_ONLY, _SCHEMA_VENDOR_EXTENSION = 25, 27, 31


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes(number, data):
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _string(number, text):
    return _bytes(number, text.encode("utf-8")) if text else b""


def _bool(number, value):
    return _varint(number << 3) + b"\x01" if value else b""


def _double(number, value):
    return _varint(number << 3 | 1) + struct.pack("<d", float(value))


def _any(value):
    """gnostic Any: the value as YAML text (field 2)."""
    return _string(2, json.dumps(value))


def _named_any(name, value):
    return _string(1, name) + _bytes(2, _any(value))


def encode_schema(schema):
    if not isinstance(schema, dict):
        return b""
    out = [_string(_SCHEMA_REF, schema.get("$ref", "")), _string(_SCHEMA_FORMAT, schema.get("format", "")),
           _string(_SCHEMA_TITLE, schema.get("title", "")), _string(_SCHEMA_DESCRIPTION, schema.get("description", ""))]
    if isinstance(schema.get("maximum"), (int, float)):
        out.append(_double(_SCHEMA_MAXIMUM, schema["maximum"]))
    if isinstance(schema.get("minimum"), (int, float)):
        out.append(_double(_SCHEMA_MINIMUM, schema["minimum"]))
    out.extend(_string(_SCHEMA_REQUIRED, name) for name in schema.get("required") or [])
    out.extend(_bytes(_SCHEMA_ENUM, _any(value)) for value in schema.get("enum") or [])
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out.append(_bytes(_SCHEMA_ADDITIONAL_PROPERTIES, _bytes(1, encode_schema(additional))))
    elif isinstance(additional, bool):
        out.append(_bytes(_SCHEMA_ADDITIONAL_PROPERTIES, _varint(2 << 3) + (b"\x01" if additional else b"\x00")))
    types = schema.get("type")
    if types:
        out.append(_bytes(_SCHEMA_TYPE, b"".join(_string(1, kind) for kind in ([types] if isinstance(types, str) else types))))
    if isinstance(schema.get("items"), dict):
        out.append(_bytes(_SCHEMA_ITEMS, _bytes(1, encode_schema(schema["items"]))))
    out.extend(_bytes(_SCHEMA_ALL_OF, encode_schema(item)) for item in schema.get("allOf") or [])
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        named = b"".join(_bytes(1, _string(1, name) + _bytes(2, encode_schema(value))) for name, value in properties.items())
        out.append(_bytes(_SCHEMA_PROPERTIES, named))
    out.append(_bool(_SCHEMA_READ_ONLY, schema.get("readOnly")))
    out.extend(_bytes(_SCHEMA_VENDOR_EXTENSION, _named_any(key, value)) for key, value in schema.items() if key.startswith("x-"))
    return b"".join(out)


def encode_document(document):
    """openapi_v2.Document: swagger (1), info (2), paths (8), definitions (9)."""
    info = document.get("info") or {}
    definitions = b"".join(_bytes(1, _string(1, name) + _bytes(2, encode_schema(schema)))
                           for name, schema in sorted((document.get("definitions") or {}).items()))
    return b"".join((_string(1, document.get("swagger", "2.0")), _bytes(2, _string(1, info.get("title", "")) + _string(2, info.get("version", ""))),
                     _bytes(8, b""), _bytes(9, definitions)))

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON decoding of API answers and encoding of items, with orjson when it is installed.

Decoding LIST pages and re-encoding every item is most of a backup's CPU time in
Python; orjson (optional, from PyPI) does both several times faster.  The bytes
must not depend on whether it is installed: item files are byte-compatible with
Go's json.Marshal and their checksums are in the manifest.  Where the two
libraries differ, the standard library decides:

- floats between 1e-10 and 1e-4: orjson writes ``0.00001`` and ``1e-7`` where
  Python writes ``1e-05`` and ``1e-07``; such output is found with two cheap
  byte searches and written again by the standard library;
- integers beyond 64 bits: orjson refuses to encode them (the standard library
  then does) and decodes them as floats, so API answers are decoded with it
  (kube-apiserver stores JSON numbers as int64 or float64, so it never sends a
  longer integer), and archive items, which may be hand-made, only when they
  hold no run of digits long enough to be such an integer (loads_exact);
- lone surrogates and NaN: orjson refuses them, the standard library decides.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    import orjson
except ImportError:  # optional: the standard library gives the same bytes, slower
    orjson = None

# Float output where orjson's text differs from Python's: fixed notation below 1e-4, or a one-digit negative exponent.
# Two cheap scans find candidates; a candidate counts only where a number can start (the document's start, or after
# ':', ',' or '['), since strings hold them too: a UUID such as "...-3e-7..." sent one generated object in nine to
# the standard library, at five times the cost.
_SMALL_FLOAT_FIXED = b"0.0000"
_SHORT_NEGATIVE_EXPONENT = re.compile(rb"e-[0-9](?<=[0-9]e-[0-9])")
# What may precede a candidate in a number token: its sign and digits, within a float's longest text.
_NUMBER_START = re.compile(rb"(?:\A|[:,\[])-?[0-9]*\.?[0-9]*\Z")
_LONGEST_FLOAT_MANTISSA = 32


def _starts_a_number(data, position):
    """Whether the number-like text ending at ``position`` starts where a JSON value can (false alarms are harmless)."""
    return _NUMBER_START.search(data, max(0, position - _LONGEST_FLOAT_MANTISSA), position) is not None


def _has_float_python_writes_otherwise(data):
    """Whether orjson's ``data`` may hold a float the standard library writes differently."""
    position = data.find(_SMALL_FLOAT_FIXED)
    while position >= 0:
        if _starts_a_number(data, position):
            return True
        position = data.find(_SMALL_FLOAT_FIXED, position + 1)
    for match in _SHORT_NEGATIVE_EXPONENT.finditer(data):
        if not data[match.end():match.end() + 1].isdigit() and _starts_a_number(data, match.start()):
            return True
    return False


def loads_api_response(data):
    """The object of an API server's JSON answer (bytes), as json.loads gives it."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # let the standard library accept or refuse it, with its own message
    return json.loads(data)


# orjson reads integers from -2**63 to 2**64-1 exactly and longer ones as floats (rounded): a run of 19 digits (the
# length of -2**63) may be one of those, so a document holding one is read by the standard library, which keeps every
# digit. Found in one C pass: every digit mapped to "0", then a search for 19 zeros.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def loads_exact(data):
    """json.loads(data) for data anybody may have written (archive items): the same value, or the same refusal.

    orjson (three times faster) reads what it reads exactly, unless a long digit run may be an integer it would round;
    what it refuses (NaN, 1e400, lone surrogates, a byte order mark, other encodings, malformed text) goes to the
    standard library, which accepts or refuses it with its own message.
    """
    if orjson is not None and data.translate(_DIGITS_TO_ZERO).find(_LONG_DIGIT_RUN) < 0:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps_sorted(obj):
    """Compact JSON with sorted keys as UTF-8 bytes: json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False).

    Raises UnicodeEncodeError for a lone surrogate, as the standard expression does.
    """
    if orjson is not None:
        try:
            data = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError: big integers, surrogates, NaN, other types
            data = None
        if data is not None and not _has_float_python_writes_otherwise(data):
            return data
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def dumps_compact(obj):
    """Compact JSON as bytes, keys in their order: for request bodies, where only the value counts."""
    if orjson is not None:
        try:
            return orjson.dumps(obj)
        except TypeError:
            pass
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def dumps_tagged(obj):
    """Compact JSON of ``obj`` behind a one-byte tag saying which library may decode it: ``loads_tagged`` reverses it.

    What orjson encodes, orjson decodes to an equal value (it refuses what it cannot hold: integers beyond 64
    bits, NaN); what only the standard library encodes is decoded by it. For data this process writes and reads.
    """
    if orjson is not None:
        try:
            return b"o" + orjson.dumps(obj)
        except TypeError:
            pass
    return b"j" + json.dumps(obj, separators=(",", ":")).encode("utf-8")


def loads_tagged(data):
    if data[:1] == b"o" and orjson is not None:
        return orjson.loads(data[1:])
    return json.loads(data[1:])

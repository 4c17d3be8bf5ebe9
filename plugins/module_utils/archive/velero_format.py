# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Velero's backup metadata formats: file names, the ``Backup`` object, sidecars, names, times.

Field names and shapes follow Velero's Go types (pkg/apis/velero/v1,
pkg/util/results, pkg/persistence) so that Velero reads what we write and
we read what Velero wrote.  Go's ``omitempty`` drops zero numbers, empty
strings, nil pointers and empty lists and maps, but never a struct: those
rules are kept here field by field.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import codecs
import datetime
import gzip
import hashlib
import io
import itertools
import json
import operator
import re

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError, ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.sorted_spool import MEMORY_RECORDS, SortedSpool

BACKUP_API_VERSION = "velero.io/v1"
VELERO_NAMESPACE = "velero"
FORMAT_VERSION = "1.1.0"
# Status.version: Velero's deprecated major format version.
BACKUP_VERSION = 1
STORAGE_LOCATION_LABEL = "velero.io/storage-location"
BACKUP_NAME_LABEL = "velero.io/backup-name"
DEFAULT_TTL = "720h0m0s"
# Velero server defaults, written into spec as a Velero server would.
DEFAULT_CSI_SNAPSHOT_TIMEOUT = "10m0s"
DEFAULT_ITEM_OPERATION_TIMEOUT = "4h0m0s"

BACKUP_PHASES = (
    "New", "FailedValidation", "InProgress", "WaitingForPluginOperations",
    "WaitingForPluginOperationsPartiallyFailed", "Finalizing", "FinalizingPartiallyFailed",
    "Completed", "PartiallyFailed", "Failed", "Deleting",
)
# A Velero restore accepts only these.
RESTORABLE_PHASES = ("Completed", "PartiallyFailed")

# Top-level directories Velero accepts under a location prefix (others make it Unavailable).
VALID_TOP_LEVEL_DIRS = ("backups", "restores", "restic", "metadata", "plugins", "kopia")

_LABEL_MAX = 63

# ---------------------------------------------------------------------------
# Files of a backup
# ---------------------------------------------------------------------------


def backup_dir(name):
    return "backups/%s/" % name


def file_names(name):
    """Keys (relative to the location prefix) of every file a backup may have.

    Velero (1.14+) writes metadata, contents, logs, resource_list, results,
    volume_snapshots, item_operations, volume_info and pod_volume_backups, and
    also reads the csi_* files when present; every sidecar may be missing.
    ``manifest`` is this collection's own, and so are ``contents_encrypted`` (the
    tarball of an ``encryption: all`` backup, age-encrypted, instead of ``contents``)
    and ``encryption_identity`` (the passphrase-encrypted key of a passphrase-encrypted backup).
    """
    base = backup_dir(name)
    return {
        "metadata": base + "velero-backup.json",
        "contents": base + "%s.tar.gz" % name,
        "contents_encrypted": base + "%s.tar.gz.age" % name,
        "logs": base + "%s-logs.gz" % name,
        "resource_list": base + "%s-resource-list.json.gz" % name,
        "results": base + "%s-results.gz" % name,
        "volume_snapshots": base + "%s-volumesnapshots.json.gz" % name,
        "item_operations": base + "%s-itemoperations.json.gz" % name,
        "volume_info": base + "%s-volumeinfo.json.gz" % name,
        "pod_volume_backups": base + "%s-podvolumebackups.json.gz" % name,
        "csi_volume_snapshots": base + "%s-csi-volumesnapshots.json.gz" % name,
        "csi_volume_snapshot_contents": base + "%s-csi-volumesnapshotcontents.json.gz" % name,
        "csi_volume_snapshot_classes": base + "%s-csi-volumesnapshotclasses.json.gz" % name,
        "manifest": base + "%s-manifest.json" % name,
        "encryption_identity": base + "%s-identity.age" % name,
    }


# What Velero writes into the sidecars of a backup without volumes or plugin operations.
EMPTY_SIDECARS = {
    "volume_snapshots": None,
    "item_operations": [],
    "volume_info": [],
    "pod_volume_backups": None,
}


def gzip_json(obj):
    """Gzip of compact JSON and a newline, as Velero's encode.ToJSONGzip (json.Encoder) writes it."""
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
    return gzip.compress(data, mtime=0)


def gunzip_json(data, what):
    """Decode a gzip-compressed JSON sidecar; ``what`` names the file in errors."""
    try:
        return json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError) as error:
        raise BackupFormatError("%s is not gzip-compressed JSON: %s" % (what, error))


def resource_list_key(api_version, kind):
    """The resource list's key of a kind: ``apps/v1/Deployment``, ``v1/ConfigMap``."""
    return "%s/%s" % (api_version, kind)


def guess_group_resource(resource_list_key_):
    """``deployments.apps`` for ``apps/v1/Deployment``: a resource list key as the backup result's count key.

    The resource name is guessed from the kind as Kubernetes guesses it (lower case, plural; ``endpoints``
    stays), for backups without a manifest, whose resource list holds only kinds. A custom resource whose
    CRD declares an irregular plural gets the regular one.
    """
    api_version, _sep, kind = resource_list_key_.rpartition("/")
    group = api_version.rpartition("/")[0]
    singular = kind.lower()
    if singular.endswith("endpoints"):
        plural = singular
    elif singular.endswith("s"):
        plural = singular + "es"
    elif singular.endswith("y") and singular[-2:-1] not in ("a", "e", "i", "o", "u"):
        plural = singular[:-1] + "ies"
    else:
        plural = singular + "s"
    return "%s.%s" % (plural, group) if group else plural


# Names of the resource list encoded and compressed at a time.
_NAMES_PER_WRITE = 4096


class ResourceListBuilder:
    """Collects ``{"<apiVersion>/<Kind>": ["ns/name" or "name", ...]}``, Velero's resource list, names sorted.

    Names go through a SortedSpool: past its memory share they are sorted on disk, so the builder's memory does
    not grow with the object count. ``close()`` removes its scratch files (``write_gzip`` does too).
    """

    def __init__(self, memory_records=MEMORY_RECORDS):
        self._names = SortedSpool("resourcelist", memory_records)

    def add(self, api_version, kind, namespace, name):
        self.add_entries(api_version, kind, ["%s/%s" % (namespace, name) if namespace else name])

    def add_entries(self, api_version, kind, entries):
        """Add names of one kind: ``entries`` are "namespace/name" or, cluster-scoped, "name"."""
        key = resource_list_key(api_version, kind)
        self._names.extend([(key, entry) for entry in entries])

    def __len__(self):
        return len(self._names)

    def close(self):
        self._names.close()

    def write_gzip(self, stream):
        """Write the list to ``stream`` as gzip_json would (compact, keys and names sorted, a newline), a name at a
        time, then close the builder."""
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        with gzip.GzipFile(filename="", fileobj=stream, mode="wb", mtime=0) as compressed:
            compressed.write(b"{")
            for index, (key, records) in enumerate(itertools.groupby(self._names, key=operator.itemgetter(0))):
                compressed.write(b"%s%s:[" % (b"," if index else b"", encode(key).encode("utf-8")))
                # A list's names encoded a batch at a time: one encoder call per 4,096 names, not per name.
                separator = b""
                while True:
                    batch = [entry for _key, entry in itertools.islice(records, _NAMES_PER_WRITE)]
                    if not batch:
                        break
                    compressed.write(separator + encode(batch).encode("utf-8")[1:-1])
                    separator = b","
                compressed.write(b"]")
            compressed.write(b"}\n")
        self.close()

    def to_gzip_bytes(self):
        buffer = io.BytesIO()
        self.write_gzip(buffer)
        return buffer.getvalue()


class NotAResourceList(BackupFormatError):
    """A resource list sidecar that is valid JSON but not ``{"<apiVersion>/<Kind>": ["ns/name", ...]}``."""


# Characters of the gunzipped resource list decoded at a time, and the longest string it may hold (a name is
# at most 317 characters, "namespace/name"): the reader holds at most both, whatever the file's size.
_READ_CHARS = 64 * 1024
_MAX_STRING_CHARS = 64 * 1024
_SKIP_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A name without escapes nor control characters, and what follows it in its list: the common case, read without decoding.
_PLAIN_NAME = re.compile(r'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*([,\]])')
# Numbers and constants as json.loads takes them: valid JSON, not a resource list.
_OTHER_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null|NaN|-?Infinity")


class _ResourceListScanner:
    """The decoded text of a resource list, a window at a time, and the reader's position in it."""

    def __init__(self, stream, what):
        self.what = what
        self._chunks = gzip.GzipFile(filename="", fileobj=stream, mode="rb")
        # What json.loads accepts of bytes written by Velero or us: UTF-8 (a BOM skipped), lone surrogates passed.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogatepass")
        self.text = ""
        self.pos = 0
        self._consumed = 0  # characters before ``text``
        self._ended = False

    def fill(self):
        """Keep at least _MAX_STRING_CHARS characters ahead of ``pos`` (or all that is left)."""
        while not self._ended and len(self.text) - self.pos < _MAX_STRING_CHARS:
            data = self._chunks.read(_READ_CHARS)
            self._consumed += self.pos
            self.text = self.text[self.pos:] + self._decoder.decode(data, final=not data)
            self.pos = 0
            self._ended = not data

    def skip_whitespace(self):
        """The next character after whitespace ("" at the end of the file), with ``pos`` on it."""
        while True:
            self.fill()
            self.pos = _SKIP_WHITESPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text) or self._ended:  # else a window of whitespace only
                return self.text[self.pos:self.pos + 1]

    def expect(self, characters, expected):
        """Skip whitespace and one of ``characters``; returns it."""
        character = self.skip_whitespace()
        if not character or character not in characters:
            raise self.error(expected)
        self.pos += 1
        return character

    def string(self):
        """The string starting at ``pos`` (on its quote), decoded as json.loads decodes it."""
        try:
            value, end = json.decoder.scanstring(self.text, self.pos + 1, True)
        except json.JSONDecodeError as exc:
            if self._ended or len(self.text) - self.pos < _MAX_STRING_CHARS:
                raise self.error(exc.msg)
            raise self.error("a string longer than %d characters" % _MAX_STRING_CHARS)
        self.pos = end
        return value

    def value_error(self, expected):
        """What a value other than ``expected`` at ``pos`` means: another JSON value (its start checked), or not JSON."""
        character = self.text[self.pos:self.pos + 1]
        if character == '"':
            self.string()
        elif character not in ("{", "[") and not _OTHER_SCALAR.match(self.text, self.pos):
            return self.error(expected)
        return NotAResourceList(_not_a_resource_list(self.what))

    def error(self, message):
        return BackupFormatError("%s is not gzip-compressed JSON: %s: character %d" % (self.what, message, self._consumed + self.pos))


def _not_a_resource_list(what, reason=""):
    return "%s does not hold a resource list ({\"<apiVersion>/<Kind>\": [\"ns/name\", ...]})%s" % (what, reason)


def read_resource_list(stream, what):
    """Yield the ``(key, name)`` pairs of a resource list sidecar (gzip of ``{"<apiVersion>/<Kind>": [names]}``),
    read from the binary ``stream`` a window at a time: its memory does not grow with the names.

    Yields in file order what ``json.loads`` gives, key by key.  Raises BackupFormatError as gunzip_json does
    (``<what> is not gzip-compressed JSON: ...``) for a file that is not gzip-compressed JSON, truncated
    or with data after the object, and NotAResourceList for JSON of another shape (a value that is not a
    list of strings, a key given twice).  zlib.error (damaged compressed data) passes, as from gunzip_json.
    The file's encoding must be UTF-8 (Velero's and ours; json.loads would also take UTF-16 and UTF-32).
    """
    scanner = _ResourceListScanner(stream, what)
    match_plain_name = _PLAIN_NAME.match
    try:
        if scanner.skip_whitespace() != "{":
            raise scanner.value_error("Expecting value")
        scanner.pos += 1
        keys = set()
        closing = scanner.expect('"}', "Expecting property name enclosed in double quotes")
        while closing == '"':
            scanner.pos -= 1
            key = scanner.string()
            if key in keys:
                raise NotAResourceList(_not_a_resource_list(what, ": the key %s is given twice" % json.dumps(key)))
            keys.add(key)
            scanner.expect(":", "Expecting ':' delimiter")
            if scanner.skip_whitespace() != "[":
                raise scanner.value_error("Expecting value")
            scanner.pos += 1
            if scanner.skip_whitespace() == "]":
                scanner.pos += 1
            else:
                separator = ","
                while separator == ",":
                    # Plain names one after the other in the window, matched where they are: a match is made of the
                    # file's characters, so a window's end can only make it fail, never differ.
                    text, position = scanner.text, scanner.pos
                    plain = match_plain_name(text, position)
                    while plain is not None:
                        position = plain.end()
                        name, separator = plain.groups()
                        yield key, name
                        if separator == "]":
                            break
                        plain = match_plain_name(text, position)
                    scanner.pos = position
                    if separator == "]":
                        break
                    # Anything else (escapes, a name across the window's end, damage): one name the careful way.
                    if scanner.skip_whitespace() != '"':
                        raise scanner.value_error("Expecting value")
                    yield key, scanner.string()
                    separator = scanner.expect(",]", "Expecting ',' delimiter")
            if scanner.expect(",}", "Expecting ',' delimiter") == "}":
                break
            closing = scanner.expect('"', "Expecting property name enclosed in double quotes")
        if scanner.skip_whitespace():
            raise scanner.error("Extra data")
    except (OSError, EOFError, ValueError) as error:
        raise BackupFormatError("%s is not gzip-compressed JSON: %s" % (what, error))


class Result:
    """Messages of a run in Velero's ``results.Result`` shape: velero, cluster, and per namespace."""

    def __init__(self, velero=None, cluster=None, namespaces=None):
        self.velero = list(velero or [])
        self.cluster = list(cluster or [])
        self.namespaces = dict((ns, list(messages)) for ns, messages in (namespaces or {}).items())

    @classmethod
    def from_dict(cls, data):
        data = data or {}
        return cls(data.get("velero"), data.get("cluster"), data.get("namespaces"))

    def add(self, namespace, message):
        """A message about an object: cluster-scoped when ``namespace`` is empty."""
        if namespace:
            self.namespaces.setdefault(namespace, []).append(message)
        else:
            self.cluster.append(message)

    def add_velero(self, message):
        """A message about the run itself (storage, reading the backup, ...)."""
        self.velero.append(message)

    def __len__(self):
        return len(self.velero) + len(self.cluster) + sum(len(messages) for messages in self.namespaces.values())

    def to_dict(self):
        result = {}
        if self.velero:
            result["velero"] = list(self.velero)
        if self.cluster:
            result["cluster"] = list(self.cluster)
        namespaces = dict((ns, list(messages)) for ns, messages in self.namespaces.items() if messages)
        if namespaces:
            result["namespaces"] = namespaces
        return result


def _as_result(value):
    if isinstance(value, Result):
        return value
    return Result.from_dict(value)


def result_messages(result):
    """Velero's results.Result as lines: Velero's own messages, then ``cluster: ...``, then ``namespace ns: ...``."""
    result = result if isinstance(result, dict) else {}
    messages = [str(message) for message in result.get("velero") or []]
    messages.extend("cluster: %s" % message for message in result.get("cluster") or [])
    namespaces = result.get("namespaces") or {}
    for namespace in sorted(namespaces):
        messages.extend("namespace %s: %s" % (namespace, message) for message in namespaces[namespace] or [])
    return messages


def results_sidecar(errors, warnings):
    """The ``<name>-results.gz`` document: ``{"errors": {...}, "warnings": {...}}`` (Result objects or dicts)."""
    return {"errors": _as_result(errors).to_dict(), "warnings": _as_result(warnings).to_dict()}


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate_backup_name(name, what="backup name"):
    """Raise ConfigurationError unless ``name`` can name a backup; returns it.

    It becomes a Kubernetes object name (DNS-1123 subdomain) and the value of
    the ``velero.io/backup-name`` label on restored objects, hence 63 characters at most.
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError("%s is empty: give a name such as 'nightly-20240101020000'" % what)
    problems = []
    if len(name) > _LABEL_MAX:
        problems.append("it has %d characters, at most %d are allowed" % (len(name), _LABEL_MAX))
    if not _DNS_SUBDOMAIN.match(name):
        problems.append("use only lowercase letters, digits, '-' and '.', starting and ending with a letter or digit")
    if problems:
        raise ConfigurationError("%s '%s' is invalid: %s (it names a Kubernetes object and a label value)" % (what, name, "; ".join(problems)))
    return name


def default_backup_name(prefix, now=None):
    """``<prefix>-YYYYMMDDhhmmss`` in UTC, as Velero names scheduled backups."""
    now = _to_utc(now or utc_now())
    name = "%s-%s" % (prefix, now.strftime("%Y%m%d%H%M%S"))
    try:
        return validate_backup_name(name)
    except ConfigurationError as error:
        raise ConfigurationError("backup name prefix '%s' (at most %d characters) gives an invalid name: %s" % (prefix, _LABEL_MAX - 15, error))


def label_value(value):
    """A label value of at most 63 characters, shortened with a hash as Velero's label.GetValidName does."""
    if len(value) <= _LABEL_MAX:
        return value
    return value[:_LABEL_MAX - 6] + hashlib.sha256(value.encode("utf-8")).hexdigest()[:6]


# ---------------------------------------------------------------------------
# Times and durations
# ---------------------------------------------------------------------------


def utc_now():
    """The current time as an aware UTC datetime: the one clock of the engine."""
    return datetime.datetime.now(datetime.timezone.utc)


def utc_now_seconds():
    """The current time in whole seconds, as Velero's timestamps hold it.

    A run's start and completion are written in whole seconds; times derived from them in
    memory (expiration, durations) then equal the ones a reader computes from the record.
    """
    return utc_now().replace(microsecond=0)


def _to_utc(value):
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def format_timestamp(value):
    """``YYYY-MM-DDTHH:MM:SSZ`` (metav1.Time's JSON form); naive datetimes are taken as UTC."""
    return _to_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$"
)


def parse_timestamp(value, what="timestamp"):
    """An RFC 3339 timestamp (``2024-01-02T03:04:05Z``, fractions and offsets too) as an aware UTC datetime."""
    match = _TIMESTAMP.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise BackupFormatError("%s %r is not an RFC 3339 time like 2024-01-02T03:04:05Z" % (what, value))
    year, month, day, hour, minute, second, fraction, zulu, sign, offset_hours, offset_minutes = match.groups()
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    offset = datetime.timedelta()
    if not zulu:
        offset = datetime.timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        if sign == "-":
            offset = -offset
    try:
        parsed = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), microsecond,
                                   tzinfo=datetime.timezone(offset))
    except ValueError as error:
        raise BackupFormatError("%s %r is not a valid time: %s" % (what, value, error))
    return parsed.astimezone(datetime.timezone.utc)


_NANOSECONDS = {
    "ns": 1,
    "us": 1000,
    "\u00b5s": 1000,
    "\u03bcs": 1000,
    "ms": 1000000,
    "s": 1000000000,
    "m": 60 * 1000000000,
    "h": 3600 * 1000000000,
}
_DURATION_PART = re.compile("(\\d*)(?:\\.(\\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_go_duration(value, what="ttl"):
    """Go's time.ParseDuration: ``720h0m0s``, ``24h``, ``90m``, ``1h30m``, ``1.5h``, ``0``; a timedelta passes through.

    Precision is the microsecond (a timedelta's).
    """
    if isinstance(value, datetime.timedelta):
        return value
    error = ConfigurationError("%s '%s' is not a duration like 720h0m0s or 24h" % (what, value))
    text = value.strip() if isinstance(value, str) else ""
    negative = text[:1] == "-"
    if text[:1] in ("-", "+"):
        text = text[1:]
    if text == "0":
        return datetime.timedelta()
    if not text:
        raise error
    nanoseconds = 0
    position = 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        whole, fraction, unit = match.groups() if match else (None, None, None)
        if not match or not (whole or fraction):
            raise error
        scale = _NANOSECONDS[unit]
        nanoseconds += int(whole or "0") * scale
        if fraction:
            nanoseconds += int(fraction) * scale // 10 ** len(fraction)
        position = match.end()
    duration = datetime.timedelta(microseconds=nanoseconds // 1000)
    return -duration if negative else duration


def format_go_duration(value):
    """Go's time.Duration.String(): ``720h0m0s``, ``1h30m0s``, ``90s`` -> ``1m30s``, ``0s``, ``1.5s``, ``500ms``."""
    microseconds = (value.days * 86400 + value.seconds) * 1000000 + value.microseconds
    sign = "-" if microseconds < 0 else ""
    microseconds = abs(microseconds)
    if microseconds == 0:
        return "0s"
    if microseconds < 1000:
        return "%s%d\u00b5s" % (sign, microseconds)
    if microseconds < 1000000:
        return "%s%sms" % (sign, _decimal(microseconds, 1000))
    seconds_total, fraction = divmod(microseconds, 1000000)
    hours, rest = divmod(seconds_total, 3600)
    minutes, seconds = divmod(rest, 60)
    seconds_text = _decimal(seconds * 1000000 + fraction, 1000000)
    if hours:
        return "%s%dh%dm%ss" % (sign, hours, minutes, seconds_text)
    if minutes:
        return "%s%dm%ss" % (sign, minutes, seconds_text)
    return "%s%ss" % (sign, seconds_text)


def _decimal(amount, unit):
    """``amount / unit`` without trailing zeros: 1500/1000 -> "1.5", 2000/1000 -> "2"."""
    whole, fraction = divmod(amount, unit)
    if not fraction:
        return str(whole)
    digits = len(str(unit)) - 1
    return "%d.%s" % (whole, ("%0*d" % (digits, fraction)).rstrip("0"))


# ---------------------------------------------------------------------------
# Label selectors
# ---------------------------------------------------------------------------

_SELECTOR_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|<|>|[^\s,=!()<>]+)")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _check_label_key(key, what, selector):
    prefix, _sep, name = key.rpartition("/")
    valid = bool(name) and len(name) <= _LABEL_MAX and _LABEL_NAME.match(name)
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        valid = False
    if "/" in key and not prefix:
        valid = False
    if not valid:
        raise ConfigurationError("%s '%s': '%s' is not a valid label key (like app or example.com/tier)" % (what, selector, key))


def _check_label_value(value, what, selector):
    if len(value) > _LABEL_MAX or not _LABEL_NAME.match(value):
        raise ConfigurationError("%s '%s': '%s' is not a valid label value (at most 63 letters, digits, '-', '_', '.')" % (what, selector, value))


_SELECTOR_SPECIALS = ("!=", "==", "=", "!", "(", ")", ",", "<", ">")


class _SelectorTokens:
    """The tokens of a selector string, read one at a time."""

    def __init__(self, selector, what):
        self.selector = selector
        self.what = what
        self.tokens = []
        position = 0
        text = selector.rstrip()
        while position < len(text):
            match = _SELECTOR_TOKEN.match(text, position)
            self.tokens.append(match.group(1))
            position = match.end()
        self.position = 0

    def peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self):
        token = self.peek()
        self.position += 1
        return token

    def take_identifier(self):
        token = self.take()
        if token is None or token in _SELECTOR_SPECIALS:
            raise self.syntax_error()
        return token

    def syntax_error(self):
        return ConfigurationError(
            "%s '%s' is not a label selector like 'app=web,tier in (a,b),!legacy' (operators: =, ==, !=, in, notin, key, !key)"
            % (self.what, self.selector))


def _parse_requirement(tokens):
    """(key, operator, values) of one requirement; operators of metav1.LabelSelector plus Equals."""
    what, selector = tokens.what, tokens.selector
    if tokens.peek() == "!":
        tokens.take()
        key = tokens.take_identifier()
        _check_label_key(key, what, selector)
        return key, "DoesNotExist", []
    key = tokens.take_identifier()
    _check_label_key(key, what, selector)
    operator = tokens.peek()
    if operator in (None, ","):
        return key, "Exists", []
    tokens.take()
    if operator in ("=", "==", "!="):
        value = "" if tokens.peek() in (None, ",") else tokens.take_identifier()
        _check_label_value(value, what, selector)
        return key, "NotIn" if operator == "!=" else "Equals", [value]
    if operator in ("in", "notin"):
        if tokens.take() != "(":
            raise tokens.syntax_error()
        values = []
        if tokens.peek() == ")":
            values.append("")
        else:
            values.append(tokens.take_identifier())
            while tokens.peek() == ",":
                tokens.take()
                values.append(tokens.take_identifier())
        if tokens.take() != ")":
            raise tokens.syntax_error()
        for value in values:
            _check_label_value(value, what, selector)
        return key, "In" if operator == "in" else "NotIn", sorted(set(values))
    if operator in ("<", ">"):
        raise ConfigurationError("%s '%s': the operators < and > cannot be used in a backup's label selector" % (what, selector))
    raise tokens.syntax_error()


def _parse_requirements(selector, what):
    tokens = _SelectorTokens(selector, what)
    requirements = [_parse_requirement(tokens)]
    while tokens.peek() is not None:
        if tokens.take() != ",":
            raise tokens.syntax_error()
        requirements.append(_parse_requirement(tokens))
    return requirements


def label_selector_to_dict(selector, what="label_selector"):
    """A metav1.LabelSelector dict from the selector string syntax (``app=web,tier in (a,b),!x``).

    ``=``/``==`` become matchLabels (a second value for one key becomes an In
    expression), ``!=`` becomes NotIn.  A dict is accepted too: a LabelSelector
    (matchLabels / matchExpressions) or a plain ``{label: value}`` mapping.
    An empty selector gives None.
    """
    if selector is None:
        return None
    if isinstance(selector, dict):
        return _label_selector_from_mapping(selector, what)
    if not isinstance(selector, str):
        raise ConfigurationError("%s must be a string like 'app=web' or a mapping, not %s" % (what, type(selector).__name__))
    if not selector.strip():
        return None
    match_labels = {}
    expressions = []
    for key, operator, values in _parse_requirements(selector, what):
        if operator == "Equals" and match_labels.get(key, values[0]) == values[0]:
            match_labels[key] = values[0]
            continue
        expression = {"key": key, "operator": "In" if operator == "Equals" else operator}
        if values:
            expression["values"] = values
        expressions.append(expression)
    result = {}
    if match_labels:
        result["matchLabels"] = match_labels
    if expressions:
        result["matchExpressions"] = expressions
    return result


def _label_selector_from_mapping(selector, what):
    if not selector:
        return None
    if not set(selector) <= {"matchLabels", "matchExpressions"}:
        selector = {"matchLabels": selector}
    result = {}
    match_labels = selector.get("matchLabels") or {}
    for key, value in match_labels.items():
        _check_label_key(str(key), what, selector)
        _check_label_value("" if value is None else str(value), what, selector)
    if match_labels:
        result["matchLabels"] = dict((str(key), "" if value is None else str(value)) for key, value in match_labels.items())
    expressions = []
    for expression in selector.get("matchExpressions") or []:
        operator = expression.get("operator")
        values = [str(value) for value in expression.get("values") or []]
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ConfigurationError("%s: operator %r must be In, NotIn, Exists or DoesNotExist" % (what, operator))
        if (operator in ("In", "NotIn")) != bool(values):
            raise ConfigurationError("%s: operator %s %s values" % (what, operator, "needs" if operator in ("In", "NotIn") else "takes no"))
        _check_label_key(str(expression.get("key", "")), what, selector)
        entry = {"key": str(expression["key"]), "operator": operator}
        if values:
            entry["values"] = values
        expressions.append(entry)
    if expressions:
        result["matchExpressions"] = expressions
    return result


def label_selector_to_string(selector):
    """The selector string (for a LIST's labelSelector query) of a metav1.LabelSelector dict; "" matches all."""
    if not selector:
        return ""
    parts = ["%s=%s" % (key, value) for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append("!" + key)
        else:
            parts.append("%s %s (%s)" % (key, "in" if operator == "In" else "notin", ",".join(values)))
    return ",".join(parts)


# ---------------------------------------------------------------------------
# The Backup object (velero-backup.json)
# ---------------------------------------------------------------------------

_SPEC_OPTIONS = (
    "included_namespaces", "excluded_namespaces", "included_resources", "excluded_resources",
    "label_selector", "or_label_selectors", "snapshot_volumes", "ttl", "include_cluster_resources", "hooks",
    "volume_snapshot_locations", "default_volumes_to_fs_backup", "csi_snapshot_timeout", "item_operation_timeout",
    "snapshot_move_data",
)
_STATUS_FIELDS = (
    "phase", "start_timestamp", "completion_timestamp", "expiration", "total_items", "items_backed_up",
    "warnings", "errors", "failure_reason", "validation_errors", "volume_snapshots_attempted",
    "volume_snapshots_completed", "csi_volume_snapshots_attempted", "csi_volume_snapshots_completed",
    "hooks_attempted", "hooks_failed",
)


def _put(target, key, value):
    """Set ``key`` unless Go's omitempty would leave ``value`` out: None, 0, "", an empty list or map.

    Booleans are always set: every bool of Backup we write is a *bool, where only nil is omitted.
    """
    if value is None:
        return
    if not isinstance(value, bool) and value in (0, "") or isinstance(value, (list, tuple, dict)) and not value:
        return
    target[key] = list(value) if isinstance(value, tuple) else value


def _timestamp(value, what):
    if value is None or isinstance(value, str):
        return value if value is None else format_timestamp(parse_timestamp(value, what))
    return format_timestamp(value)


def _name_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)


def _check_keys(given, allowed, what):
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError("%s: unknown keys %s (known: %s)" % (what, ", ".join(unknown), ", ".join(allowed)))


def backup_object(name, storage_location, spec_options, status, labels=None, annotations=None, namespace=VELERO_NAMESPACE):
    """The ``velero.io/v1`` ``Backup`` written as velero-backup.json.

    ``spec_options`` keys (all optional): included_namespaces (default ``*``),
    excluded_namespaces, included_resources, excluded_resources, label_selector,
    or_label_selectors (strings or LabelSelector dicts), snapshot_volumes,
    include_cluster_resources (None: Velero's automatic policy), ttl (Go duration
    or timedelta, default 720h0m0s), hooks (Velero's BackupHooks), volume_snapshot_locations,
    default_volumes_to_fs_backup, csi_snapshot_timeout, item_operation_timeout, snapshot_move_data.
    ``status`` keys: phase (required), start_timestamp, completion_timestamp
    (datetimes or RFC 3339 strings), expiration (default start + ttl), total_items,
    items_backed_up, warnings, errors (counts), failure_reason, validation_errors,
    volume_snapshots_attempted/completed, csi_volume_snapshots_attempted/completed,
    hooks_attempted, hooks_failed.
    """
    spec_options = dict(spec_options or {})
    status = dict(status or {})
    _check_keys(spec_options, _SPEC_OPTIONS, "backup_object spec_options")
    _check_keys(status, _STATUS_FIELDS, "backup_object status")
    ttl = parse_go_duration(spec_options.get("ttl") or DEFAULT_TTL, "ttl")

    metadata = {"name": name, "namespace": namespace}
    all_labels = dict(labels or {})
    all_labels[STORAGE_LOCATION_LABEL] = label_value(storage_location)
    metadata["labels"] = all_labels
    _put(metadata, "annotations", dict(annotations or {}))
    start = status.get("start_timestamp")
    metadata["creationTimestamp"] = _timestamp(start, "start_timestamp") or format_timestamp(utc_now())

    spec = {"metadata": {}}
    _put(spec, "includedNamespaces", _name_list(spec_options.get("included_namespaces")) or ["*"])
    _put(spec, "excludedNamespaces", _name_list(spec_options.get("excluded_namespaces")))
    _put(spec, "includedResources", _name_list(spec_options.get("included_resources")))
    _put(spec, "excludedResources", _name_list(spec_options.get("excluded_resources")))
    _put(spec, "labelSelector", label_selector_to_dict(spec_options.get("label_selector"), "label_selector"))
    or_selectors = [label_selector_to_dict(selector, "or_label_selectors") for selector in _selector_list(spec_options.get("or_label_selectors"))]
    _put(spec, "orLabelSelectors", [selector for selector in or_selectors if selector])
    _put(spec, "snapshotVolumes", spec_options.get("snapshot_volumes"))
    spec["ttl"] = format_go_duration(ttl)
    _put(spec, "includeClusterResources", spec_options.get("include_cluster_resources"))
    spec["hooks"] = dict(spec_options.get("hooks") or {})
    spec["storageLocation"] = storage_location
    _put(spec, "volumeSnapshotLocations", _name_list(spec_options.get("volume_snapshot_locations")))
    spec["defaultVolumesToFsBackup"] = bool(spec_options.get("default_volumes_to_fs_backup", False))
    spec["csiSnapshotTimeout"] = format_go_duration(parse_go_duration(spec_options.get("csi_snapshot_timeout") or DEFAULT_CSI_SNAPSHOT_TIMEOUT,
                                                                      "csi_snapshot_timeout"))
    spec["itemOperationTimeout"] = format_go_duration(parse_go_duration(spec_options.get("item_operation_timeout") or DEFAULT_ITEM_OPERATION_TIMEOUT,
                                                                        "item_operation_timeout"))
    spec["snapshotMoveData"] = bool(spec_options.get("snapshot_move_data", False))

    phase = status.get("phase")
    if phase not in BACKUP_PHASES:
        raise ValueError("backup_object status: phase %r is not one of %s" % (phase, ", ".join(BACKUP_PHASES)))
    expiration = status.get("expiration")
    if expiration is None and start is not None:
        start_time = parse_timestamp(start, "start_timestamp") if isinstance(start, str) else start
        expiration = start_time + ttl
    backup_status = {"version": BACKUP_VERSION, "formatVersion": FORMAT_VERSION}
    _put(backup_status, "expiration", _timestamp(expiration, "expiration"))
    backup_status["phase"] = phase
    _put(backup_status, "validationErrors", list(status.get("validation_errors") or []))
    _put(backup_status, "startTimestamp", _timestamp(start, "start_timestamp"))
    _put(backup_status, "completionTimestamp", _timestamp(status.get("completion_timestamp"), "completion_timestamp"))
    _put(backup_status, "volumeSnapshotsAttempted", status.get("volume_snapshots_attempted"))
    _put(backup_status, "volumeSnapshotsCompleted", status.get("volume_snapshots_completed"))
    _put(backup_status, "failureReason", status.get("failure_reason"))
    _put(backup_status, "warnings", status.get("warnings"))
    _put(backup_status, "errors", status.get("errors"))
    progress = {}
    _put(progress, "totalItems", status.get("total_items"))
    _put(progress, "itemsBackedUp", status.get("items_backed_up"))
    backup_status["progress"] = progress
    _put(backup_status, "csiVolumeSnapshotsAttempted", status.get("csi_volume_snapshots_attempted"))
    _put(backup_status, "csiVolumeSnapshotsCompleted", status.get("csi_volume_snapshots_completed"))
    hook_status = {}
    _put(hook_status, "hooksAttempted", status.get("hooks_attempted"))
    _put(hook_status, "hooksFailed", status.get("hooks_failed"))
    _put(backup_status, "hookStatus", hook_status)

    return {"apiVersion": BACKUP_API_VERSION, "kind": "Backup", "metadata": metadata, "spec": spec, "status": backup_status}


def _selector_list(value):
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    return list(value)


def source_cluster_annotations(version_info):
    """The annotations Velero puts on a Backup from the cluster's ``/version`` document."""
    version_info = version_info or {}
    annotations = {}
    for key, field in (("velero.io/source-cluster-k8s-gitversion", "gitVersion"),
                       ("velero.io/source-cluster-k8s-major-version", "major"),
                       ("velero.io/source-cluster-k8s-minor-version", "minor")):
        if version_info.get(field):
            annotations[key] = str(version_info[field])
    return annotations


def encode_backup(backup):
    """velero-backup.json bytes: indented JSON, as Velero's pretty serializer writes it."""
    return (json.dumps(backup, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def decode_backup(data, expected_name=None, what="velero-backup.json"):
    """Parse velero-backup.json (ours or Velero's) and check that it is a Backup (named ``expected_name``)."""
    try:
        backup = json.loads(data)
    except ValueError as error:
        raise BackupFormatError("%s is not valid JSON: %s" % (what, error))
    if not isinstance(backup, dict) or backup.get("kind") != "Backup" or not str(backup.get("apiVersion", "")).startswith("velero.io/"):
        raise BackupFormatError("%s is not a velero.io Backup object" % what)
    name = (backup.get("metadata") or {}).get("name")
    if expected_name is not None and name != expected_name:
        raise BackupFormatError("%s names backup %r, but it is stored as %r" % (what, name, expected_name))
    return backup

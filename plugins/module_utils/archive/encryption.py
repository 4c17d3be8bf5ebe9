# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client-side encryption of backups in the age format (https://age-encryption.org/v1), with pyrage.

Two modes: ``all`` encrypts the whole tarball into ``<name>.tar.gz.age``;
``secrets`` encrypts only the values of Secret objects (each value becomes
base64 of an age file), so the rest of the archive stays Velero-readable.
Either way the standard ``age`` tool alone decrypts the data in a disaster.

Backups are encrypted to age public keys, so the backup job never holds a
key that can read them. A passphrase is the alternative: pyrage can only
passphrase-encrypt whole byte strings, so the data is encrypted to a fresh
key pair made for the backup and that key's identity is stored next to the
backup as ``<name>-identity.age``, passphrase-encrypted - an identity file
``age -d -i`` accepts as it is (asking for the passphrase).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import json
import os
import queue
import threading
import traceback

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError

try:
    import pyrage
    HAS_PYRAGE = True
    PYRAGE_IMPORT_ERROR = None
except ImportError:
    HAS_PYRAGE = False
    PYRAGE_IMPORT_ERROR = traceback.format_exc()

MODES = ("none", "secrets", "all")
FORMAT = "age-v1"
# On an encrypted Secret in the archive, and on velero-backup.json (value: the mode).
SECRET_ANNOTATION = "kubesafe.k8s/encrypted"
SECRET_ANNOTATION_VALUE = "age"
BACKUP_ANNOTATION = "kubesafe.k8s/encryption"
# kubectl apply repeats every value of the Secret in this annotation.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
AGE_MAGIC = b"age-encryption.org/v1"
SECRET_KEY_PREFIX = "AGE-SECRET-KEY-1"
_SSH_PRIVATE_KEY_MARKER = "PRIVATE KEY-----"
# Bytes handed between the archive writer and pyrage at once, and how many such pieces may wait.
_PIPE_CHUNK = 256 * 1024
_PIPE_DEPTH = 8
_POLL_SECONDS = 0.5
KEY_OPTIONS = "decryption_identity, decryption_identity_file or decryption_passphrase"


def _require_pyrage(what):
    if not HAS_PYRAGE:
        raise ConfigurationError("%s needs the Python package pyrage on the host running the module (pip install pyrage)" % what)


def _is_blank_or_comment(line):
    return not line or line.startswith("#")


def _parse_recipient(text, what):
    if text.upper().startswith("AGE-SECRET-KEY-"):
        raise ConfigurationError("%s holds a private key (AGE-SECRET-KEY-...): give its public key instead (age-keygen -y key.txt)" % what)
    try:
        if text.startswith("age1"):
            return pyrage.x25519.Recipient.from_str(text)
        if text.startswith(("ssh-ed25519 ", "ssh-rsa ")):
            return pyrage.ssh.Recipient.from_str(text)
    except pyrage.RecipientError as exc:
        raise ConfigurationError("%s: %r is not a valid age public key: %s" % (what, text[:24] + "...", exc))
    raise ConfigurationError("%s: %r is not an age public key (age1...) or an SSH public key (ssh-ed25519 / ssh-rsa)" % (what, text[:24] + "..."))


def _read_text_file(path, what):
    try:
        with open(os.path.expanduser(path), "rb") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise ConfigurationError("%s: cannot read %s: %s" % (what, path, exc.strerror or exc))


class EncryptionSettings:
    """How a backup is encrypted: the mode and the public keys (recipients) it is encrypted to."""

    def __init__(self, mode="none", recipients=(), recipient_texts=(), passphrase=None):
        self.mode = mode
        self._recipients = list(recipients)
        self.recipient_texts = list(recipient_texts)
        self._passphrase = passphrase
        self._session_identity = None
        if passphrase:
            # The backup's own key pair; its identity is stored passphrase-encrypted (see wrapped_identity).
            self._session_identity = pyrage.x25519.Identity.generate()
            self._recipients.append(self._session_identity.to_public())

    def __repr__(self):
        return "EncryptionSettings(mode=%r, recipients=%r, passphrase=%s)" % (self.mode, self.recipient_texts, bool(self._passphrase))

    @classmethod
    def none(cls):
        return cls()

    @classmethod
    def from_options(cls, mode="none", recipients=None, recipients_file=None, passphrase=None):
        mode = mode or "none"
        if mode not in MODES:
            raise ConfigurationError("encryption must be none, secrets or all, not %r" % (mode,))
        recipients = [recipients] if isinstance(recipients, str) else list(recipients or [])
        if mode == "none":
            given = [name for name, value in (("encryption_recipients", recipients), ("encryption_recipients_file", recipients_file),
                                              ("encryption_passphrase", passphrase)) if value]
            if given:
                raise ConfigurationError("%s given but encryption is none: set encryption to secrets or all (or drop %s)"
                                         % (", ".join(given), " and ".join(given)))
            return cls.none()
        _require_pyrage("encryption: %s" % mode)
        if not (recipients or recipients_file or passphrase):
            raise ConfigurationError("encryption: %s needs encryption_recipients (age public keys, age1...), encryption_recipients_file "
                                     "or encryption_passphrase" % mode)
        texts = []
        for index, text in enumerate(recipients):
            text = str(text).strip()
            if text:
                texts.append((text, "encryption_recipients[%d]" % index))
        if recipients_file:
            for number, line in enumerate(_read_text_file(recipients_file, "encryption_recipients_file").decode("utf-8", "replace").splitlines(), 1):
                line = line.strip()
                if not _is_blank_or_comment(line):
                    texts.append((line, "encryption_recipients_file %s line %d" % (recipients_file, number)))
        if not texts and not passphrase:
            raise ConfigurationError("encryption: %s: encryption_recipients and encryption_recipients_file hold no public key" % mode)
        parsed = [_parse_recipient(text, what) for text, what in texts]
        return cls(mode, parsed, [text for text, _what in texts], passphrase or None)

    @property
    def enabled(self):
        return self.mode != "none"

    @property
    def uses_passphrase(self):
        return self._passphrase is not None

    @property
    def passphrase(self):
        """The passphrase (file-system backups derive their repositories' password from it), or None."""
        return self._passphrase

    def header(self):
        """The manifest's ``encryption`` entry: no secret in it, only public keys."""
        if not self.enabled:
            return None
        return {"mode": self.mode, "format": FORMAT, "recipients": list(self.recipient_texts), "passphrase": self.uses_passphrase}

    def backup_annotations(self):
        """Annotations of velero-backup.json, so that tools reading only Velero's files see the backup is encrypted."""
        return {BACKUP_ANNOTATION: self.mode} if self.enabled else {}

    def wrapped_identity(self):
        """The passphrase-encrypted identity file of the backup's own key pair, or None without a passphrase."""
        if self._session_identity is None:
            return None
        key_file = "# kubesafe.k8s backup key, public key: %s\n%s\n" % (self._session_identity.to_public(), self._session_identity)
        return pyrage.passphrase.encrypt(key_file.encode("ascii"), self._passphrase)

    def encrypt_bytes(self, data):
        try:
            return pyrage.encrypt(data, self._recipients)
        except pyrage.EncryptError as exc:
            raise KubesafeError("encryption failed: %s" % exc)

    def recipients(self):
        return list(self._recipients)


def _parse_identities(text, what):
    """age identities (AGE-SECRET-KEY-1... lines, # comments) or one SSH private key, from a key file's text."""
    if _SSH_PRIVATE_KEY_MARKER in text:
        try:
            return [pyrage.ssh.Identity.from_buffer(text.encode("utf-8"))]
        except pyrage.IdentityError as exc:
            raise ConfigurationError("%s: the SSH private key cannot be used: %s" % (what, exc))
    identities = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if _is_blank_or_comment(line):
            continue
        if not line.upper().startswith(SECRET_KEY_PREFIX):
            # Never echo the line: it may be key material in a wrong place.
            raise ConfigurationError("%s: line %d is not an age identity (AGE-SECRET-KEY-1...)" % (what, number))
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise ConfigurationError("%s: line %d is not a valid age identity" % (what, number))
    if not identities:
        raise ConfigurationError("%s holds no age identity (AGE-SECRET-KEY-1...)" % what)
    return identities


class DecryptionKeys:
    """What a restore (or verify) may decrypt with: age identities (private keys) and/or a passphrase."""

    def __init__(self, identities=(), passphrase=None):
        self.identities = list(identities)
        self.passphrase = passphrase or None

    def __repr__(self):
        return "DecryptionKeys(%d identities, passphrase=%s)" % (len(self.identities), bool(self.passphrase))

    @classmethod
    def from_options(cls, identity=None, identity_file=None, passphrase=None):
        if not (identity or identity_file or passphrase):
            return cls()
        _require_pyrage("decryption")
        identities = []
        if identity:
            identities.extend(_parse_identities(str(identity), "decryption_identity"))
        if identity_file:
            data = _read_text_file(identity_file, "decryption_identity_file")
            if data.startswith(AGE_MAGIC):
                # A passphrase-protected identity file, as age -d -i accepts it.
                if not passphrase:
                    raise ConfigurationError("decryption_identity_file %s is passphrase-encrypted: give decryption_passphrase too" % identity_file)
                data = _passphrase_decrypt(data, passphrase, "decryption_identity_file %s" % identity_file)
            identities.extend(_parse_identities(data.decode("utf-8", "replace"), "decryption_identity_file %s" % identity_file))
        return cls(identities, passphrase)

    @property
    def empty(self):
        return not self.identities and not self.passphrase

    def with_wrapped_identity(self, wrapped, what):
        """These keys plus the backup's own identity, unlocked with the passphrase (passphrase-mode backups)."""
        if not self.passphrase:
            return self
        data = _passphrase_decrypt(wrapped, self.passphrase, what)
        return DecryptionKeys(self.identities + _parse_identities(data.decode("utf-8", "replace"), what), self.passphrase)


def _passphrase_decrypt(data, passphrase, what):
    try:
        return pyrage.passphrase.decrypt(data, passphrase)
    except pyrage.DecryptError:
        raise KubesafeError("cannot decrypt %s: wrong decryption_passphrase" % what)


# ---------------------------------------------------------------------------
# Which backups are encrypted, and the keys that open one
# ---------------------------------------------------------------------------

def read_encryption_header(location, name):
    """The ``encryption`` entry of a backup: from our manifest, else from velero-backup.json's annotation; None when plain."""
    files = velero_format.file_names(name)
    if location.exists(files["manifest"]):
        try:
            manifest = json.loads(location.get_bytes(files["manifest"]))
        except ValueError:
            manifest = None
        if isinstance(manifest, dict):
            header = manifest.get("encryption")
            return header if isinstance(header, dict) and header.get("mode") in ("secrets", "all") else None
    if location.exists(files["metadata"]):
        try:
            backup = json.loads(location.get_bytes(files["metadata"]))
            mode = ((backup.get("metadata") or {}).get("annotations") or {}).get(BACKUP_ANNOTATION)
        except (ValueError, AttributeError):
            mode = None
        if mode in ("secrets", "all"):
            return {"mode": mode, "format": FORMAT, "recipients": [], "passphrase": location.exists(files["encryption_identity"])}
    return None


def describe_header(header):
    """``to age1..., age1... and a passphrase``: what the backup was encrypted to (public information)."""
    targets = list(header.get("recipients") or [])
    if header.get("passphrase"):
        targets.append("a passphrase")
    return ", ".join(targets) if targets else "unknown recipients"


def keys_for_backup(location, name, header, keys):
    """The keys that open backup ``name`` (its passphrase-protected identity unlocked); a clear error when none are given."""
    keys = keys or DecryptionKeys()
    if not header:
        return keys
    if keys.empty:
        raise KubesafeError("backup '%s' is encrypted (encryption %s, to %s): give %s"
                            % (name, header.get("mode"), describe_header(header), KEY_OPTIONS))
    _require_pyrage("decryption")
    wrapped_key = velero_format.file_names(name)["encryption_identity"]
    if keys.passphrase and location.exists(wrapped_key):
        keys = keys.with_wrapped_identity(location.get_bytes(wrapped_key), "backup '%s'" % name)
    if not keys.identities:
        raise KubesafeError("backup '%s' was not encrypted with a passphrase (it is encrypted to %s): give decryption_identity or "
                            "decryption_identity_file" % (name, describe_header(header)))
    return keys


def _wrong_key_error(what, header, exc):
    message = str(exc)
    if "No matching keys" in message:
        return KubesafeError("cannot decrypt %s: wrong key (the backup was encrypted to %s)"
                             % (what, describe_header(header) if header else "other keys"))
    return KubesafeError("cannot decrypt %s: %s (the data is damaged or not in the age format)" % (what, message))


# ---------------------------------------------------------------------------
# Streams (mode all)
# ---------------------------------------------------------------------------

class _Cancelled(Exception):
    pass


class _Pipe:
    """A bounded hand-over of byte chunks between two threads; either end can cancel the other."""

    def __init__(self):
        self._queue = queue.Queue(_PIPE_DEPTH)
        self._chunk = memoryview(b"")
        self._eof = False
        self.cancelled = False

    def put(self, data):
        while True:
            if self.cancelled:
                raise _Cancelled("the other end stopped")
            try:
                self._queue.put(data, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def close(self):
        self.put(None)

    def cancel(self):
        self.cancelled = True

    def read(self, size=-1):
        """``size`` bytes (fewer only at the end; all that is left for -1); b"" at the end."""
        pieces = []
        wanted = size if size is not None and size >= 0 else float("inf")
        while wanted > 0:
            if not self._chunk:
                if self._eof:
                    break
                chunk = self._get()
                if chunk is None:
                    self._eof = True
                    break
                self._chunk = memoryview(chunk)
            take = self._chunk[:int(min(wanted, len(self._chunk)))]
            pieces.append(bytes(take))
            self._chunk = self._chunk[len(take):]
            wanted -= len(take)
        return b"".join(pieces)

    def _get(self):
        while True:
            if self.cancelled:
                raise _Cancelled("the other end stopped")
            try:
                return self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue


class _EncryptingStream:
    """Writable: everything written is age-encrypted into the destination by pyrage in a helper thread."""

    def __init__(self, destination, recipients):
        self._pipe = _Pipe()
        self._buffer = bytearray()
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(destination, recipients), name="kubesafe-age-encrypt", daemon=True)
        self._thread.start()

    def _run(self, destination, recipients):
        try:
            pyrage.encrypt_io(self._pipe, destination, recipients)
        except BaseException as exc:  # pylint: disable=broad-except
            self._error = exc
            self._pipe.cancel()

    def write(self, data):
        self._buffer += data
        if len(self._buffer) >= _PIPE_CHUNK:
            self._hand_over()
        return len(data)

    def flush(self):
        pass

    def _hand_over(self):
        # In pieces of _PIPE_CHUNK whatever the size of the writes: the pipe then holds at most
        # _PIPE_DEPTH * _PIPE_CHUNK bytes (a 1 MiB write used to put 1 MiB in each of its slots).
        buffer, self._buffer = self._buffer, bytearray()
        view = memoryview(buffer)
        try:
            for start in range(0, len(buffer), _PIPE_CHUNK):
                self._pipe.put(bytes(view[start:start + _PIPE_CHUNK]))
        except _Cancelled:
            raise self._failure()
        finally:
            view.release()

    def _failure(self):
        self._thread.join()
        return KubesafeError("encrypting the backup failed: %s" % (self._error or "the encryption stopped"))

    def finish(self):
        self._hand_over()
        try:
            self._pipe.close()
        except _Cancelled:
            raise self._failure()
        self._thread.join()
        if self._error is not None:
            raise self._failure()

    def abort(self):
        self._pipe.cancel()
        self._thread.join()


class encrypting_writer:  # pylint: disable=invalid-name
    """``with encrypting_writer(stream, settings) as writable:`` age-encrypts all that is written into ``stream``.

    Streaming: memory is bounded (a few chunks in flight) whatever the size. Leaving
    the block normally writes the end of the age file; an exception inside the
    block stops the encryption and propagates (the caller's location aborts the upload).
    """

    def __init__(self, stream, settings):
        _require_pyrage("encryption")
        self._stream = stream
        self._settings = settings
        self._writer = None

    def __enter__(self):
        self._writer = _EncryptingStream(self._stream, self._settings.recipients())
        return self._writer

    def __exit__(self, exc_type, exc_value, traceback_):
        if exc_type is None:
            self._writer.finish()
        else:
            self._writer.abort()
        return False


class _DecryptingStream:
    """Readable plaintext of an age stream, decrypted by pyrage in a helper thread."""

    def __init__(self, source, identities, what, header):
        self._pipe = _Pipe()
        self._what = what
        self._header = header
        self._error = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source, identities), name="kubesafe-age-decrypt", daemon=True)
        self._thread.start()
        self._check_key()

    def _run(self, source, identities):
        try:
            pyrage.decrypt_io(source, _PipeWriter(self._pipe), identities)
            self._pipe.close()
        except BaseException as exc:  # pylint: disable=broad-except
            self._error = exc
            self._pipe.cancel()
        finally:
            self._done.set()

    def _check_key(self):
        """Fail now, before the caller acts on anything, when the key is wrong: wait for the first plaintext or the end."""
        while not self._done.is_set() and self._pipe._queue.empty():  # pylint: disable=protected-access
            self._done.wait(0.01)
        if self._error is not None and not isinstance(self._error, _Cancelled):
            raise _wrong_key_error(self._what, self._header, self._error)

    def read(self, size=-1):
        try:
            return self._pipe.read(size)
        except _Cancelled:
            self._thread.join()
            if self._error is not None and not isinstance(self._error, _Cancelled):
                raise _wrong_key_error(self._what, self._header, self._error)
            raise KubesafeError("cannot decrypt %s: the decryption stopped" % self._what)

    def readable(self):
        return True

    def close(self):
        if not self._done.is_set():
            self._pipe.cancel()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


class _PipeWriter:
    def __init__(self, pipe):
        self._pipe = pipe

    def write(self, data):
        self._pipe.put(bytes(data))
        return len(data)

    def flush(self):
        pass


def decrypting_reader(stream, keys, what="the backup", header=None):
    """A readable (and closable, a context manager) stream of the plaintext of the age stream ``stream``.

    Streaming, memory bounded. A wrong or missing key raises KubesafeError here,
    before anything is read from the result.
    """
    _require_pyrage("decryption")
    if keys is None or not keys.identities:
        raise KubesafeError("%s is encrypted: give %s" % (what, KEY_OPTIONS))
    return _DecryptingStream(stream, keys.identities, what, header)


# ---------------------------------------------------------------------------
# Secret values (mode secrets)
# ---------------------------------------------------------------------------

def _where(obj):
    metadata = obj.get("metadata") or {}
    return "/".join(part for part in (metadata.get("namespace"), metadata.get("name")) if part)


def is_encrypted_secret(obj):
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(SECRET_ANNOTATION) == SECRET_ANNOTATION_VALUE


def encrypt_secret(obj, settings):
    """A copy of the Secret whose ``data``/``stringData`` values (and last-applied annotation) are age ciphertexts, base64-encoded.

    Keys, type, labels and every other field stay as they are. Decrypt one value with
    ``echo VALUE | base64 -d | age -d -i key.txt``.
    """
    if obj.get("kind") != "Secret" or not settings.enabled:
        return obj
    result = dict(obj)
    metadata = dict(result.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    if "data" in result and isinstance(result["data"], dict):
        result["data"] = {key: _encrypt_value(_decode_data_value(value, obj, key), settings) for key, value in result["data"].items()}
    if "stringData" in result and isinstance(result["stringData"], dict):
        result["stringData"] = {key: _encrypt_value(str(value).encode("utf-8"), settings) for key, value in result["stringData"].items()}
    if LAST_APPLIED in annotations:
        annotations[LAST_APPLIED] = _encrypt_value(annotations[LAST_APPLIED].encode("utf-8"), settings)
    annotations[SECRET_ANNOTATION] = SECRET_ANNOTATION_VALUE
    metadata["annotations"] = annotations
    result["metadata"] = metadata
    return result


def _decode_data_value(value, obj, key):
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise KubesafeError("Secret %s: data[%s] is not base64" % (_where(obj), key))


def _encrypt_value(plaintext, settings):
    return base64.b64encode(settings.encrypt_bytes(plaintext)).decode("ascii")


def decrypt_secret(obj, keys, what=None, header=None):
    """The Secret as it was backed up, from one ``encrypt_secret`` wrote; other objects are returned as they are."""
    if obj.get("kind") != "Secret" or not is_encrypted_secret(obj):
        return obj
    what = "Secret %s%s" % (_where(obj), " of %s" % what if what else "")
    if keys is None or not keys.identities:
        raise KubesafeError("cannot decrypt %s: it is encrypted; give %s" % (what, KEY_OPTIONS))
    result = copy.deepcopy(obj)
    metadata = result["metadata"]
    annotations = metadata["annotations"]
    if isinstance(result.get("data"), dict):
        result["data"] = {key: base64.b64encode(_decrypt_value(value, keys, what, header)).decode("ascii") for key, value in result["data"].items()}
    if isinstance(result.get("stringData"), dict):
        result["stringData"] = {key: _decrypt_value(value, keys, what, header).decode("utf-8") for key, value in result["stringData"].items()}
    if LAST_APPLIED in annotations:
        annotations[LAST_APPLIED] = _decrypt_value(annotations[LAST_APPLIED], keys, what, header).decode("utf-8")
    del annotations[SECRET_ANNOTATION]
    if not annotations:
        del metadata["annotations"]
    return result


def _decrypt_value(value, keys, what, header):
    try:
        ciphertext = base64.b64decode(value or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise KubesafeError("cannot decrypt %s: a value is not base64 (the archive was altered)" % what)
    try:
        return pyrage.decrypt(ciphertext, keys.identities)
    except pyrage.DecryptError as exc:
        raise _wrong_key_error(what, header, exc)


class open_backup_contents:  # pylint: disable=invalid-name
    """``with open_backup_contents(location, name, keys, header) as stream:`` the plaintext tarball of a backup.

    ``header`` is the backup's ``encryption`` entry (read_encryption_header); mode all
    reads ``<name>.tar.gz.age`` through decrypting_reader (``keys`` from keys_for_backup),
    other modes read ``<name>.tar.gz`` as it is.
    """

    def __init__(self, location, name, keys=None, header=None):
        self._location = location
        self._name = name
        self._keys = keys
        self._header = header
        self._raw = None
        self._plain = None

    def __enter__(self):
        files = velero_format.file_names(self._name)
        encrypted = bool(self._header) and self._header.get("mode") == "all"
        self._raw = self._location.open_read(files["contents_encrypted" if encrypted else "contents"])
        if not encrypted:
            return self._raw
        try:
            self._plain = decrypting_reader(self._raw, self._keys, "backup '%s'" % self._name, self._header)
        except BaseException:
            self._close_raw()
            raise
        return self._plain

    def _close_raw(self):
        close = getattr(self._raw, "close", None)
        if close is not None:
            close()

    def __exit__(self, *exc_info):
        try:
            if self._plain is not None:
                self._plain.close()
        finally:
            self._close_raw()
        return False


# Module options; their documentation is the kubesafe.k8s.encryption / kubesafe.k8s.decryption doc fragments.
ENCRYPTION_ARGUMENT_SPEC = dict(
    encryption=dict(type="str", choices=list(MODES), default="none"),
    encryption_recipients=dict(type="list", elements="str", default=[]),
    encryption_recipients_file=dict(type="path"),
    encryption_passphrase=dict(type="str", no_log=True),
)
DECRYPTION_ARGUMENT_SPEC = dict(
    decryption_identity=dict(type="str", no_log=True),
    decryption_identity_file=dict(type="path"),
    decryption_passphrase=dict(type="str", no_log=True),
)


def encryption_settings_from_params(params):
    return EncryptionSettings.from_options(params.get("encryption"), params.get("encryption_recipients"),
                                           params.get("encryption_recipients_file"), params.get("encryption_passphrase"))


def decryption_keys_from_params(params):
    return DecryptionKeys.from_options(params.get("decryption_identity"), params.get("decryption_identity_file"),
                                       params.get("decryption_passphrase"))


HIDDEN_VALUE = "VALUE_HIDDEN"


def hide_secret_values(obj, other=None):
    """A copy of a Secret with every value (and the last-applied annotation) replaced by VALUE_HIDDEN, for diffs and reports.

    With ``other`` (the other side of a diff), a value that differs from other's reads ``VALUE_HIDDEN (changed)``.
    """
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return obj
    other = other if isinstance(other, dict) else {}

    def hidden(value, other_value):
        return HIDDEN_VALUE if not other or value == other_value else HIDDEN_VALUE + " (changed)"

    result = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(result.get(field), dict):
            others = other.get(field) if isinstance(other.get(field), dict) else {}
            result[field] = dict((key, hidden(value, others.get(key))) for key, value in result[field].items())
    annotations = (result.get("metadata") or {}).get("annotations") or {}
    if LAST_APPLIED in annotations:
        other_annotations = (other.get("metadata") or {}).get("annotations") or {}
        result["metadata"] = dict(result["metadata"], annotations=dict(annotations, **{
            LAST_APPLIED: hidden(annotations[LAST_APPLIED], other_annotations.get(LAST_APPLIED))}))
    return result

"""age encryption of backups: settings, streams (mode all), Secret values (mode secrets), passphrases, keys.

Decryption with the standard `age` command-line tool is checked wherever a
disaster would need it (`make test` installs the Debian `age` package).
Passphrases are checked with pyrage, and once with `age` itself through a
pseudo-terminal: age reads passphrases from the terminal only.
"""

import base64
import contextlib
import io
import os
import pty
import shutil
import subprocess
import sys
import time

import pytest

import pyrage

from collection_path import COLLECTIONS_PATH

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import encryption
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import (
    DecryptionKeys, EncryptionSettings, decrypt_secret, decrypting_reader, encrypt_secret, encrypting_writer, keys_for_backup)
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import open_location

AGE = shutil.which("age")


def require_age():
    assert AGE, "the age command-line tool is missing: apt-get install age (make test installs it)"
    return AGE


@pytest.fixture(scope="module")
def key_pair():
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


@pytest.fixture
def key_file(tmp_path, key_pair):
    path = tmp_path / "key.txt"
    path.write_text("# created: by the test\n# public key: %s\n%s\n" % (key_pair[1], key_pair[0]))
    return path


def settings_for(key_pair, mode="all", **options):
    return EncryptionSettings.from_options(mode, recipients=[key_pair[1]], **options)


def encrypt_stream(data, settings, piece=100000):
    out = io.BytesIO()
    with encrypting_writer(out, settings) as writer:
        for start in range(0, len(data), piece):
            writer.write(data[start:start + piece])
    return out.getvalue()


# ---------------------------------------------------------------- settings


def test_none_is_the_default_and_has_no_header():
    settings = EncryptionSettings.from_options()
    assert settings.mode == "none" and not settings.enabled
    assert settings.header() is None and settings.backup_annotations() == {}


@pytest.mark.parametrize("options, message", [
    (dict(mode="everything"), "encryption must be none, secrets or all"),
    (dict(mode="all"), "needs encryption_recipients"),
    (dict(mode="none", recipients=["age1x"]), "encryption_recipients given but encryption is none"),
    (dict(mode="secrets", recipients=["not-a-key"]), r"encryption_recipients\[0\]: 'not-a-key...' is not an age public key"),
    (dict(mode="secrets", recipients=["age1notvalid"]), "is not a valid age public key"),
])
def test_bad_settings_name_the_option(options, message):
    with pytest.raises(ConfigurationError, match=message):
        EncryptionSettings.from_options(**options)


def test_a_private_key_given_as_recipient_is_refused_without_echoing_it(key_pair):
    with pytest.raises(ConfigurationError) as raised:
        EncryptionSettings.from_options("all", recipients=[key_pair[0]])
    assert "give its public key" in str(raised.value)
    assert key_pair[0][20:] not in str(raised.value)


def test_recipients_file_with_comments(tmp_path, key_pair):
    other = str(pyrage.x25519.Identity.generate().to_public())
    path = tmp_path / "recipients.txt"
    path.write_text("# ops team\n%s\n\n  %s  \n" % (key_pair[1], other))
    settings = EncryptionSettings.from_options("secrets", recipients_file=str(path))
    assert settings.header() == {"mode": "secrets", "format": "age-v1", "recipients": [key_pair[1], other], "passphrase": False}
    assert settings.backup_annotations() == {"kubesafe.k8s/encryption": "secrets"}
    with pytest.raises(ConfigurationError, match="encryption_recipients_file: cannot read"):
        EncryptionSettings.from_options("secrets", recipients_file=str(tmp_path / "missing"))


def test_the_passphrase_never_shows_in_settings_or_header(key_pair):
    settings = settings_for(key_pair, passphrase="correct horse battery")
    assert "correct horse" not in repr(settings) + repr(settings.header())
    assert settings.header()["passphrase"] is True


def test_identities_parse_comments_and_refuse_bad_lines_without_echoing_them(key_pair, key_file):
    keys = DecryptionKeys.from_options(identity="# mine\n\n%s\n" % key_pair[0])
    assert len(keys.identities) == 1
    assert len(DecryptionKeys.from_options(identity_file=str(key_file)).identities) == 1
    with pytest.raises(ConfigurationError) as raised:
        DecryptionKeys.from_options(identity="hunter2-secret-value")
    assert "line 1 is not an age identity" in str(raised.value) and "hunter2" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="holds no age identity"):
        DecryptionKeys.from_options(identity="# nothing\n")
    assert DecryptionKeys.from_options().empty


# ---------------------------------------------------------------- mode all: streams


def test_stream_round_trip_and_the_age_tool_decrypts_it(tmp_path, key_pair, key_file):
    data = os.urandom(3 * 1024 * 1024 + 17)
    ciphertext = encrypt_stream(data, settings_for(key_pair))
    assert ciphertext.startswith(b"age-encryption.org/v1\n-> X25519 ")
    keys = DecryptionKeys.from_options(identity=key_pair[0])
    with decrypting_reader(io.BytesIO(ciphertext), keys) as reader:
        assert reader.read() == data
    (tmp_path / "archive.age").write_bytes(ciphertext)
    result = subprocess.run([require_age(), "-d", "-i", str(key_file), str(tmp_path / "archive.age")], capture_output=True, check=True)
    assert result.stdout == data


def test_small_reads_and_an_empty_stream(key_pair):
    keys = DecryptionKeys.from_options(identity=key_pair[0])
    data = b"0123456789" * 5000
    with decrypting_reader(io.BytesIO(encrypt_stream(data, settings_for(key_pair))), keys) as reader:
        pieces = []
        while True:
            piece = reader.read(777)
            if not piece:
                break
            assert len(piece) <= 777
            pieces.append(piece)
    assert b"".join(pieces) == data
    with decrypting_reader(io.BytesIO(encrypt_stream(b"", settings_for(key_pair))), keys) as reader:
        assert reader.read() == b""


def test_every_recipient_can_decrypt(key_pair):
    other = pyrage.x25519.Identity.generate()
    settings = EncryptionSettings.from_options("all", recipients=[key_pair[1], str(other.to_public())])
    ciphertext = encrypt_stream(b"payload", settings)
    for identity in (key_pair[0], str(other)):
        with decrypting_reader(io.BytesIO(ciphertext), DecryptionKeys.from_options(identity=identity)) as reader:
            assert reader.read() == b"payload"


def test_wrong_key_fails_at_open_naming_the_recipients(key_pair):
    ciphertext = encrypt_stream(b"x" * 100000, settings_for(key_pair))
    wrong = DecryptionKeys.from_options(identity=str(pyrage.x25519.Identity.generate()))
    header = settings_for(key_pair).header()
    with pytest.raises(KubesafeError, match="cannot decrypt backup 'b1': wrong key \\(the backup was encrypted to %s\\)" % key_pair[1]):
        decrypting_reader(io.BytesIO(ciphertext), wrong, "backup 'b1'", header)
    with pytest.raises(KubesafeError, match="is encrypted: give decryption_identity"):
        decrypting_reader(io.BytesIO(ciphertext), DecryptionKeys())


def test_damaged_or_truncated_ciphertext_is_an_error(key_pair):
    keys = DecryptionKeys.from_options(identity=key_pair[0])
    ciphertext = encrypt_stream(os.urandom(300000), settings_for(key_pair))
    with pytest.raises(KubesafeError, match="not in the age format"):
        decrypting_reader(io.BytesIO(b"\x1f\x8b plain gzip, not age"), keys)
    with pytest.raises(KubesafeError, match="cannot decrypt"):
        with decrypting_reader(io.BytesIO(ciphertext[:-100]), keys) as reader:
            reader.read()
    flipped = bytearray(ciphertext)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(KubesafeError, match="cannot decrypt"):
        with decrypting_reader(io.BytesIO(bytes(flipped)), keys) as reader:
            reader.read()


def test_closing_a_reader_early_stops_its_thread(key_pair):
    ciphertext = encrypt_stream(os.urandom(8 * 1024 * 1024), settings_for(key_pair))
    reader = decrypting_reader(io.BytesIO(ciphertext), DecryptionKeys.from_options(identity=key_pair[0]))
    assert len(reader.read(10)) == 10
    started = time.monotonic()
    reader.close()
    assert time.monotonic() - started < 60  # generous: the joined thread below is the proof
    assert not reader._thread.is_alive()


def test_an_error_inside_the_block_stops_the_encryption(key_pair):
    out = io.BytesIO()
    with pytest.raises(RuntimeError, match="boom"):
        with encrypting_writer(out, settings_for(key_pair)) as writer:
            writer.write(os.urandom(1024 * 1024))
            raise RuntimeError("boom")


def test_a_failing_destination_is_reported(key_pair):
    class Broken:
        def write(self, data):
            raise OSError("disk full")

        def flush(self):
            pass

    with pytest.raises(KubesafeError, match="encrypting the backup failed"):
        with encrypting_writer(Broken(), settings_for(key_pair)) as writer:
            for _round in range(64):
                writer.write(os.urandom(256 * 1024))


BOUNDED_MEMORY_SCRIPT = """
import os, sys, tracemalloc
sys.path.insert(0, %r)
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import EncryptionSettings, encrypting_writer

class Sink:
    size = 0

    def write(self, data):
        self.size += len(data)
        return len(data)

    def flush(self):
        pass

chunk = os.urandom(1024 * 1024)
sink = Sink()
tracemalloc.start()
with encrypting_writer(sink, EncryptionSettings.from_options("all", recipients=[%r])) as writer:
    for _round in range(64):
        writer.write(chunk)
print(sink.size, tracemalloc.get_traced_memory()[1])
"""


def test_streams_use_bounded_memory(key_pair):
    """64 MiB through the writer while Python's allocations stay at a few MiB.

    In a process of its own: tracemalloc counts every thread, and emulators of earlier tests still run in this one.
    """
    result = subprocess.run([sys.executable, "-c", BOUNDED_MEMORY_SCRIPT % (COLLECTIONS_PATH, key_pair[1])],
                            capture_output=True, text=True, timeout=300, check=True)
    size, peak = (int(value) for value in result.stdout.split())
    assert size > 64 * 1024 * 1024
    # The pipe to the encrypting thread holds 8 pieces of 256 KiB (2 MiB), one write (1 MiB) is being cut into
    # pieces, one piece is in the encryptor: about 3.5 MiB whatever the load; 64 MiB would show as 64.
    assert peak < 6 * 1024 * 1024, peak


# ---------------------------------------------------------------- mode secrets


SECRET = {
    "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
    "metadata": {"name": "db-credentials", "namespace": "shop", "labels": {"app": "db"},
                 "annotations": {"note": "kept", encryption.LAST_APPLIED: '{"data":{"password":"c2hvcC1kYi1wYXNzd29yZC0xMjM="}}'}},
    "data": {"password": "c2hvcC1kYi1wYXNzd29yZC0xMjM=", "empty": ""},
    "stringData": {"token": "plain-token-value"},
}


def test_secret_round_trip_keeps_everything_but_the_values_plain(key_pair):
    encrypted = encrypt_secret(SECRET, settings_for(key_pair, mode="secrets"))
    text = repr(encrypted)
    for plain in ("shop-db-password-123", "c2hvcC1kYi1wYXNzd29yZC0xMjM=", "plain-token-value"):
        assert plain not in text
    assert encrypted["metadata"]["annotations"]["kubesafe.k8s/encrypted"] == "age"
    assert encrypted["metadata"]["annotations"]["note"] == "kept" and encrypted["metadata"]["labels"] == {"app": "db"}
    assert sorted(encrypted["data"]) == ["empty", "password"] and encrypted["type"] == "Opaque"
    assert base64.b64decode(encrypted["data"]["password"]).startswith(b"age-encryption.org/v1")
    assert SECRET["data"]["password"] == "c2hvcC1kYi1wYXNzd29yZC0xMjM=", "the input is not modified"
    keys = DecryptionKeys.from_options(identity=key_pair[0])
    assert decrypt_secret(encrypted, keys) == SECRET


def test_secret_without_annotations_round_trips_exactly(key_pair):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "n"}, "data": {"k": "dg=="}}
    encrypted = encrypt_secret(secret, settings_for(key_pair, mode="secrets"))
    assert decrypt_secret(encrypted, DecryptionKeys.from_options(identity=key_pair[0])) == secret


def test_other_objects_and_plain_secrets_pass_through(key_pair):
    config_map = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    assert encrypt_secret(config_map, settings_for(key_pair, mode="secrets")) is config_map
    assert decrypt_secret(SECRET, DecryptionKeys()) is SECRET


def test_secret_value_decrypts_with_the_age_tool_as_documented(key_pair, key_file):
    encrypted = encrypt_secret(SECRET, settings_for(key_pair, mode="secrets"))
    require_age()
    # README: echo VALUE | base64 -d | age -d -i key.txt
    result = subprocess.run(["bash", "-c", 'echo "$VALUE" | base64 -d | age -d -i "$KEY"'], capture_output=True, check=True,
                            env=dict(os.environ, VALUE=encrypted["data"]["password"], KEY=str(key_file)))
    assert result.stdout == b"shop-db-password-123"


def test_secret_with_the_wrong_or_no_key(key_pair):
    encrypted = encrypt_secret(SECRET, settings_for(key_pair, mode="secrets"))
    wrong = DecryptionKeys.from_options(identity=str(pyrage.x25519.Identity.generate()))
    with pytest.raises(KubesafeError, match="cannot decrypt Secret shop/db-credentials of backup 'b': wrong key"):
        decrypt_secret(encrypted, wrong, "backup 'b'")
    with pytest.raises(KubesafeError, match="give decryption_identity"):
        decrypt_secret(encrypted, DecryptionKeys())
    altered = dict(encrypted, data={"password": "not base64!"})
    with pytest.raises(KubesafeError, match="not base64"):
        decrypt_secret(altered, DecryptionKeys.from_options(identity=key_pair[0]))


# ---------------------------------------------------------------- passphrases


@pytest.fixture(scope="module")
def passphrase_backup():
    """A passphrase-only backup's settings, archive and stored key (scrypt takes seconds: made once)."""
    settings = EncryptionSettings.from_options("all", passphrase="correct horse battery")
    return settings, encrypt_stream(b"the archive" * 1000, settings), settings.wrapped_identity()


def test_passphrase_mode_round_trip_with_pyrage(tmp_path, passphrase_backup):
    """A passphrase-only backup: data to the backup's own key, that key stored passphrase-encrypted."""
    settings, ciphertext, wrapped = passphrase_backup
    assert wrapped.startswith(b"age-encryption.org/v1\n-> scrypt ")
    location = open_location(str(tmp_path))
    location.put_bytes("backups/b/b-identity.age", wrapped)
    header = settings.header()
    keys = keys_for_backup(location, "b", header, DecryptionKeys.from_options(passphrase="correct horse battery"))
    with decrypting_reader(io.BytesIO(ciphertext), keys) as reader:
        assert reader.read() == b"the archive" * 1000
    with pytest.raises(KubesafeError, match="cannot decrypt backup 'b': wrong decryption_passphrase"):
        keys_for_backup(location, "b", header, DecryptionKeys.from_options(passphrase="wrong"))
    with pytest.raises(KubesafeError, match="backup 'b' is encrypted \\(encryption all, to a passphrase\\): give decryption_identity"):
        keys_for_backup(location, "b", header, None)


def test_passphrase_and_recipients_together(tmp_path, key_pair):
    settings = settings_for(key_pair, mode="secrets", passphrase="pw")
    encrypted = encrypt_secret(SECRET, settings)
    assert decrypt_secret(encrypted, DecryptionKeys.from_options(identity=key_pair[0])) == SECRET
    location = open_location(str(tmp_path))
    location.put_bytes("backups/b/b-identity.age", settings.wrapped_identity())
    keys = keys_for_backup(location, "b", settings.header(), DecryptionKeys.from_options(passphrase="pw"))
    assert decrypt_secret(encrypted, keys) == SECRET


def test_passphrase_protected_identity_file(tmp_path, key_pair):
    path = tmp_path / "key.age"
    path.write_bytes(pyrage.passphrase.encrypt(("%s\n" % key_pair[0]).encode(), "pw"))
    keys = DecryptionKeys.from_options(identity_file=str(path), passphrase="pw")
    assert [str(identity) for identity in keys.identities] == [key_pair[0]]
    with pytest.raises(ConfigurationError, match="is passphrase-encrypted: give decryption_passphrase"):
        DecryptionKeys.from_options(identity_file=str(path))


def _age_with_terminal(args, passphrase, timeout=60):
    """Run age with a pseudo-terminal as its terminal (it reads passphrases from there only); its stdout."""
    output_path = args.pop()
    pid, terminal = pty.fork()
    if pid == 0:  # the child
        with open(output_path, "wb") as output:
            os.dup2(output.fileno(), 1)
        os.execvp(args[0], args)
    transcript = b""
    deadline = time.monotonic() + timeout
    sent = False
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            data = os.read(terminal, 1024)
            if not data:
                break
            transcript += data
            if not sent and b"passphrase" in transcript.lower():
                os.write(terminal, passphrase.encode() + b"\n")
                sent = True
            continue
        break
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), transcript


def test_passphrase_backup_decrypts_with_the_age_tool_through_a_terminal(tmp_path, passphrase_backup):
    """README: age -d -i backups/B/B-identity.age backups/B/B.tar.gz.age > B.tar.gz (age asks for the passphrase)."""
    age = require_age()
    _settings, ciphertext, wrapped = passphrase_backup
    (tmp_path / "b.tar.gz.age").write_bytes(ciphertext)
    (tmp_path / "b-identity.age").write_bytes(wrapped)
    output = tmp_path / "b.tar.gz"
    code, transcript = _age_with_terminal([age, "-d", "-i", str(tmp_path / "b-identity.age"), str(tmp_path / "b.tar.gz.age"), str(output)],
                                          "correct horse battery")
    assert code == 0, transcript
    assert output.read_bytes() == b"the archive" * 1000

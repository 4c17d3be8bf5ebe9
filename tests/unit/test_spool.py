"""The restore spool: records sealed under a key of the process only, scratch directories removed and swept."""

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from collection_path import COLLECTIONS_PATH

from ansible_collections.kubesafe.k8s.plugins.module_utils import temp_dirs
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.spool import SealedRecords, Spool

PASSWORD = "hunter2-spool-secret-value"


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A temp dir of this test only, as tempfile.gettempdir() sees it."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def secret(index):
    return {"version": "v1", "obj": {"kind": "Secret", "metadata": {"name": "s%d" % index}, "stringData": {"password": PASSWORD}}}


def test_records_round_trip_in_order(private_tmp):
    with Spool() as spool:
        for index in range(50):
            spool.add("secrets", secret(index))
        spool.add("configmaps", {"obj": {"kind": "ConfigMap", "data": {"k": "é ü"}}})
        assert spool.count("secrets") == 50
        assert [record["obj"]["metadata"]["name"] for record in spool.read("secrets")] == ["s%d" % i for i in range(50)]
        assert list(spool.read("configmaps")) == [{"obj": {"kind": "ConfigMap", "data": {"k": "é ü"}}}]
        assert list(spool.read("pods")) == []


def test_files_hold_no_plaintext(private_tmp):
    with Spool() as spool:
        for index in range(5):
            spool.add("secrets", secret(index))
        list(spool.read("secrets"))  # flushed to disk
        stored = b"".join(open(os.path.join(root, name), "rb").read()
                          for root, _dirs, names in os.walk(spool.directory) for name in names)
        assert stored
        assert PASSWORD.encode() not in stored and b"stringData" not in stored and b"Secret" not in stored


@pytest.mark.parametrize("tamper", ["flip", "truncate", "swap"])
def test_tampering_is_detected(private_tmp, tamper):
    with Spool() as spool:
        spool.add("secrets", secret(0))
        spool.add("secrets", secret(1))
        list(spool.read("secrets"))
        path = os.path.join(spool.directory, "0.sealed")
        data = bytearray(open(path, "rb").read())
        half = len(data) // 2
        if tamper == "flip":
            data[-3] ^= 0x01
        elif tamper == "truncate":
            del data[-10:]
        else:  # the two records exchanged: each is bound to its place
            data = data[half:] + data[:half]
        open(path, "wb").write(bytes(data))
        with pytest.raises(KubesafeError, match="altered on disk"):
            list(spool.read("secrets"))


def test_another_process_key_cannot_open_a_record():
    sealed = SealedRecords().seal(0, 0, b'{"password": "x"}')
    with pytest.raises(KubesafeError):
        SealedRecords().open(0, 0, sealed)
    one = SealedRecords()
    assert one.open(3, 7, one.seal(3, 7, b"abc")) == b"abc"
    assert one.seal(0, 0, b"same") != one.seal(0, 1, b"same")  # one nonce per record


def test_directory_is_private_and_removed_on_close_and_exception(private_tmp):
    with Spool() as spool:
        directory = spool.directory
        assert os.path.basename(directory).startswith("kubesafe-restore-")
        assert os.stat(directory).st_mode & 0o777 == 0o700
    assert not os.path.exists(directory)
    with pytest.raises(RuntimeError):
        with Spool() as spool:
            directory = spool.directory
            raise RuntimeError("boom")
    assert not os.path.exists(directory)
    assert os.listdir(str(private_tmp)) == []


def age(path, seconds):
    then = time.time() - seconds
    os.utime(str(path), (then, then))


def test_sweep_removes_only_stale_directories_of_this_collection(private_tmp):
    stale = private_tmp / "kubesafe-restore-abcd1234"
    stale.mkdir()
    (stale / temp_dirs.LOCK_FILE).write_text("")
    (stale / "0.sealed").write_bytes(b"x")
    legacy = private_tmp / "kubesafe-diff-zz_y0123"  # an older release's layout, without a lock file
    legacy.mkdir()
    (legacy / "index.sqlite3").write_bytes(b"x")
    fresh = private_tmp / "kubesafe-restore-fresh123"
    fresh.mkdir()
    (fresh / temp_dirs.LOCK_FILE).write_text("")
    not_ours = private_tmp / "kubesafe-backups-20240101"  # a user's directory with a similar name
    not_ours.mkdir()
    (not_ours / "nightly.tar.gz").write_bytes(b"x")
    other_name = private_tmp / "restore-abcd1234"
    other_name.mkdir()
    (other_name / temp_dirs.LOCK_FILE).write_text("")
    for path in (stale, legacy, not_ours, other_name):
        age(path, 2 * 3600)
    age(fresh, 60)

    assert temp_dirs.sweep_stale() == [str(legacy), str(stale)]
    assert sorted(os.listdir(str(private_tmp))) == sorted([fresh.name, not_ours.name, other_name.name])


def test_sweep_keeps_an_old_directory_a_live_process_holds(private_tmp):
    with Spool() as spool:
        age(spool.directory, 5 * 3600)
        assert temp_dirs.sweep_stale() == []
        assert os.path.isdir(spool.directory)


# The child starts from Python's own handlers: a runner started in the background (CI, `cmd &`) passes SIGINT on
# ignored, and an ignored signal must stay ignored, which is not what this test is about.
HOLD_SCRIPT = """
import signal, sys, time, tempfile
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
sys.path.insert(0, %r)
tempfile.tempdir = %r
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.spool import Spool
spool = Spool()
spool.add("secrets", {"password": "x"})
print(spool.directory, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)])
def test_signals_remove_the_directory_and_keep_their_meaning(private_tmp, signum, status):
    process = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT % (COLLECTIONS_PATH, str(private_tmp))],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    directory = process.stdout.readline().strip()
    assert os.path.isdir(directory)
    process.send_signal(signum)
    _out, err = process.communicate(timeout=60)
    # SIGTERM still kills by the signal; SIGINT still raises KeyboardInterrupt (and Python then exits by SIGINT).
    assert process.returncode == status
    assert signum != signal.SIGINT or "KeyboardInterrupt" in err
    assert not os.path.exists(directory)
    assert os.listdir(str(private_tmp)) == []

"""The Makefile as a developer meets it: a fresh clone next to an existing venv, and `make -n`."""

import hashlib
import os
import subprocess

import pytest

pytestmark = pytest.mark.integration

FAKE_PIP = """#!/bin/sh
echo "pip $*" >> "$(dirname "$0")/../pip.log"
"""


def fake_venv(checkout):
    """A .venv whose pip only logs how it was called, so a test sees every (re)install without installing anything."""
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "pip").write_text(FAKE_PIP)
    (bin_dir / "pip").chmod(0o755)
    os.symlink("/usr/bin/python3", bin_dir / "python")
    return checkout / ".venv"


def make(checkout, *args):
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "--no-print-directory"] + list(args), cwd=str(checkout), env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def pip_calls(venv):
    log = venv / "pip.log"
    return log.read_text().splitlines() if log.exists() else []


def tree(root):
    """Every path under root with its mtime and size: what a command wrote, created or removed."""
    found = {}
    for directory, subdirectories, files in os.walk(str(root)):
        for name in subdirectories + files:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            found[os.path.relpath(path, str(root))] = (status.st_mtime_ns, status.st_size)
    return found


def test_a_fresh_clone_next_to_an_existing_venv_is_not_reinstalled(checkout_copy):
    venv = fake_venv(checkout_copy)
    make(checkout_copy, "venv")
    assert pip_calls(venv) == ["pip install --upgrade pip", "pip install -r requirements.txt -r tests/requirements.txt"]
    requirements = [checkout_copy / "requirements.txt", checkout_copy / "tests" / "requirements.txt"]
    assert (venv / ".installed").read_text().strip() == hashlib.sha256(b"".join(p.read_bytes() for p in requirements)).hexdigest()

    # git clone writes every file at the time of the clone: newer than the venv's stamp.
    stamped = (venv / ".installed").stat().st_mtime
    for path in requirements:
        os.utime(str(path), (stamped + 60, stamped + 60))
    result = make(checkout_copy, "venv")
    assert len(pip_calls(venv)) == 2, pip_calls(venv)
    assert "requirements unchanged, not reinstalled" in result.stdout
    make(checkout_copy, "venv")
    assert len(pip_calls(venv)) == 2

    # A changed requirement does reinstall.
    with open(str(requirements[0]), "a", encoding="utf-8") as stream:
        stream.write("# a changed line\n")
    os.utime(str(requirements[0]), (stamped + 120, stamped + 120))
    make(checkout_copy, "venv")
    assert pip_calls(venv)[2:] == ["pip install --upgrade pip", "pip install -r requirements.txt -r tests/requirements.txt"]


def test_make_n_demo_starts_nothing(checkout_copy):
    """`make -n demo` prints what demo would do: no emulator, no venv install, no file written."""
    venv = fake_venv(checkout_copy)
    (venv / ".installed").write_text("requirements of an older checkout\n")
    os.utime(str(venv / ".installed"), (0, 0))  # older than the requirements: make would reinstall
    before = tree(checkout_copy)
    result = make(checkout_copy, "-n", "demo")
    assert "hacking/with-kubesim" in result.stdout and "pip install" in result.stdout
    assert not (checkout_copy / ".kubesim").exists(), "the emulator was started"
    assert not (checkout_copy / "backups").exists()
    assert pip_calls(venv) == []
    assert tree(checkout_copy) == before

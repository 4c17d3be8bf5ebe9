# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scratch directories of this collection in the system temp dir: made, removed, and swept when stale.

Every scratch directory is named ``kubesafe-<purpose>-XXXXXXXX`` and holds a
lock file that its process keeps locked (``flock``) while it lives. It is
removed when its context ends (normal exit or exception), at interpreter
exit, and on SIGTERM and SIGINT: the handlers remove every directory of the
process, then hand the signal to the handler that was there before (so a
module under Ansible still dies of SIGTERM, or raises KeyboardInterrupt on
SIGINT). SIGKILL cannot be caught: ``sweep_stale`` at the start of the next
backup or restore removes directories of this collection that are older than
an hour and that no live process holds locked.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time

try:
    import fcntl
except ImportError:  # not POSIX: age alone decides what is stale
    fcntl = None

TEMP_DIR_PREFIX = "kubesafe-"
LOCK_FILE = ".kubesafe-scratch.lock"
STALE_AFTER_SECONDS = 3600
# mkdtemp's names: the prefix, a purpose, and 8 random characters.
_NAME = re.compile(r"^kubesafe-[a-z]+-[a-z0-9_]{8}$")
# Directories made before they held a lock file: recognised by their exact layout.
_LEGACY_LAYOUTS = {"restore": re.compile(r"^[0-9]+\.jsonl$"), "diff": re.compile(r"^index\.sqlite3(-journal)?$")}

# Reentrant: a signal handler runs in the main thread, maybe while that thread holds the lock.
_lock = threading.RLock()
_live = {}  # path -> open lock file (the flock lives as long as it is open)
_handlers_installed = False


def make_temp_dir(purpose):
    """A new private directory ``kubesafe-<purpose>-XXXXXXXX`` (mode 0700) in the temp dir, removed on exit and on SIGTERM/SIGINT."""
    directory = tempfile.mkdtemp(prefix="%s%s-" % (TEMP_DIR_PREFIX, purpose))
    lock_file = open(os.path.join(directory, LOCK_FILE), "w")  # pylint: disable=consider-using-with
    if fcntl is not None:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    with _lock:
        _live[directory] = lock_file
    _install_handlers()
    return directory


def remove_temp_dir(directory):
    with _lock:
        lock_file = _live.pop(directory, None)
    shutil.rmtree(directory, ignore_errors=True)
    if lock_file is not None:
        lock_file.close()


def remove_all():
    """Remove every scratch directory of this process (the exit and signal handlers call it)."""
    with _lock:
        directories = list(_live)
    for directory in directories:
        remove_temp_dir(directory)


def _install_handlers():
    global _handlers_installed  # pylint: disable=global-statement
    with _lock:
        if _handlers_installed:
            return
        _handlers_installed = True
    atexit.register(remove_all)
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):
                continue  # ignored (or set outside Python): leave it so
            signal.signal(signum, _chained_handler(previous))
        except ValueError:
            pass  # not the main thread: the atexit hook and the contexts still clean up


def _chained_handler(previous):
    def handler(signum, frame):
        remove_all()
        if callable(previous):
            previous(signum, frame)  # e.g. default_int_handler raises KeyboardInterrupt
            return
        # SIG_DFL: die of the signal as if no handler had been there (exit status 128 + signum).
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    return handler


def _held_by_live_process(directory):
    """True when a process holds the directory's lock file locked (a run in progress)."""
    if fcntl is None:
        return False
    try:
        with open(os.path.join(directory, LOCK_FILE), "r") as lock_file:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def _is_ours(directory, name):
    """A scratch directory of this collection: our name pattern and our lock file, or the exact layout of an older release's."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return False
    if LOCK_FILE in entries:
        return True
    legacy = _LEGACY_LAYOUTS.get(name.split("-")[1])
    return legacy is not None and all(legacy.match(entry) for entry in entries)


def sweep_stale(max_age_seconds=STALE_AFTER_SECONDS, now=None):
    """Remove this user's scratch directories of this collection older than ``max_age_seconds`` and held by no process.

    Returns the paths removed. Only directories directly in the temp dir, named
    like ours, owned by this user, modified more than ``max_age_seconds`` ago.
    """
    top = tempfile.gettempdir()
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(top)
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for name in sorted(names):
        if not _NAME.match(name):
            continue
        path = os.path.join(top, name)
        with _lock:
            if path in _live:
                continue
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid):
            continue
        if now - info.st_mtime < max_age_seconds or not _is_ours(path, name) or _held_by_live_process(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append(path)
    return removed

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restic repositories of file-system backups: one per namespace, inside the backup location.

As Velero lays them out, a namespace's repository is ``restic/<namespace>``
beside ``backups/`` in the location: a directory for a local location, the
same bucket and prefix (and credentials) for an S3 one. Its password is
``fs_backup_password``, or derived from the backup's encryption passphrase;
it reaches restic through the environment only and is never written to the
location.

restic runs as a subprocess with pipes: a volume's tar streams into
``restic backup --stdin`` and out of ``restic dump`` chunk by chunk, so the
controller's memory and disk stay bounded whatever the volume's size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import threading

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError

REPOSITORY_PREFIX = "restic"
# Derived passwords are bound to this purpose: the same passphrase gives another key elsewhere.
PASSWORD_CONTEXT = b"kubesafe.k8s restic repository password v1"
CHUNK_BYTES = 1024 * 1024
STDERR_TAIL_BYTES = 4096
INSTALL_HINT = ("restic is not installed on the host running the module (it is needed for file-system volume backups): install the "
                "restic package (Debian/Ubuntu: apt-get install restic; Fedora/RHEL with EPEL: dnf install restic), or put the restic "
                "binary on PATH")
# What restic says, and what it means for the user.
_KNOWN_ERRORS = (
    ("wrong password or no key found", "the restic repository %(repository)s does not open with this password: give the "
                                       "fs_backup_password (or encryption passphrase) it was created with"),
    ("Is there a repository at the following location?", "there is no restic repository at %(repository)s"),
    ("repository is already locked", "the restic repository %(repository)s is locked by another run (if none is running, remove "
                                     "the stale lock with: restic unlock)"),
    ("no such host", "cannot reach the restic repository %(repository)s: the endpoint's host name does not resolve"),
    ("connection refused", "cannot reach the restic repository %(repository)s: connection refused"),
    ("Access Denied", "the credentials of location_config may not read or write %(repository)s (S3 Access Denied)"),
)


class ResticError(KubesafeError):
    pass


def restic_binary():
    """The path of restic; ResticError naming the package when it is missing."""
    path = shutil.which("restic")
    if not path:
        raise ResticError(INSTALL_HINT)
    return path


def repository_password(fs_backup_password=None, encryption_passphrase=None):
    """The repositories' password: fs_backup_password, else one derived from the encryption passphrase."""
    if fs_backup_password:
        return str(fs_backup_password)
    if encryption_passphrase:
        return hmac.new(str(encryption_passphrase).encode("utf-8"), PASSWORD_CONTEXT, hashlib.sha256).hexdigest()
    raise ConfigurationError("file-system volume backups (volume_snapshot_method fs) keep volume data encrypted in restic repositories "
                             "and need a password: give fs_backup_password, or encryption_passphrase (the password is derived from it)")


def fs_repositories(location, fs_backup_password=None, encryption_passphrase=None, read_only=False):
    """The location's repositories when a password is given (prune, verify), else None."""
    if not (fs_backup_password or encryption_passphrase):
        return None
    return ResticRepositories(location, repository_password(fs_backup_password, encryption_passphrase), read_only=read_only)


class ResticRepositories:
    """The repositories of one backup location: ``for_namespace(ns)`` gives one, created on first use by ``ensure``."""

    def __init__(self, location, password, location_settings=None, read_only=False):
        """read_only: take no lock in the repositories (restic writes one for every command otherwise): for verify."""
        self.location = location
        self.read_only = read_only
        self.password = password
        self.settings = location_settings or getattr(location, "settings", None) or {}
        self._lock = threading.Lock()
        self._ready = set()
        self._environment = None

    def key_prefix(self, namespace):
        return "%s/%s" % (REPOSITORY_PREFIX, namespace)

    def url(self, namespace):
        """The repository as restic names it."""
        root = getattr(self.location, "root", None)
        if root is not None:
            return os.path.join(root, REPOSITORY_PREFIX, namespace)
        endpoint = (self.settings.get("endpoint_url") or "").rstrip("/")
        if not endpoint:
            region = self.settings.get("region") or _session_region(self.settings)
            endpoint = "https://s3.%s.amazonaws.com" % region if region else "https://s3.amazonaws.com"
        parts = [self.location.bucket] + ([self.location.prefix] if self.location.prefix else []) + [self.key_prefix(namespace)]
        return "s3:%s/%s" % (endpoint, "/".join(parts))

    def exists(self, namespace):
        return self.location.exists("%s/config" % self.key_prefix(namespace))

    def namespaces(self):
        """Namespaces that have a repository in the location."""
        return sorted(name for name in self.location.list_dirs(REPOSITORY_PREFIX + "/")
                      if self.location.exists("%s/%s/config" % (REPOSITORY_PREFIX, name)))

    def ensure(self, namespace):
        """Initialise the namespace's repository when absent (once per run)."""
        with self._lock:
            if namespace in self._ready:
                return
            if not self.exists(namespace):
                self.run(namespace, ["init"])
            self._ready.add(namespace)

    # ---------------------------------------------------------------- commands

    def environment(self):
        if self._environment is None:
            env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "RESTIC_"))}
            env["RESTIC_PASSWORD"] = self.password
            if getattr(self.location, "root", None) is None:
                env.update(_aws_environment(self.settings))
            self._environment = env
        return self._environment

    def _argv(self, namespace, args):
        argv = [restic_binary(), "--repo", self.url(namespace), "--no-cache"] + (["--no-lock"] if self.read_only else [])
        if getattr(self.location, "root", None) is None:
            if self.settings.get("ca_bundle"):
                argv += ["--cacert", self.settings["ca_bundle"]]
            if self.settings.get("validate_certs") is False:
                argv.append("--insecure-tls")
            if self.settings.get("region"):
                argv += ["-o", "s3.region=%s" % self.settings["region"]]
        return argv + list(args)

    def run(self, namespace, args, timeout=None):
        """Run a restic command to its end; its stdout (small outputs only). Raises ResticError."""
        process = self._start(namespace, args, stdin=subprocess.DEVNULL)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise ResticError("restic %s on %s did not finish within %s seconds" % (args[0], self.url(namespace), timeout))
        if process.returncode != 0:
            raise self.error(namespace, args[0], process.returncode, stderr)
        return stdout

    def _start(self, namespace, args, stdin=subprocess.PIPE, stdout=subprocess.PIPE):
        try:
            return subprocess.Popen(self._argv(namespace, args), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                    env=self.environment(), close_fds=True)
        except OSError as exc:
            raise ResticError("cannot run restic: %s. %s" % (exc, INSTALL_HINT))

    def error(self, namespace, command, returncode, stderr):
        text = (stderr or b"")[-STDERR_TAIL_BYTES:].decode("utf-8", "replace").strip()
        for marker, message in _KNOWN_ERRORS:
            if marker.lower() in text.lower():
                return ResticError("%s (restic %s: %s)" % (message % {"repository": self.url(namespace)}, command, _last_line(text)))
        return ResticError("restic %s on %s failed with exit code %s: %s" % (command, self.url(namespace), returncode, text or "no message"))

    def backup(self, namespace, filename, tags, feed):
        """Store the bytes that ``feed(write)`` writes as ``filename``; restic's summary (snapshot_id, data_added, ...).

        ``feed`` is called with a write function taking chunks; it may raise, which aborts the backup (no snapshot)."""
        args = ["backup", "--json", "--stdin", "--stdin-filename", filename, "--host", "kubesafe.k8s"]
        for tag in tags:
            args += ["--tag", tag]
        process = self._start(namespace, args)
        stderr = _Drain(process.stderr, STDERR_TAIL_BYTES)
        summary = _JsonSummary(process.stdout)
        failure = None
        broken = []

        def write(chunk):
            try:
                process.stdin.write(chunk)
            except (BrokenPipeError, ValueError, OSError):
                broken.append(True)
                raise ResticError("restic stopped reading the stream of %s" % filename)
        try:
            feed(write)
        except BaseException as exc:  # pylint: disable=broad-except
            failure = exc
            if not broken:
                process.kill()  # the stream failed: restic must not make a snapshot of a partial tar
        finally:
            _close_quietly(process.stdin)
        returncode = process.wait()
        stderr.join()
        summary.join()
        if broken and returncode != 0:
            raise self.error(namespace, "backup", returncode, stderr.tail())
        if failure is not None:
            raise failure
        if returncode != 0:
            raise self.error(namespace, "backup", returncode, stderr.tail())
        if not summary.result or not summary.result.get("snapshot_id"):
            raise ResticError("restic backup of %s to %s reported no snapshot" % (filename, self.url(namespace)))
        return summary.result

    def dump(self, namespace, snapshot_id, filename, consume):
        """Stream the file of a snapshot: ``consume(read)`` gets a read(size) function over restic's output."""
        process = self._start(namespace, ["dump", snapshot_id, "/" + filename.lstrip("/")], stdin=subprocess.DEVNULL)
        stderr = _Drain(process.stderr, STDERR_TAIL_BYTES)
        try:
            consume(process.stdout.read)
        except BaseException:
            process.kill()
            raise
        finally:
            _drain_and_close(process.stdout)
            returncode = process.wait()
            stderr.join()
        if returncode != 0:
            raise self.error(namespace, "dump", returncode, stderr.tail())

    def snapshots(self, namespace, tags=None):
        args = ["snapshots", "--json"]
        for tag in tags or ():
            args += ["--tag", tag]
        return json.loads(self.run(namespace, args) or b"[]") or []

    def forget(self, namespace, snapshot_ids):
        if snapshot_ids:
            self.run(namespace, ["forget"] + list(snapshot_ids))

    def prune(self, namespace, timeout=None):
        return self.run(namespace, ["prune"], timeout=timeout).decode("utf-8", "replace")

    def check(self, namespace, read_data_subset=None, timeout=None):
        args = ["check"]
        if read_data_subset:
            args.append("--read-data-subset=%s" % read_data_subset)
        return self.run(namespace, args, timeout=timeout).decode("utf-8", "replace")


def _last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def _session_region(settings):
    try:
        from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.client import aws_session  # pylint: disable=import-outside-toplevel
        return aws_session(settings).region_name
    except Exception:  # pylint: disable=broad-except
        return None


def _aws_environment(settings):
    """The location's credentials, as restic's S3 backend reads them: resolved by boto3 (keys, profile, role)."""
    from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.client import aws_session  # pylint: disable=import-outside-toplevel
    try:
        credentials = aws_session(settings).get_credentials().get_frozen_credentials()
    except Exception as exc:  # pylint: disable=broad-except
        raise ResticError("no AWS credentials for the restic repository in the S3 location (location_config access_key/secret_key or "
                          "profile): %s" % exc)
    env = {"AWS_ACCESS_KEY_ID": credentials.access_key, "AWS_SECRET_ACCESS_KEY": credentials.secret_key}
    if credentials.token:
        env["AWS_SESSION_TOKEN"] = credentials.token
    if settings.get("region"):
        env["AWS_DEFAULT_REGION"] = settings["region"]
    return env


def _close_quietly(stream):
    try:
        stream.close()
    except (OSError, ValueError):
        pass


def _drain_and_close(stream):
    try:
        while stream.read(CHUNK_BYTES):
            pass
    except (OSError, ValueError):
        pass
    _close_quietly(stream)


class _Drain:
    """Reads a pipe to its end in a thread, keeping the last ``limit`` bytes (so restic never blocks on a full pipe)."""

    def __init__(self, stream, limit):
        self._stream = stream
        self._limit = limit
        self._data = bytearray()
        self._thread = threading.Thread(target=self._run, name="kubesafe-restic-stderr", daemon=True)
        self._thread.start()

    def _run(self):
        for chunk in iter(lambda: self._stream.read1(65536) if hasattr(self._stream, "read1") else self._stream.read(65536), b""):
            self._data.extend(chunk)
            if len(self._data) > 2 * self._limit:
                del self._data[:-self._limit]
        _close_quietly(self._stream)

    def join(self):
        self._thread.join()

    def tail(self):
        return bytes(self._data[-self._limit:])


class _JsonSummary(_Drain):
    """restic --json output: status lines, then the summary (the only message kept)."""

    def __init__(self, stream):
        self.result = None
        super().__init__(stream, 0)

    def _run(self):
        for line in self._stream:
            if b'"summary"' not in line:
                continue  # status lines: progress only
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("message_type") == "summary":
                self.result = message
        _close_quietly(self._stream)

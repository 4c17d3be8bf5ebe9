# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where backups live: ``open_location(location, config)`` gives a Location (local directory or S3).

The Location interface, its keys and prefixes are in storage/base.py; this
file has the location options and the local directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import errno
import os
import shutil
import tempfile

from ansible_collections.kubesafe.k8s.plugins.module_utils.aws.settings import apply_environment, take_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, LocationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.base import (
    MAX_PART_SIZE_MB,
    MIN_PART_SIZE_MB,
    PARTIAL_FILE,
    Location,
    ObjectNotFound,
    check_key,
    check_prefix,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.paths import user_path

DEFAULT_LOCATION = "./backups"
DEFAULT_PART_SIZE_MB = 16
SSE_CHOICES = ("AES256", "aws:kms")
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")

# Suboptions of location_config; must agree exactly with plugins/doc_fragments/location.py.
# No env fallbacks here: the engine applies them (see resolve_location_config), so they
# also work when location_config is omitted and for callers that are not modules.
LOCATION_CONFIG_OPTIONS = dict(
    region=dict(type="str"),
    endpoint_url=dict(type="str"),
    force_path_style=dict(type="bool", default=False),
    profile=dict(type="str"),
    access_key=dict(type="str", no_log=True, aliases=["aws_access_key_id"]),
    secret_key=dict(type="str", no_log=True, aliases=["aws_secret_access_key"]),
    session_token=dict(type="str", no_log=True, aliases=["aws_session_token"]),
    ca_bundle=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    sse=dict(type="str", choices=list(SSE_CHOICES)),
    kms_key_id=dict(type="str"),
    storage_class=dict(type="str"),
    part_size_mb=dict(type="int", default=DEFAULT_PART_SIZE_MB),
    object_lock_mode=dict(type="str", choices=list(OBJECT_LOCK_MODES)),
    object_lock_days=dict(type="int"),
)

LOCATION_ARGUMENT_SPEC = dict(
    location=dict(type="str", default=DEFAULT_LOCATION),
    location_config=dict(type="dict", options=LOCATION_CONFIG_OPTIONS),
)

# Temporary files of unfinished local writes start with this, then the name of the file being
# written; listings skip them, list_partial shows them.
_TEMP_PREFIX = ".kubesafe-tmp-"


def open_location(location, config=None):
    """A Location for ``location`` (a directory, or ``s3://bucket[/prefix]``) and its ``location_config``."""
    location = (location or DEFAULT_LOCATION).strip()
    if location.startswith("s3://"):
        from ansible_collections.kubesafe.k8s.plugins.module_utils.storage import s3 as location_s3  # pylint: disable=import-outside-toplevel
        return location_s3.S3Location(location, resolve_location_config(config))
    if "://" in location:
        raise ConfigurationError(
            "location %r is not supported: use a local directory path or s3://bucket/prefix" % location)
    resolve_location_config(config, use_environment=False)  # still catches misspelt options
    return LocalLocation(location)


def resolve_location_config(config, use_environment=True):
    """Checked location_config, with the AWS_* environment fallbacks applied; raises ConfigurationError."""
    settings = take_options(config, LOCATION_CONFIG_OPTIONS, "location_config")
    for name in ("force_path_style", "validate_certs"):
        if settings[name] is None:
            settings[name] = LOCATION_CONFIG_OPTIONS[name]["default"]
        elif not isinstance(settings[name], bool):
            raise ConfigurationError("location_config.%s must be true or false, got %r" % (name, settings[name]))
    _check_part_size(settings)
    _check_encryption(settings)
    _check_object_lock(settings)
    if use_environment:
        apply_environment(settings, "location_config")
    return settings


def _check_part_size(settings):
    part_size = settings["part_size_mb"]
    if part_size is None:
        part_size = DEFAULT_PART_SIZE_MB
    try:
        part_size = int(part_size)
    except (TypeError, ValueError):
        raise ConfigurationError("location_config.part_size_mb must be a whole number of MiB, got %r" % (part_size,))
    if not MIN_PART_SIZE_MB <= part_size <= MAX_PART_SIZE_MB:
        raise ConfigurationError("location_config.part_size_mb must be between %d and %d (S3 part size limits), got %d"
                                 % (MIN_PART_SIZE_MB, MAX_PART_SIZE_MB, part_size))
    settings["part_size_mb"] = part_size


def _check_encryption(settings):
    if settings["sse"] is not None and settings["sse"] not in SSE_CHOICES:
        raise ConfigurationError("location_config.sse must be one of %s, got %r" % (", ".join(SSE_CHOICES), settings["sse"]))
    if settings["kms_key_id"] and settings["sse"] != "aws:kms":
        raise ConfigurationError("location_config.kms_key_id needs sse: aws:kms (it is %r)" % (settings["sse"],))


def _check_object_lock(settings):
    mode, days = settings["object_lock_mode"], settings["object_lock_days"]
    if mode is not None and mode not in OBJECT_LOCK_MODES:
        raise ConfigurationError("location_config.object_lock_mode must be one of %s, got %r" % (", ".join(OBJECT_LOCK_MODES), mode))
    if (mode is None) != (days is None):
        raise ConfigurationError("location_config.object_lock_mode and object_lock_days go together: set both (for example "
                                 "GOVERNANCE and 30) or neither")
    if days is not None:
        try:
            days = int(days)
        except (TypeError, ValueError):
            raise ConfigurationError("location_config.object_lock_days must be a whole number of days, got %r" % (days,))
        if days < 1:
            raise ConfigurationError("location_config.object_lock_days must be 1 or more, got %d" % days)
        settings["object_lock_days"] = days


class LocalLocation(Location):
    """A directory on the machine running the module; keys with '/' are subdirectories."""

    def __init__(self, path):
        self.root = user_path(path)
        self.url = self.root
        if not os.path.isdir(self.root):
            if os.path.exists(self.root):
                raise LocationError("location %s exists but is not a directory: choose a directory path" % self.root)
            try:
                os.makedirs(self.root)
            except OSError as exc:
                raise LocationError("cannot create the backup directory %s: %s; create it or choose another location"
                                    % (self.root, exc.strerror or exc))

    def _path(self, key):
        return os.path.join(self.root, *check_key(key).split("/"))

    def _dir(self, prefix):
        prefix = check_prefix(prefix)
        return os.path.join(self.root, *prefix.rstrip("/").split("/")) if prefix else self.root

    def _error(self, action, path, exc):
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            fix = "the directory is not writable by this user: fix its permissions or choose another location"
        elif exc.errno == errno.ENOSPC:
            fix = "the disk is full: free space or choose another location"
        else:
            fix = "check the location"
        return LocationError("cannot %s %s: %s; %s" % (action, path, exc.strerror or exc, fix))

    @contextlib.contextmanager
    def open_write(self, key):
        path = self._path(key)
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, exist_ok=True)
            # Same directory as the target, so the final rename is atomic.
            handle, temp_path = tempfile.mkstemp(prefix="%s%s." % (_TEMP_PREFIX, os.path.basename(path)), dir=directory)
        except OSError as exc:
            raise self._error("write", path, exc)
        stream = _LocalWriter(os.fdopen(handle, "wb"), path, self._error)
        try:
            yield stream
            stream.commit()
            try:
                os.replace(temp_path, path)
            except OSError as exc:
                raise self._error("write", path, exc)
            _fsync_directory(directory)
        except BaseException:
            stream.discard()
            _remove_quietly(temp_path)
            raise

    def open_read(self, key):
        path = self._path(key)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise ObjectNotFound("%s does not exist in %s" % (check_key(key), self.url))
        except OSError as exc:
            raise self._error("read", path, exc)

    def exists(self, key):
        return os.path.isfile(self._path(key))

    def size(self, key):
        path = self._path(key)
        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            raise ObjectNotFound("%s does not exist in %s" % (check_key(key), self.url))
        except OSError as exc:
            raise self._error("read", path, exc)

    def list(self, prefix=""):
        top = self._dir(prefix)
        for directory, dirnames, filenames in os.walk(top, onerror=self._raise_walk_error(top)):
            dirnames.sort()
            relative = os.path.relpath(directory, self.root)
            for name in sorted(filenames):
                if name.startswith(_TEMP_PREFIX):
                    continue
                path = os.path.join(directory, name)
                try:
                    size = os.stat(path).st_size
                except FileNotFoundError:
                    continue  # deleted while listing
                key = name if relative == "." else "/".join(relative.split(os.sep) + [name])
                yield key, size

    def list_partial(self, prefix=""):
        top = self._dir(prefix)
        for directory, dirnames, filenames in os.walk(top, onerror=self._raise_walk_error(top)):
            dirnames.sort()
            relative = os.path.relpath(directory, self.root)
            for name in sorted(filenames):
                if not name.startswith(_TEMP_PREFIX):
                    continue
                try:
                    info = os.stat(os.path.join(directory, name))
                except FileNotFoundError:
                    continue  # the write finished while listing
                folder = [] if relative == "." else relative.split(os.sep)
                # mkstemp's names: the prefix, the target's name, '.', 8 random characters (older releases: no target).
                target = name[len(_TEMP_PREFIX):].rsplit(".", 1)[0] if "." in name[len(_TEMP_PREFIX):] else None
                yield {"key": "/".join(folder + [name]), "target": "/".join(folder + [target]) if target else None,
                       "size": info.st_size, "kind": PARTIAL_FILE,
                       "last_written": datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc)}

    def delete_partial(self, partial):
        path = self._path(partial["key"])
        if not os.path.basename(path).startswith(_TEMP_PREFIX):
            raise LocationError("refusing to delete %s as an unfinished write: its name does not start with %s" % (path, _TEMP_PREFIX))
        try:
            os.remove(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._error("delete", path, exc)
        self._prune_empty_dirs(os.path.dirname(path))

    def _raise_walk_error(self, top):
        def on_error(exc):
            if isinstance(exc, (FileNotFoundError, NotADirectoryError)) and exc.filename == top:
                return  # nothing under this prefix: an empty listing
            raise self._error("list", exc.filename or top, exc)
        return on_error

    def list_dirs(self, prefix=""):
        top = self._dir(prefix)
        try:
            names = sorted(os.listdir(top))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise self._error("list", top, exc)
        for name in names:
            if os.path.isdir(os.path.join(top, name)):
                yield name

    def delete(self, key):
        path = self._path(key)
        try:
            os.remove(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._error("delete", path, exc)
        self._prune_empty_dirs(os.path.dirname(path))

    def delete_prefix(self, prefix):
        if not check_prefix(prefix):
            raise LocationError("refusing to delete the whole location %s: give a prefix such as backups/NAME" % self.url)
        top = self._dir(prefix)
        try:
            shutil.rmtree(top)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._error("delete", top, exc)
        self._prune_empty_dirs(os.path.dirname(top))

    def _prune_empty_dirs(self, directory):
        """Remove directories left empty, up to the root: an S3 'directory' without objects does not exist either."""
        while directory != self.root and directory.startswith(self.root + os.sep):
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)

    def check(self, write=False):
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise LocationError("the backup directory %s is not readable by this user: fix its permissions" % self.root)
        if write and not os.access(self.root, os.W_OK):
            raise LocationError("the backup directory %s is not writable by this user: fix its permissions or choose another location"
                                % self.root)

    def last_modified(self, prefix):
        top = self._dir(prefix)
        newest = None
        # Temporary files count: they are writes in progress.
        for directory, _dirnames, filenames in os.walk(top):
            for name in filenames:
                try:
                    modified = os.stat(os.path.join(directory, name)).st_mtime
                except FileNotFoundError:
                    continue
                newest = modified if newest is None else max(newest, modified)
        return None if newest is None else datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)


class _LocalWriter:
    """The temporary file being written; OS errors become LocationError naming the target."""

    def __init__(self, file, path, error):
        self._file = file
        self._path = path
        self._error = error

    def write(self, data):
        try:
            return self._file.write(data)
        except OSError as exc:
            raise self._error("write", self._path, exc)

    def writable(self):
        return True

    def flush(self):
        self._file.flush()

    def tell(self):
        return self._file.tell()

    def commit(self):
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            raise self._error("write", self._path, exc)

    def discard(self):
        try:
            self._file.close()
        except OSError:
            pass  # the write is abandoned anyway


def _fsync_directory(directory):
    """Make the rename durable; not every platform can open a directory."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass

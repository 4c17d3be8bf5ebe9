# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify backups: is every file intact, does the archive read end to end, would it restore.

``verify_backup`` checks one backup directory, ``verify_all`` every directory
under ``backups/``.  The checks, each reported with ``ok`` and a detail:

- ``commit_marker``: velero-backup.json is there, parses, names the backup, and
  its phase is restorable (Completed; PartiallyFailed is a warning).
- ``manifest``: this collection's manifest parses.  A backup written by Velero
  has none: its files cannot be checked against checksums (a warning), the
  rest still runs (gzip CRCs still catch damage inside the tarball).
- ``files``: every file the manifest lists is present with its size and
  SHA-256; files it does not list are warnings.
- ``sidecars``: every gzip sidecar present decompresses (and its JSON parses).
- ``contents``: the tarball reads to its end (through age decryption when the
  whole archive is encrypted), and every object in it is a JSON object with
  apiVersion, kind and metadata.name matching its path (and its namespace).
- ``counts``: objects per resource match the manifest's counts, and the
  objects match the resource list sidecar entry for entry.
- ``restore_check`` (with a cluster client): a check-mode restore into the
  target reports what would fail there: objects the server would refuse,
  kinds it does not serve (unless the backup brings their CRD), and storage
  classes of claims that it lacks (unless the backup brings them).  It only
  reads the cluster.
- ``snapshots`` (with a snapshot checker): every volume snapshot the backup
  recorded still exists at its provider, complete (volumes/check.py).

The tarball is read once: the same pass hashes its bytes and parses them, so
an S3 backup is downloaded once; encrypted Secrets are decrypted as they are
read.  Memory does not grow with the object count: the per-object records
(to compare with the resource list, read a name at a time, and to find
missing copies) go through sorted spools that spill to a scratch directory,
compared by merging, and only the listed problems are kept, the rest counted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import contextlib
import gzip
import zlib

from ansible_collections.kubesafe.k8s.plugins.module_utils import sorted_spool

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format

from ansible_collections.kubesafe.k8s.plugins.module_utils.volumes import records as volume_records
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader, HashingReader, item_path_problem
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.manifest import count_problems, file_problem, load_manifest
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.catalog import BACKUPS_DIR, MARKER_FILE, check_backup_name, list_backups
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import SECRET_ANNOTATION
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import BackupFormatError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound
from ansible_collections.kubesafe.k8s.plugins.module_utils.suggestions import names_hint

# Examples quoted per problem kind; the rest are counted.
MAX_LISTED = 20
# Runs of a per-object spool merged into one past this: comparing holds a chunk of each run, so never more than these.
SPOOL_MAX_RUNS = 32
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
STORAGE_CLASSES = "storageclasses.storage.k8s.io"
ENCRYPTED_SUFFIX = ".age"
# Gzip sidecars holding JSON (the logs are gzip text).
_JSON_SIDECARS = ("resource_list", "results", "volume_snapshots", "item_operations", "volume_info", "pod_volume_backups",
                  "csi_volume_snapshots", "csi_volume_snapshot_contents", "csi_volume_snapshot_classes")
CHECK_ORDER = ("commit_marker", "manifest", "files", "sidecars", "contents", "counts", "secrets", "snapshots", "volume_data", "restore_check")
_KEYS_HINT = "give decryption_identity, decryption_identity_file or decryption_passphrase to check the contents"


class _Report:
    """Checks, problems and warnings of one backup."""

    def __init__(self, name):
        self.name = name
        self.checks = []
        self.problems = []
        self.warnings = []

    def add(self, check, detail, problems=(), warnings=()):
        problems = list(problems)
        self.checks.append({"check": check, "ok": not problems, "detail": detail})
        self.problems.extend("%s: %s" % (check, problem) for problem in problems)
        self.warnings.extend("%s: %s" % (check, warning) for warning in warnings)

    def result(self):
        checks = sorted(self.checks, key=lambda check: CHECK_ORDER.index(check["check"]))
        return {"name": self.name, "ok": not self.problems, "checks": checks, "problems": self.problems, "warnings": self.warnings}


def _capped(messages):
    """At most MAX_LISTED messages, the rest counted in a last one."""
    messages = list(messages)
    if len(messages) <= MAX_LISTED:
        return messages
    return messages[:MAX_LISTED] + ["... and %d more like these" % (len(messages) - MAX_LISTED)]


class _FirstMessages:
    """What _capped shows of messages given one at a time, holding only those it shows."""

    def __init__(self):
        self.listed = []
        self.count = 0

    def __len__(self):
        return self.count

    def add(self, template, *args):
        """A message: ``template % args``, formatted only when it is among those shown."""
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(template % args if args else template)

    def capped(self):
        if self.count <= MAX_LISTED:
            return list(self.listed)
        return self.listed + ["... and %d more like these" % (self.count - MAX_LISTED)]


def _hash_file(location, key):
    """(size, sha256) of a stored file, streamed."""
    with contextlib.closing(location.open_read(key)) as stream:
        reader = HashingReader(stream)
        reader.finish()
    return reader.size, reader.sha256


def _backup_files(location, name):
    """{file name relative to the backup directory: size}."""
    prefix = velero_format.backup_dir(name)
    return dict((key[len(prefix):], size) for key, size in location.list(prefix.rstrip("/")) if key.startswith(prefix))


# ---------------------------------------------------------------- commit marker and manifest


def _check_marker(report, location, name, files):
    key = velero_format.file_names(name)["metadata"]
    if MARKER_FILE not in files:
        report.add("commit_marker", "velero-backup.json is missing",
                   ["velero-backup.json is missing: the backup was interrupted before its commit, is being written right now, "
                    "or the file was deleted; Velero and restore do not see this backup"])
        return None
    try:
        backup = velero_format.decode_backup(location.get_bytes(key), expected_name=name, what=key)
    except ObjectNotFound:
        report.add("commit_marker", "velero-backup.json is missing", ["velero-backup.json was deleted while verifying"])
        return None
    except BackupFormatError as exc:
        report.add("commit_marker", "velero-backup.json is unreadable", [str(exc)])
        return None
    phase = (backup.get("status") or {}).get("phase") or "New"
    detail = "present, phase %s" % phase
    if phase == "Completed":
        report.add("commit_marker", detail)
    elif phase == "PartiallyFailed":
        # Restorable only when named: it lacks what failed at backup time, so it is never "the newest good backup".
        report.add("commit_marker", detail, ["phase PartiallyFailed: %s error(s) at backup time, the objects they name are not in it "
                                             "(error_messages of backup_info, or %s); restore takes it only when named"
                                             % ((backup.get("status") or {}).get("errors") or "unknown",
                                                velero_format.file_names(name)["results"].rsplit("/", 1)[-1])])
    else:
        report.add("commit_marker", detail, ["phase %s: only Completed or PartiallyFailed backups can be restored" % phase])
    return backup


def _check_manifest(report, location, name, files):
    file_name = velero_format.file_names(name)["manifest"].rsplit("/", 1)[-1]
    if file_name not in files:
        report.add("manifest", "no manifest (a backup written by Velero?)",
                   warnings=["no manifest: integrity not checkable (no checksums); the archive and the resource list are still checked"])
        return None
    manifest, problem = load_manifest(location, name)
    if manifest is None:
        report.add("manifest", "unreadable", [problem or "%s was deleted while verifying" % file_name])
        return None
    report.add("manifest", "present, lists %d files" % len(manifest["files"]))
    return manifest


class _Encryption:
    """How a backup is encrypted, and the keys that open it (None when not given, or when they do not fit)."""

    def __init__(self, name, files, header, keys, problem=None):
        self.header = header
        self.keys = keys
        self.problem = problem
        plain = velero_format.file_names(name)["contents"].rsplit("/", 1)[-1]
        mode = (header or {}).get("mode")
        # An encrypted tarball without a readable header (the manifest lost) is still recognised by its name.
        self.whole_archive = mode == "all" or (plain not in files and plain + ENCRYPTED_SUFFIX in files)
        self.contents_file = plain + ENCRYPTED_SUFFIX if self.whole_archive else plain


def _encryption_of(location, name, files, keys):
    """The backup's _Encryption; the user's keys unlocked for it (a passphrase backup's own identity)."""
    from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import (  # pylint: disable=import-outside-toplevel
        keys_for_backup, read_encryption_header)
    try:
        header = read_encryption_header(location, name)
    except KubesafeError:
        header = None
    if header is None or keys is None or keys.empty:
        return _Encryption(name, files, header, keys if keys is not None and not keys.empty else None)
    try:
        return _Encryption(name, files, header, keys_for_backup(location, name, header, keys))
    except KubesafeError as exc:
        return _Encryption(name, files, header, None, problem=str(exc))


# ---------------------------------------------------------------- files and sidecars


def _check_files(report, location, name, files, manifest, contents_file, contents_hash):
    """Sizes and SHA-256 of the manifest's files; ``contents_hash`` is (size, sha256) of the tarball, read already, or None."""
    expected = manifest["files"]
    problems = []
    for file_name in sorted(expected):
        info = expected[file_name] if isinstance(expected[file_name], dict) else {}
        if file_name not in files:
            problems.append("%s is missing" % file_name)
            continue
        try:
            size, sha256 = contents_hash if file_name == contents_file and contents_hash else _hash_file(location, velero_format.backup_dir(name) + file_name)
        except ObjectNotFound:
            problems.append("%s is missing" % file_name)
            continue
        except KubesafeError as exc:
            problems.append("%s cannot be read: %s" % (file_name, exc))
            continue
        problem = file_problem(file_name, info, size, sha256)
        if problem:
            problems.append(problem)
    manifest_file = velero_format.file_names(name)["manifest"].rsplit("/", 1)[-1]
    extra = sorted(set(files) - set(expected) - {MARKER_FILE, manifest_file})
    warnings = ["%s is not listed in the manifest" % file_name for file_name in extra]
    report.add("files", "%d files checked against the manifest (size and SHA-256)" % len(expected), _capped(problems), _capped(warnings))


def _check_sidecars(report, location, name, files):
    """Every gzip sidecar present decompresses; returns the resource list's (key, entry) pairs (a SortedSpool) or None."""
    keys = velero_format.file_names(name)
    problems = []
    resource_list = None
    checked = 0
    for sidecar in ("logs",) + _JSON_SIDECARS:
        key = keys[sidecar]
        file_name = key.rsplit("/", 1)[-1]
        if file_name not in files:
            continue
        checked += 1
        listed = None
        try:
            if sidecar == "logs":
                with contextlib.closing(location.open_read(key)) as stream:
                    _gunzip_to_end(stream)
            elif sidecar == "resource_list":
                # Read a name at a time: a million objects' list is never held whole.
                listed = _spool("verifylist")
                with contextlib.closing(location.open_read(key)) as stream:
                    for pair in velero_format.read_resource_list(stream, file_name):
                        listed.add(pair)
                resource_list, listed = listed, None
            else:
                velero_format.gunzip_json(location.get_bytes(key), file_name)
        except ObjectNotFound:
            problems.append("%s was deleted while verifying" % file_name)
        except (OSError, EOFError, zlib.error) as exc:
            problems.append("%s is not gzip-compressed: %s" % (file_name, exc))
        except BackupFormatError as exc:
            problems.append(str(exc))
        finally:
            if listed is not None:
                listed.close()
    report.add("sidecars", "%d sidecar files read" % checked, problems)
    return resource_list


def _gunzip_to_end(stream):
    """Decompress a gzip stream to its end (checking its CRC), a chunk at a time."""
    with gzip.GzipFile(filename="", fileobj=stream, mode="rb") as decompressed:
        while decompressed.read(1024 * 1024):
            pass


# ---------------------------------------------------------------- the tarball


def _spool(purpose):
    """A SortedSpool for one record per object: its memory does not grow with the objects."""
    return sorted_spool.SortedSpool(purpose, sorted_spool.MEMORY_RECORDS, max_runs=SPOOL_MAX_RUNS)


# The flags of _Inventory.identities records: where in the archive an object was found.
_UNVERSIONED, _PREFERRED_VERSION = 0, 1


class _Inventory:
    """What the contents pass learns: counts, resource list entries, and what a restore check needs.

    The per-object records go through sorted spools (memory does not grow with the object count):
    ``close()`` removes their scratch files.
    """

    def __init__(self):
        self.counts = collections.Counter()  # group_resource -> objects (unversioned paths)
        self.entries = _spool("verifyentries")  # (resource list key, "ns/name" or "name")
        # (group_resource, namespaced, namespace, name, _UNVERSIONED or _PREFERRED_VERSION): an object's copies sort together.
        self.identities = _spool("verifyidentities")
        self.object_problems = _FirstMessages()
        self.crd_names = set()
        self.storage_classes = set()
        self.claims = []  # (what, storage class) of PVCs and StatefulSet claim templates
        self.encrypted_secrets = 0  # Secrets whose values are age-encrypted (mode "secrets"), decrypted as read when keys are given
        self.secret_problems = _FirstMessages()
        self.read = False

    def add_identity(self, item, where):
        namespace = item.namespace
        self.identities.add((item.group_resource, namespace is not None, namespace or "", item.name, where))

    def missing_unversioned_copies(self):
        """How many objects are stored under a -preferredversion directory only (their copies compared by one merge walk)."""
        missing = 0
        previous = None
        for record in self.identities:
            identity = record[:-1]
            if identity != previous:
                previous = identity
                # Sorted: an object's unversioned copy comes first when it has one.
                missing += record[-1] == _PREFERRED_VERSION
        return missing

    def close(self):
        self.entries.close()
        self.identities.close()


def _note_for_restore_check(inventory, item):
    obj = item.obj
    name = obj["metadata"]["name"]
    if item.group_resource == CRDS:
        inventory.crd_names.add(name)
    elif item.group_resource == STORAGE_CLASSES:
        inventory.storage_classes.add(name)
    elif item.group_resource == "persistentvolumeclaims":
        storage_class = (obj.get("spec") or {}).get("storageClassName")
        if storage_class:
            inventory.claims.append(("persistentvolumeclaims %s/%s" % (item.namespace, name), storage_class))
    elif item.group_resource == "statefulsets.apps":
        for template in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
            storage_class = (template.get("spec") or {}).get("storageClassName")
            if storage_class:
                inventory.claims.append(("statefulsets.apps %s/%s claim template %s" % (item.namespace, name, (template.get("metadata") or {}).get("name")),
                                         storage_class))


def _read_items(inventory, stream, source, encryption, backup_name):
    if encryption.whole_archive:
        from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import decrypting_reader  # pylint: disable=import-outside-toplevel
        stream = decrypting_reader(stream, encryption.keys, "backup archive %s" % source, encryption.header)
    decrypt = None  # without keys, encrypted Secrets are only counted
    if encryption.keys is not None:
        from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import encryption as encryption_utils  # pylint: disable=import-outside-toplevel
        decrypt = encryption_utils.decrypt_secret
    # Not capped at the manifest's tar size (a restore is): verify names every damaged object, the files check the tampering.
    for item in ArchiveReader(stream, include_versioned=True, source=source):
        problem = item_path_problem(item)
        if item.version is not None:
            if problem:
                inventory.object_problems.add(problem)
            if item.preferred_version_path:
                inventory.add_identity(item, _PREFERRED_VERSION)
            continue
        inventory.add_identity(item, _UNVERSIONED)
        inventory.counts[item.group_resource] += 1
        if problem:
            inventory.object_problems.add(problem)
            continue
        entry = "%s/%s" % (item.namespace, item.name) if item.namespace else item.name
        inventory.entries.add((velero_format.resource_list_key(item.obj["apiVersion"], item.obj["kind"]), entry))
        _note_for_restore_check(inventory, item)
        annotations = item.obj["metadata"].get("annotations") or {}
        if item.group_resource == "secrets" and annotations.get(SECRET_ANNOTATION):
            inventory.encrypted_secrets += 1
            if decrypt is not None:  # checked now, not kept: the values are discarded, never reported
                try:
                    decrypt(item.obj, encryption.keys, "backup '%s'" % backup_name, encryption.header)
                except KubesafeError as exc:
                    inventory.secret_problems.add(str(exc))
    inventory.read = True


def _check_contents(report, location, name, files, encryption, inventory):
    """Read the tarball end to end into ``inventory``; returns (size, sha256) of the stored file or None."""
    contents_file = encryption.contents_file
    if contents_file not in files:
        report.add("contents", "no tarball", ["%s is missing: the backup holds no readable objects" % contents_file])
        return None
    key = velero_format.backup_dir(name) + contents_file
    if encryption.whole_archive and encryption.keys is None:
        report.add("contents", "the archive is encrypted (age)", [encryption.problem or "encrypted: %s" % _KEYS_HINT])
        return _hash_file(location, key)
    problems = []
    with contextlib.closing(location.open_read(key)) as stream:
        hashing = HashingReader(stream)
        try:
            _read_items(inventory, hashing, contents_file, encryption, name)
        except KubesafeError as exc:
            problems.append(str(exc))
        hashing.finish()
    missing_copies = inventory.missing_unversioned_copies()
    inventory.identities.close()  # not needed again: its memory and scratch files go before the resource list is read
    if missing_copies:
        problems.append("%d objects stored under a -preferredversion directory lack their unversioned copy, which restores read"
                        % missing_copies)
    if inventory.object_problems:
        problems.append("%d stored objects are not valid Kubernetes objects" % len(inventory.object_problems))
        problems.extend(inventory.object_problems.capped())
    total = sum(inventory.counts.values())
    detail = "%s: %d objects read%s" % (contents_file, total, "" if inventory.read else " before the error")
    if encryption.whole_archive:
        detail += " (decrypted)"
    report.add("contents", detail, problems)
    return hashing.size, hashing.sha256


def _check_counts(report, backup, manifest, resource_list, inventory):
    """``resource_list``: its (key, entry) pairs, a SortedSpool (None: unreadable or missing)."""
    problems = []
    warnings = []
    total = sum(inventory.counts.values())
    if manifest is not None:
        problems.extend(count_problems(manifest, inventory.counts))
    if resource_list is None:
        warnings.append("no resource list sidecar: the objects cannot be compared with it")
    else:
        # Both sorted: their set differences in one merge walk.
        only_listed, only_archived = _FirstMessages(), _FirstMessages()
        for side, pair in sorted_spool.sorted_differences(resource_list, inventory.entries):
            if side == 0:
                only_listed.add("%s %s is in the resource list but not in the archive", *pair)
            else:
                only_archived.add("%s %s is in the archive but not in the resource list", *pair)
        problems.extend(only_listed.capped())
        problems.extend(only_archived.capped())
    progress = ((backup or {}).get("status") or {}).get("progress") or {}
    backed_up = progress.get("itemsBackedUp")
    if backed_up is not None and backed_up != total:
        message = "%d objects in the archive, velero-backup.json's itemsBackedUp says %d" % (total, backed_up)
        (problems if manifest is not None else warnings).append(message)
    report.add("counts", "%d objects in %d resources" % (total, len(inventory.counts)), problems, warnings)


def _check_encrypted_secrets(report, inventory, encryption):
    """Mode "secrets": with a key, every encrypted Secret decrypts (the values are discarded, never reported)."""
    if not inventory.encrypted_secrets:
        return
    if encryption.problem:
        report.add("secrets", "%d Secrets have encrypted values" % inventory.encrypted_secrets, [encryption.problem])
        return
    if encryption.keys is None:
        report.add("secrets", "%d Secrets have encrypted values, not checked without a key" % inventory.encrypted_secrets,
                   warnings=["Secret values are encrypted: %s" % _KEYS_HINT.replace("the contents", "that they decrypt")])
        return
    # Decrypted while the archive was read (_read_items).
    report.add("secrets", "%d encrypted Secrets decrypt" % (inventory.encrypted_secrets - len(inventory.secret_problems)),
               inventory.secret_problems.capped())


# ---------------------------------------------------------------- restore check


def _target_storage_classes(client):
    """Names of the target's StorageClasses."""
    names = set()
    for page in client.list_pages("/apis/storage.k8s.io/v1/storageclasses"):
        for item in page.get("items") or []:
            names.add(item["metadata"]["name"])
    return names


def _check_restore(report, location, name, client, inventory, keys, mappings):
    """A check-mode restore of everything in the backup (decrypting with the user's ``keys``), with the restore's ``mappings``."""
    from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions, run_restore  # pylint: disable=import-outside-toplevel
    try:
        options = RestoreOptions(backup=name, decryption_keys=keys, **{key: value for key, value in mappings.items() if key != "fs_backup_password"})
        options.set_fs_backup(mappings.get("fs_backup_password"))  # file-system backups are restored with it
        result = run_restore(client, location, options, check_mode=True)
        target_classes = _target_storage_classes(client)
    except KubesafeError as exc:
        report.add("restore_check", "the check-mode restore did not run", [str(exc)])
        return
    problems = []
    # Objects that already exist in the target are skipped by a restore, not failures; a missing manifest is the manifest check's.
    warnings = [warning for warning in result.get("warnings") or [] if "already exists" not in warning and "restored unverified" not in warning]
    notes = []
    for key, count in sorted((result.get("skipped_kinds") or {}).items()):
        group_resource = key.split(" ", 1)[0]
        if group_resource in inventory.crd_names:
            notes.append("%s served once the backup's CRD is restored" % group_resource)
            continue
        problems.append("the target cluster does not serve %s: %d objects would be skipped (install its CRD first)" % (key, count))
    failed = [obj for obj in result.get("objects") or [] if obj.get("action") == "failed"]
    problems.extend(_capped("%s %s would fail: %s" % (obj["group_resource"], "/".join(p for p in (obj.get("namespace"), obj.get("name")) if p),
                                                      obj.get("reason")) for obj in failed))
    class_mapping = mappings.get("storage_class_mapping") or {}
    missing_classes = [(what, class_mapping.get(storage_class, storage_class)) for what, storage_class in inventory.claims
                       if class_mapping.get(storage_class, storage_class) not in target_classes
                       and class_mapping.get(storage_class, storage_class) not in inventory.storage_classes]
    problems.extend(_capped("%s uses storage class %r, which the target cluster lacks (create it, or restore with storage_class_mapping)"
                            % pair for pair in missing_classes))
    totals = result.get("totals") or {}
    detail = "check-mode restore into %s: %s" % (
        getattr(client, "server_url", "the cluster"), ", ".join("%s %d" % item for item in sorted(totals.items())) or "nothing to restore")
    if notes:
        detail += "; " + "; ".join(notes)
    report.add("restore_check", detail, problems, _capped(warnings))


# ---------------------------------------------------------------- entry points


def verify_backup(location, name, keys=None, restore_client=None, restore_mappings=None, snapshot_checker=None, volume_data_checker=None):
    """Verify backup ``name`` of ``location``: {"name", "ok", "checks", "problems", "warnings"}.

    ``keys``: DecryptionKeys for encrypted backups (None: the contents of a
    wholly encrypted backup are not checked, a problem saying so).
    ``restore_client``: a KubeClient of a target cluster for the restore
    check (None: no restore check; the cluster is never contacted).
    ``restore_mappings``: namespace_mapping / storage_class_mapping (and fs_backup_password) the real restore will use.
    ``snapshot_checker``: a function of the snapshot records -> (detail, problems, warnings); None: not checked.
    ``volume_data_checker``: the same for the file-system backups' data (restic check); None: not checked.
    Raises ObjectNotFound when the location has no such backup directory.
    """
    name = check_backup_name(name)
    files = _backup_files(location, name)
    if not files:
        existing = names_hint(name, location.list_dirs(BACKUPS_DIR), "backups") or "the location holds no backups"
        raise ObjectNotFound("backup '%s' does not exist in %s (%s): check name and location" % (name, location.url, existing))
    report = _Report(name)
    backup = _check_marker(report, location, name, files)
    manifest = _check_manifest(report, location, name, files)
    encryption = _encryption_of(location, name, files, keys)
    inventory = _Inventory()
    resource_list = None
    try:
        contents_hash = _check_contents(report, location, name, files, encryption, inventory)
        if manifest is not None:
            _check_files(report, location, name, files, manifest, encryption.contents_file, contents_hash)
        resource_list = _check_sidecars(report, location, name, files)
        if inventory.read:
            _check_counts(report, backup, manifest, resource_list, inventory)
            _check_encrypted_secrets(report, inventory, encryption)
    finally:
        inventory.close()
        if resource_list is not None:
            resource_list.close()
    if snapshot_checker is not None:
        _check_snapshots(report, location, name, snapshot_checker)
    if volume_data_checker is not None:
        _check_snapshots(report, location, name, volume_data_checker, "volume_data")
    if restore_client is not None:
        if backup is None or not inventory.read:
            report.add("restore_check", "not run", ["not run: the commit marker or the archive is unreadable (see the other problems)"])
        else:
            _check_restore(report, location, name, restore_client, inventory, keys, dict(restore_mappings or {}))
    return report.result()


def _check_snapshots(report, location, name, snapshot_checker, check="snapshots"):
    try:
        records = volume_records.read_records(location, name)
    except BackupFormatError as exc:
        report.add(check, "the snapshot records cannot be read", [str(exc)])
        return
    if volume_records.completed(records):
        detail, problems, warnings = snapshot_checker(name, records) if check == "volume_data" else snapshot_checker(records)
        report.add(check, detail, _capped(problems), _capped(warnings))


def verify_all(location, keys=None, restore_client=None, restore_mappings=None, snapshot_checker=None, volume_data_checker=None):
    """Verify every directory under ``backups/`` (newest first; interrupted ones last, and they fail the commit marker check)."""
    names = [summary["name"] for summary in list_backups(location, include_incomplete=True)]
    results = []
    for name in names:
        try:
            results.append(verify_backup(location, name, keys=keys, restore_client=restore_client, restore_mappings=restore_mappings,
                                         snapshot_checker=snapshot_checker, volume_data_checker=volume_data_checker))
        except ObjectNotFound:
            continue  # deleted since it was listed
    return results

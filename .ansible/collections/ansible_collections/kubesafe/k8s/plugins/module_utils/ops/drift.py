# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: what changed between a backup and the live cluster, or between two backups.

Each side is read as a stream (the archive item by item, the cluster page by
page), normalized and put into an index on disk (sqlite3, in a private
temporary directory removed afterwards), then both indexes are walked in key
order (group/resource, namespace, name) side by side.  Memory stays bounded
whatever the size of the backups or the cluster.

What is compared (and why):

- the object as the user wrote it: metadata.uid, resourceVersion, generation,
  creationTimestamp, selfLink, managedFields and deletion fields are dropped
  (the server sets them), ``status`` too unless asked (controllers keep
  changing it), and the ``velero.io/backup-name`` / ``restore-name`` labels
  and ownerReference uids, so that a restored cluster shows no drift;
- Service ``clusterIP``/``clusterIPs`` are server-allocated, reallocated by
  every restore and not something users set: ignored, except ``None``
  (headless, chosen by the user).  nodePorts are compared: clients outside
  the cluster see them;
- objects a controller owns (an ownerReference with ``controller: true``:
  ReplicaSets of Deployments, their Pods, Jobs of CronJobs, EndpointSlices)
  are left out by default: they churn, and their owner's change is what
  matters;
- Secret values never leave this module, and are not even stored in the
  index: each value is replaced by an HMAC under a key made for this run,
  and a change shows as ``<set>`` / ``<changed>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import catalog as backup_catalog

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupOptions, BackupRun
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.cluster_fields import (
    RESTORE_LABELS, SERVER_METADATA, SERVICE_CLUSTER_IP_FIELDS, has_allocated_cluster_ip)
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import BACKUP_ANNOTATION, SECRET_ANNOTATION
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.storage.locations import ObjectNotFound
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.related import RelatedItems
from ansible_collections.kubesafe.k8s.plugins.module_utils.selection import (
    LabelFilter, NamespaceFilter, ResourceFilter, SelectionOptions, is_excluded_by_label)
from ansible_collections.kubesafe.k8s.plugins.module_utils.temp_dirs import make_temp_dir, remove_temp_dir

CLUSTER = "cluster"

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Set on a Secret whose values a backup encrypted (encryption: secrets): ciphertexts differ on every backup.
ENCRYPTED_ANNOTATION = SECRET_ANNOTATION
SECRET_VALUE_FIELDS = ("data", "stringData")
MASK_SET = "<set>"
MASK_CHANGED = "<changed>"
MASK_ENCRYPTED = "<encrypted in the backup>"

DEFAULT_MAX_CHANGES = 1000
MAX_CHANGES_PER_OBJECT = 100
MAX_VALUE_CHARS = 2000
# Lines of a drift message (fail_on_drift) before "... and N more".
MESSAGE_LINES = 20

CRDS = "customresourcedefinitions.apiextensions.k8s.io"
CLUSTER_ROLES = "clusterroles.rbac.authorization.k8s.io"
CLUSTER_ROLE_BINDINGS = "clusterrolebindings.rbac.authorization.k8s.io"


# ---------------------------------------------------------------- options


class DiffOptions(SelectionOptions):
    """How to compare; filter options left at None take the backup's own selection (against the cluster)."""

    def __init__(self, included_namespaces=None, excluded_namespaces=None, included_resources=None, excluded_resources=None,
                 include_cluster_resources=None, label_selector=None, or_label_selectors=None, include_status=False,
                 ignore_controller_owned=True, max_changes=DEFAULT_MAX_CHANGES, parallelism=4):
        # An empty selector means "not given": the backup's own selector then applies.
        super().__init__(included_namespaces=included_namespaces, excluded_namespaces=excluded_namespaces,
                         included_resources=included_resources, excluded_resources=excluded_resources,
                         include_cluster_resources=include_cluster_resources, label_selector=label_selector or None,
                         or_label_selectors=or_label_selectors or None, parallelism=parallelism)
        self.include_status = bool(include_status)
        self.ignore_controller_owned = bool(ignore_controller_owned)
        if max_changes is None or int(max_changes) < 0:
            raise ConfigurationError("max_changes must be 0 or more, not %r" % (max_changes,))
        self.max_changes = int(max_changes)

    def selection(self, spec=None):
        """The effective selection: each filter the user gave, else the backup's (``spec`` of velero-backup.json)."""
        spec = spec or {}
        from_backup = {
            "included_namespaces": spec.get("includedNamespaces") or None,
            "excluded_namespaces": spec.get("excludedNamespaces") or None,
            "included_resources": spec.get("includedResources") or None,
            "excluded_resources": spec.get("excludedResources") or None,
            "include_cluster_resources": spec.get("includeClusterResources"),
            "label_selector": velero_format.label_selector_to_string(spec.get("labelSelector")) or None,
            "or_label_selectors": [text for text in (velero_format.label_selector_to_string(s) for s in spec.get("orLabelSelectors") or [])
                                   if text] or None,
        }
        chosen = {}
        for key in ("included_namespaces", "excluded_namespaces", "included_resources", "excluded_resources", "include_cluster_resources"):
            mine = getattr(self, key)
            chosen[key] = mine if mine is not None else from_backup[key]
        # The two selector forms exclude each other: the user's pair replaces the backup's pair.
        if self.label_selector or self.or_label_selectors:
            chosen["label_selector"], chosen["or_label_selectors"] = self.label_selector, self.or_label_selectors
        else:
            chosen["label_selector"], chosen["or_label_selectors"] = from_backup["label_selector"], from_backup["or_label_selectors"]
        return chosen


class Selection:
    """Which items of a side take part, with the backup's rules (the same ones BackupRun applies to the cluster)."""

    def __init__(self, selection):
        self.values = selection
        self.namespaces = NamespaceFilter(selection["included_namespaces"], selection["excluded_namespaces"])
        self.resources = ResourceFilter(selection["included_resources"], selection["excluded_resources"])
        self.labels = LabelFilter(selection["label_selector"], selection["or_label_selectors"])
        wanted = selection["include_cluster_resources"]
        if wanted is True or (wanted is None and not self.namespaces.is_narrowed):
            self.cluster_scope = "all"
        else:
            self.cluster_scope = "related" if wanted is None else "none"

    def decide(self, group_resource, namespace, obj):
        """"keep", "drop", or "pending" (kept only if related to kept items; known once the whole side is read)."""
        metadata = obj.get("metadata") or {}
        if is_excluded_by_label(obj) or not self.resources.matches(_ItemKind(group_resource, obj)):
            return "drop"
        labels = metadata.get("labels") or {}
        if namespace:
            if not self.namespaces.matches(namespace):
                return "drop"
            return "keep" if self.labels.matches(labels) else "drop"
        if group_resource == "namespaces":
            if not self.namespaces.matches(metadata.get("name", "")):
                return "drop"
            # Velero keeps a namespace that matches the selector or holds selected items.
            return "keep" if not self.labels.active or self.labels.matches(labels) else "pending"
        if self.cluster_scope == "none":
            return "drop"
        if self.cluster_scope == "related":
            return "pending"
        return "keep" if self.labels.matches(labels) else "drop"


class _ItemKind:
    """An item seen as a resource by the selection filters (kind from the object)."""

    def __init__(self, group_resource, obj):
        self.plural, _sep, self.group = group_resource.partition(".")
        self.group_resource = group_resource
        self.kind = obj.get("kind", "")
        self.short_names = ()


# ---------------------------------------------------------------- normalization


def is_controller_owned(obj):
    return any(ref.get("controller") for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


class Normalizer:
    """Turns an object into what is compared: server-managed fields dropped, Secret values replaced by HMACs."""

    def __init__(self, include_status=False):
        self.include_status = include_status
        # A key of this run only: the index on disk never holds a Secret value, nor a digest anyone can test guesses against.
        self._key = os.urandom(32)

    def _fingerprint(self, value):
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return "hmac:" + hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]

    def normalize(self, group_resource, obj):
        obj = dict(obj)
        metadata = dict(obj.get("metadata") or {})
        for key in SERVER_METADATA:
            metadata.pop(key, None)
        labels = dict(metadata.get("labels") or {})
        for key in RESTORE_LABELS:
            labels.pop(key, None)
        _set_or_drop(metadata, "labels", labels)
        annotations = dict(metadata.get("annotations") or {})
        if metadata.get("ownerReferences"):
            # A restore rewrites owner uids (owners get new ones); who owns the object is what counts.
            metadata["ownerReferences"] = [dict((k, v) for k, v in ref.items() if k != "uid") for ref in metadata["ownerReferences"]]
        if group_resource == "secrets":
            for field in SECRET_VALUE_FIELDS:
                if isinstance(obj.get(field), dict):
                    obj[field] = dict((key, self._fingerprint(value)) for key, value in obj[field].items())
            if LAST_APPLIED in annotations:
                annotations[LAST_APPLIED] = self._fingerprint(annotations[LAST_APPLIED])
        _set_or_drop(metadata, "annotations", annotations)
        obj["metadata"] = metadata
        if not self.include_status:
            obj.pop("status", None)
        if group_resource == "services" and isinstance(obj.get("spec"), dict):
            spec = dict(obj["spec"])
            if has_allocated_cluster_ip(spec):
                for field in SERVICE_CLUSTER_IP_FIELDS:
                    spec.pop(field, None)
            obj["spec"] = spec
        return obj


def _set_or_drop(mapping, key, value):
    if value:
        mapping[key] = value
    else:
        mapping.pop(key, None)


def _neutralize_encrypted_secret(obj):
    """A Secret whose values are age ciphertexts in the backup: only which keys exist can be compared."""
    obj = dict(obj)
    metadata = dict(obj.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(ENCRYPTED_ANNOTATION, None)
    annotations.pop(LAST_APPLIED, None)
    _set_or_drop(metadata, "annotations", annotations)
    obj["metadata"] = metadata
    for field in SECRET_VALUE_FIELDS:
        if isinstance(obj.get(field), dict):
            obj[field] = dict((key, MASK_ENCRYPTED) for key in obj[field])
    return obj


def _is_encrypted_secret(obj):
    return ENCRYPTED_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {})


# ---------------------------------------------------------------- field diffs

_ABSENT = object()


def _escape(key):
    return str(key).replace("~", "~0").replace("/", "~1")


def _walk(before, after, path, out):
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            _walk(before.get(key, _ABSENT), after.get(key, _ABSENT), path + "/" + _escape(key), out)
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after)):
            _walk(old, new, "%s/%d" % (path, index), out)
        return
    out.append((path, None if before is _ABSENT else before, None if after is _ABSENT else after))


def _bounded(value):
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            return value[:MAX_VALUE_CHARS] + "... (%d more characters)" % (len(value) - MAX_VALUE_CHARS)
        return value
    if isinstance(value, (dict, list)):
        size = len(json.dumps(value, sort_keys=True))
        if size > MAX_VALUE_CHARS:
            return "<%s of %d characters, not shown>" % ("object" if isinstance(value, dict) else "list", size)
    return value


_LAST_APPLIED_PATH = "/metadata/annotations/" + _escape(LAST_APPLIED)


def _mask_value(value):
    return None if value is None else MASK_SET


def _mask_secret_change(path, before, after):
    """(before, after) of a Secret's change with every value hidden."""
    if path == _LAST_APPLIED_PATH or any(path.startswith("/%s/" % field) for field in SECRET_VALUE_FIELDS):
        if before is not None and after is not None:
            return MASK_SET, MASK_CHANGED
        return _mask_value(before), _mask_value(after)
    if path in ("/%s" % field for field in SECRET_VALUE_FIELDS):
        return tuple(dict((key, MASK_SET) for key in side) if isinstance(side, dict) else _mask_value(side) for side in (before, after))
    if path in ("/metadata/annotations", "/metadata", ""):
        return tuple(_mask_nested(path, side) for side in (before, after))
    return before, after


def _mask_nested(path, value):
    """A whole metadata/annotations/object value of a Secret with its values masked (a belt to the HMAC braces)."""
    if not isinstance(value, dict):
        return value
    value = dict(value)
    if path == "":
        for field in SECRET_VALUE_FIELDS:
            if isinstance(value.get(field), dict):
                value[field] = dict((key, MASK_SET) for key in value[field])
        value["metadata"] = _mask_nested("/metadata", value.get("metadata"))
    elif path == "/metadata":
        value["annotations"] = _mask_nested("/metadata/annotations", value.get("annotations"))
        if value["annotations"] is None:
            del value["annotations"]
    elif LAST_APPLIED in value:
        value[LAST_APPLIED] = MASK_SET
    return value


def field_changes(group_resource, before, after):
    """(changes [{path, before, after}] of at most MAX_CHANGES_PER_OBJECT entries, total number of changes)."""
    found = []
    _walk(before, after, "", found)
    changes = []
    for path, old, new in found[:MAX_CHANGES_PER_OBJECT]:
        if group_resource == "secrets":
            old, new = _mask_secret_change(path, old, new)
        changes.append({"path": path, "before": _bounded(old), "after": _bounded(new)})
    return changes, len(found)


# ---------------------------------------------------------------- the index on disk


class _Index:
    """Both sides' normalized objects in a sqlite3 file, walked in key order."""

    def __init__(self):
        self._directory = make_temp_dir("diff")
        self._db = sqlite3.connect(os.path.join(self._directory, "index.sqlite3"))
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE objects (side TEXT, gr TEXT, ns TEXT, name TEXT, pending INTEGER, data TEXT, "
                         "PRIMARY KEY (side, gr, ns, name))")

    def add(self, side, group_resource, namespace, name, obj, pending=False):
        # A second copy of one identity (OR selectors listing it twice) replaces the first.
        self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?)",
                         (side, group_resource, namespace or "", name, 1 if pending else 0, json.dumps(obj, sort_keys=True)))

    def pending(self, side, group_resource=None):
        query = "SELECT gr, ns, name, data FROM objects WHERE side = ? AND pending = 1"
        args = [side]
        if group_resource is not None:
            query += " AND gr = ?"
            args.append(group_resource)
        for group_resource_, namespace, name, data in self._db.execute(query, args).fetchall():
            yield group_resource_, namespace, name, json.loads(data)

    def settle(self, side, group_resource, name, keep):
        if keep:
            self._db.execute("UPDATE objects SET pending = 0 WHERE side = ? AND gr = ? AND ns = '' AND name = ?", (side, group_resource, name))
        else:
            self._db.execute("DELETE FROM objects WHERE side = ? AND gr = ? AND ns = '' AND name = ?", (side, group_resource, name))

    def namespaced_resources(self, side):
        rows = self._db.execute("SELECT DISTINCT gr FROM objects WHERE side = ? AND ns != ''", (side,))
        return {row[0] for row in rows}

    def walk(self, side):
        cursor = self._db.cursor()
        cursor.execute("SELECT gr, ns, name, data FROM objects WHERE side = ? ORDER BY gr, ns, name", (side,))
        for group_resource, namespace, name, data in cursor:
            yield (group_resource, namespace, name), data

    def close(self):
        with contextlib.suppress(Exception):
            self._db.close()
        remove_temp_dir(self._directory)


class _Side:
    """Feeds one side (a backup or the cluster) into the index, applying the selection and normalization."""

    def __init__(self, index, side, name, selection, normalizer, options):
        self.index = index
        self.side = side  # "before" or "after" in the index
        self.name = name
        self.selection = selection
        self.normalizer = normalizer
        self.options = options
        self.related = RelatedItems()
        self.encrypted_secrets = 0

    def add(self, group_resource, namespace, name, obj):
        decision = self.selection.decide(group_resource, namespace, obj)
        if decision == "drop":
            return
        if namespace:
            self.related.observe(_ItemKind(group_resource, obj), obj, ())
        if self.options.ignore_controller_owned and is_controller_owned(obj):
            return
        if group_resource == "secrets" and _is_encrypted_secret(obj):
            self.encrypted_secrets += 1
        self.index.add(self.side, group_resource, namespace, name, self.normalizer.normalize(group_resource, obj), decision == "pending")

    def settle(self):
        """Decide the pending items: Velero's related cluster-scoped objects, and namespaces holding selected items."""
        kept_resources = self._namespaced_resources()
        roles = set()
        for group_resource, _ns, name, obj in self.index.pending(self.side, CLUSTER_ROLE_BINDINGS):
            keep = self.related.binding_names_service_account(obj)
            if keep and (obj.get("roleRef") or {}).get("kind") == "ClusterRole":
                roles.add(obj["roleRef"]["name"])
            self.index.settle(self.side, group_resource, name, keep)
        for group_resource, _ns, name, obj in list(self.index.pending(self.side)):
            if group_resource == "namespaces":
                keep = name in self.related.namespaces_with_items
            elif group_resource == "persistentvolumes":
                keep = name in self.related.persistent_volumes
            elif group_resource == CRDS:
                keep = name in kept_resources
            elif group_resource == CLUSTER_ROLES:
                keep = name in roles
            else:
                keep = False
            self.index.settle(self.side, group_resource, name, keep)

    def _namespaced_resources(self):
        return self.index.namespaced_resources(self.side)


class _ClusterSink:
    """Stands in for the archive of a check-mode BackupRun: each object the backup would store comes here."""

    def __init__(self, side):
        self._side = side

    def add_item(self, group_resource, version, namespace, name, obj, preferred=True):
        del version, preferred
        self._side.add(group_resource, namespace, name, obj)


# ---------------------------------------------------------------- reading a backup


def _readable_backup(location, name):
    """backup_catalog.resolve_backup, refusing a backup encrypted as a whole, which diff cannot read."""
    name, backup = backup_catalog.resolve_backup(location, name, options_hint="backup, compare_to and location")
    _refuse_encrypted_archive(location, name, velero_format.file_names(name), backup)
    return name, backup


def _partial_warnings(backups):
    """A PartiallyFailed backup (named explicitly) lacks objects: what looks added since may just be missing from it."""
    return [warning for warning in (backup_catalog.partial_backup_warning(name, backup) for name, backup in backups) if warning]


def _refuse_encrypted_archive(location, name, files, backup):
    annotations = (backup.get("metadata") or {}).get("annotations") or {}
    if annotations.get(BACKUP_ANNOTATION) == "all":
        raise ConfigurationError("backup '%s' is encrypted as a whole (encryption: all): diff cannot read it; "
                                 "verify or restore it with the decryption key instead" % name)
    try:
        manifest = json.loads(location.get_bytes(files["manifest"]))
    except (ObjectNotFound, ValueError):
        return  # a Velero backup, or an unreadable manifest: the archive itself tells
    encryption = manifest.get("encryption") if isinstance(manifest, dict) else None
    if isinstance(encryption, dict) and encryption.get("mode") == "all":
        raise ConfigurationError("backup '%s' is encrypted as a whole (encryption: all): diff cannot read it; "
                                 "verify or restore it with the decryption key instead" % name)


def _read_backup(location, name, side):
    key = velero_format.file_names(name)["contents"]
    with contextlib.closing(location.open_read(key)) as stream:
        for item in ArchiveReader(stream, source=key):
            if (item.obj.get("metadata") or {}).get("name"):
                side.add(item.group_resource, item.namespace, item.name, item.obj)
    side.settle()


def _read_cluster(client, location, selection, side, options):
    values = selection.values
    backup_options = BackupOptions(
        name="drift-check", included_namespaces=values["included_namespaces"], excluded_namespaces=values["excluded_namespaces"],
        included_resources=values["included_resources"], excluded_resources=values["excluded_resources"],
        include_cluster_resources=values["include_cluster_resources"], label_selector=values["label_selector"],
        or_label_selectors=values["or_label_selectors"], parallelism=options.parallelism)
    # A check-mode run only names the location; each object it would store is indexed instead.
    result = BackupRun(client, location, backup_options, check_mode=True, item_sink=_ClusterSink(side)).run()
    warnings = list(result["warnings"])
    warnings.extend("%s: objects of it may show as removed" % error for error in result["errors"])
    return warnings


# ---------------------------------------------------------------- comparing


class _Report:
    def __init__(self, max_changes):
        self.max_changes = max_changes
        self.lists = {"added": [], "removed": [], "changed": []}
        self.totals = {"added": 0, "removed": 0, "changed": 0, "unchanged": 0}
        self.by_resource = {}
        self.listed = 0

    def count(self, category, group_resource):
        self.totals[category] += 1
        counts = self.by_resource.setdefault(group_resource, {"added": 0, "removed": 0, "changed": 0, "unchanged": 0})
        counts[category] += 1

    def entry(self, category, key, obj, changes=None, total=0):
        group_resource, namespace, name = key
        self.count(category, group_resource)
        if self.listed >= self.max_changes:
            return
        self.listed += 1
        entry = {"group_resource": group_resource, "namespace": namespace or None, "name": name,
                 "kind": obj.get("kind"), "changes": changes or []}
        if total > len(entry["changes"]):
            entry["changes_not_shown"] = total - len(entry["changes"])
        self.lists[category].append(entry)


def _compare(index, report):
    before_rows, after_rows = index.walk("before"), index.walk("after")
    before, after = next(before_rows, None), next(after_rows, None)
    while before is not None or after is not None:
        if after is None or (before is not None and before[0] < after[0]):
            report.entry("removed", before[0], json.loads(before[1]))
            before = next(before_rows, None)
        elif before is None or after[0] < before[0]:
            report.entry("added", after[0], json.loads(after[1]))
            after = next(after_rows, None)
        else:
            key = before[0]
            if before[1] == after[1]:
                report.count("unchanged", key[0])
            else:
                old, new = json.loads(before[1]), json.loads(after[1])
                if key[0] == "secrets" and (_is_encrypted_secret(old) or _is_encrypted_secret(new)):
                    old, new = _neutralize_encrypted_secret(old), _neutralize_encrypted_secret(new)
                changes, total = field_changes(key[0], old, new)
                if total:
                    report.entry("changed", key, new, changes, total)
                else:
                    report.count("unchanged", key[0])
            before, after = next(before_rows, None), next(after_rows, None)


def _result(report, backup, compare_to, location, selection, warnings):
    summary = dict(report.totals)
    summary["by_resource"] = dict(sorted(report.by_resource.items()))
    drift = bool(report.totals["added"] or report.totals["removed"] or report.totals["changed"])
    return {
        "backup": backup,
        "compare_to": compare_to,
        "location": location.url,
        "drift": drift,
        "summary": summary,
        "added": report.lists["added"],
        "removed": report.lists["removed"],
        "changed": report.lists["changed"],
        "truncated": report.listed < report.totals["added"] + report.totals["removed"] + report.totals["changed"],
        "selection": selection.values,
        "warnings": warnings,
    }


def _encryption_warnings(sides):
    warnings = []
    for side in sides:
        if side.encrypted_secrets:
            warnings.append("%d Secret(s) of backup '%s' are encrypted (encryption: secrets): only their keys are compared, not their values"
                            % (side.encrypted_secrets, side.name))
    return warnings


def diff_backup_vs_live(client, location, name, options=None):
    """What changed in the cluster behind ``client`` since backup ``name`` (or ``latest``) of ``location``."""
    options = options or DiffOptions()
    name, backup = _readable_backup(location, name)
    selection = Selection(options.selection(backup.get("spec")))
    normalizer = Normalizer(options.include_status)
    index = _Index()
    try:
        before = _Side(index, "before", name, selection, normalizer, options)
        _read_backup(location, name, before)
        after = _Side(index, "after", CLUSTER, selection, normalizer, options)
        warnings = _read_cluster(client, location, selection, after, options)
        report = _Report(options.max_changes)
        _compare(index, report)
    finally:
        index.close()
    return _result(report, name, CLUSTER, location, selection, warnings + _encryption_warnings([before]) + _partial_warnings([(name, backup)]))


def diff_backup_vs_backup(location, a, b, options=None):
    """What changed from backup ``a`` (before) to backup ``b`` (after) of ``location``; ``latest`` allowed for either."""
    options = options or DiffOptions()
    name_a, backup_a = _readable_backup(location, a)
    name_b, backup_b = _readable_backup(location, b)
    if name_a == name_b:
        raise ConfigurationError("backup and compare_to both name backup '%s': give two different backups, or compare_to: cluster" % name_a)
    # Between two backups no side's own selection is the reference: only the filters given apply.
    selection = Selection(options.selection({}))
    normalizer = Normalizer(options.include_status)
    index = _Index()
    try:
        sides = [_Side(index, "before", name_a, selection, normalizer, options), _Side(index, "after", name_b, selection, normalizer, options)]
        for side in sides:
            _read_backup(location, side.name, side)
        report = _Report(options.max_changes)
        _compare(index, report)
    finally:
        index.close()
    return _result(report, name_a, name_b, location, selection,
                   _encryption_warnings(sides) + _partial_warnings([(name_a, backup_a), (name_b, backup_b)]))


def run_diff(location, backup=backup_catalog.LATEST, compare_to=CLUSTER, client=None, options=None):
    """The diff the module asks for: against the cluster (``client`` needed) or another backup."""
    if (compare_to or CLUSTER) == CLUSTER:
        if client is None:
            raise ConfigurationError("compare_to: cluster needs a cluster connection")
        return diff_backup_vs_live(client, location, backup, options)
    return diff_backup_vs_backup(location, backup, compare_to, options)


def _describe(entry):
    where = "%s/%s" % (entry["namespace"], entry["name"]) if entry.get("namespace") else entry["name"]
    return "%s %s" % (entry["group_resource"], where)


def drift_message(result):
    """A readable account of the drift, for fail_on_drift: counts, then one line per object (bounded)."""
    summary = result["summary"]
    against = "the cluster" if result["compare_to"] == CLUSTER else "backup '%s'" % result["compare_to"]
    lines = ["drift between backup '%s' and %s: %d added, %d removed, %d changed"
             % (result["backup"], against, summary["added"], summary["removed"], summary["changed"])]
    for category in ("added", "removed", "changed"):
        for entry in result[category]:
            text = "%s %s" % (category, _describe(entry))
            if entry["changes"]:
                paths = [change["path"] for change in entry["changes"][:5]]
                more = len(entry["changes"]) - len(paths) + entry.get("changes_not_shown", 0)
                text += " (%s%s)" % (", ".join(paths), ", +%d more" % more if more else "")
            lines.append(text)
    total = summary["added"] + summary["removed"] + summary["changed"]
    shown = lines[:MESSAGE_LINES + 1]
    if total > len(shown) - 1:
        shown.append("... and %d more" % (total - (len(shown) - 1)))
    return "; ".join(shown)

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which objects are written at apiVersions a Kubernetes release deprecates or no longer serves.

The API server converts every stored object to the version it is read at, so
an object read back says little about the version its owner writes.  What
does are the manifests kept next to it, as kubent and pluto read them:

- the object itself (a backup of a cluster that still serves the old version,
  or a custom resource);
- ``kubectl.kubernetes.io/last-applied-configuration``, the manifest
  ``kubectl apply`` last sent;
- Helm 3 release records (Secrets or ConfigMaps ``sh.helm.release.v1.<release>.v<revision>``
  labelled ``owner=helm``): base64 of gzip of a JSON release whose
  ``manifest`` is the rendered YAML; only the latest revision of each release
  counts, older ones are history.

Objects are read one at a time from the backup archive (a stream), or from
the cluster page by page; findings are bounded, counts are exact.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import contextlib
import json
import re
import zlib

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import catalog as backup_catalog
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.encryption import is_encrypted_secret
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader
from ansible_collections.kubesafe.k8s.plugins.module_utils.backup.engine import BackupRun
from ansible_collections.kubesafe.k8s.plugins.module_utils.ops.deprecated_apis import SOURCE, parse_version, status_at

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    HAS_YAML = False

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
HELM_RELEASE_NAME = re.compile(r"^sh\.helm\.release\.v1\.(?P<release>.+)\.v(?P<revision>\d+)$")
# A rendered release is small; a bigger one is not read (a zip bomb would be).
MAX_RELEASE_BYTES = 64 * 1024 * 1024
MAX_FINDINGS = 1000


def helm_release_manifest(obj):
    """(release, revision, namespace, manifest text) of a Helm 3 release Secret or ConfigMap, or None."""
    metadata = obj.get("metadata") or {}
    match = HELM_RELEASE_NAME.match(metadata.get("name") or "")
    if not match or ((metadata.get("labels") or {}).get("owner") or "").lower() != "helm":
        return None
    encoded = (obj.get("data") or {}).get("release")
    if not isinstance(encoded, str):
        return None
    if obj.get("kind") == "Secret":
        encoded = base64.b64decode(encoded).decode("ascii")  # the Secret's own base64 around Helm's
    payload = base64.b64decode(encoded)
    if payload[:2] == b"\x1f\x8b":
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        payload = decompressor.decompress(payload, MAX_RELEASE_BYTES)
        if decompressor.unconsumed_tail:
            raise ValueError("the release is larger than %d bytes uncompressed" % MAX_RELEASE_BYTES)
    release = json.loads(payload.decode("utf-8"))
    return (release.get("name") or match.group("release"), int(release.get("version") or match.group("revision")),
            release.get("namespace") or metadata.get("namespace"), release.get("manifest") or "")


def manifest_documents(text):
    """The objects of a multi-document YAML manifest (Helm's rendering), skipping empty documents."""
    if not HAS_YAML:
        raise RuntimeError("PyYAML is needed to read Helm manifests")
    for document in yaml.safe_load_all(text):
        if isinstance(document, dict) and document.get("apiVersion") and document.get("kind"):
            yield document
        elif isinstance(document, dict) and document.get("kind") == "List":
            for item in document.get("items") or []:
                if isinstance(item, dict):
                    yield item


class ApiUsageScan:
    """Collects, object by object, what a target release removes or deprecates."""

    def __init__(self, target_version, max_findings=MAX_FINDINGS):
        self.target_text = str(target_version)
        self.target = parse_version(target_version)
        self.max_findings = max_findings
        self.findings = {"removed": [], "deprecated": []}
        self.counts = {"removed": 0, "deprecated": 0}
        self.objects_scanned = 0
        self.helm_releases = {}  # (namespace, release) -> (revision, object ref, manifest)
        self.warnings = []

    def _record(self, api_version, kind, namespace, name, found_in, holder):
        status = status_at(api_version, kind, self.target)
        if status is None:
            return
        state, entry = status
        self.counts[state] += 1
        if len(self.findings[state]) >= self.max_findings:
            return
        self.findings[state].append({
            "api_version": api_version, "kind": kind, "namespace": namespace or None, "name": name,
            "found_in": found_in, "holder": holder, "replacement": entry.replacement or None,
            "deprecated_in": entry.deprecated_in, "removed_in": entry.removed_in, "removal_computed": entry.computed,
        })

    def add(self, group_resource, namespace, name, obj):
        """One object as read: its own apiVersion, its last-applied manifest, and (remembered) Helm releases."""
        self.objects_scanned += 1
        holder = _ref(group_resource, namespace, name)
        self._record(obj.get("apiVersion"), obj.get("kind"), namespace, name, "object", holder)
        last_applied = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        if last_applied:
            try:
                applied = json.loads(last_applied)
            except ValueError:
                self.warnings.append("%s: %s is not JSON; not checked" % (holder, LAST_APPLIED))
            else:
                if isinstance(applied, dict):
                    metadata = applied.get("metadata") or {}
                    self._record(applied.get("apiVersion"), applied.get("kind"), metadata.get("namespace") or namespace,
                                 metadata.get("name") or name, "last-applied-configuration", holder)
        if group_resource in ("secrets", "configmaps") and HELM_RELEASE_NAME.match(name or ""):
            self._remember_release(group_resource, namespace, name, obj, holder)

    def _remember_release(self, group_resource, namespace, name, obj, holder):
        if group_resource == "secrets" and is_encrypted_secret(obj):
            self.warnings.append("%s: the Helm release is encrypted in the backup; its manifest was not checked" % holder)
            return
        try:
            release = helm_release_manifest(obj)
        except (ValueError, TypeError, binascii.Error, zlib.error, OSError, UnicodeDecodeError) as error:
            self.warnings.append("%s: not a readable Helm release (%s); not checked" % (holder, error))
            return
        if release is None:
            return
        release_name, revision, release_namespace, manifest = release
        key = (release_namespace, release_name)
        # Only the newest revision is what Helm deployed last; keep one manifest per release, not every revision.
        if key not in self.helm_releases or self.helm_releases[key][0] < revision:
            self.helm_releases[key] = (revision, holder, manifest)

    def finish(self):
        for (_namespace, release), (revision, holder, manifest) in sorted(self.helm_releases.items()):
            found_in = "helm release %s revision %d" % (release, revision)
            try:
                documents = list(manifest_documents(manifest))
            except (yaml.YAMLError if HAS_YAML else ValueError) as error:
                self.warnings.append("%s: the manifest of Helm release %s is not YAML (%s); not checked" % (holder, release, error))
                continue
            for document in documents:
                metadata = document.get("metadata") or {}
                # A chart rarely names namespaces (Helm puts namespaced objects in the release's): the holder tells which.
                self._record(document.get("apiVersion"), document.get("kind"), metadata.get("namespace"),
                             metadata.get("name"), found_in, holder)
        self.helm_releases = {}

    def result(self, source):
        return {
            "target_version": self.target_text,
            "source": source,
            "table_source": SOURCE,
            "removed": self.findings["removed"],
            "deprecated": self.findings["deprecated"],
            "counts": dict(self.counts),
            "objects_scanned": self.objects_scanned,
            "truncated": any(self.counts[state] > len(self.findings[state]) for state in self.counts),
            "warnings": self.warnings,
        }


def _ref(group_resource, namespace, name):
    return "%s %s" % (group_resource, "/".join(part for part in (namespace, name) if part))


def scan_backup(location, backup, target_version, max_findings=MAX_FINDINGS):
    """Stream the archive of ``backup`` (a name or ``latest``) and report what ``target_version`` removes or deprecates."""
    name, _marker = backup_catalog.resolve_backup(location, backup, options_hint="backup and location")
    scan = ApiUsageScan(target_version, max_findings)
    key = velero_format.file_names(name)["contents"]
    with contextlib.closing(location.open_read(key)) as stream:
        for item in ArchiveReader(stream, source=key):
            scan.add(item.group_resource, item.namespace, item.name, item.obj)
    scan.finish()
    return scan.result({"backup": name, "location": location.url})


class _ScanSink:
    """Receives the objects a check-mode backup run would store (ArchiveWriter's add_item signature)."""

    def __init__(self, scan):
        self._scan = scan

    def add_item(self, group_resource, version, namespace, name, obj, preferred=True):
        del version, preferred
        self._scan.add(group_resource, namespace, name, obj)


def scan_cluster(client, location, backup_options, target_version, max_findings=MAX_FINDINGS):
    """The same report read from the live cluster, listed as a check-mode backup with ``backup_options`` would list it."""
    scan = ApiUsageScan(target_version, max_findings)
    result = BackupRun(client, location, backup_options, check_mode=True, item_sink=_ScanSink(scan)).run()
    scan.finish()
    scan.warnings.extend(result["warnings"])
    scan.warnings.extend("%s: not checked" % error for error in result["errors"])
    return scan.result({"cluster": client.server_url})


def removed_lines(result, limit=20):
    """One line per use of a removed apiVersion (the first ``limit``): the object, where it was found, the replacement."""
    lines = []
    for finding in result["removed"][:limit]:
        replacement = ("use %s" % finding["replacement"]) if finding["replacement"] else "no replacement, remove it"
        lines.append("%s %s %s (in %s of %s): removed in %s, %s" % (
            finding["api_version"], finding["kind"], "/".join(p for p in (finding["namespace"], finding["name"]) if p),
            finding["found_in"], finding["holder"], finding["removed_in"], replacement))
    more = result["counts"]["removed"] - len(lines)
    if more > 0:
        lines.append("... and %d more" % more)
    return lines


def removed_message(result, go_on):
    """The failure message when the target removes apiVersions in use; ``go_on`` names the setting that lets the run go on."""
    return ("Kubernetes %s no longer serves %d apiVersion use(s): %s. Migrate the manifests first, or %s"
            % (result["target_version"], result["counts"]["removed"], "; ".join(removed_lines(result)), go_on))

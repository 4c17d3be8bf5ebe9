# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CSI volume snapshots through the snapshot.storage.k8s.io/v1 API.

A backup snapshot is a VolumeSnapshot of the claim; once it is ready its
VolumeSnapshotContent is switched to ``deletionPolicy: Retain`` and the
VolumeSnapshot is deleted, so the snapshot outlives the claim's namespace
(what Velero's CSI support does). A restore brings it back as a
pre-provisioned VolumeSnapshotContent naming the recorded snapshot handle,
plus a VolumeSnapshot in the target namespace that the new claim uses as its
data source. Deleting a backup's snapshot sets the content back to
``Delete`` and deletes it, so the driver removes the storage snapshot.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import time

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import ApiError

GROUP = "snapshot.storage.k8s.io"
API_VERSION = GROUP + "/v1"
CLASSES_PATH = "/apis/%s/volumesnapshotclasses" % API_VERSION
CONTENTS_PATH = "/apis/%s/volumesnapshotcontents" % API_VERSION
# Velero's label marking the class its CSI support uses for a driver; checked before the default-class annotation.
VELERO_CLASS_LABEL = "velero.io/csi-volumesnapshot-class"
DEFAULT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"
BACKUP_LABEL = "kubesafe.k8s/backup"
VELERO_BACKUP_LABEL = "velero.io/backup-name"
# Polls start fast (a freeze lasts until the snapshot is cut) and back off to spare the API server.
FIRST_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 2.0
MERGE_PATCH = "application/merge-patch+json"


class SnapshotError(KubesafeError):
    """One volume could not be snapshotted, restored or deleted; the run goes on with the others."""


def cluster_identity(client):
    """The uid of the kube-system namespace, or None when it cannot be read (RBAC)."""
    try:
        return (client.request("GET", "/api/v1/namespaces/kube-system").get("metadata") or {}).get("uid")
    except ApiError:
        return None


def snapshots_path(namespace, name=None):
    path = "/apis/%s/namespaces/%s/volumesnapshots" % (API_VERSION, namespace)
    return path + "/" + name if name else path


def short_hash(*parts):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:10]


class CsiSnapshots:
    """Snapshot operations of one cluster; safe to share between threads (the client is)."""

    def __init__(self, client, class_option=None, timeout_seconds=600.0):
        """``class_option``: a VolumeSnapshotClass name for every driver, or a dict driver -> class name."""
        if class_option is not None and not isinstance(class_option, (str, dict)):
            raise ConfigurationError("csi_snapshot_class must be a class name or a dict of CSI driver: class name, not %r" % (class_option,))
        self.client = client
        self.class_option = class_option
        self.timeout_seconds = float(timeout_seconds)
        self._classes = None
        self._cluster_id = False  # not read yet

    def cluster_id(self):
        """The uid of kube-system, a cluster's stable identity (as Velero and Kasten use it); None when unreadable."""
        if self._cluster_id is False:
            self._cluster_id = cluster_identity(self.client)
        return self._cluster_id

    # ------------------------------------------------------------ classes

    def served(self):
        """True when the cluster serves the snapshot API (the external-snapshotter CRDs are installed)."""
        try:
            self.client.request("GET", CLASSES_PATH, query={"limit": 1})
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    def classes(self):
        if self._classes is None:
            self._classes = [item for page in self.client.list_pages(CLASSES_PATH) for item in page.get("items") or []]
        return self._classes

    def class_for(self, driver):
        """The VolumeSnapshotClass name for a CSI driver: the option, else Velero's label, else the default class."""
        by_name = {item["metadata"]["name"]: item for item in self.classes()}
        wanted = self.class_option.get(driver) if isinstance(self.class_option, dict) else self.class_option
        if wanted:
            chosen = by_name.get(wanted)
            if chosen is None:
                raise SnapshotError("VolumeSnapshotClass '%s' (csi_snapshot_class) does not exist in the cluster; classes for driver %s: %s"
                                    % (wanted, driver, ", ".join(self._names_for(driver)) or "none"))
            if chosen.get("driver") != driver:
                raise SnapshotError("VolumeSnapshotClass '%s' (csi_snapshot_class) is for driver %s, not %s; classes for %s: %s"
                                    % (wanted, chosen.get("driver"), driver, driver, ", ".join(self._names_for(driver)) or "none"))
            return wanted
        for marker in (lambda item: ((item["metadata"].get("labels") or {}).get(VELERO_CLASS_LABEL) == "true"),
                       lambda item: ((item["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true")):
            for item in self.classes():
                if item.get("driver") == driver and marker(item):
                    return item["metadata"]["name"]
        raise SnapshotError("no VolumeSnapshotClass for CSI driver %s: create one (label it %s=true or annotate it %s=true), "
                            "or name one in csi_snapshot_class" % (driver, VELERO_CLASS_LABEL, DEFAULT_CLASS_ANNOTATION))

    def _names_for(self, driver):
        return sorted(item["metadata"]["name"] for item in self.classes() if item.get("driver") == driver)

    # ------------------------------------------------------------ backup

    def start(self, namespace, claim, class_name, backup_name, backup_label):
        """Create the VolumeSnapshot of a claim; returns it as stored."""
        body = {
            "apiVersion": API_VERSION, "kind": "VolumeSnapshot",
            "metadata": {"generateName": "kubesafe-%s-" % claim[:40].rstrip("-."), "namespace": namespace,
                         "labels": {BACKUP_LABEL: backup_label, VELERO_BACKUP_LABEL: backup_label}},
            "spec": {"volumeSnapshotClassName": class_name, "source": {"persistentVolumeClaimName": claim}},
        }
        try:
            return self.client.request("POST", snapshots_path(namespace), body=body)
        except ApiError as exc:
            raise SnapshotError("could not create a VolumeSnapshot of claim %s/%s: %s" % (namespace, claim, exc))

    def wait(self, snapshot, ready, deadline=None):
        """Wait until the snapshot is cut (creationTime set) or, with ``ready``, usable; returns it. Raises SnapshotError."""
        namespace, name = snapshot["metadata"]["namespace"], snapshot["metadata"]["name"]
        deadline = deadline or time.monotonic() + self.timeout_seconds
        pause = FIRST_POLL_SECONDS
        while True:
            status = snapshot.get("status") or {}
            error = (status.get("error") or {}).get("message")
            if error:
                raise SnapshotError("VolumeSnapshot %s/%s failed: %s" % (namespace, name, error))
            if status.get("readyToUse") or (not ready and status.get("creationTime")):
                return snapshot
            if time.monotonic() >= deadline:
                raise SnapshotError("VolumeSnapshot %s/%s was not %s within %ds: check the CSI driver and snapshot controller, "
                                    "or raise csi_snapshot_timeout" % (namespace, name, "ready" if ready else "taken", self.timeout_seconds))
            time.sleep(pause)
            pause = min(pause * 2, MAX_POLL_SECONDS)
            try:
                snapshot = self.client.request("GET", snapshots_path(namespace, name))
            except ApiError as exc:
                raise SnapshotError("VolumeSnapshot %s/%s could not be read: %s" % (namespace, name, exc))

    def keep(self, snapshot, backup_label):
        """Retain the ready snapshot's content, label it with the backup, delete the VolumeSnapshot; returns the content."""
        namespace, name = snapshot["metadata"]["namespace"], snapshot["metadata"]["name"]
        content_name = snapshot["status"]["boundVolumeSnapshotContentName"]
        patch = {"metadata": {"labels": {BACKUP_LABEL: backup_label, VELERO_BACKUP_LABEL: backup_label}}, "spec": {"deletionPolicy": "Retain"}}
        try:
            content = self.client.request("PATCH", "%s/%s" % (CONTENTS_PATH, content_name), body=patch, content_type=MERGE_PATCH)
        except ApiError as exc:
            raise SnapshotError("could not set deletionPolicy Retain on VolumeSnapshotContent %s: %s" % (content_name, exc))
        self.delete_snapshot_object(namespace, name)
        return content

    def delete_snapshot_object(self, namespace, name):
        try:
            self.client.request("DELETE", snapshots_path(namespace, name))
        except ApiError as exc:
            if exc.status != 404:
                raise SnapshotError("could not delete VolumeSnapshot %s/%s: %s" % (namespace, name, exc))

    # ------------------------------------------------------------ deletion

    def delete_content(self, content_name):
        """Delete a backup's snapshot (the driver deletes the storage snapshot); False when it was already gone."""
        path = "%s/%s" % (CONTENTS_PATH, content_name)
        try:
            self.client.request("PATCH", path, body={"spec": {"deletionPolicy": "Delete"}}, content_type=MERGE_PATCH)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise SnapshotError("could not set deletionPolicy Delete on VolumeSnapshotContent %s: %s" % (content_name, exc))
        try:
            self.client.request("DELETE", path)
        except ApiError as exc:
            # With its VolumeSnapshot gone, the snapshot controller deletes a Delete content by itself.
            if exc.status != 404:
                raise SnapshotError("could not delete VolumeSnapshotContent %s: %s" % (content_name, exc))
        return True

    def list_contents(self, backup_label=None):
        query = {"labelSelector": "%s=%s" % (BACKUP_LABEL, backup_label) if backup_label else BACKUP_LABEL}
        return [item for page in self.client.list_pages(CONTENTS_PATH, query=query) for item in page.get("items") or []]

    # ------------------------------------------------------------ restore

    @staticmethod
    def restore_objects(record, namespace, claim, restore_name):
        """The pre-provisioned VolumeSnapshotContent and the VolumeSnapshot a restored claim is provisioned from.

        Names are derived from the restore and the claim, so a retried restore finds its own objects.
        The caller labels them with the backup and restore, as every restored object.
        The content is Retain: deleting the restored namespace must never delete the backup's snapshot.
        """
        suffix = short_hash(restore_name, namespace, claim)
        snapshot_name = "%s-%s" % (claim[:52].rstrip("-."), suffix)
        content_name = "kubesafe-restore-%s" % short_hash(restore_name, namespace, claim, record["snapshot_handle"])
        content = {
            "apiVersion": API_VERSION, "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name},
            "spec": {
                "deletionPolicy": "Retain",
                "driver": record["driver"],
                "source": {"snapshotHandle": record["snapshot_handle"]},
                "sourceVolumeMode": record.get("volume_mode") or "Filesystem",
                "volumeSnapshotRef": {"apiVersion": API_VERSION, "kind": "VolumeSnapshot", "namespace": namespace, "name": snapshot_name},
            },
        }
        if record.get("snapshot_class"):
            content["spec"]["volumeSnapshotClassName"] = record["snapshot_class"]
        snapshot = {
            "apiVersion": API_VERSION, "kind": "VolumeSnapshot",
            "metadata": {"name": snapshot_name, "namespace": namespace},
            "spec": {"source": {"volumeSnapshotContentName": content_name}},
        }
        if record.get("snapshot_class"):
            snapshot["spec"]["volumeSnapshotClassName"] = record["snapshot_class"]
        return content, snapshot

    def create_restore_objects(self, content, snapshot):
        """Create them; existing ones of the same name (a retried restore) are kept."""
        for path, body in ((CONTENTS_PATH, content), (snapshots_path(snapshot["metadata"]["namespace"]), snapshot)):
            try:
                self.client.request("POST", path, body=body)
            except ApiError as exc:
                if exc.status != 409:
                    raise SnapshotError("could not create %s %s: %s" % (body["kind"], body["metadata"]["name"], exc))


def data_source(snapshot_name):
    """A claim's dataSource (and dataSourceRef) naming a VolumeSnapshot."""
    return {"apiGroup": GROUP, "kind": "VolumeSnapshot", "name": snapshot_name}

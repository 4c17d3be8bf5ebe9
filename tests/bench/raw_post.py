"""The baseline a restore is measured against: raw parallel POSTs of the same objects into an empty cluster.

Same HTTP layer as the engine (KubeClient.request: urllib3, json.dumps of the
body, json.loads of the answer) and as many threads as the restore's
parallelism. The objects come from the backup archive (ArchiveReader), with the
minimal changes any tool must make before creating them again: server-set
metadata, status and the Service addresses the cluster assigns go, and what the
target cluster already has or makes itself is left out. The list is prepared in
memory before the clock starts; only the POSTs are timed: CRDs first, then
namespaces, then everything else, each group in parallel.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import collection_path  # noqa: F401  pylint: disable=unused-import

from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive.tarball import ArchiveReader  # noqa: E402
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.engine import RestoreOptions  # noqa: E402

from bench.raw_list import backed_up_resources  # noqa: E402

PARALLELISM = RestoreOptions().parallelism
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
SERVER_SET_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink", "ownerReferences")
# Kinds no tool recreates: the cluster's own records.
NOT_CREATED = ("nodes", "events", "events.events.k8s.io")
# What Kubernetes puts in every new namespace, so a POST of it would answer 409.
NAMESPACE_DEFAULTS = (("serviceaccounts", "default"), ("configmaps", "kube-root-ca.crt"))
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"


def existing_objects(client):
    """{(group_resource, namespace, name)} of every object the (fresh) target cluster holds already."""
    resources, _seconds = backed_up_resources(client)
    existing = set()
    for resource in resources:
        for page in client.list_pages(resource.list_path()):
            for obj in page.get("items") or ():
                existing.add((resource.group_resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]))
    return existing


def _collection_path(group_resource, api_version, namespace):
    plural = group_resource.split(".", 1)[0]
    prefix = "/api/%s" % api_version if "/" not in api_version else "/apis/%s" % api_version
    return "%s/namespaces/%s/%s" % (prefix, namespace, plural) if namespace else "%s/%s" % (prefix, plural)


def _creatable(group_resource, obj, existing):
    metadata = obj["metadata"]
    if group_resource in NOT_CREATED:
        return False
    if (group_resource, metadata.get("namespace"), metadata["name"]) in existing:
        return False
    if metadata.get("namespace") and (group_resource, metadata["name"]) in NAMESPACE_DEFAULTS:
        return False
    if group_resource == "secrets" and obj.get("type") == SERVICE_ACCOUNT_TOKEN:
        return False
    # Made again by their restored controller (ReplicaSets of Deployments, Pods of ReplicaSets, ...).
    return not any(reference.get("controller") for reference in metadata.get("ownerReferences") or ())


def _sanitized(group_resource, obj):
    for key in SERVER_SET_METADATA:
        obj["metadata"].pop(key, None)
    obj.pop("status", None)
    if group_resource == "services":
        spec = obj.get("spec") or {}
        if spec.get("clusterIP") != "None":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        for port in spec.get("ports") or ():
            port.pop("nodePort", None)
    return obj


def postable_objects(location, backup, existing):
    """[[(path, object)] of the CRDs, of the namespaces, of the rest]: what a restore of ``backup`` creates in the target.

    existing: the target's objects before the restore (existing_objects).
    """
    tiers = ([], [], [])
    with location.open_read(velero_format.file_names(backup)["contents"]) as stream:
        for item in ArchiveReader(stream):
            if not _creatable(item.group_resource, item.obj, existing):
                continue
            tier = 0 if item.group_resource == CRDS else 1 if item.group_resource == "namespaces" else 2
            tiers[tier].append((_collection_path(item.group_resource, item.obj["apiVersion"], item.namespace),
                                _sanitized(item.group_resource, item.obj)))
    return list(tiers)


def _post_all(client, pairs, parallelism):
    """POST every (path, object) of ``pairs`` with ``parallelism`` threads taking the next one as they finish; how many were created."""
    remaining = iter(pairs)
    lock = threading.Lock()
    created = []

    def worker():
        count = 0
        while True:
            with lock:
                pair = next(remaining, None)
            if pair is None:
                break
            client.request("POST", pair[0], body=pair[1])
            count += 1
        created.append(count)

    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        for future in [pool.submit(worker) for _thread in range(parallelism)]:
            future.result()
    return sum(created)


def raw_post(client, tiers, parallelism=PARALLELISM):
    """(objects created, seconds) for POSTing ``tiers`` in order, each tier ``parallelism`` POSTs at a time."""
    started = time.perf_counter()
    created = sum(_post_all(client, tier, parallelism) for tier in tiers)
    return created, time.perf_counter() - started

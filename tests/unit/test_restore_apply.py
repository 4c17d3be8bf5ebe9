# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ObjectApplier against the emulator: policies, ServiceAccount merge, status, check mode, parallelism, failures, conflicts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import time

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.discovery import discover
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ClusterAccessError, ConfigurationError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.apply import (
    Decision, ObjectApplier, strip_server_fields)
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.merge_patch import apply_merge_patch, merge_patch_between

NAMESPACE = "restore-test"
RESTORE_LABELS = {"velero.io/backup-name": "nightly", "velero.io/restore-name": "nightly-1"}


@pytest.fixture
def client(cluster):
    return KubeClient(retry_backoff=0.01, **connection_options({"kubeconfig": cluster.kubeconfig}))


@pytest.fixture
def resources(client):
    found, warnings = discover(client)
    assert warnings == []
    return dict((resource.group_resource, resource) for resource in found if resource.preferred)


@pytest.fixture
def namespace(client):
    client.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return NAMESPACE


def config_map(name, data, labels=None, namespace=NAMESPACE):
    metadata = {"name": name, "namespace": namespace, "labels": dict(RESTORE_LABELS, **(labels or {}))}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data)}


def live(client, path):
    return client.request("GET", path)


def config_map_path(name, namespace=NAMESPACE):
    return "/api/v1/namespaces/%s/configmaps/%s" % (namespace, name)


def seed(client, obj, path):
    return client.request("POST", path, body=obj)


# ------------------------------------------------------------------ merge patch helpers

def test_merge_patch_helpers():
    before = {"a": 1, "b": {"c": 2, "d": [1, 2]}, "e": "x"}
    after = apply_merge_patch(before, {"b": {"c": 3, "d": [3]}, "e": None, "f": {"g": True}})
    assert after == {"a": 1, "b": {"c": 3, "d": [3]}, "f": {"g": True}}
    patch = merge_patch_between(before, after)
    assert patch == {"b": {"c": 3, "d": [3]}, "e": None, "f": {"g": True}}
    assert apply_merge_patch(before, patch) == after
    assert merge_patch_between(after, after) == {}


def test_strip_server_fields_keeps_the_input():
    obj = {"metadata": {"name": "x", "uid": "u", "resourceVersion": "9", "managedFields": [], "labels": {"a": "b"}}, "status": {"p": 1}}
    assert strip_server_fields(obj) == {"metadata": {"name": "x", "labels": {"a": "b"}}}
    assert obj["metadata"]["uid"] == "u" and obj["status"] == {"p": 1}


def test_decision_reads_as_attributes():
    decision = Decision(action="create", name="x")
    assert decision.action == "create" and decision["name"] == "x" and decision.changed
    with pytest.raises(AttributeError):
        decision.missing  # pylint: disable=pointless-statement


def test_bad_policy_is_a_configuration_error(client):
    with pytest.raises(ConfigurationError, match="existing_resource_policy"):
        ObjectApplier(client, existing_resource_policy="overwrite")


# ------------------------------------------------------------------ policies, table-driven

# (state of the cluster, policy, expected action)
POLICY_TABLE = [
    ("absent", "none", "create"),
    ("absent", "update", "create"),
    ("absent", "recreate", "create"),
    ("identical", "none", "unchanged"),
    ("identical", "update", "unchanged"),
    ("identical", "recreate", "unchanged"),
    ("restore-labels-only", "none", "unchanged"),
    ("different", "none", "skip"),
    ("different", "update", "update"),
    ("different", "recreate", "recreate"),
]


@pytest.mark.parametrize("state, policy, expected", POLICY_TABLE)
def test_existing_resource_policy(client, resources, namespace, state, policy, expected):
    desired = config_map("settings", {"mode": "restored", "level": "3"}, labels={"app": "web"})
    path = config_map_path("settings")
    if state == "identical":
        seed(client, copy.deepcopy(desired), resources["configmaps"].list_path(namespace))
    elif state == "restore-labels-only":
        # Left by an earlier restore: only the restore's own labels differ.
        earlier = config_map("settings", desired["data"], labels={"app": "web", "velero.io/restore-name": "nightly-0"})
        seed(client, earlier, resources["configmaps"].list_path(namespace))
    elif state == "different":
        seed(client, config_map("settings", {"mode": "live", "extra": "kept"}, labels={"app": "other"}), resources["configmaps"].list_path(namespace))
    before = live(client, path) if state != "absent" else None

    decision = ObjectApplier(client, existing_resource_policy=policy).apply(resources["configmaps"], copy.deepcopy(desired), backup_uid="b-1")

    assert decision.action == expected, decision
    assert (decision.group_resource, decision.namespace, decision.name, decision.backup_uid) == ("configmaps", namespace, "settings", "b-1")
    after = live(client, path)
    assert decision.new_uid == after["metadata"]["uid"]
    if expected == "create":
        assert after["data"] == desired["data"] and after["metadata"]["labels"] == desired["metadata"]["labels"]
    if expected in ("unchanged", "skip"):
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after == before
    if expected == "skip":
        assert "already exists" in decision.reason and "existing_resource_policy" in decision.reason
    if expected == "update":
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["data"]["mode"] == "restored" and after["data"]["level"] == "3"
        assert "extra" not in after["data"]  # the backed-up state: a key added since the backup goes
        assert after["metadata"]["labels"] == desired["metadata"]["labels"]
    if expected == "recreate":
        assert after["metadata"]["uid"] != before["metadata"]["uid"]
        assert after["data"] == desired["data"]  # the old object, with its extra key, is gone
    if expected != "skip":
        assert decision.reason is None


@pytest.mark.parametrize("group_resource, path, obj, seed_path", [
    ("namespaces", "/api/v1/namespaces/keep-me",
     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "keep-me", "labels": {"team": "backup"}}}, "/api/v1/namespaces"),
    ("persistentvolumeclaims", "/api/v1/namespaces/%s/persistentvolumeclaims/data" % NAMESPACE,
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NAMESPACE, "labels": {"team": "backup"}},
      "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "none", "resources": {"requests": {"storage": "1Gi"}}}},
     "/api/v1/namespaces/%s/persistentvolumeclaims" % NAMESPACE),
    ("persistentvolumes", "/api/v1/persistentvolumes/disk-1",
     {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "disk-1", "labels": {"team": "backup"}},
      "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}, "storageClassName": "none"}},
     "/api/v1/persistentvolumes"),
])
def test_recreate_is_refused_where_deleting_loses_data(cluster, client, resources, namespace, group_resource, path, obj, seed_path):
    cluster.control.configure(controllers=False)
    existing = copy.deepcopy(obj)
    existing["metadata"]["labels"] = {"team": "live"}
    seed(client, existing, seed_path)
    before = live(client, path)

    decision = ObjectApplier(client, existing_resource_policy="recreate").apply(resources[group_resource], copy.deepcopy(obj))

    assert decision.action == "skip"
    assert "never recreated" in decision.reason
    after = live(client, path)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.parametrize("policy", ["none", "update"])
def test_service_account_secrets_are_merged_even_under_none(client, resources, namespace, policy):
    path = "/api/v1/namespaces/%s/serviceaccounts/builder" % namespace
    seed(client, {"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": "builder", "namespace": namespace, "labels": {"team": "live"}},
                  "secrets": [{"name": "builder-token-live"}], "imagePullSecrets": [{"name": "pull-live"}]},
         resources["serviceaccounts"].list_path(namespace))
    desired = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "builder", "namespace": namespace, "labels": {"team": "backup", "tier": "ci"}},
               "secrets": [{"name": "builder-token-live"}, {"name": "registry-creds"}],
               "imagePullSecrets": [{"name": "pull-backup"}]}

    decision = ObjectApplier(client, existing_resource_policy=policy).apply(resources["serviceaccounts"], desired)

    assert decision.action == "update", decision
    account = live(client, path)
    assert [item["name"] for item in account["secrets"]] == ["builder-token-live", "registry-creds"]
    assert [item["name"] for item in account["imagePullSecrets"]] == ["pull-live", "pull-backup"]
    # none: Velero's merge keeps the cluster's label values; update: the backup's win.
    assert account["metadata"]["labels"]["team"] == ("live" if policy == "none" else "backup")
    assert account["metadata"]["labels"]["tier"] == "ci"
    # A second run finds nothing left to merge.
    again = ObjectApplier(client, existing_resource_policy=policy).apply(resources["serviceaccounts"], desired)
    assert again.action in ("skip", "unchanged") and live(client, path)["metadata"]["resourceVersion"] == account["metadata"]["resourceVersion"]


# ------------------------------------------------------------------ status

def deployment(name, namespace=NAMESPACE, replicas=2, status=None):
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}
    if status is not None:
        obj["status"] = status
    return obj


@pytest.mark.parametrize("restore_status", [True, False])
def test_status_is_restored_through_the_status_subresource_when_asked(cluster, client, resources, namespace, restore_status):
    cluster.control.configure(controllers=False)
    status = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2}
    cluster.control.clear_audit()

    decision = ObjectApplier(client).apply(resources["deployments.apps"], deployment("web", status=status), restore_status=restore_status)

    assert decision.action == "create" and decision.reason is None
    obj = live(client, "/apis/apps/v1/namespaces/%s/deployments/web" % namespace)
    status_writes = [record for record in cluster.control.audit() if record["path"].split("?")[0].endswith("/web/status")]
    if restore_status:
        assert obj["status"] == status
        assert [(record["method"], record["code"]) for record in status_writes] == [("PUT", 200)]
    else:
        assert not obj.get("status") and not status_writes


def test_status_restore_is_ignored_where_there_is_no_status_subresource(client, resources, namespace):
    obj = config_map("plain", {"a": "b"})
    obj["status"] = {"phase": "whatever"}
    decision = ObjectApplier(client).apply(resources["configmaps"], obj, restore_status=True)
    assert decision.action == "create" and decision.reason is None


# ------------------------------------------------------------------ check mode

def test_check_mode_decides_with_a_diff_and_writes_nothing(cluster, client, resources, namespace):
    path = resources["configmaps"].list_path(namespace)
    seed(client, config_map("same", {"k": "v"}), path)
    seed(client, config_map("changed", {"k": "old", "other": "x"}), path)
    seed(client, config_map("kept", {"k": "old"}), path)
    seed(client, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci", "namespace": namespace},
                  "secrets": [{"name": "a"}]}, resources["serviceaccounts"].list_path(namespace))
    snapshot = cluster.control.dump()
    cluster.control.clear_audit()

    updater = ObjectApplier(client, existing_resource_policy="update", check_mode=True, want_diff=True)
    created, same, changed = updater.apply_many([
        (resources["configmaps"], config_map("new", {"k": "v"}), "u1"),
        (resources["configmaps"], config_map("same", {"k": "v"}), "u2"),
        (resources["configmaps"], config_map("changed", {"k": "new"}), "u3"),
    ])
    keeper = ObjectApplier(client, existing_resource_policy="none", check_mode=True, want_diff=True)
    kept = keeper.apply(resources["configmaps"], config_map("kept", {"k": "new"}))
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci", "namespace": namespace}, "secrets": [{"name": "b"}]}
    merged = keeper.apply(resources["serviceaccounts"], account)
    recreated = ObjectApplier(client, existing_resource_policy="recreate", check_mode=True, want_diff=True).apply(
        resources["configmaps"], config_map("kept", {"k": "new"}))

    verbs = set(record["verb"] for record in cluster.control.audit())
    assert verbs <= {"get", "list"}, verbs
    assert cluster.control.dump() == snapshot

    assert created.action == "create" and created.new_uid is None
    assert created.diff["before"] is None and created.diff["after"] == config_map("new", {"k": "v"})
    assert same.action == "unchanged" and same.diff["before"] == same.diff["after"]
    assert same.diff["after"]["data"] == {"k": "v"} and "uid" not in same.diff["after"]["metadata"]
    assert changed.action == "update"
    assert changed.diff["before"]["data"] == {"k": "old", "other": "x"}
    assert changed.diff["after"]["data"] == {"k": "new"}
    assert "resourceVersion" not in changed.diff["before"]["metadata"]
    assert kept.action == "skip" and "already exists" in kept.reason and kept.diff["before"] == kept.diff["after"]
    assert merged.action == "update" and [item["name"] for item in merged.diff["after"]["secrets"]] == ["a", "b"]
    assert recreated.action == "recreate" and recreated.diff["after"]["data"] == {"k": "new"}


def test_no_diff_unless_asked(client, resources, namespace):
    decision = ObjectApplier(client, check_mode=True).apply(resources["configmaps"], config_map("quiet", {"a": "b"}))
    assert decision.action == "create" and "diff" not in decision


# ------------------------------------------------------------------ parallelism

def timed_apply(client, resources, namespace, parallelism, count):
    client.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    pairs = [(resources["configmaps"], config_map("cm-%03d" % index, {"index": str(index)}, namespace=namespace), None) for index in range(count)]
    started = time.monotonic()
    decisions = ObjectApplier(client, parallelism=parallelism).apply_many(pairs)
    return decisions, time.monotonic() - started


def test_parallel_apply_of_200_config_maps(cluster, client, resources):
    # A few milliseconds per create, as a real API server takes; it is what parallelism hides.
    cluster.control.add_fault(action="latency", seconds=0.005, verbs=["create"], resources=["configmaps"])
    sequential, sequential_seconds = timed_apply(client, resources, "serial", 1, 200)
    parallel, parallel_seconds = timed_apply(client, resources, "parallel", 16, 200)

    for decisions, namespace in ((sequential, "serial"), (parallel, "parallel")):
        assert [decision.action for decision in decisions] == ["create"] * 200
        assert [decision.name for decision in decisions] == ["cm-%03d" % index for index in range(200)]
        names = set(item["metadata"]["name"] for item in client.request("GET", "/api/v1/namespaces/%s/configmaps" % namespace)["items"])
        assert set("cm-%03d" % index for index in range(200)) <= names
    print("200 ConfigMaps: sequential %.2f s, parallel(16) %.2f s, speed-up %.1fx"
          % (sequential_seconds, parallel_seconds, sequential_seconds / parallel_seconds))


def test_a_lost_connection_stops_the_stream_at_its_object_and_nothing_further_is_written(cluster, resources, namespace):
    # Without retries the dropped create is an error of the run (not a failed object): raised at that object's turn.
    client = KubeClient(max_retries=0, **connection_options({"kubeconfig": cluster.kubeconfig}))
    close_each_connection(client)
    cluster.control.add_fault(action="drop", verbs=["create"], resources=["configmaps"], after=10, count=1)
    pairs = [(resources["configmaps"], config_map("cm-%03d" % index, {"index": str(index)}), None) for index in range(200)]
    yielded = []
    with pytest.raises(ClusterAccessError, match="lost the connection"):
        for _pair, decision in ObjectApplier(client, parallelism=4).apply_stream(iter(pairs)):
            yielded.append(decision)
    assert [decision.name for decision in yielded] == ["cm-%03d" % index for index in range(len(yielded))]
    assert all(decision.action == "create" for decision in yielded)
    creates = [record for record in cluster.control.audit() if record["verb"] == "create" and record["resource"] == "configmaps"]
    written = set(item["metadata"]["name"] for item in client.request("GET", "/api/v1/namespaces/%s/configmaps" % namespace)["items"])
    written.discard("kube-root-ca.crt")
    # Only objects already handed to a thread when the error came back (16 in flight at most) were sent after it;
    # the stream's threads are gone once it raised, so no request arrives later.
    window = 4 * 4
    assert written <= set("cm-%03d" % index for index in range(len(yielded) + window))
    assert len([record for record in creates if record["code"] == 201]) == len(written) and len(creates) < 200


# ------------------------------------------------------------------ failures and retries

def test_failures_are_collected_per_object(client, resources, namespace):
    taken = seed(client, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "first", "namespace": namespace},
                          "spec": {"ports": [{"port": 80}], "selector": {"app": "a"}}}, resources["services"].list_path(namespace))
    clashing = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "second", "namespace": namespace},
                "spec": {"clusterIP": taken["spec"]["clusterIP"], "ports": [{"port": 80}], "selector": {"app": "b"}}}
    orphan = config_map("lonely", {"a": "b"}, namespace="no-such-namespace")

    decisions = ObjectApplier(client, parallelism=4).apply_many([
        (resources["services"], clashing, None),
        (resources["configmaps"], orphan, None),
        (resources["configmaps"], config_map("fine", {"a": "b"}), None),
    ])

    service, lonely, fine = decisions
    assert service.action == "failed" and service.new_uid is None
    assert service.reason.startswith("422 Invalid: ") and taken["spec"]["clusterIP"] in service.reason
    assert lonely.action == "failed" and "namespace no-such-namespace does not exist" in lonely.reason
    assert fine.action == "create"
    assert live(client, config_map_path("fine"))["data"] == {"a": "b"}


def test_missing_name_or_namespace_fails_without_a_request(cluster, client, resources):
    cluster.control.clear_audit()
    nameless = ObjectApplier(client).apply(resources["configmaps"], {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "x"}})
    homeless = ObjectApplier(client).apply(resources["configmaps"], {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert nameless.action == homeless.action == "failed"
    assert "metadata.name" in nameless.reason and "metadata.namespace" in homeless.reason
    assert cluster.control.audit() == []


def test_unserved_resource_fails_with_a_hint(client, resources, namespace):
    widgets = resources["configmaps"].__class__(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True)
    decision = ObjectApplier(client).apply(widgets, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": namespace}})
    assert decision.action == "failed" and "not served" in decision.reason


def close_each_connection(client):
    """Work around the emulator: an injected fault answers without reading the request body, and on a
    kept-alive connection that body then reads as the next request (501). A fresh connection per request avoids it."""
    client._base_headers["Connection"] = "close"  # pylint: disable=protected-access


def test_conflicts_are_retried(cluster, client, resources, namespace):
    close_each_connection(client)
    seed(client, config_map("busy", {"k": "old"}), resources["configmaps"].list_path(namespace))
    cluster.control.add_fault(action="status", status=409, verbs=["patch"], resources=["configmaps"], count=2)
    cluster.control.clear_audit()

    decision = ObjectApplier(client, existing_resource_policy="update").apply(resources["configmaps"], config_map("busy", {"k": "new"}))

    assert decision.action == "update", decision
    assert live(client, config_map_path("busy"))["data"] == {"k": "new"}
    patches = [record["code"] for record in cluster.control.audit() if record["verb"] == "patch"]
    assert patches == [409, 409, 200]


def test_endless_conflicts_fail_the_object(cluster, client, resources, namespace):
    close_each_connection(client)
    seed(client, config_map("hot", {"k": "old"}), resources["configmaps"].list_path(namespace))
    cluster.control.add_fault(action="status", status=409, verbs=["patch"], resources=["configmaps"])
    decision = ObjectApplier(client, existing_resource_policy="update").apply(resources["configmaps"], config_map("hot", {"k": "new"}))
    assert decision.action == "failed" and "409" in decision.reason
    assert live(client, config_map_path("hot"))["data"] == {"k": "old"}


def test_stale_read_is_a_real_conflict(client, resources, namespace):
    """The resourceVersion sent with the patch makes a concurrent change a 409, which a fresh read resolves."""
    path = config_map_path("raced")
    seed(client, config_map("raced", {"k": "old"}), resources["configmaps"].list_path(namespace))
    applier = ObjectApplier(client, existing_resource_policy="update")
    stale = live(client, path)
    client.request("PATCH", path, body={"data": {"other": "writer"}}, content_type="application/merge-patch+json")
    decision = Decision(action=None, group_resource="configmaps", namespace=namespace, name="raced", reason=None, new_uid=None, backup_uid=None)
    applier._decide_existing(decision, resources["configmaps"], config_map("raced", {"k": "new"}), stale)  # pylint: disable=protected-access
    assert decision.action == "update"
    # Decided again on the fresh read: the key the other writer added is gone too (a patch from the stale read keeps it).
    assert live(client, path)["data"] == {"k": "new"}


def test_nothing_is_deleted_except_under_recreate(cluster, client, resources, namespace):
    seed(client, config_map("stay", {"k": "old"}), resources["configmaps"].list_path(namespace))
    cluster.control.clear_audit()
    for policy in ("none", "update"):
        ObjectApplier(client, existing_resource_policy=policy).apply(resources["configmaps"], config_map("stay", {"k": policy}))
    assert not [record for record in cluster.control.audit() if record["verb"] in ("delete", "deletecollection")]


# ------------------------------------------------------------------ check mode predicts what the server refuses

@pytest.mark.parametrize("group_resource, name, refused", [
    ("configmaps", "Bad_Name", True),
    ("configmaps", "web.config-1", False),
    ("configmaps", "-web", True),
    ("configmaps", "a" * 254, True),
    ("services", "web.v2", True),  # a label: no dots
    ("services", "web-v2", False),
    ("namespaces", "shop.eu", True),
    ("namespaces", "n" * 64, True),
    ("clusterroles.rbac.authorization.k8s.io", "system:Reader", False),  # a path segment: ':' and capitals allowed
    ("clusterroles.rbac.authorization.k8s.io", "a/b", True),
])
def test_check_mode_predicts_the_names_the_server_refuses(cluster, client, resources, namespace, group_resource, name, refused):
    resource = resources[group_resource]
    obj = {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": {"name": name}}
    if resource.namespaced:
        obj["metadata"]["namespace"] = namespace
    if group_resource == "services":
        obj["spec"] = {"ports": [{"port": 80}]}
    cluster.control.clear_audit()
    predicted = ObjectApplier(client, check_mode=True).apply(resource, obj)
    assert {r["verb"] for r in cluster.control.audit()} <= {"get", "list"}
    assert (predicted.action == "failed") is refused, predicted
    if refused:
        assert "metadata.name" in predicted.reason and "predicted by check mode" in predicted.reason
    # The prediction is what the API server does.
    written = ObjectApplier(client).apply(resource, obj)
    assert (written.action == "failed") is refused, written

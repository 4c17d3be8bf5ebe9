# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Velero's backup and restore hooks: which hooks a pod gets, how they run in the emulator, on_error and waits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
import time

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.hooks.pod_hooks import (
    BACKUP_HOOKS_SPEC,
    RESTORE_HOOKS_SPEC,
    add_restore_init_containers,
    backup_hooks_for_pod,
    backup_hooks_to_velero,
    prepare_backup_hooks,
    prepare_restore_hooks,
    restore_post_hooks_for_pod,
    run_hooks,
    run_restore_post_hooks,
)
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options

NAMESPACE = "shop"


def pod_manifest(name, namespace=NAMESPACE, containers=("app",), labels=None, annotations=None, node_selector=None, init_containers=None):
    spec = {"containers": [{"name": container, "image": "busybox:1.36"} for container in containers]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if init_containers:
        spec["initContainers"] = init_containers
    metadata = {"name": name, "namespace": namespace, "labels": dict(labels or {}), "annotations": dict(annotations or {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def create(client, pod):
    return client.request("POST", "/api/v1/namespaces/%s/pods" % pod["metadata"]["namespace"], body=pod)


def wait_phase(client, pod, phase="Running", timeout=10):
    path = "/api/v1/namespaces/%s/pods/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = client.request("GET", path)
        if (current.get("status") or {}).get("phase") == phase:
            return current
        time.sleep(0.05)
    raise AssertionError("pod %s never reached %s" % (pod["metadata"]["name"], phase))


def running_pod(client, *args, **kwargs):
    return wait_phase(client, create(client, pod_manifest(*args, **kwargs)))


def executed(cluster):
    return [(record["pod"], record["container"], record["command"]) for record in cluster.control.exec_log()]


@pytest.fixture
def client(cluster):
    client = KubeClient(retry_backoff=0.01, **connection_options({"kubeconfig": cluster.kubeconfig}))
    for namespace in (NAMESPACE, "shop-staging", "billing"):
        client.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return client


# ------------------------------------------------------------------ which hooks a pod gets

def test_annotation_command_json_array_or_plain_string():
    as_array = pod_manifest("db", annotations={"pre.hook.backup.velero.io/command": '["/bin/sh", "-c", "fsfreeze --freeze /data"]'})
    as_string = pod_manifest("db", annotations={"post.hook.backup.velero.io/command": "/sbin/unfreeze"})

    (pre,) = backup_hooks_for_pod(as_array, [], "pre")
    (post,) = backup_hooks_for_pod(as_string, [], "post")

    assert pre.command == ["/bin/sh", "-c", "fsfreeze --freeze /data"] and pre.problem is None
    assert (pre.phase, pre.source, pre.container, pre.on_error, pre.timeout) == ("pre", "annotation", "app", "Fail", 30.0)
    assert post.command == ["/sbin/unfreeze"] and post.phase == "post"
    assert backup_hooks_for_pod(as_array, [], "post") == [] and backup_hooks_for_pod(as_string, [], "pre") == []


@pytest.mark.parametrize("value, expected", [
    ('["/bin/sh", "-c", "sync"', "annotation pre.hook.backup.velero.io/command is not a valid JSON array"),
    ('["/bin/sh", 1]', "annotation pre.hook.backup.velero.io/command must be a non-empty JSON array of strings"),
    ("[]", "annotation pre.hook.backup.velero.io/command must be a non-empty JSON array of strings"),
])
def test_bad_json_command_annotation_is_a_clear_hook_failure(cluster, client, value, expected):
    pod = running_pod(client, "db", annotations={"pre.hook.backup.velero.io/command": value})

    hooks = backup_hooks_for_pod(pod, [], "pre")
    run = run_hooks(client, pod, hooks)

    assert expected in hooks[0].problem
    (result,) = run.results
    assert result["status"] == "failed" and expected in result["error"] and result["exit_code"] is None
    assert run.fatal is True and expected in run.errors[0]
    assert executed(cluster) == []


def test_annotation_container_on_error_timeout_and_ignored_values():
    pod = pod_manifest("db", containers=("postgres", "metrics"), annotations={
        "pre.hook.backup.velero.io/command": '["psql", "-c", "CHECKPOINT"]',
        "pre.hook.backup.velero.io/container": "metrics",
        "pre.hook.backup.velero.io/on-error": "Continue",
        "pre.hook.backup.velero.io/timeout": "1m30s",
        "post.hook.backup.velero.io/command": "true",
        "post.hook.backup.velero.io/on-error": "continue",
        "post.hook.backup.velero.io/timeout": "soon",
    })

    (pre,) = backup_hooks_for_pod(pod, [], "pre")
    (post,) = backup_hooks_for_pod(pod, [], "post")

    assert (pre.container, pre.on_error, pre.timeout, pre.warnings) == ("metrics", "Continue", 90.0, [])
    # Velero ignores values it cannot read and uses its defaults; we say so in a warning.
    assert (post.container, post.on_error, post.timeout) == ("postgres", "Fail", 30.0)
    assert any("on-error" in warning and "'continue'" in warning for warning in post.warnings)
    assert any("timeout" in warning and "soon" in warning for warning in post.warnings)


def test_legacy_annotations_without_phase_are_pre_hooks():
    pod = pod_manifest("db", annotations={"hook.backup.velero.io/command": '["sync"]', "hook.backup.velero.io/timeout": "5s"})

    (pre,) = backup_hooks_for_pod(pod, [], "pre")

    assert (pre.command, pre.timeout, pre.source) == (["sync"], 5.0, "annotation")
    assert backup_hooks_for_pod(pod, [], "post") == []


OPTION_HOOKS = [
    {"name": "freeze-db", "included_namespaces": ["shop*"], "excluded_namespaces": ["shop-staging"], "label_selector": "app=db",
     "pre": [{"command": ["fsfreeze", "--freeze", "/data"], "timeout": "10s"}, {"command": "sync", "container": "sidecar", "on_error": "Continue"}],
     "post": [{"command": ["fsfreeze", "--unfreeze", "/data"]}]},
    {"name": "all-billing", "included_namespaces": ["billing"], "label_selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["api"]}]},
     "pre": [{"command": ["flush"]}]},
]


def test_option_hooks_select_pods_by_namespace_globs_and_labels():
    selected = pod_manifest("db-0", labels={"app": "db"}, containers=("postgres", "sidecar"))
    hooks = backup_hooks_for_pod(selected, OPTION_HOOKS, "pre")

    assert [(hook.source, hook.container, hook.command, hook.on_error, hook.timeout) for hook in hooks] == [
        ("hooks[freeze-db]", "postgres", ["fsfreeze", "--freeze", "/data"], "Fail", 10.0),
        ("hooks[freeze-db]", "sidecar", ["sync"], "Continue", 30.0),
    ]
    assert [hook.command for hook in backup_hooks_for_pod(selected, OPTION_HOOKS, "post")] == [["fsfreeze", "--unfreeze", "/data"]]
    assert backup_hooks_for_pod(pod_manifest("db-0", namespace="shop-staging", labels={"app": "db"}), OPTION_HOOKS, "pre") == []
    assert backup_hooks_for_pod(pod_manifest("web-0", labels={"app": "web"}), OPTION_HOOKS, "pre") == []
    assert [hook.source for hook in backup_hooks_for_pod(pod_manifest("api-0", namespace="billing", labels={"tier": "api"}),
                                                         OPTION_HOOKS, "pre")] == ["hooks[all-billing]"]
    assert backup_hooks_for_pod(pod_manifest("api-0", namespace="billing", labels={"tier": "web"}), OPTION_HOOKS, "pre") == []


def test_annotation_beats_option_hooks():
    pod = pod_manifest("db-0", labels={"app": "db"}, annotations={"pre.hook.backup.velero.io/command": "pg_start_backup"})

    assert [(hook.source, hook.command) for hook in backup_hooks_for_pod(pod, OPTION_HOOKS, "pre")] == [("annotation", ["pg_start_backup"])]
    # Only the phase with an annotation: post still comes from the option.
    assert [hook.source for hook in backup_hooks_for_pod(pod, OPTION_HOOKS, "post")] == ["hooks[freeze-db]"]


@pytest.mark.parametrize("hooks, message", [
    ([{"pre": [{"command": "x"}]}], "hooks[0].name is required"),
    ([{"name": "a", "pre": [{}]}], "hooks[0] (a).pre[0].command must be a non-empty list of strings"),
    ([{"name": "a", "pre": [{"command": "x", "on_error": "Ignore"}]}], "hooks[0] (a).pre[0].on_error must be Fail or Continue"),
    ([{"name": "a", "post": [{"command": "x", "timeout": "ten seconds"}]}], "hooks[0] (a).post[0].timeout 'ten seconds' is not a duration"),
    ([{"name": "a", "post": [{"command": "x", "timeout": 0}]}], "hooks[0] (a).post[0].timeout must be a positive duration"),
    ([{"name": "a", "label_selector": "app in (a", "pre": []}], "hooks[0] (a).label_selector 'app in (a' is not a label selector"),
    ([{"name": "a", "pre": [{"command": "x", "exec": {}}]}], "hooks[0] (a).pre[0]: unknown key(s) exec"),
])
def test_bad_hook_options_are_refused_up_front(hooks, message):
    with pytest.raises(ConfigurationError) as caught:
        prepare_backup_hooks(hooks)
    assert message in str(caught.value)


def validate(spec, hooks):
    """What AnsibleModule makes of ``hooks`` with the modules' ``hooks=dict(type=list, elements=dict, options=spec)``."""
    return ArgumentSpecValidator({"hooks": dict(type="list", elements="dict", options=spec)}).validate({"hooks": hooks})


def test_argument_specs_are_valid_ansible_specs_and_feed_the_engine():
    backup = validate(BACKUP_HOOKS_SPEC, [{"name": "a", "pre": [{"command": ["sync"]}], "post": [{"command": "x", "timeout": 45}]}])
    restore = validate(RESTORE_HOOKS_SPEC, [{"name": "r", "post": [
        {"exec": {"command": "true", "wait_for_ready": "yes", "exec_timeout": 90}},
        {"init": {"init_containers": [{"name": "i", "image": "busybox", "command": ["true"]}]}}]}])
    both = validate(RESTORE_HOOKS_SPEC, [{"name": "r", "post": [{"exec": {"command": "true"}, "init": {"init_containers": []}}]}])

    assert backup.error_messages == [] and restore.error_messages == []
    assert backup.validated_parameters["hooks"][0]["pre"][0] == {"command": ["sync"], "container": None, "on_error": "Fail", "timeout": "30s"}
    assert any("mutually exclusive" in message for message in both.error_messages)
    (prepared,) = prepare_backup_hooks(backup.validated_parameters["hooks"])
    assert (prepared.pre[0].timeout, prepared.post[0].timeout) == (30.0, 45.0) and prepared.selector.matches("anything", {})
    (prepared,) = prepare_restore_hooks(restore.validated_parameters["hooks"])
    assert [container["name"] for container in prepared.init_containers] == ["i"]
    (template,) = prepared.execs
    assert (template.on_error, template.timeout, template.wait_timeout, template.wait_for_ready, template.source) == (
        "Continue", 90.0, None, True, "hooks[r]")
    with pytest.raises(ConfigurationError, match=r"hooks\[0\] \(r\).post\[0\].exec: unknown key\(s\) timeout"):
        prepare_restore_hooks([{"name": "r", "post": [{"exec": {"command": "true", "timeout": "1m"}}]}])


def test_velero_backup_spec_hooks():
    assert backup_hooks_to_velero(OPTION_HOOKS[:1]) == {"resources": [{
        "name": "freeze-db", "includedNamespaces": ["shop*"], "excludedNamespaces": ["shop-staging"], "includedResources": ["pods"],
        "labelSelector": {"matchLabels": {"app": "db"}},
        "pre": [{"exec": {"container": "", "command": ["fsfreeze", "--freeze", "/data"], "onError": "Fail", "timeout": "10s"}},
                {"exec": {"container": "sidecar", "command": ["sync"], "onError": "Continue", "timeout": "30s"}}],
        "post": [{"exec": {"container": "", "command": ["fsfreeze", "--unfreeze", "/data"], "onError": "Fail", "timeout": "30s"}}]}]}
    assert backup_hooks_to_velero([]) == {}


# ------------------------------------------------------------------ running backup hooks

def test_hooks_run_in_order_with_outputs_and_exit_codes(cluster, client):
    pod = running_pod(client, "db-0", labels={"app": "db"}, containers=("postgres", "sidecar"))
    cluster.control.add_exec_script(command=["fsfreeze", "--freeze", "/data"], stdout="frozen\n")
    cluster.control.add_exec_script(command=["sync"], stderr="sync: busy\n", exit_code=2)

    run = run_hooks(client, pod, backup_hooks_for_pod(pod, OPTION_HOOKS, "pre"))

    assert [(result["container"], result["status"], result["exit_code"], result["stdout"], result["stderr"]) for result in run.results] == [
        ("postgres", "succeeded", 0, "frozen\n", ""), ("sidecar", "failed", 2, "", "sync: busy\n")]
    first, second = run.results
    assert first["namespace"] == NAMESPACE and first["pod"] == "db-0" and first["phase"] == "pre" and first["source"] == "hooks[freeze-db]"
    assert first["error"] is None and first["duration_seconds"] >= 0
    assert second["on_error"] == "Continue" and second["error"] == "command exited with code 2"
    # Continue: a warning, and the run goes on.
    assert run.fatal is False and run.errors == [] and run.skipped == []
    assert run.warnings == ["pre hook (hooks[freeze-db]) in pod shop/db-0 container sidecar: command exited with code 2"]
    assert (run.attempted, run.failed) == (2, 1)
    assert executed(cluster) == [("db-0", "postgres", ["fsfreeze", "--freeze", "/data"]), ("db-0", "sidecar", ["sync"])]


def test_fail_stops_the_remaining_hooks(cluster, client):
    pod = running_pod(client, "db-0", labels={"app": "db"}, containers=("postgres", "sidecar"))
    cluster.control.add_exec_script(command=["fsfreeze", "--freeze", "/data"], stderr="fsfreeze: not supported\n", exit_code=1)

    run = run_hooks(client, pod, backup_hooks_for_pod(pod, OPTION_HOOKS, "pre"))

    assert run.fatal is True
    assert [result["status"] for result in run.results] == ["failed"]
    assert [(result["command"], result["status"]) for result in run.skipped] == [(["sync"], "skipped")]
    assert run.errors == ["pre hook (hooks[freeze-db]) in pod shop/db-0 container postgres: command exited with code 1"]
    assert executed(cluster) == [("db-0", "postgres", ["fsfreeze", "--freeze", "/data"])]


def test_timed_out_hook(cluster, client):
    pod = running_pod(client, "db", annotations={"pre.hook.backup.velero.io/command": '["pg_start_backup"]',
                                                 "pre.hook.backup.velero.io/timeout": "1s"})
    cluster.control.add_exec_script(command=["pg_start_backup"], delay_seconds=120)

    started = time.monotonic()
    run = run_hooks(client, pod, backup_hooks_for_pod(pod, [], "pre"))

    # Far under the script's 120 s: the 1 s timeout ended the wait (with room for a loaded machine).
    assert time.monotonic() - started < 60
    (result,) = run.results
    assert result["status"] == "timed_out" and result["exit_code"] is None and result["error"] == "timed out after 1s"
    assert run.fatal is True


@pytest.mark.parametrize("on_error, fatal", [("Fail", True), ("Continue", False)])
def test_pod_not_running_fails_its_hooks(cluster, client, on_error, fatal):
    pod = create(client, pod_manifest("pending", node_selector={"zone": "nowhere"}, annotations={
        "pre.hook.backup.velero.io/command": "sync", "pre.hook.backup.velero.io/on-error": on_error}))

    run = run_hooks(client, pod, backup_hooks_for_pod(pod, [], "pre"))

    (result,) = run.results
    assert result["status"] == "failed" and "pod shop/pending is not running (phase Pending" in result["error"]
    assert run.fatal is fatal
    assert len(run.errors if fatal else run.warnings) == 1
    assert executed(cluster) == []


# ------------------------------------------------------------------ restore: init containers

RESTORE_HOOKS = [
    {"name": "seed", "included_namespaces": ["shop"], "label_selector": "app=db",
     "post": [{"init": {"init_containers": [{"name": "restore-a", "image": "alpine", "command": ["/bin/ash", "-c", "a"]},
                                            {"name": "restore-b", "image": "alpine", "command": "b"}]}},
              {"exec": {"command": ["psql", "-f", "/backup/dump.sql"], "exec_timeout": "2m", "wait_timeout": "5m", "on_error": "Fail"}}]},
    {"name": "more", "post": [{"init": {"init_containers": [{"name": "restore-c", "image": "alpine", "command": ["c"]}]}},
                              {"exec": {"container": "sidecar", "command": "date", "wait_for_ready": True}}]},
]


def test_init_containers_from_options_go_first_in_order():
    pod = pod_manifest("db-0", labels={"app": "db"}, init_containers=[
        {"name": "restore-wait", "image": "velero/velero-restore-helper"}, {"name": "migrate", "image": "app"}])

    restored = add_restore_init_containers(pod, RESTORE_HOOKS)

    assert [container["name"] for container in restored["spec"]["initContainers"]] == [
        "restore-wait", "restore-a", "restore-b", "restore-c", "migrate"]
    assert restored["spec"]["initContainers"][2]["command"] == ["b"]
    assert [container["name"] for container in pod["spec"]["initContainers"]] == ["restore-wait", "migrate"], "the input is not changed"


def test_init_container_selection_uses_the_target_namespace():
    pod = pod_manifest("db-0", labels={"app": "db"})

    assert [container["name"] for container in add_restore_init_containers(pod, RESTORE_HOOKS, namespace="shop-dr")["spec"]["initContainers"]] == [
        "restore-c"]
    assert "initContainers" not in add_restore_init_containers(pod_manifest("x"), [])["spec"]


def test_init_container_annotations_win_over_options():
    pod = pod_manifest("db-0", labels={"app": "db"}, annotations={
        "init.hook.restore.velero.io/container-image": "alpine:3.19",
        "init.hook.restore.velero.io/container-name": "fix-perms",
        "init.hook.restore.velero.io/command": '["/bin/ash", "-c", "chown -R 999 /data"]'})
    unnamed = pod_manifest("db-1", annotations={"init.hook.restore.velero.io/container-image": "alpine:3.19"})

    (added,) = add_restore_init_containers(pod, RESTORE_HOOKS)["spec"]["initContainers"]
    (generated,) = add_restore_init_containers(unnamed, [])["spec"]["initContainers"]

    assert added == {"name": "fix-perms", "image": "alpine:3.19", "command": ["/bin/ash", "-c", "chown -R 999 /data"]}
    assert generated["name"].startswith("velero-restore-init-") and len(generated["name"]) == len("velero-restore-init-") + 8
    assert "command" not in generated  # the image's entrypoint runs


def test_bad_init_hooks():
    bad_annotation = pod_manifest("db", annotations={"init.hook.restore.velero.io/container-image": "alpine",
                                                     "init.hook.restore.velero.io/command": "[\"/bin/ash\", "})
    with pytest.raises(KubesafeError, match="pod shop/db: annotation init.hook.restore.velero.io/command is not a valid JSON array"):
        add_restore_init_containers(bad_annotation, [])
    with pytest.raises(ConfigurationError, match=r"hooks\[0\] \(r\).post\[0\].init.init_containers\[0\] needs image, command"):
        prepare_restore_hooks([{"name": "r", "post": [{"init": {"init_containers": [{"name": "x"}]}}]}])
    with pytest.raises(ConfigurationError, match=r"hooks\[0\] \(r\).post\[0\] must have exactly one of exec or init"):
        prepare_restore_hooks([{"name": "r", "post": [{}]}])


# ------------------------------------------------------------------ restore: exec hooks

def test_restore_exec_hooks_from_annotations_and_options():
    annotated = pod_manifest("db-0", labels={"app": "db"}, containers=("postgres", "sidecar"), annotations={
        "post.hook.restore.velero.io/command": '["psql", "-f", "/backup/dump.sql"]',
        "post.hook.restore.velero.io/wait-timeout": "2m", "post.hook.restore.velero.io/wait-for-ready": "true"})
    from_options = pod_manifest("db-1", labels={"app": "db"}, containers=("postgres", "sidecar"))

    (hook,) = restore_post_hooks_for_pod(annotated, RESTORE_HOOKS)
    hooks = restore_post_hooks_for_pod(from_options, RESTORE_HOOKS)

    assert (hook.source, hook.container, hook.on_error, hook.timeout, hook.wait_timeout, hook.wait_for_ready, hook.phase) == (
        "annotation", "postgres", "Continue", 30.0, 120.0, True, "restore")
    assert [(hook.source, hook.container, hook.command, hook.on_error, hook.timeout, hook.wait_timeout, hook.wait_for_ready) for hook in hooks] == [
        ("hooks[seed]", "postgres", ["psql", "-f", "/backup/dump.sql"], "Fail", 120.0, 300.0, False),
        ("hooks[more]", "sidecar", ["date"], "Continue", 30.0, None, True)]
    assert [hook.source for hook in restore_post_hooks_for_pod(from_options, RESTORE_HOOKS, namespace="other")] == ["hooks[more]"]


def set_kubelet(cluster, enabled):
    cluster.control.configure(controllers={"kubelet": enabled})


def run_in_thread(function, *args):
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("run", function(*args)), daemon=True)
    thread.start()
    return thread, outcome


def test_restore_hook_waits_for_the_container_then_runs(cluster, client):
    set_kubelet(cluster, False)
    pod = create(client, pod_manifest("db-0", labels={"app": "db"}, containers=("postgres", "sidecar"), annotations={
        "post.hook.restore.velero.io/command": '["psql", "-f", "/backup/dump.sql"]', "post.hook.restore.velero.io/container": "postgres"}))
    cluster.control.add_exec_script(command_prefix=["psql"], stdout="RESTORED\n")
    hooks = restore_post_hooks_for_pod(pod, [])

    thread, outcome = run_in_thread(run_restore_post_hooks, client, NAMESPACE, "db-0", hooks, 30)
    time.sleep(1.2)
    assert thread.is_alive() and executed(cluster) == [], "no exec before the pod runs"
    set_kubelet(cluster, True)
    thread.join(15)

    run = outcome["run"]
    (result,) = run.results
    assert (result["status"], result["container"], result["stdout"], result["phase"], result["source"]) == (
        "succeeded", "postgres", "RESTORED\n", "restore", "annotation")
    assert executed(cluster) == [("db-0", "postgres", ["psql", "-f", "/backup/dump.sql"])]


def test_restore_hook_wait_for_ready(cluster, client):
    set_kubelet(cluster, False)
    pod = create(client, pod_manifest("web", annotations={"post.hook.restore.velero.io/command": "warm-cache",
                                                          "post.hook.restore.velero.io/wait-for-ready": "true"}))
    path = "/api/v1/namespaces/%s/pods/web/status" % NAMESPACE
    # Scheduled and running, not ready yet (a readiness probe still failing).
    bound = client.request("GET", "/api/v1/namespaces/%s/pods/web" % NAMESPACE)
    bound["spec"]["nodeName"] = "kubesim-node-1"
    bound = client.request("PUT", "/api/v1/namespaces/%s/pods/web" % NAMESPACE, body=bound)
    bound["status"] = {"phase": "Running", "containerStatuses": [
        {"name": "app", "ready": False, "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}]}
    bound = client.request("PUT", path, body=bound)

    thread, outcome = run_in_thread(run_restore_post_hooks, client, NAMESPACE, "web", restore_post_hooks_for_pod(pod, []), 30)
    time.sleep(1.2)
    assert thread.is_alive() and executed(cluster) == []
    bound["status"]["containerStatuses"][0]["ready"] = True
    client.request("PUT", path, body=bound)
    thread.join(15)

    assert [result["status"] for result in outcome["run"].results] == ["succeeded"]
    assert executed(cluster) == [("web", "app", ["warm-cache"])]


def test_restore_hook_wait_timeout_when_the_pod_never_runs(cluster, client):
    pod = create(client, pod_manifest("stuck", node_selector={"zone": "nowhere"}, annotations={
        "post.hook.restore.velero.io/command": "true", "post.hook.restore.velero.io/wait-timeout": "1s"}))

    started = time.monotonic()
    run = run_restore_post_hooks(client, NAMESPACE, "stuck", restore_post_hooks_for_pod(pod, []), 600)
    elapsed = time.monotonic() - started

    assert 1 <= elapsed < 60  # the pod's 1 s, not the 600 s default (with room for a loaded machine)
    (result,) = run.results
    assert result["status"] == "timed_out" and "container app was not running after waiting 1s" in result["error"]
    assert "phase Pending" in result["error"] and "didn't match" in result["error"]
    assert run.fatal is False and len(run.warnings) == 1, "on_error defaults to Continue for restore hooks"
    assert executed(cluster) == []


def test_restore_default_wait_timeout_bounds_hooks_without_one(cluster, client):
    set_kubelet(cluster, False)
    pod = create(client, pod_manifest("db-0", labels={"app": "db"}, containers=("postgres", "sidecar")))
    hooks = restore_post_hooks_for_pod(pod, RESTORE_HOOKS)
    hooks[0].wait_timeout = 1.0  # the seed hook: Fail

    started = time.monotonic()
    run = run_restore_post_hooks(client, NAMESPACE, "db-0", hooks[1:], 1)

    assert time.monotonic() - started < 60  # bounded by the 1 s default, not unbounded (room for a loaded machine)
    assert [result["status"] for result in run.results] == ["timed_out"]

    run = run_restore_post_hooks(client, NAMESPACE, "db-0", hooks, 1)

    assert run.fatal is True
    assert [(result["source"], result["status"]) for result in run.results] == [("hooks[seed]", "timed_out")]
    assert [result["source"] for result in run.skipped] == ["hooks[more]"]


def test_restore_fail_stops_the_pods_other_hooks(cluster, client):
    pod = running_pod(client, "db-0", labels={"app": "db"}, containers=("postgres", "sidecar"))
    cluster.control.add_exec_script(command_prefix=["psql"], exit_code=3, stderr="ERROR: relation exists\n")

    run = run_restore_post_hooks(client, NAMESPACE, "db-0", restore_post_hooks_for_pod(pod, RESTORE_HOOKS), 30)

    assert run.fatal is True
    assert [(result["container"], result["status"], result["exit_code"]) for result in run.results] == [("postgres", "failed", 3)]
    assert [result["command"] for result in run.skipped] == [["date"]]
    assert executed(cluster) == [("db-0", "postgres", ["psql", "-f", "/backup/dump.sql"])]


def test_restore_hook_for_a_missing_container(cluster, client):
    pod = running_pod(client, "web", annotations={"post.hook.restore.velero.io/command": "true",
                                                  "post.hook.restore.velero.io/container": "nginx"})

    run = run_restore_post_hooks(client, NAMESPACE, "web", restore_post_hooks_for_pod(pod, []), 30)

    (result,) = run.results
    assert result["status"] == "failed" and result["error"] == "pod shop/web has no container nginx (containers: app)"
    assert json.dumps(run.to_dict())  # results are plain data for the module's answer

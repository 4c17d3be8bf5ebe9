# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""exec_in_pod against the emulator's pods/exec: exit codes, output, timeouts, refusals, TLS and threads."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.pod_exec import OUTPUT_LIMIT_BYTES, _handshake_headers, exec_in_pod

NAMESPACE = "exec-test"


def make_client(cluster, **options):
    client = KubeClient(retry_backoff=0.01, **dict(connection_options({"kubeconfig": cluster.kubeconfig}), **options))
    return client


def create_pod(client, name, containers=("main",), node_selector=None):
    spec = {"containers": [{"name": container, "image": "busybox:1.36"} for container in containers]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    client.request("POST", "/api/v1/namespaces/%s/pods" % NAMESPACE,
                   body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec})


def wait_running(client, name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = client.request("GET", "/api/v1/namespaces/%s/pods/%s" % (NAMESPACE, name))
        if (pod.get("status") or {}).get("phase") == "Running":
            return pod
        time.sleep(0.05)
    raise AssertionError("pod %s did not start" % name)


@pytest.fixture
def client(cluster):
    client = make_client(cluster)
    client.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    create_pod(client, "db", containers=("postgres", "sidecar"))
    wait_running(client, "db")
    return client


def test_exit_code_and_output_come_back_from_the_first_container(cluster, client):
    cluster.control.add_exec_script(command=["pg_dump", "shop"], stdout="dumped\n", stderr="notice\n", exit_code=3)

    result = exec_in_pod(client, NAMESPACE, "db", None, ["pg_dump", "shop"], 5)

    assert result == (3, "dumped\n", "notice\n", False, None)
    assert not result.succeeded
    (record,) = cluster.control.exec_log()
    assert (record["namespace"], record["pod"], record["container"], record["command"]) == (NAMESPACE, "db", "postgres", ["pg_dump", "shop"])
    assert record["tty"] is False and record["stdin"] == ""


def test_named_container_and_success(cluster, client):
    result = exec_in_pod(client, NAMESPACE, "db", "sidecar", ["/bin/sh", "-c", "sync; echo ok"], 5)

    assert result.exit_code == 0 and result.error is None and result.succeeded
    assert [(record["container"], record["command"]) for record in cluster.control.exec_log()] == [("sidecar", ["/bin/sh", "-c", "sync; echo ok"])]


def test_only_the_last_8_kib_of_output_is_kept(cluster, client):
    cluster.control.add_exec_script(command=["chatty"], stdout="x" * 50000 + "END", stderr="é" * 9000)

    result = exec_in_pod(client, NAMESPACE, "db", None, ["chatty"], 5)

    assert len(result.stdout) == OUTPUT_LIMIT_BYTES and result.stdout.endswith("xEND")
    # Cut inside a two-byte character: the half character is dropped, not shown as garbage.
    assert set(result.stderr) == {"é"} and len(result.stderr.encode("utf-8")) <= OUTPUT_LIMIT_BYTES


def test_timeout_returns_soon_after_the_deadline(cluster, client):
    cluster.control.add_exec_script(command=["sleep", "60"], delay_seconds=10, stdout="never")

    started = time.monotonic()
    result = exec_in_pod(client, NAMESPACE, "db", None, ["sleep", "60"], 1)
    elapsed = time.monotonic() - started

    assert result.timed_out is True and result.exit_code is None and result.stdout == ""
    assert 1 <= elapsed < 3
    deadline = time.monotonic() + 5
    while not cluster.control.exec_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    (record,) = cluster.control.exec_log()
    assert record["client_disconnected"] is True


def test_pod_that_is_not_running_is_refused_before_any_exec(cluster, client):
    create_pod(client, "unschedulable", node_selector={"disk": "nvme-that-no-node-has"})

    result = exec_in_pod(client, NAMESPACE, "unschedulable", None, ["true"], 5)

    assert result.exit_code is None and result.timed_out is False
    assert "pod %s/unschedulable is not running (phase Pending" % NAMESPACE in result.error
    assert cluster.control.exec_log() == []


@pytest.mark.parametrize("pod, container, message", [
    ("db", "postgress", "pod exec-test/db has no container postgress (containers: postgres, sidecar)"),
    ("nope", None, "pod exec-test/nope not found"),
])
def test_unknown_container_or_pod(cluster, client, pod, container, message):
    result = exec_in_pod(client, NAMESPACE, pod, container, ["true"], 5)

    assert result.error == message and result.exit_code is None
    assert cluster.control.exec_log() == []


def test_refused_upgrade_names_the_permission(cluster, client):
    # The first get on pods is exec_in_pod's read of the pod; the second is the exec upgrade.
    cluster.control.add_fault(action="status", status=403, verbs=["get"], resources=["pods"], after=1, count=1)

    result = exec_in_pod(client, NAMESPACE, "db", None, ["true"], 5)

    assert result.exit_code is None
    assert "refused exec in pod exec-test/db container postgres: 403" in result.error
    assert "create and get on pods/exec in namespace exec-test" in result.error


def test_unreachable_api_server_is_an_error_not_an_exception(cluster, client):
    del client
    unreachable = KubeClient(host="http://127.0.0.1:9", api_key="x", max_retries=0)

    result = exec_in_pod(unreachable, NAMESPACE, "db", None, ["true"], 2)

    assert result.exit_code is None and "cannot read pod exec-test/db" in result.error
    assert cluster.control.exec_log() == []


def test_command_must_be_a_list_of_strings(client):
    with pytest.raises(ValueError, match="non-empty list of strings"):
        exec_in_pod(client, NAMESPACE, "db", None, "pg_dump shop", 5)


def test_parallel_calls_share_one_client(cluster, client):
    cluster.control.add_exec_script(command_prefix=["work"], delay_seconds=0.5, stdout="done")
    commands = [["work", str(number)] for number in range(8)]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda command: exec_in_pod(client, NAMESPACE, "db", "sidecar", command, 10), commands))
    elapsed = time.monotonic() - started

    assert [result.stdout for result in results] == ["done"] * 8 and all(result.succeeded for result in results)
    assert elapsed < 0.5 * 8 / 2
    assert sorted(record["command"][1] for record in cluster.control.exec_log()) == sorted(str(number) for number in range(8))


@pytest.mark.parametrize("options", [{"use_tls": True, "token": "s3cr3t"}, {"use_tls": True}], ids=["tls-bearer-token", "tls-client-cert"])
def test_tls_with_token_or_client_certificate(kubesim_factory, options):
    cluster = kubesim_factory(**options)
    client = make_client(cluster)
    client.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    create_pod(client, "web")
    wait_running(client, "web")
    cluster.control.add_exec_script(command=["hostname"], stdout="web\n")

    result = exec_in_pod(client, NAMESPACE, "web", None, ["hostname"], 5)

    assert result == (0, "web\n", "", False, None)
    assert [record["protocol"] for record in cluster.control.exec_log()] == ["v5.channel.k8s.io"]


def test_handshake_carries_bearer_token_and_impersonation(kubesim_factory):
    cluster = kubesim_factory(token="s3cr3t")
    client = make_client(cluster, impersonate_user="backup-operator", impersonate_groups=["ops", "dba"])

    headers = _handshake_headers(client)

    assert "Authorization: Bearer s3cr3t" in headers
    assert "Impersonate-User: backup-operator" in headers
    assert [line for line in headers if line.startswith("Impersonate-Group")] == ["Impersonate-Group: ops", "Impersonate-Group: dba"]


class _Source:
    """A read(size) over bytes that counts the largest read asked for."""

    def __init__(self, data, fail_after=None):
        self.data, self.offset, self.fail_after = data, 0, fail_after

    def __call__(self, size):
        if self.fail_after is not None and self.offset >= self.fail_after:
            raise IOError("restic dump died")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += len(chunk)
        return chunk


def test_stdin_streams_from_a_source_and_stdout_into_a_sink(cluster, client):
    cluster.control.add_exec_script(command=["cat"], echo_stdin=True)
    data = bytes(range(256)) * 8192  # 2 MiB, every byte value
    received = []

    result = exec_in_pod(client, NAMESPACE, "db", None, ["cat"], 30, stdout_sink=received.append, stdin_source=_Source(data))

    assert result.succeeded and result.stdout == ""
    assert b"".join(received) == data
    assert max(len(chunk) for chunk in received) < len(data)  # chunks, not one buffer
    (record,) = cluster.control.exec_log()
    assert record["protocol"] == "v5.channel.k8s.io" and not record["client_disconnected"]


def test_a_failing_source_never_closes_stdin(cluster, client):
    cluster.control.add_exec_script(command=["tar", "-x"], stdout="extracted")

    result = exec_in_pod(client, NAMESPACE, "db", None, ["tar", "-x"], 30, stdin_source=_Source(b"x" * 1000000, fail_after=1))

    assert not result.succeeded and "the stdin of exec" in result.error and "restic dump died" in result.error


def test_a_failing_sink_ends_the_session_with_its_error(cluster, client):
    cluster.control.add_exec_script(command=["tar", "-c"], stdout="x" * 100000)

    def sink(chunk):
        raise IOError("restic backup exited")
    result = exec_in_pod(client, NAMESPACE, "db", None, ["tar", "-c"], 30, stdout_sink=sink)

    assert not result.succeeded and "could not be stored: restic backup exited" in result.error

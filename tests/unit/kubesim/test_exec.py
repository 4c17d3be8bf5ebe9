"""pods/exec over WebSocket answers the kubernetes client and kubectl like kube-apiserver, with scripted results."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import json
import shutil
import subprocess
import time

import pytest
import websocket
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

NAMESPACE = "apps"
SINGLE = "db-0"
MULTI = "web-0"


def _pod(name, containers, phase="Running", node="kubesim-node-1"):
    spec = {"containers": [{"name": container, "image": "busybox"} for container in containers]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec, "status": {"phase": phase}}


@pytest.fixture(name="sim")
def sim_fixture(kubesim_factory):
    emulated = kubesim_factory(run_controllers=False)
    emulated.sim.seed([_pod(SINGLE, ["postgres"]), _pod(MULTI, ["nginx", "sidecar"]),
                       _pod("done-0", ["job"], phase="Succeeded"), _pod("unscheduled-0", ["app"], phase="Pending", node=None),
                       _pod("starting-0", ["app"], phase="Pending")])
    return emulated


@pytest.fixture(name="core")
def core_fixture(sim):
    return client.CoreV1Api(sim.api_client())


def _run(core, command, pod=SINGLE, container=None, stdin=None):
    """Run ``command`` and return the open-ended client after the server closed the connection."""
    options = {"container": container} if container else {}
    response = stream(core.connect_get_namespaced_pod_exec, pod, NAMESPACE, command=command, stdout=True, stderr=True,
                      stdin=stdin is not None, tty=False, _preload_content=False, **options)
    if stdin is not None:
        response.write_stdin(stdin)
        response.close_channel(0)
    response.run_forever(timeout=10)
    assert not response.is_open()
    return response


def test_unscripted_command_succeeds_silently_and_is_recorded(sim, core):
    response = _run(core, ["sh", "-c", "sync"])
    assert response.returncode == 0
    assert response.read_stdout() == ""
    records = sim.sim.exec_registry.records()
    assert [(r["namespace"], r["pod"], r["container"], r["command"], r["exit_code"]) for r in records] == [
        (NAMESPACE, SINGLE, "postgres", ["sh", "-c", "sync"], 0)]
    assert records[0]["protocol"] == "v5.channel.k8s.io"


def test_scripted_output_reaches_stdout_and_stderr(sim, core):
    sim.control.add_exec_script(pod="db-*", command_prefix=["pg_dump"], stdout="CREATE TABLE t;\n", stderr="warning\n")
    response = _run(core, ["pg_dump", "-U", "postgres"])
    assert response.read_stdout() == "CREATE TABLE t;\n"
    assert response.read_stderr() == "warning\n"
    assert response.returncode == 0


def test_non_zero_exit_sends_the_kubelet_status_on_the_error_channel(sim, core):
    sim.control.add_exec_script(command=["sh", "-c", "exit 2"], exit_code=2)
    response = _run(core, ["sh", "-c", "exit 2"])
    assert json.loads(response.read_channel(3)) == {
        "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
        "message": "command terminated with non-zero exit code: error executing command [sh -c exit 2], exit code 2",
        "details": {"causes": [{"reason": "ExitCode", "message": "2"}]}}
    assert _run(core, ["sh", "-c", "exit 2"]).returncode == 2
    assert [record["exit_code"] for record in sim.control.exec_log()] == [2, 2]


def test_stdin_is_read_to_its_end_and_recorded(sim, core):
    sim.control.add_exec_script(command=["cat"], echo_stdin=True)
    response = _run(core, ["cat"], stdin="line 1\nline 2\n")
    assert response.read_stdout() == "line 1\nline 2\n"
    assert sim.sim.exec_registry.records()[0]["stdin"] == "line 1\nline 2\n"


def test_rules_match_by_container_and_run_out_after_count(sim, core):
    sim.control.add_exec_script(container="sidecar", stdout="from sidecar", count=1)
    assert _run(core, ["id"], pod=MULTI, container="sidecar").read_stdout() == "from sidecar"
    assert _run(core, ["id"], pod=MULTI, container="nginx").read_stdout() == ""
    assert _run(core, ["id"], pod=MULTI, container="sidecar").read_stdout() == ""


def test_scripted_delay_holds_the_answer(sim, core):
    sim.control.add_exec_script(command_contains="fsfreeze", delay_seconds=0.6)
    started = time.monotonic()
    assert _run(core, ["sh", "-c", "fsfreeze -f /data"]).returncode == 0
    assert time.monotonic() - started >= 0.6


def test_client_giving_up_during_a_delay_is_recorded_as_disconnected(sim, core):
    sim.control.add_exec_script(delay_seconds=30)
    response = stream(core.connect_get_namespaced_pod_exec, SINGLE, NAMESPACE, command=["sleep", "30"], stdout=True, stderr=True,
                      stdin=False, tty=False, _preload_content=False)
    response.run_forever(timeout=0.3)
    assert response.is_open()
    response.close()
    deadline = time.monotonic() + 5
    while not sim.sim.exec_registry.records() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.sim.exec_registry.records()[0]["client_disconnected"] is True


@pytest.mark.parametrize("pod, container, message", [
    (SINGLE, "nope", "container nope is not valid for pod db-0"),
    (MULTI, None, "a container name must be specified for pod web-0, choose one of: [nginx sidecar]"),
    ("unscheduled-0", None, "pod unscheduled-0 does not have a host assigned"),
])
def test_unusable_container_is_refused_with_400_before_the_upgrade(core, pod, container, message):
    with pytest.raises(ApiException) as raised:
        _run(core, ["true"], pod=pod, container=container)
    assert "400 Bad Request" in str(raised.value)
    assert message in str(raised.value)


def test_missing_pod_is_404(core):
    with pytest.raises(ApiException) as raised:
        _run(core, ["true"], pod="ghost")
    assert "404 Not Found" in str(raised.value)
    assert 'pods \\"ghost\\" not found' in str(raised.value) or 'pods "ghost" not found' in str(raised.value)


@pytest.mark.parametrize("pod, cause", [
    ("done-0", "container is in CONTAINER_EXITED state"),
    ("starting-0", 'container not found ("app")'),
])
def test_pod_not_running_answers_an_internal_error_status_after_the_upgrade(sim, core, pod, cause):
    response = _run(core, ["true"], pod=pod)
    status = json.loads(response.read_channel(3))
    assert (status["status"], status["reason"], status["code"]) == ("Failure", "InternalError", 500)
    assert status["message"] == "Internal error occurred: unable to upgrade connection: " + cause
    assert sim.sim.exec_registry.records() == []


def _raw_socket(sim, protocols, query="command=cat&stdin=true&stdout=true"):
    url = sim.url.replace("http", "ws", 1) + "/api/v1/namespaces/%s/pods/%s/exec?%s" % (NAMESPACE, SINGLE, query)
    return websocket.create_connection(url, subprotocols=protocols, timeout=5)


def _messages_until_close(socket):
    messages = []
    while True:
        opcode, frame = socket.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return messages
        messages.append((opcode, frame.data))


def test_v4_client_gets_fragmented_stdin_echoed_and_ping_answered(sim):
    sim.control.add_exec_script(command=["cat"], echo_stdin=True)
    socket = _raw_socket(sim, ["v4.channel.k8s.io"])
    assert socket.subprotocol == "v4.channel.k8s.io"
    socket.send_frame(websocket.ABNF.create_frame(b"\x00par", websocket.ABNF.OPCODE_BINARY, fin=0))
    socket.ping(b"are you there")
    socket.send_frame(websocket.ABNF.create_frame(b"ts", websocket.ABNF.OPCODE_CONT, fin=1))
    frames = [socket.recv_data_frame(True) for _ in range(2)]
    # The empty "streams ready" stdout message and the pong, in either order.
    assert sorted((opcode, frame.data) for opcode, frame in frames) == [
        (websocket.ABNF.OPCODE_BINARY, b"\x01"), (websocket.ABNF.OPCODE_PONG, b"are you there")]
    socket.close()  # v4 has no close-channel message: stdin ends with the connection
    deadline = time.monotonic() + 5
    while not sim.sim.exec_registry.records() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.sim.exec_registry.records()[0]["stdin"] == "parts"


def test_base64_protocol_carries_channels_as_digits(sim):
    sim.control.add_exec_script(command=["cat"], stdout="hi", exit_code=3)
    socket = _raw_socket(sim, ["v4.base64.channel.k8s.io"], query="command=cat&stdout=true")
    messages = _messages_until_close(socket)
    assert messages == [(websocket.ABNF.OPCODE_TEXT, b"1"), (websocket.ABNF.OPCODE_TEXT, b"1aGk="), (websocket.ABNF.OPCODE_TEXT, messages[2][1])]
    assert messages[2][1].startswith(b"3")


def test_unsupported_subprotocols_are_refused(sim):
    with pytest.raises(websocket.WebSocketBadStatusException) as raised:
        _raw_socket(sim, ["v9.channel.k8s.io"])
    assert raised.value.status_code == 400


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_exec_prints_output_and_exits_with_the_remote_code(sim):
    sim.control.add_exec_script(command=["sh", "-c", "echo hi; exit 4"], stdout="hi\n", stderr="oops\n", exit_code=4)
    result = subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig, "exec", "-n", NAMESPACE, SINGLE, "--", "sh", "-c", "echo hi; exit 4"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout == "hi\n"
    assert "oops" in result.stderr
    assert result.returncode == 4
    assert sim.control.exec_log()[0]["protocol"] == "v5.channel.k8s.io"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_exec_sends_stdin_and_closes_it(sim):
    sim.control.add_exec_script(command=["cat"], echo_stdin=True)
    result = subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig, "exec", "-i", "-n", NAMESPACE, SINGLE, "-c", "postgres", "--", "cat"],
                            input="payload\n", capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout) == (0, "payload\n"), result.stderr
    assert sim.control.exec_log()[0]["stdin"] == "payload\n"


def test_exec_works_over_tls_with_stdin(kubesim_factory):
    emulated = kubesim_factory(use_tls=True, token="s3cret", run_controllers=False)
    emulated.sim.seed([_pod(SINGLE, ["postgres"])])
    emulated.control.add_exec_script(command=["cat"], echo_stdin=True, exit_code=1)
    response = _run(client.CoreV1Api(emulated.api_client()), ["cat"], stdin="x" * 100000)
    assert response.read_stdout() == "x" * 100000
    assert response.returncode == 1

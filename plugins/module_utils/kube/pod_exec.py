# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one command in a pod's container through pods/exec over WebSocket, with a deadline.

The channel protocol (v5/v4.channel.k8s.io) is spoken directly with
websocket-client rather than through kubernetes.stream: kubernetes.stream
forwards only the Authorization header (impersonation would be dropped), has
no connect timeout, and swaps the ApiClient's call_api while it runs, which
is not safe when several threads share a client. Here every call has its own
socket and reads the connection settings (bearer token with its refresh hook,
basic auth, CA, client certificate, SNI, proxy, impersonation) from the
KubeClient.

The answer never raises for what happens in the cluster: a pod that is not
running, an unknown container, a refused or lost connection all come back in
``ExecResult.error``; a command that outlives the timeout comes back with
``timed_out``. As with kubectl and Velero, the command may go on running in
the container after a timeout: the API cannot stop it.

For data (volume copies), ``stdout_sink`` receives stdout chunk by chunk as
the frames arrive and ``stdin_source`` is read chunk by chunk into stdin
frames, then stdin is closed (v5's close frame): nothing of the stream is
held beyond one frame and the socket's buffers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextlib
import json
import socket
import ssl
import threading
import time
import traceback

from collections import namedtuple
from urllib.parse import quote, urlencode, urlsplit

from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import USER_AGENT, ApiError

try:
    import websocket
    HAS_WEBSOCKET = True
    WEBSOCKET_IMP_ERR = None
except ImportError:
    HAS_WEBSOCKET = False
    WEBSOCKET_IMP_ERR = traceback.format_exc()

# What is kept of each stream: hook output goes into results, a chatty command must not bloat them.
OUTPUT_LIMIT_BYTES = 8 * 1024
# v5 lets a client close stdin; both carry the exit status as a metav1.Status on channel 3.
CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN_CHANNEL, STDOUT_CHANNEL, STDERR_CHANNEL, ERROR_CHANNEL, CLOSE_CHANNEL = 0, 1, 2, 3, 255
# The size of the stdin frames sent from a stdin_source.
STDIN_CHUNK_BYTES = 256 * 1024
# Once the exit status is in, the server closes the stream; do not wait long for it.
CLOSE_GRACE_SECONDS = 1.0
# The pod GET before the exec: short, so the command keeps most of its time.
POD_READ_RETRIES = 1


class ExecResult(namedtuple("ExecResult", "exit_code stdout stderr timed_out error")):
    """How a command ended: exit_code (int, None when unknown), the last 8 KiB of stdout and stderr,
    timed_out, and error (why the command could not run or its end is unknown, else None)."""

    __slots__ = ()

    @property
    def succeeded(self):
        return self.exit_code == 0 and not self.timed_out and self.error is None


class _TailBuffer:
    """Keeps the last ``limit`` bytes written to it."""

    def __init__(self, limit=OUTPUT_LIMIT_BYTES):
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def write(self, chunk):
        self.data.extend(chunk)
        # Trim in batches: cutting on every small frame would copy the buffer each time.
        if len(self.data) > 2 * self.limit:
            cut = len(self.data) - self.limit
            del self.data[:cut]
            self.dropped += cut

    def text(self):
        data = bytes(self.data[-self.limit:])
        if self.dropped or len(self.data) > self.limit:
            # The cut may fall inside a UTF-8 character: drop its continuation bytes.
            index = 0
            while index < min(3, len(data)) and 0x80 <= data[index] <= 0xBF:
                index += 1
            data = data[index:]
        return data.decode("utf-8", "replace")


def exec_in_pod(client, namespace, pod, container, command, timeout, stdout_sink=None, stdin_source=None):
    """Run ``command`` (a list of strings, not run in a shell) in ``container`` of pod ``namespace/pod``.

    container None means the pod's first container (as kubectl and Velero pick it).
    timeout (seconds) bounds the whole call: reading the pod, connecting and the
    command. Safe to call from several threads at once with one client.
    stdout_sink: a callable given every stdout chunk (the result's stdout is then empty); an exception it raises
    ends the session with that error. stdin_source: a read(size) callable, sent as stdin to its end (b""), then closed.
    """
    deadline = time.monotonic() + max(float(timeout), 0.0)
    argv = _checked_command(command)
    where = "pod %s/%s" % (namespace, pod)
    if not HAS_WEBSOCKET:
        return _failure("the websocket-client Python library is required for pods/exec (pip install websocket-client): %s" % WEBSOCKET_IMP_ERR)
    try:
        pod_object = client.request("GET", "/api/v1/namespaces/%s/pods/%s" % (quote(namespace, safe=""), quote(pod, safe="")),
                                    timeout=max(deadline - time.monotonic(), 0.1), max_retries=POD_READ_RETRIES)
    except ApiError as error:
        if error.status == 404:
            return _failure("%s not found" % where)
        return _failure("cannot read %s: %s" % (where, error))
    except KubesafeError as error:
        return _failure("cannot read %s: %s" % (where, error))
    container, problem = _runnable_container(pod_object, container, where)
    if problem:
        return _failure(problem)
    return _stream(client, namespace, pod, container, argv, deadline, "%s container %s" % (where, container), stdout_sink, stdin_source)


def _failure(message, timed_out=False):
    return ExecResult(None, "", "", timed_out, message)


def _checked_command(command):
    if isinstance(command, str) or not command or not all(isinstance(arg, str) for arg in command):
        raise ValueError("exec_in_pod: command must be a non-empty list of strings, not %r" % (command,))
    return list(command)


def _runnable_container(pod_object, container, where):
    """(container name, None) when the command can run there, else (name, why not)."""
    spec = pod_object.get("spec") or {}
    status = pod_object.get("status") or {}
    names = [item.get("name") for item in spec.get("containers") or []]
    if not names:
        return container, "%s has no containers" % where
    if not container:
        container = names[0]
    elif container not in names:
        return container, "%s has no container %s (containers: %s)" % (where, container, ", ".join(names))
    phase = status.get("phase") or "Pending"
    if phase != "Running":
        reason = status.get("reason") or status.get("message") or _unscheduled_reason(status)
        return container, "%s is not running (phase %s%s)" % (where, phase, ": %s" % reason if reason else "")
    for item in status.get("containerStatuses") or []:
        if item.get("name") == container and "running" not in (item.get("state") or {}):
            state = item.get("state") or {}
            detail = next((value.get("reason") or key for key, value in state.items() if isinstance(value, dict)), "no state")
            return container, "container %s of %s is not running (%s)" % (container, where, detail)
    return container, None


def _unscheduled_reason(status):
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return condition.get("message") or condition.get("reason")
    return None


# ------------------------------------------------------------------ the WebSocket session

def _stream(client, namespace, pod, container, argv, deadline, where, stdout_sink=None, stdin_source=None):
    configuration = client.configuration
    query = [("command", arg) for arg in argv] + [
        ("container", container), ("stdin", "true" if stdin_source is not None else "false"), ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
    url = "%s/api/v1/namespaces/%s/pods/%s/exec?%s" % (
        _websocket_base(configuration.host), quote(namespace, safe=""), quote(pod, safe=""), urlencode(query))
    try:
        connection = websocket.WebSocket(sslopt=_ssl_options(configuration), skip_utf8_validation=True)
        connection.connect(url, header=_handshake_headers(client), subprotocols=list(CHANNEL_PROTOCOLS),
                           timeout=max(deadline - time.monotonic(), 0.1), **_proxy_options(configuration))
    except websocket.WebSocketBadStatusException as error:
        return _failure(_refusal(error, where, namespace))
    except (websocket.WebSocketTimeoutException, socket.timeout):
        return _failure("connecting to the API server to exec in %s timed out" % where, timed_out=True)
    except (websocket.WebSocketException, ssl.SSLError, OSError, ValueError) as error:
        return _failure("cannot open an exec stream to %s at %s: %s" % (where, client.server_url, error or type(error).__name__))
    sender = None
    try:
        if stdin_source is not None:
            if connection.getsubprotocol() != CHANNEL_PROTOCOLS[0]:
                return _failure("exec in %s: the API server does not speak %s, needed to close stdin (Kubernetes 1.30 or later)"
                                % (where, CHANNEL_PROTOCOLS[0]))
            sender = _StdinSender(connection, stdin_source)
        result = _read_session(connection, deadline, where, stdout_sink)
        if sender is not None:
            sender.join()
            if sender.source_error:  # the command saw a cut stream: its exit status says nothing useful
                return result._replace(exit_code=None, error="the stdin of exec in %s failed: %s" % (where, sender.source_error))
        return result
    finally:
        _close(connection)


class _StdinSender:
    """Sends a source's chunks as stdin frames from a thread, then the v5 close-stdin frame."""

    def __init__(self, connection, source):
        self.connection = connection
        self.source = source
        self.source_error = None
        self._thread = threading.Thread(target=self._run, name="kubesafe-exec-stdin", daemon=True)
        self._thread.start()

    def _run(self):
        header = bytes([STDIN_CHANNEL])
        while True:
            try:
                chunk = self.source(STDIN_CHUNK_BYTES)
            except Exception as error:  # pylint: disable=broad-except
                # Never close stdin on a cut stream (the command would take it as complete): drop the session.
                self.source_error = str(error) or type(error).__name__
                with contextlib.suppress(Exception):
                    self.connection.sock.shutdown(socket.SHUT_RDWR)
                return
            try:
                self.connection.send_binary(header + bytes(chunk) if chunk else bytes([CLOSE_CHANNEL, STDIN_CHANNEL]))
            except Exception:  # pylint: disable=broad-except
                return  # the session ended; the reader reports how
            if not chunk:
                return

    def join(self):
        self._thread.join(CLOSE_GRACE_SECONDS)
        return self.source_error


def _read_session(connection, deadline, where, stdout_sink=None):
    stdout, stderr = _TailBuffer(), _TailBuffer()
    status = bytearray()
    stop_at = deadline
    lost = None
    while True:
        remaining = stop_at - time.monotonic()
        if remaining <= 0:
            break
        connection.settimeout(remaining)
        try:
            opcode, frame = connection.recv_data_frame(True)
        except (websocket.WebSocketTimeoutException, socket.timeout):
            break
        except websocket.WebSocketConnectionClosedException:
            break
        except (websocket.WebSocketException, ssl.SSLError, OSError) as error:
            lost = str(error) or type(error).__name__
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        data = frame.data if opcode in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT) else b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data:
            continue
        channel, payload = data[0], data[1:]
        if channel == STDOUT_CHANNEL:
            if stdout_sink is None:
                stdout.write(payload)
                continue
            try:
                stdout_sink(payload)
            except Exception as error:  # pylint: disable=broad-except
                return ExecResult(None, "", stderr.text(), False, "the stdout of exec in %s could not be stored: %s" % (where, error))
        elif channel == STDERR_CHANNEL:
            stderr.write(payload)
        elif channel == ERROR_CHANNEL and payload:
            status.extend(payload)
            stop_at = min(deadline, time.monotonic() + CLOSE_GRACE_SECONDS)
    if not status:
        if lost:
            return ExecResult(None, stdout.text(), stderr.text(), False, "lost the exec stream to %s: %s" % (where, lost))
        if time.monotonic() >= deadline:
            return ExecResult(None, stdout.text(), stderr.text(), True, None)
        return ExecResult(None, stdout.text(), stderr.text(), False, "the exec stream to %s closed without an exit status" % where)
    exit_code, error = _exit_status(bytes(status), where)
    return ExecResult(exit_code, stdout.text(), stderr.text(), False, error)


def _exit_status(data, where):
    """(exit code, error) from the error channel: a metav1.Status, or plain text before v4."""
    text = data.decode("utf-8", "replace").strip()
    try:
        status = json.loads(text)
    except ValueError:
        status = None
    if not isinstance(status, dict):
        return None, "exec in %s failed: %s" % (where, text)
    if status.get("status") == "Success":
        return 0, None
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message")), None
            except (TypeError, ValueError):
                break
    return None, "exec in %s failed: %s" % (where, status.get("message") or text)


def _close(connection):
    try:
        if connection.connected:
            connection.send_close()
    except (websocket.WebSocketException, OSError):
        pass  # the server may already be gone; the socket is closed below either way
    connection.shutdown()


def _refusal(error, where, namespace):
    """The API server's answer to the upgrade request, as a message."""
    body = error.resp_body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    message = ""
    try:
        message = (json.loads(body) or {}).get("message") or ""
    except (ValueError, AttributeError):
        message = body[:200].decode("utf-8", "replace").strip()
    text = "the API server refused exec in %s: %s %s" % (where, error.status_code, error.status_message or "")
    text = text.rstrip()
    if message:
        text += ": %s" % message
    if error.status_code == 403:
        text += " (the account needs create and get on pods/exec in namespace %s)" % namespace
    elif error.status_code == 401:
        text += " (the API server did not accept the credentials)"
    return text


def _websocket_base(host):
    parts = urlsplit(host.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return "%s://%s%s" % (scheme, netloc, parts.path)


def _handshake_headers(client):
    """Authorization, impersonation and User-Agent header lines for the upgrade request."""
    configuration = client.configuration
    headers = ["User-Agent: %s" % USER_AGENT]
    # auth_settings() runs the kubeconfig's refresh hook (exec plugins, OIDC), as every request does.
    bearer = configuration.auth_settings().get("BearerToken") or {}
    if bearer.get("value"):
        headers.append("Authorization: %s" % bearer["value"])
    elif configuration.username and configuration.password:
        headers.append("Authorization: %s" % configuration.get_basic_auth_token())
    api_client = client.api_client()
    try:
        for name, value in api_client.default_headers.items():
            if str(name).lower().startswith("impersonate-"):
                headers.append("%s: %s" % (name, value))
    finally:
        api_client.close()
    return headers


def _ssl_options(configuration):
    """The TLS settings the KubeClient's connection pool uses, for websocket-client."""
    if not str(configuration.host).startswith("https"):
        return {}
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or _default_ca_bundle())
        if getattr(configuration, "assert_hostname", None) is False:
            context.check_hostname = False
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    options = {"context": context}
    server_name = getattr(configuration, "tls_server_name", None)
    if server_name:
        options["server_hostname"] = server_name
    return options


def _default_ca_bundle():
    # What the kubernetes client trusts when no CA is configured.
    try:
        import certifi  # pylint: disable=import-outside-toplevel
        return certifi.where()
    except ImportError:
        return None


def _proxy_options(configuration):
    if not configuration.proxy:
        # Like the KubeClient's pool, ignore http(s)_proxy from the environment: only the proxy option counts.
        return {"http_no_proxy": ["*"]}
    proxy = urlsplit(configuration.proxy)
    options = {"http_proxy_host": proxy.hostname, "http_proxy_port": proxy.port or (443 if proxy.scheme == "https" else 80),
               "proxy_type": "http"}
    if configuration.no_proxy:
        options["http_no_proxy"] = [host.strip() for host in configuration.no_proxy.split(",") if host.strip()]
    authorization = (configuration.proxy_headers or {}).get("proxy-authorization") or ""
    if authorization.startswith("Basic "):
        user, _sep, password = base64.b64decode(authorization[6:]).decode("utf-8").partition(":")
        options["http_proxy_auth"] = (user, password)
    elif proxy.username:
        options["http_proxy_auth"] = (proxy.username, proxy.password or "")
    return options

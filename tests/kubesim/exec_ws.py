"""pods/exec and pods/attach over WebSocket, as kube-apiserver serves them, with scripted command results.

The server side of RFC 6455 is written out here (the emulator is stdlib only).
The Kubernetes channel protocols multiplex a process's streams over one
WebSocket: each message starts with its channel (0 stdin, 1 stdout, 2 stderr,
3 error/status, 4 terminal resize); v5.channel.k8s.io adds a close message
(channel 255) so a client can end stdin without closing the connection; the
base64 variants carry the channel as an ASCII digit and the data base64-encoded
in text messages. No process runs: an ``ExecRegistry`` rule decides what a
command prints and how it exits, and every command is recorded for tests.
A ``tar`` no rule answers acts on the volumes of the claims the container
mounts (tar_command): its archive streams through stdout or stdin in chunks.
"""

import base64
import binascii
import fnmatch
import hashlib
import json
import queue
import socket
import struct
import threading
import time
from urllib.parse import parse_qs, urlsplit

from kubesim import errors
from kubesim.pod_volumes import claim_mounts
from kubesim.sequence import Sequence, insert_by_seq
from kubesim.tar_command import TarProcess, is_tar

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE_SIGNAL = 0, 1, 2, 3, 4, 255
# Subprotocol -> (base64 encoded, error channel carries a metav1.Status, client may close channels).
PROTOCOLS = {
    "v5.channel.k8s.io": (False, True, True),
    "v4.channel.k8s.io": (False, True, False),
    "v4.base64.channel.k8s.io": (True, True, False),
    "channel.k8s.io": (False, False, False),
    "base64.channel.k8s.io": (True, False, False),
}
OUTPUT_CHUNK = 32 * 1024
# Stdin messages a streaming command (tar -x) may have waiting: beyond, the reader stops reading the socket (TCP pushes back).
STDIN_QUEUE_MESSAGES = 64
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CLOSE_GRACE_SECONDS = 2.0
_OP_CONTINUATION, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_CLOSE_NORMAL, _CLOSE_PROTOCOL_ERROR, _CLOSE_TOO_BIG = 1000, 1002, 1009
_RULE_FIELDS = ("namespace", "pod", "container", "subresource", "command", "command_prefix", "command_contains", "stdout", "stderr",
                "stdout_base64", "stderr_base64", "echo_stdin", "exit_code", "delay_seconds", "reads_stdin", "count")


# ------------------------------------------------------------------ scripts and the record of executed commands

class ExecRule:
    """What a matching command does. Matching: ``namespace``, ``pod``, ``container`` are globs; the command
    matches ``command`` exactly, starts with ``command_prefix``, or its space-joined argv contains ``command_contains``.

    Effect: after reading stdin to its end (when stdin is attached and ``reads_stdin``) and sleeping
    ``delay_seconds``, it prints ``stdout``/``stderr`` (or their ``_base64`` forms; ``echo_stdin`` prints stdin
    back on stdout, like ``cat``) and exits with ``exit_code``. ``count`` limits how many commands it answers.
    """

    def __init__(self, namespace="*", pod="*", container="*", subresource="exec", command=None, command_prefix=None, command_contains=None,
                 stdout="", stderr="", stdout_base64=None, stderr_base64=None, echo_stdin=False, exit_code=0, delay_seconds=0.0,
                 reads_stdin=True, count=None):
        for name, argv in (("command", command), ("command_prefix", command_prefix)):
            if argv is not None and (not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv)):
                raise ValueError("%s must be a list of strings" % name)
        self.namespace, self.pod, self.container, self.subresource = namespace, pod, container, subresource
        self.command, self.command_prefix, self.command_contains = command, command_prefix, command_contains
        self.stdout = base64.b64decode(stdout_base64) if stdout_base64 is not None else stdout.encode()
        self.stderr = base64.b64decode(stderr_base64) if stderr_base64 is not None else stderr.encode()
        self.echo_stdin = bool(echo_stdin)
        self.exit_code = int(exit_code)
        self.delay_seconds = float(delay_seconds)
        self.reads_stdin = bool(reads_stdin)
        self.remaining = None if count is None else int(count)
        self.fired = 0

    def matches(self, target):
        """Whether this rule answers ``target`` (a _Target)."""
        argv = target.command
        return (fnmatch.fnmatchcase(target.namespace, self.namespace) and fnmatch.fnmatchcase(target.pod, self.pod)
                and fnmatch.fnmatchcase(target.container, self.container) and self.subresource in ("*", target.subresource)
                and (self.command is None or argv == self.command)
                and (self.command_prefix is None or argv[:len(self.command_prefix)] == self.command_prefix)
                and (self.command_contains is None or self.command_contains in " ".join(argv)))

    def describe(self):
        return {"namespace": self.namespace, "pod": self.pod, "container": self.container, "subresource": self.subresource,
                "command": self.command, "command_prefix": self.command_prefix, "command_contains": self.command_contains,
                "exit_code": self.exit_code, "delay_seconds": self.delay_seconds, "reads_stdin": self.reads_stdin,
                "echo_stdin": self.echo_stdin, "remaining": self.remaining, "fired": self.fired}


# The answer when no rule matches: a command that succeeds silently.
_DEFAULT_RULE = ExecRule()


class ExecRegistry:
    """Scripted command results (first matching rule wins), the log of executed commands
    and what pods/log shows for each container. Thread safe.

    Each log record has "seq", taken from ``sequence`` (the cluster's, shared with the audit log) when the
    command starts, and "end_seq", taken when it ends, before the client learns its exit status.
    """

    def __init__(self, sequence=None):
        self.sequence = sequence or Sequence()
        self._lock = threading.Lock()
        self._rules = []
        self._records = []
        self._container_logs = {}  # (namespace, pod, container) -> text

    def add_rule(self, **fields):
        """Append a rule (ExecRule fields); raises ValueError for unknown or malformed fields."""
        unknown = sorted(set(fields) - set(_RULE_FIELDS))
        if unknown:
            raise ValueError("unknown exec rule fields: %s" % ", ".join(unknown))
        rule = ExecRule(**fields)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self):
        with self._lock:
            self._rules = []

    def rules(self):
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def pick(self, target):
        """The rule answering ``target``, consuming one of its shots."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining != 0 and rule.matches(target):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    rule.fired += 1
                    return rule
        return _DEFAULT_RULE

    def record(self, entry):
        """Add one executed command to the log (it must have "seq")."""
        with self._lock:
            insert_by_seq(self._records, entry)

    def records(self):
        """Executed commands in the order they started ("seq")."""
        with self._lock:
            return list(self._records)

    def clear_records(self):
        with self._lock:
            self._records = []

    def set_container_log(self, namespace, pod, container, text):
        """What pods/log answers for this container."""
        with self._lock:
            self._container_logs[(namespace, pod, container)] = text

    def container_log(self, namespace, pod, container):
        with self._lock:
            return self._container_logs.get((namespace, pod, container), "")

    def control(self, handler, method, route, body):
        """The /_kubesim/exec/... routes: ``exec/scripts`` (POST adds a rule, DELETE clears, GET lists), ``exec/log``
        (GET, DELETE) and ``exec/container-logs`` (POST {namespace, pod, container, text}: what pods/log answers)."""
        if route == "exec/scripts":
            if method == "POST":
                try:
                    self.add_rule(**(body or {}))
                except (TypeError, ValueError, binascii.Error) as exc:
                    raise errors.bad_request("bad exec rule: %s" % exc) from exc
            elif method == "DELETE":
                self.clear_rules()
            elif method != "GET":
                raise errors.method_not_allowed()
            return handler.send_json(200, {"rules": self.rules()})
        if route == "exec/log":
            if method == "DELETE":
                self.clear_records()
            elif method != "GET":
                raise errors.method_not_allowed()
            return handler.send_json(200, {"records": self.records()})
        if route == "exec/container-logs" and method == "POST":
            body = body or {}
            try:
                self.set_container_log(body.get("namespace") or "default", body["pod"], body["container"], str(body.get("text") or ""))
            except KeyError as exc:
                raise errors.bad_request("container log needs %s" % exc) from exc
            return handler.send_json(200, {})
        raise errors.resource_not_found()


# ------------------------------------------------------------------ the HTTP side: validation and upgrade

class _Target:
    """The container and command one exec or attach request names, with its stream options."""

    def __init__(self, request, container, params):
        self.namespace, self.pod, self.container, self.subresource = request.namespace, request.name, container, request.subresource
        self.command = params.get("command") or []
        self.stdin, self.stdout, stderr, self.tty = (_flag(params, name) for name in ("stdin", "stdout", "stderr", "tty"))
        # kubelet drops stderr when a terminal is attached: the terminal merges it into stdout.
        self.stderr = stderr and not self.tty


def serve(handler, cluster, request, query):
    """Serve pods/<name>/exec or pods/<name>/attach; returns the HTTP status for the audit log."""
    del query  # the handler's query dict keeps one value per key, and exec repeats ``command``
    if handler.command not in ("GET", "POST"):
        raise errors.method_not_allowed()
    params = parse_qs(urlsplit(handler.path).query, keep_blank_values=True)
    pod = cluster.store.get(request.rtype, request.namespace, request.name)
    target = _Target(request, resolve_container(pod, (params.get("container") or [""])[-1]), params)
    phase_error = _pod_phase_error(pod, target.container)
    if not (target.stdin or target.stdout or target.stderr):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    if target.subresource == "exec" and not target.command:
        raise errors.bad_request("you must specify at least one command for the container")
    protocol = _check_upgrade(handler)
    handler.stamp_answer(awaited=False)  # the upgrade is the answer the audit log orders; the session is recorded when it ends
    websocket = _WebSocket(handler)
    websocket.accept(handler.headers["Sec-WebSocket-Key"], protocol)
    _Session(websocket, PROTOCOLS[protocol] if protocol else PROTOCOLS["channel.k8s.io"], target, cluster.exec_registry,
             handler.server.stopping, cluster=cluster, pod=pod).run(protocol, phase_error)
    handler.close_connection = True
    return 101


def _containers(pod):
    spec = pod.get("spec") or {}
    return [container for key in ("containers", "initContainers", "ephemeralContainers") for container in spec.get(key) or []]


def resolve_container(pod, requested):
    """The container to run in, with kube-apiserver's answers when it cannot pick one (it never reads annotations)."""
    name = pod["metadata"]["name"]
    regular = (pod.get("spec") or {}).get("containers") or []
    if not requested:
        if len(regular) == 1:
            return regular[0]["name"]
        if not regular:
            raise errors.bad_request("a container name must be specified for pod %s" % name)
        choices = " ".join(container["name"] for container in _containers(pod))
        raise errors.bad_request("a container name must be specified for pod %s, choose one of: [%s]" % (name, choices))
    if requested not in [container.get("name") for container in _containers(pod)]:
        raise errors.bad_request("container %s is not valid for pod %s" % (requested, name))
    return requested


def _pod_phase_error(pod, container):
    """The kubelet's refusal when the container is not running, sent on the error channel after the upgrade, or None.

    An unscheduled pod is refused before the upgrade, as kube-apiserver has no kubelet to ask.
    """
    if not (pod.get("spec") or {}).get("nodeName"):
        raise errors.bad_request("pod %s does not have a host assigned" % pod["metadata"]["name"])
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Running":
        return None
    # containerd's wording; kube-apiserver relays the kubelet's failure as an internal error.
    cause = 'container not found ("%s")' % container if phase in (None, "Pending") else "container is in CONTAINER_EXITED state"
    message = "unable to upgrade connection: %s" % cause
    return {"metadata": {}, "status": "Failure", "message": "Internal error occurred: " + message, "reason": "InternalError",
            "details": {"causes": [{"message": message}]}, "code": 500}


def _flag(params, name):
    # Go's strconv.ParseBool spellings, which kube-apiserver's query decoding accepts.
    return (params.get(name) or ["false"])[-1] in ("1", "t", "T", "true", "TRUE", "True")


def _header_values(headers, name):
    return [value.strip() for header in headers.get_all(name) or [] for value in header.split(",") if value.strip()]


def _check_upgrade(handler):
    """The negotiated channel subprotocol ('' for a client that asked for none), or raise the refusal."""
    headers = handler.headers
    upgrade = [value.lower() for value in _header_values(headers, "Upgrade")]
    if "websocket" not in upgrade:
        if any(value.startswith("spdy/") for value in upgrade):
            raise errors.bad_request("kubesim serves exec and attach over WebSocket only (%s); SPDY is not supported" % ", ".join(PROTOCOLS))
        raise errors.bad_request("Upgrade request required")
    if handler.command != "GET" or "upgrade" not in [value.lower() for value in _header_values(headers, "Connection")]:
        raise errors.bad_request("websocket: the client is not using the websocket protocol")
    if headers.get("Sec-WebSocket-Version") != "13":
        raise errors.ApiError(426, "BadRequest", "websocket: unsupported version", {}, headers={"Sec-WebSocket-Version": "13"})
    if not headers.get("Sec-WebSocket-Key"):
        raise errors.bad_request("websocket: not a websocket handshake: 'Sec-WebSocket-Key' header is missing or blank")
    requested = _header_values(headers, "Sec-WebSocket-Protocol")
    if not requested:
        return ""
    for protocol in requested:  # the client's order of preference, as kube-apiserver's wsstream picks
        if protocol in PROTOCOLS:
            return protocol
    raise errors.bad_request("requested protocol(s) are not supported: %s; supports %s" % (requested, list(PROTOCOLS)))


# ------------------------------------------------------------------ RFC 6455 framing

class _ProtocolError(Exception):
    def __init__(self, close_code, reason):
        super().__init__(reason)
        self.close_code = close_code


class _WebSocket:
    """The server end of one WebSocket: one thread reads messages while others send under a lock."""

    def __init__(self, handler):
        self._rfile = handler.rfile
        self._wfile = handler.wfile
        self._connection = handler.connection
        self._send_lock = threading.Lock()
        self.close_sent = False

    def accept(self, key, protocol):
        """Complete the opening handshake: 101 with the accept hash and the negotiated subprotocol."""
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
        # Not handler.send_response: the audit log, not the stdlib's access log, records the request.
        lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: " + accept]
        if protocol:
            lines.append("Sec-WebSocket-Protocol: " + protocol)
        with self._send_lock:
            self._wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            self._wfile.flush()

    def receive(self):
        """The next data message as (opcode, payload); answers pings; ('close', None) once the peer closes."""
        opcode, parts, size = None, [], 0
        while True:
            fin, frame_opcode, payload = self._read_frame()
            if frame_opcode >= _OP_CLOSE:
                if frame_opcode == _OP_CLOSE:
                    self.close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else _CLOSE_NORMAL)
                    return _OP_CLOSE, None
                if frame_opcode == _OP_PING:
                    self.send(_OP_PONG, payload)
                continue
            if frame_opcode == _OP_CONTINUATION:
                if opcode is None:
                    raise _ProtocolError(_CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
            elif opcode is not None:
                raise _ProtocolError(_CLOSE_PROTOCOL_ERROR, "new message inside a fragmented message")
            elif frame_opcode in (_OP_TEXT, _OP_BINARY):
                opcode = frame_opcode
            else:
                raise _ProtocolError(_CLOSE_PROTOCOL_ERROR, "unknown opcode %d" % frame_opcode)
            size += len(payload)
            if size > MAX_MESSAGE_BYTES:
                raise _ProtocolError(_CLOSE_TOO_BIG, "message too big")
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def _read_exactly(self, count):
        data = self._rfile.read(count) if count else b""
        if len(data) != count:
            raise EOFError("connection closed")
        return data

    def _read_frame(self):
        first, second = self._read_exactly(2)
        if first & 0x70:
            raise _ProtocolError(_CLOSE_PROTOCOL_ERROR, "reserved bits set")
        opcode, length = first & 0x0F, second & 0x7F
        if not second & 0x80:
            raise _ProtocolError(_CLOSE_PROTOCOL_ERROR, "client frames must be masked")
        if opcode >= _OP_CLOSE and (length > 125 or not first & 0x80):
            raise _ProtocolError(_CLOSE_PROTOCOL_ERROR, "bad control frame")
        if length == 126:
            length = struct.unpack("!H", self._read_exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exactly(8))[0]
        if length > MAX_MESSAGE_BYTES:
            raise _ProtocolError(_CLOSE_TOO_BIG, "frame too big")
        mask = self._read_exactly(4)
        return bool(first & 0x80), opcode, _unmask(self._read_exactly(length), mask)

    def send(self, opcode, payload):
        """Send one unfragmented, unmasked frame; nothing goes out after a close frame."""
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        with self._send_lock:
            if self.close_sent:
                return
            self.close_sent = opcode == _OP_CLOSE
            self._wfile.write(header + payload)
            self._wfile.flush()

    def close(self, code=_CLOSE_NORMAL):
        self.send(_OP_CLOSE, struct.pack("!H", code))

    def abort(self):
        try:
            self._connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _unmask(payload, mask):
    if not payload:
        return payload
    key = (mask * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(len(payload), "big")


# ------------------------------------------------------------------ one emulated command

class _Session:
    """Runs one scripted command over a connected WebSocket and records it."""

    def __init__(self, websocket, protocol_traits, target, registry, server_stopping, cluster=None, pod=None):
        self.websocket = websocket
        self.cluster, self.pod = cluster, pod
        self.base64, self.status_channel_json, self.closable = protocol_traits
        self.target = target
        self.registry = registry
        self.server_stopping = server_stopping
        self.stdin = bytearray()
        self.stdin_lock = threading.Lock()
        self.stdin_ended = threading.Event()
        self.peer_gone = threading.Event()
        self.stdin_bytes = 0
        self.stdin_queue = None  # set for a command reading stdin as a stream: chunks, then None at its end
        self.stdin_discard = threading.Event()  # the streaming command ended: drop what else comes

    def run(self, protocol, phase_error):
        """Serve the session to its end: output, exit status, close."""
        started_at, started = time.time(), time.monotonic()
        rule = self.registry.pick(self.target) if phase_error is None else None
        runs_tar = rule is _DEFAULT_RULE and self.cluster is not None and self.target.subresource == "exec" and is_tar(self.target.command)
        if runs_tar:
            self.stdin_queue = queue.Queue(STDIN_QUEUE_MESSAGES)
        reader = threading.Thread(target=self._read_loop, name="kubesim-exec-reader", daemon=True)
        reader.start()
        self._announce()
        if phase_error is not None:
            self._send_status(phase_error)
        else:
            seq = self.registry.sequence.next()
            if runs_tar:
                exit_code = self._run_tar()
            else:
                self._execute(rule)
                exit_code = rule.exit_code
            # Recorded before the exit status goes out, so a client that saw the command end finds it in the log.
            self._record(exit_code, protocol, started_at, time.monotonic() - started, seq)
            self._send_status(_exit_status(self.target.command, exit_code))
        self.websocket.close()
        reader.join(CLOSE_GRACE_SECONDS)
        if reader.is_alive():
            self.websocket.abort()  # a client that never answers the close must not hold this thread
            reader.join(CLOSE_GRACE_SECONDS)

    def _announce(self):
        # Like kubelet: an empty message on the lowest writable channel tells the client the streams are up.
        if self.target.stdout:
            self._write(STDOUT, b"")
        elif self.target.stderr:
            self._write(STDERR, b"")
        else:
            self._write(ERROR, b"")

    def _execute(self, rule):
        """Consume stdin, wait the scripted delay and print the scripted output."""
        if self.target.stdin and rule.reads_stdin:
            self._wait(self.stdin_ended, None)
        if rule.delay_seconds:
            self._wait(self.peer_gone, rule.delay_seconds)
        if self.peer_gone.is_set():
            return
        with self.stdin_lock:
            stdout = bytes(self.stdin) if rule.echo_stdin else rule.stdout
        stderr = rule.stderr
        if self.target.tty:
            stdout, stderr = stdout + stderr, b""
        for channel, wanted, data in ((STDOUT, self.target.stdout, stdout), (STDERR, self.target.stderr, stderr)):
            for offset in range(0, len(data) if wanted else 0, OUTPUT_CHUNK):
                self._write(channel, data[offset:offset + OUTPUT_CHUNK])

    def _run_tar(self):
        """tar on the container's claim mounts; its exit status. Stdin is drained afterwards, as a closed pipe would drop it."""
        try:
            return TarProcess(self.target.command, claim_mounts(self.cluster, self.pod, self.target.container), self.cluster.volume_backend,
                              _ProcessStreams(self)).run()
        except _PeerGone:
            return 141  # 128 + SIGPIPE: the client went away while tar was writing
        finally:
            self.stdin_discard.set()
            while True:
                try:
                    self.stdin_queue.get_nowait()
                except queue.Empty:
                    break

    def _record(self, exit_code, protocol, started_at, seconds, seq):
        with self.stdin_lock:
            stdin = bytes(self.stdin)
        self.registry.record({
            "seq": seq, "end_seq": self.registry.sequence.next(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started_at)) + ".%06dZ" % int(started_at % 1 * 1e6),
            "namespace": self.target.namespace, "pod": self.target.pod, "container": self.target.container,
            "subresource": self.target.subresource, "command": self.target.command, "exit_code": exit_code,
            # A streamed stdin (a tar archive) is counted, not kept.
            "stdin": stdin.decode("utf-8", "replace"), "stdin_base64": base64.b64encode(stdin).decode(), "stdin_bytes": self.stdin_bytes,
            "tty": self.target.tty, "protocol": protocol, "client_disconnected": self.peer_gone.is_set(),
            "duration_seconds": round(seconds, 6)})

    def _wait(self, event, seconds):
        """Wait for ``event`` (at most ``seconds``), giving up when the client leaves or the server stops."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while not (event.is_set() or self.peer_gone.is_set() or self.server_stopping.is_set()):
            remaining = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if remaining <= 0:
                return
            event.wait(remaining)

    def _send_status(self, status):
        if self.status_channel_json:
            self._write(ERROR, json.dumps(status, separators=(",", ":")).encode())
        elif status["status"] != "Success":
            self._write(ERROR, status["message"].encode())  # before v4 the error channel carried plain text

    def _write(self, channel, data):
        try:
            if self.base64:
                self.websocket.send(_OP_TEXT, str(channel).encode() + base64.b64encode(data))
            else:
                self.websocket.send(_OP_BINARY, bytes([channel]) + data)
        except OSError:
            self.peer_gone.set()

    def _read_loop(self):
        try:
            while True:
                opcode, payload = self.websocket.receive()
                if opcode == _OP_CLOSE:
                    break
                self._dispatch(opcode, payload)
        except _ProtocolError as error:
            self._close_quietly(error.close_code)
        except (EOFError, OSError, ValueError):
            pass  # the connection dropped, or the server closed it after the last message
        self.peer_gone.set()
        self._end_stdin()

    def _end_stdin(self):
        if not self.stdin_ended.is_set() and self.stdin_queue is not None:
            self._queue_stdin(None)
        self.stdin_ended.set()

    def _queue_stdin(self, chunk):
        """Hand a stdin chunk (None: the end) to the streaming command; waits while it is behind, drops once it has ended."""
        while not (self.stdin_discard.is_set() or self.server_stopping.is_set()):
            try:
                self.stdin_queue.put(chunk, timeout=0.1)
                return
            except queue.Full:
                continue

    def _close_quietly(self, code):
        try:
            self.websocket.close(code)
        except OSError:
            pass

    def _dispatch(self, opcode, payload):
        if not payload:
            return
        if self.base64 and opcode == _OP_TEXT:
            channel = payload[0] - ord("0")
            try:
                data = base64.b64decode(payload[1:])
            except binascii.Error as exc:
                raise _ProtocolError(_CLOSE_PROTOCOL_ERROR, "bad base64 payload") from exc
        else:
            channel, data = payload[0], payload[1:]
        if channel == STDIN and self.target.stdin and not self.stdin_ended.is_set():
            self.stdin_bytes += len(data)
            if self.stdin_queue is not None:
                self._queue_stdin(data)
            else:
                with self.stdin_lock:
                    self.stdin.extend(data)
        elif channel == CLOSE_SIGNAL and self.closable and data[:1] == bytes([STDIN]):
            self._end_stdin()


class _PeerGone(Exception):
    """The client left while a command was writing to it."""


class _ProcessStreams:
    """A command's stdin, stdout and stderr on one session (the ``io`` of TarProcess)."""

    chunk_size = OUTPUT_CHUNK

    def __init__(self, session):
        self._session = session
        self.stdin = _StdinStream(session)

    def write_stdout(self, data):
        self._write(STDOUT, data)

    def write_stderr(self, data):
        # A terminal merges stderr into stdout.
        self._write(STDOUT if self._session.target.tty else STDERR, data)

    def _write(self, channel, data):
        session = self._session
        if session.peer_gone.is_set():
            raise _PeerGone()
        if not (session.target.stdout if channel == STDOUT else session.target.stderr):
            return
        for offset in range(0, len(data), OUTPUT_CHUNK):
            session._write(channel, data[offset:offset + OUTPUT_CHUNK])  # pylint: disable=protected-access


class _StdinStream:
    """The session's stdin as a file object for a streaming reader: read(size) blocks for more until the client ends stdin."""

    def __init__(self, session):
        self._session = session
        self._pending = memoryview(b"")
        self._ended = not session.target.stdin  # no stdin attached reads as /dev/null

    def read(self, size=-1):
        parts, have = [], 0
        while (size is None or size < 0 or have < size) and not self._ended:
            if not self._pending:
                chunk = self._next_chunk()
                if chunk is None:
                    self._ended = True
                    break
                self._pending = memoryview(chunk)
            wanted = len(self._pending) if size is None or size < 0 else size - have
            piece = self._pending[:wanted]
            self._pending = self._pending[len(piece):]
            parts.append(piece)
            have += len(piece)
        return b"".join(parts)

    def _next_chunk(self):
        session = self._session
        while not session.server_stopping.is_set():
            try:
                return session.stdin_queue.get(timeout=0.1)
            except queue.Empty:
                continue
        return None


def _exit_status(command, exit_code):
    """The error-channel Status kubelet sends when the process ends."""
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    # Go renders the argv slice as [a b c].
    message = "command terminated with non-zero exit code: error executing command [%s], exit code %d" % (" ".join(command), exit_code)
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}

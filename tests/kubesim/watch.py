"""WATCH streams: newline-delimited JSON events over a chunked response."""

import json
import queue
import time

from kubesim import errors

MAX_WATCH_SECONDS = 1800


def _matches(obj, request, label_selector, field_selector):
    metadata = obj.get("metadata") or {}
    if request.namespace and metadata.get("namespace") != request.namespace:
        return False
    if label_selector is not None and not label_selector.matches(metadata.get("labels") or {}):
        return False
    return field_selector is None or field_selector.matches(obj)


def serve(handler, store, request, query, label_selector, field_selector):
    """Stream events until timeoutSeconds, the client leaving or the server stopping.

    Without resourceVersion (or with "0") the current objects come first as
    ADDED events, as kube-apiserver does; with one, history after it is
    replayed, and a version older than the history gets an ERROR event
    carrying a 410 Expired Status.
    """
    rtype = request.rtype
    rv_param = query.get("resourceVersion")
    timeout = min(float(query.get("timeoutSeconds") or MAX_WATCH_SECONDS), MAX_WATCH_SECONDS)
    initial, expired = [], None
    try:
        if rv_param in (None, "", "0"):
            with store.lock:
                initial = store.objects(rtype, request.namespace)
                subscription = store.subscribe(rtype)
        else:
            subscription = store.subscribe(rtype, since_rv=int(rv_param))
    except errors.ApiError as error:
        subscription, expired = None, error
    except ValueError as exc:
        raise errors.bad_request("invalid resourceVersion %r" % rv_param) from exc

    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("Cache-Control", "no-cache, private")
    handler.end_headers()

    def send(event_type, obj):
        line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        handler.wfile.flush()

    try:
        if expired is not None:
            send("ERROR", expired.to_status())
            return 200
        for obj in initial:
            if _matches(obj, request, label_selector, field_selector):
                send("ADDED", store.view(rtype, obj))
        deadline = time.monotonic() + timeout
        while not handler.server.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                event_type, obj = subscription.events.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if _matches(obj, request, label_selector, field_selector):
                send(event_type, store.view(rtype, obj))
        handler.wfile.write(b"0\r\n\r\n")
        return 200
    finally:
        if subscription is not None:
            store.unsubscribe(subscription)

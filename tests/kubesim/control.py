"""The test-control API under /_kubesim/: faults, audit log, settings, seeding, exec scripts.

Tests and benchmarks drive the emulator through it over HTTP, so it works the
same whether the emulator runs in the test process or as a separate one.
"""

import json
from urllib.parse import unquote

from kubesim import errors


class ControlApi:
    def __init__(self, cluster):
        self.cluster = cluster

    def handle(self, handler, method, segments, query, raw_body):
        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError as exc:
            raise errors.bad_request("control request body must be JSON: %s" % exc) from exc
        route = "/".join(unquote(segment) for segment in segments)
        cluster = self.cluster
        if route == "audit":
            if method == "DELETE":
                cluster.audit.clear()
                return handler.send_json(200, {})
            since = int(query.get("since") or 0)
            records = cluster.audit.records(since)
            return handler.send_json(200, {"records": records, "next": since + len(records)})
        if route == "faults":
            if method == "POST":
                try:
                    cluster.faults.add(**body)
                except (TypeError, ValueError) as exc:
                    raise errors.bad_request("bad fault rule: %s" % exc) from exc
            elif method == "DELETE":
                cluster.faults.clear()
            return handler.send_json(200, {"rules": cluster.faults.rules()})
        if route == "compact" and method == "POST":
            cluster.store.compact()
            return handler.send_json(200, {})
        if route == "settle" and method == "POST":
            settled = cluster.settle(float(query.get("timeout") or 10))
            return handler.send_json(200 if settled else 504, {"settled": settled})
        if route == "settings":
            if method in ("PUT", "PATCH", "POST"):
                cluster.configure(body)
            return handler.send_json(200, cluster.describe_settings())
        if route == "dump" and method == "GET":
            return handler.send_json(200, {"objects": cluster.store.dump(), "resourceVersion": str(cluster.store.resource_version)})
        if route == "seed" and method == "POST":
            created = cluster.seed(body.get("objects") or [])
            return handler.send_json(200, {"created": created})
        if route.startswith("exec"):
            return cluster.exec_control(handler, method, route, body)
        raise errors.resource_not_found()

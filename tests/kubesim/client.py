"""A small client for the emulator's /_kubesim control API, for tests and benchmarks."""

import json
import ssl
import urllib.request


class ControlClient:
    def __init__(self, url, ca_cert=None):
        self.url = url.rstrip("/")
        self._context = ssl.create_default_context(cafile=ca_cert) if url.startswith("https") else None

    def _call(self, method, route, body=None, query=""):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request("%s/_kubesim/%s%s" % (self.url, route, query), data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self._context, timeout=60) as response:
            return json.loads(response.read() or b"{}")

    def audit(self, since=0):
        return self._call("GET", "audit", query="?since=%d" % since)["records"]

    def clear_audit(self):
        self._call("DELETE", "audit")

    def add_fault(self, **rule):
        return self._call("POST", "faults", rule)

    def clear_faults(self):
        return self._call("DELETE", "faults")

    def compact(self):
        self._call("POST", "compact")

    def settle(self, timeout=10):
        return self._call("POST", "settle", query="?timeout=%s" % timeout)["settled"]

    def configure(self, **settings):
        return self._call("PUT", "settings", settings)

    def dump(self):
        return self._call("GET", "dump")["objects"]

    def seed(self, objects):
        return self._call("POST", "seed", {"objects": objects})["created"]

    def add_exec_script(self, **rule):
        return self._call("POST", "exec/scripts", rule)

    def exec_log(self):
        return self._call("GET", "exec/log")["records"]

"""Paginated LIST throughput of the emulator, as a backup tool's client sees it (JSON decoded)."""

import json
import time
import urllib.request


def paginated_list(url, path, limit=500):
    """Objects listed and seconds taken for a full paginated LIST of ``path``."""
    started = time.perf_counter()
    seen, token = 0, ""
    while True:
        query = "?limit=%d" % limit + ("&continue=%s" % token if token else "")
        with urllib.request.urlopen(url + path + query, timeout=120) as response:
            page = json.loads(response.read())
        seen += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            return seen, time.perf_counter() - started

"""A raw HTTP helper for emulator tests: what a client sends and gets, status codes included."""

import json
import urllib.error
import urllib.request

import pytest


def _decode(raw):
    """One JSON document, or the raw bytes (watch streams, text)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class RawApi:
    def __init__(self, url):
        self.url = url

    def request(self, method, path, body=None, content_type="application/json", headers=None):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {"Content-Type": content_type, "Accept": "application/json"}
        all_headers.update(headers or {})
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _decode(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read()), dict(error.headers)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def put(self, path, body, **kwargs):
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path, body, content_type="application/merge-patch+json", **kwargs):
        return self.request("PATCH", path, body, content_type=content_type, **kwargs)

    def delete(self, path, body=None, **kwargs):
        return self.request("DELETE", path, body, **kwargs)


@pytest.fixture
def api(cluster):
    return RawApi(cluster.url)


@pytest.fixture
def raw_api():
    """Make a RawApi for another emulator's URL."""
    return RawApi

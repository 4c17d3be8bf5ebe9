# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KubeClient against the emulator: connection resolution, TLS, tokens, errors, retries, pagination."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import time
import tracemalloc

import pytest
import yaml

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube import client as client_module
from ansible_collections.kubesafe.k8s.plugins.module_utils.errors import ClusterAccessError, ConfigurationError, KubesafeError
from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import (
    ApiError,
    KubeClient,
    ListExpiredError,
    connection_options,
    describe_request,
)

FAST = {"retry_backoff": 0.01}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No connection settings leak in from the machine running the tests."""
    for variable in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(variable, raising=False)
    import os  # pylint: disable=import-outside-toplevel
    for variable in list(os.environ):
        if variable.startswith("K8S_AUTH_"):
            monkeypatch.delenv(variable)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


def client_for(cluster, **options):
    merged = dict(FAST)
    merged.update(options)
    return KubeClient(kubeconfig=cluster.kubeconfig, **merged)


def records_for(cluster, path_start):
    return [record for record in cluster.control.audit() if record["path"].startswith(path_start)]


# ----------------------------------------------------------------- options


def test_connection_options_read_k8s_auth_variables_for_unset_params():
    environ = {
        "K8S_AUTH_KUBECONFIG": "/k/config",
        "K8S_AUTH_CONTEXT": "prod",
        "K8S_AUTH_VERIFY_SSL": "no",
        "K8S_AUTH_SSL_CA_CERT": "/ca.pem",
        "K8S_AUTH_CERT_FILE": "/c.pem",
        "K8S_AUTH_KEY_FILE": "/k.pem",
        "K8S_AUTH_IMPERSONATE_GROUPS": "ops,,audit",
        "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "me/1.0",
    }
    options = connection_options({"context": "staging", "host": None}, environ=environ)
    assert options["kubeconfig"] == "/k/config"
    assert options["context"] == "staging"  # a param beats the variable
    assert options["validate_certs"] is False
    assert options["ca_cert"] == "/ca.pem"
    assert options["client_cert"] == "/c.pem"
    assert options["client_key"] == "/k.pem"
    assert options["impersonate_groups"] == ["ops", "audit"]
    assert options["proxy_headers"] == {"user_agent": "me/1.0"}
    assert options["host"] is None


def test_empty_k8s_auth_variables_are_unset():
    """AWX's kubeconfig credential injects K8S_AUTH_CONTEXT="" when its Context field is left empty."""
    options = connection_options({}, environ={"K8S_AUTH_KUBECONFIG": "/k/config", "K8S_AUTH_CONTEXT": "", "K8S_AUTH_HOST": ""})
    assert options["kubeconfig"] == "/k/config" and options["context"] is None and options["host"] is None
    # The same variable reaches a module option through its env_fallback as "".
    assert connection_options({"context": "", "kubeconfig": "/k/config"}, environ={})["context"] is None


def test_connection_options_accept_kubernetes_core_aliases_and_prefer_validate_certs_variable():
    options = connection_options({"verify_ssl": False, "ssl_ca_cert": "/ca", "cert_file": "/c", "key_file": "/k"}, environ={})
    assert (options["validate_certs"], options["ca_cert"], options["client_cert"], options["client_key"]) == (False, "/ca", "/c", "/k")
    options = connection_options({}, environ={"K8S_AUTH_VALIDATE_CERTS": "true", "K8S_AUTH_VERIFY_SSL": "false"})
    assert options["validate_certs"] is True


@pytest.mark.parametrize("method, path, expected", [
    ("GET", "/api/v1/namespaces/shop/secrets", ("list", "secrets", "shop")),
    ("GET", "/api/v1/namespaces/shop/secrets/db?x=1", ("get", "secrets", "shop")),
    ("GET", "/api/v1/namespaces", ("list", "namespaces", None)),
    ("GET", "/api/v1/namespaces/shop", ("get", "namespaces", None)),
    ("GET", "/apis/apps/v1/deployments", ("list", "deployments.apps", None)),
    ("POST", "/apis/shop.example.com/v1/namespaces/a/coupons", ("create", "coupons.shop.example.com", "a")),
    ("PUT", "/api/v1/namespaces/a/pods/p/status", ("update", "pods/status", "a")),
    ("DELETE", "/api/v1/namespaces/a/configmaps", ("deletecollection", "configmaps", "a")),
])
def test_describe_request_names_verb_resource_and_namespace(method, path, expected):
    described = describe_request(method, path)
    assert (described["verb"], described["resource"], described["namespace"]) == expected


# ------------------------------------------------------- kubeconfig resolution


def test_kubeconfig_path_option(cluster):
    client = client_for(cluster)
    assert client.version()["major"] == "1"
    assert client.server_url == cluster.url
    assert cluster.kubeconfig in client.source


def test_k8s_auth_kubeconfig_variable(cluster, monkeypatch):
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", cluster.kubeconfig)
    client = KubeClient(**connection_options({"kubeconfig": None}))
    assert client.request("GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default"


def test_kubeconfig_variable_is_the_default(cluster, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", cluster.kubeconfig)
    client = KubeClient(**connection_options({}))
    assert client.server_url == cluster.url
    assert client.version()["gitVersion"]


def test_context_selects_the_cluster(kubesim_factory, tmp_path):
    first, second = kubesim_factory(name="first"), kubesim_factory(name="second")
    documents = [yaml.safe_load(open(each.kubeconfig)) for each in (first, second)]
    merged = {"apiVersion": "v1", "kind": "Config", "current-context": "one", "clusters": [], "users": [], "contexts": []}
    for name, document in zip(("one", "two"), documents):
        merged["clusters"].append({"name": name, "cluster": document["clusters"][0]["cluster"]})
        merged["users"].append({"name": name, "user": document["users"][0]["user"]})
        merged["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    path = tmp_path / "merged"
    path.write_text(yaml.safe_dump(merged))

    assert KubeClient(kubeconfig=str(path)).server_url == first.url
    client = KubeClient(kubeconfig=str(path), context="two")
    assert client.server_url == second.url
    assert "context two" in client.source
    assert KubeClient(kubeconfig=merged, context="two").server_url == second.url  # a kubeconfig dict works too

    with pytest.raises(ConfigurationError) as raised:
        KubeClient(kubeconfig=str(path), context="three")
    assert "'three'" in str(raised.value) and "one, two" in str(raised.value) and "K8S_AUTH_CONTEXT" in str(raised.value)


def test_missing_kubeconfig_names_the_option(tmp_path):
    missing = str(tmp_path / "nowhere" / "config")
    with pytest.raises(ConfigurationError) as raised:
        KubeClient(**connection_options({"kubeconfig": missing}))
    assert missing in str(raised.value)
    assert "kubeconfig" in str(raised.value) and "K8S_AUTH_KUBECONFIG" in str(raised.value)


def test_nothing_configured_says_what_to_set():
    with pytest.raises(ConfigurationError) as raised:
        KubeClient(**connection_options({}))
    assert "K8S_AUTH_KUBECONFIG" in str(raised.value) and "K8S_AUTH_HOST" in str(raised.value)


def test_unreadable_kubeconfig_is_a_configuration_error(tmp_path):
    path = tmp_path / "config"
    path.write_text("clusters: [\n")
    with pytest.raises(ConfigurationError) as raised:
        KubeClient(kubeconfig=str(path))
    assert str(path) in str(raised.value)


# --------------------------------------------------------- tokens and TLS


def test_host_and_api_key_without_kubeconfig(kubesim_factory):
    cluster = kubesim_factory(token="t")
    client = KubeClient(**connection_options({"host": cluster.url + "/", "api_key": "t"}))
    assert client.source == "host and credential options"
    assert client.request("GET", "/api/v1/namespaces")["items"]
    assert records_for(cluster, "/api/v1/namespaces")[-1]["user"] == "kubesim-admin"


def test_api_key_overrides_the_kubeconfig_token(kubesim_factory, monkeypatch):
    cluster = kubesim_factory(token="t")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "s3cr3t-token")
    with pytest.raises(ApiError) as raised:
        KubeClient(**connection_options({"kubeconfig": cluster.kubeconfig})).request("GET", "/api/v1/namespaces/shop/secrets")
    error = raised.value
    assert error.status == 401
    assert str(error).startswith("GET /api/v1/namespaces/shop/secrets: 401 Unauthorized")
    assert "K8S_AUTH_API_KEY" in str(error) and "kubeconfig" in str(error)
    assert "s3cr3t" not in str(error)  # never the secret itself
    assert "with the api_key option" in str(error)
    assert len(records_for(cluster, "/api/v1/namespaces/shop/secrets")) == 1  # 401 is not retried


def test_tls_with_ca_verification(kubesim_factory):
    cluster = kubesim_factory(use_tls=True, token="t")
    ca_cert = cluster.sim.certificates.ca_cert
    assert cluster.url.startswith("https://")
    assert client_for(cluster).version()["major"] == "1"  # CA from the kubeconfig
    client = KubeClient(host=cluster.url, api_key="t", ca_cert=ca_cert, **FAST)
    assert client.request("GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default"

    with pytest.raises(ClusterAccessError) as raised:
        KubeClient(host=cluster.url, api_key="t", **FAST).version()  # the system CAs do not know the emulator's CA
    assert "ca_cert" in str(raised.value) and "validate_certs" in str(raised.value)

    with pytest.raises(ConfigurationError) as raised:
        KubeClient(host=cluster.url, api_key="t", ca_cert=ca_cert + ".missing")
    assert "ca_cert" in str(raised.value) and "K8S_AUTH_SSL_CA_CERT" in str(raised.value)

    unverified = KubeClient(**connection_options({"host": cluster.url, "api_key": "t"}, environ={"K8S_AUTH_VERIFY_SSL": "false"}))
    assert unverified.version()["major"] == "1"


# ----------------------------------------------------------------- errors


def test_not_found_is_an_api_error_with_the_status(cluster):
    with pytest.raises(ApiError) as raised:
        client_for(cluster).request("GET", "/api/v1/namespaces/default/configmaps/missing")
    assert raised.value.status == 404
    assert raised.value.reason == "NotFound"
    assert raised.value.body["kind"] == "Status"


def test_forbidden_names_verb_resource_and_namespace(cluster):
    cluster.control.add_fault(action="status", status=403, verbs=["list"], resources=["secrets"], namespaces=["shop"])
    with pytest.raises(ApiError) as raised:
        client_for(cluster).request("GET", "/api/v1/namespaces/shop/secrets")
    message = str(raised.value)
    assert raised.value.status == 403
    assert message.startswith("GET /api/v1/namespaces/shop/secrets: 403 Forbidden")
    assert "needs list on secrets in namespace shop" in message and "K8S_AUTH_API_KEY" in message


def test_connection_refused_names_the_server_and_kubeconfig(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = "http://127.0.0.1:%d" % port
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": url}}], "users": [{"name": "gone", "user": {"token": "x"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}]}))
    started = time.monotonic()
    with pytest.raises(ClusterAccessError) as raised:
        KubeClient(kubeconfig=str(path), **FAST).version()
    assert time.monotonic() - started < 30  # refused at once: not even two 15 s connect timeouts (room for a loaded machine)
    message = str(raised.value)
    assert url in message and str(path) in message and "context gone" in message
    assert "3 attempt(s)" in message


# ---------------------------------------------------------------- retries


def test_429_is_retried_after_retry_after(cluster):
    cluster.control.add_fault(action="status", status=429, retry_after=1, verbs=["list"], resources=["configmaps"], count=2)
    started = time.monotonic()
    answer = client_for(cluster).request("GET", "/api/v1/namespaces/default/configmaps")
    assert time.monotonic() - started >= 1.9  # two Retry-After: 1 waits
    assert answer["kind"] == "ConfigMapList"
    assert [record["code"] for record in records_for(cluster, "/api/v1/namespaces/default/configmaps")] == [429, 429, 200]


@pytest.mark.parametrize("fault", [{"action": "status", "status": 503}, {"action": "status", "status": 500}, {"action": "drop"}])
def test_server_errors_and_dropped_connections_are_retried(cluster, fault):
    cluster.control.add_fault(verbs=["list"], resources=["configmaps"], count=2, **fault)
    answer = client_for(cluster).request("GET", "/api/v1/configmaps")
    assert answer["kind"] == "ConfigMapList"
    codes = [record["code"] for record in records_for(cluster, "/api/v1/configmaps")]
    assert len(codes) == 3 and codes[-1] == 200


def test_exhausted_retries_raise(cluster):
    cluster.control.add_fault(action="status", status=503, verbs=["list"], resources=["configmaps"])
    with pytest.raises(ApiError) as raised:
        client_for(cluster, max_retries=2).request("GET", "/api/v1/configmaps")
    assert raised.value.status == 503
    assert "gave up after 2 retries" in str(raised.value)
    assert len(records_for(cluster, "/api/v1/configmaps")) == 3

    cluster.control.clear_faults()
    cluster.control.add_fault(action="drop", verbs=["list"], resources=["secrets"])
    with pytest.raises(ClusterAccessError) as raised:
        client_for(cluster, max_retries=1).request("GET", "/api/v1/secrets")
    assert "lost the connection" in str(raised.value) and cluster.url in str(raised.value)


def test_create_with_generate_name_is_not_resent_after_a_drop(cluster):
    cluster.control.add_fault(action="drop", verbs=["create"], resources=["configmaps"], count=1)
    with pytest.raises(ClusterAccessError):
        client_for(cluster).request("POST", "/api/v1/namespaces/default/configmaps", body={"metadata": {"generateName": "x-"}})
    assert len(records_for(cluster, "/api/v1/namespaces/default/configmaps")) == 1

    cluster.control.add_fault(action="drop", verbs=["create"], resources=["configmaps"], count=1)
    created = client_for(cluster).request("POST", "/api/v1/namespaces/default/configmaps", body={"metadata": {"name": "named"}})
    assert created["metadata"]["name"] == "named"


# ------------------------------------------------------------- pagination


def seed_configmaps(cluster, count):
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}}]
    objects += [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%05d" % index, "namespace": "bulk"},
                 "data": {"index": str(index)}} for index in range(count)]
    cluster.control.seed(objects)


def test_list_pages_returns_every_object_once(cluster):
    seed_configmaps(cluster, 1205)
    pages = list(client_for(cluster).list_pages("/api/v1/namespaces/bulk/configmaps", limit=250))
    names = [item["metadata"]["name"] for page in pages for item in page["items"]]
    assert len(pages) == 5
    assert len(names) == len(set(names))
    assert set(names) == set("cm-%05d" % index for index in range(1205)) | {"kube-root-ca.crt"}
    continues = [record["path"] for record in records_for(cluster, "/api/v1/namespaces/bulk/configmaps")]
    assert all("limit=250" in path for path in continues) and sum("continue=" in path for path in continues) == 4


def test_list_pages_passes_the_query(cluster):
    seed_configmaps(cluster, 3)
    pages = list(client_for(cluster).list_pages("/api/v1/configmaps", query={"fieldSelector": "metadata.name=cm-00001"}))
    assert [item["metadata"]["name"] for page in pages for item in page["items"]] == ["cm-00001"]


def test_expired_continue_token_is_a_clear_error(cluster):
    seed_configmaps(cluster, 30)
    pages = client_for(cluster).list_pages("/api/v1/namespaces/bulk/configmaps", limit=10)
    assert len(next(pages)["items"]) == 10
    cluster.control.compact()
    with pytest.raises(KubesafeError) as raised:
        next(pages)
    assert isinstance(raised.value, ListExpiredError) and raised.value.status == 410
    assert "410 Expired after 1 pages (10 objects)" in str(raised.value)
    assert "took longer" in str(raised.value) and "page size" not in str(raised.value)


def test_expired_continue_token_lists_again_without_repeating_objects(cluster):
    seed_configmaps(cluster, 95)
    # The third page's token expires: 20 objects were handed over already.
    cluster.control.add_fault(action="compact", verbs=["list"], resources=["configmaps"], continued=True, after=1, count=1)
    relists = []
    pages = list(client_for(cluster).list_pages_relisting("/api/v1/namespaces/bulk/configmaps", limit=10,
                                                          on_relist=lambda number, error: relists.append((number, error.status))))
    names = [item["metadata"]["name"] for page in pages for item in page["items"]]
    assert relists == [(1, 410)]
    assert len(names) == len(set(names)) == 96
    first_pages = [record for record in records_for(cluster, "/api/v1/namespaces/bulk/configmaps") if "continue=" not in record["path"]]
    assert len(first_pages) == 2  # listed again from the start


def test_a_list_that_keeps_expiring_gives_up_after_the_relists(cluster):
    seed_configmaps(cluster, 30)
    cluster.control.add_fault(action="compact", verbs=["list"], resources=["configmaps"], continued=True)
    relists = []
    with pytest.raises(ListExpiredError) as raised:
        for _page in client_for(cluster).list_pages_relisting("/api/v1/namespaces/bulk/configmaps", limit=10, max_relists=2,
                                                              on_relist=lambda number, error: relists.append(number)):
            pass
    assert relists == [1, 2] and raised.value.status == 410
    assert str(raised.value).startswith("410 Expired after 2 re-lists")
    assert len([r for r in records_for(cluster, "/api/v1/namespaces/bulk/configmaps") if "continue=" not in r["path"]]) == 3


def test_concurrent_lists_share_the_pool(cluster):
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
    seed_configmaps(cluster, 200)
    client = client_for(cluster)
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda _index: sum(len(page["items"]) for page in client.list_pages("/api/v1/namespaces/bulk/configmaps", limit=50)),
                               range(16)))
    assert counts == [201] * 16


class HeaderRecorder:
    """A bare HTTP server that answers {} and keeps the headers and the request target of each request."""

    def __init__(self):
        import http.server  # pylint: disable=import-outside-toplevel
        import threading  # pylint: disable=import-outside-toplevel
        recorded = self.requests = []
        targets = self.targets = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                recorded.append(self.headers)
                targets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_impersonation_headers_one_line_per_group():
    recorder = HeaderRecorder()
    try:
        client = KubeClient(**connection_options({"host": recorder.url, "api_key": "tok", "impersonate_user": "jane"},
                                                 environ={"K8S_AUTH_IMPERSONATE_GROUPS": "ops,audit"}))
        assert client.request("GET", "/api/v1/pods") == {}
    finally:
        recorder.stop()
    (headers,) = recorder.requests
    assert headers["Authorization"] == "Bearer tok"
    assert headers["Impersonate-User"] == "jane"
    assert headers.get_all("Impersonate-Group") == ["ops", "audit"]
    assert headers["Accept"] == "application/json"


def test_request_targets_keep_the_servers_path_and_urllib3s_encoding():
    # Plain paths go to the host's connection pool directly; the others through the pool manager, which encodes them.
    recorder = HeaderRecorder()
    try:
        client = KubeClient(**connection_options({"host": recorder.url + "/k8s/clusters/c-1", "api_key": "tok"}))
        client.request("GET", "/api/v1/namespaces/shop/configmaps", query={"labelSelector": "app=web,tier in (a,b)", "limit": 5})
        client.request("GET", "/api/v1/namespaces/shop/configmaps/a b")
        client.request("GET", "/api/v1/namespaces/shop/configmaps/./web")
        client.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-view")
        client.close()
        client.request("GET", "/version")  # a closed client opens new connections, as the pool manager does
    finally:
        recorder.stop()
    assert recorder.targets == [
        "/k8s/clusters/c-1/api/v1/namespaces/shop/configmaps?labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&limit=5",
        "/k8s/clusters/c-1/api/v1/namespaces/shop/configmaps/a%20b",
        "/k8s/clusters/c-1/api/v1/namespaces/shop/configmaps/web",
        "/k8s/clusters/c-1/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-view",
        "/k8s/clusters/c-1/version",
    ]
    assert all(headers["Authorization"] == "Bearer tok" and headers["User-Agent"] == "kubesafe.k8s" for headers in recorder.requests)


def test_a_host_url_urllib3_cannot_parse_fails_at_the_first_request_naming_the_option():
    client = KubeClient(max_retries=0, **connection_options({"host": "http://127.0.0.1:notaport", "api_key": "tok"}))
    with pytest.raises(ConfigurationError, match=r"the API server URL 'http://127.0.0.1:notaport' is not valid \(host option, K8S_AUTH_HOST"):
        client.request("GET", "/version")


def test_handed_over_objects_are_remembered_on_disk_not_in_memory():
    # pylint: disable=protected-access
    handed_over = client_module._HandedOver()

    def item(namespace, name):
        return {"metadata": {"namespace": namespace, "name": name}}

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for page in range(200):
            handed_over.add([item("shop", "cm-%d-%d" % (page, index)) for index in range(500)])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 64 * 1024  # 100,000 objects: a file buffer, not 1.6 MB of digests or 10 MB of strings
    handed_over._file.flush()
    assert os.fstat(handed_over._file.fileno()).st_size == 16 * 100000
    handed_over.add([item(None, "cluster-wide")])
    assert item("shop", "cm-199-499") in handed_over and item(None, "cluster-wide") in handed_over
    assert handed_over._file is None  # read back once for the re-list, then closed
    # Created after the first attempt: not handed over.
    assert item("shop", "cm-200-0") not in handed_over and item("shop", "cluster-wide") not in handed_over
    handed_over.add([item("shop", "after-relist")])
    assert item("shop", "after-relist") in handed_over

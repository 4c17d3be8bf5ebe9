"""pods/log, pods/eviction, pods/binding, serviceaccounts/token and namespaces/finalize answer like kube-apiserver."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import base64
import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

NAMESPACE = "apps"


def _pod(name, node="kubesim-node-1", labels=None):
    spec = {"containers": [{"name": "app", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}},
            "spec": spec, "status": {"phase": "Running"}}


@pytest.fixture(name="sim")
def sim_fixture(kubesim_factory):
    emulated = kubesim_factory(run_controllers=False)
    emulated.sim.seed([_pod("app-0"), _pod("guarded-0", labels={"app": "guarded"}), _pod("floating-0", node=None),
                       {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "backup", "namespace": NAMESPACE}},
                       {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guard", "namespace": NAMESPACE},
                        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
                        "status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}}])
    return emulated


@pytest.fixture(name="core")
def core_fixture(sim):
    return client.CoreV1Api(sim.api_client())


def test_pod_log_serves_the_scripted_container_log_with_tail_lines(sim, core):
    sim.sim.exec_registry.set_container_log(NAMESPACE, "app-0", "app", "one\ntwo\nthree\n")
    assert core.read_namespaced_pod_log("app-0", NAMESPACE) == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("app-0", NAMESPACE, tail_lines=2) == "two\nthree\n"
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod_log("app-0", NAMESPACE, container="nope")
    assert raised.value.status == 400


def test_eviction_deletes_the_pod_unless_its_budget_forbids(core):
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name="app-0", namespace=NAMESPACE))
    core.create_namespaced_pod_eviction("app-0", NAMESPACE, eviction)
    assert "app-0" not in [pod.metadata.name for pod in core.list_namespaced_pod(NAMESPACE).items]
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod_eviction("guarded-0", NAMESPACE, client.V1Eviction(metadata=client.V1ObjectMeta(name="guarded-0")))
    assert raised.value.status == 429
    assert json.loads(raised.value.body)["details"]["causes"][0]["reason"] == "DisruptionBudget"


def test_binding_assigns_the_node_once(core):
    binding = client.V1Binding(metadata=client.V1ObjectMeta(name="floating-0"), target=client.V1ObjectReference(kind="Node", name="node-b"))
    core.create_namespaced_pod_binding("floating-0", NAMESPACE, binding, _preload_content=False)
    assert core.read_namespaced_pod("floating-0", NAMESPACE).spec.node_name == "node-b"
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod_binding("floating-0", NAMESPACE, binding, _preload_content=False)
    assert raised.value.status == 409


def test_token_request_returns_a_jwt_shaped_token_for_the_service_account(core):
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=["https://s3.example"], expiration_seconds=900))
    answer = core.create_namespaced_service_account_token("backup", NAMESPACE, request)
    header, claims, _ = answer.status.token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"] == "RS256"
    assert decoded["sub"] == "system:serviceaccount:apps:backup"
    assert decoded["aud"] == ["https://s3.example"]
    assert answer.status.expiration_timestamp is not None
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_service_account_token("ghost", NAMESPACE, request)
    assert raised.value.status == 404


def test_finalize_replaces_only_the_spec_finalizers(core):
    namespace = core.read_namespace(NAMESPACE)
    namespace.spec = client.V1NamespaceSpec(finalizers=["example.com/hold"])
    namespace.metadata.labels = {"ignored": "yes"}
    finalized = core.replace_namespace_finalize(NAMESPACE, namespace)
    assert finalized.spec.finalizers == ["example.com/hold"]
    assert "ignored" not in (finalized.metadata.labels or {})


def test_other_subresource_methods_are_405(sim):
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(sim.url + "/api/v1/namespaces/apps/pods/app-0/eviction", timeout=10)  # pylint: disable=consider-using-with
    assert raised.value.code == 405
    assert json.loads(raised.value.read())["reason"] == "MethodNotAllowed"

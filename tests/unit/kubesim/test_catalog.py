"""The built-in resource catalogue matches kube-apiserver and the installed kubernetes client."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import importlib.metadata
import inspect
import re

import kubernetes.client
import pytest

from kubesim import catalog
from kubesim.types import ResourceType

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
ITEM_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@pytest.fixture(name="served")
def served_fixture():
    return catalog.builtin_resource_types()


@pytest.fixture(name="every_version")
def every_version_fixture():
    return catalog.builtin_resource_types(include_prerelease=True)


def find(resource_types, group, plural, version="v1"):
    matches = [rt for rt in resource_types if (rt.group, rt.version, rt.plural) == (group, version, plural)]
    assert len(matches) == 1, f"{group}/{version} {plural} served {len(matches)} times"
    return matches[0]


class _RequestRecorder:
    """Stands in for the client's ApiClient and keeps every request an API method would send."""

    def __init__(self):
        self.requests = []

    def param_serialize(self, method, resource_path, **_):
        self.requests.append((method, resource_path))

    def select_header_accept(self, _accepts):
        return None

    def select_header_content_type(self, _content_types):
        return None


def client_requests(api_class):
    """(HTTP method, path template) of every operation of a client API class, as the client itself builds them."""
    recorder = _RequestRecorder()
    api = api_class(api_client=recorder)
    for name, serialize in inspect.getmembers(api, inspect.ismethod):
        if name.startswith("_") and name.endswith("_serialize"):
            serialize(*[None] * len(inspect.signature(serialize).parameters))
    return recorder.requests


def client_api_classes():
    return [api_class for name, api_class in inspect.getmembers(kubernetes.client, inspect.isclass)
            if name.endswith("Api") and api_class.__module__.startswith("kubernetes.client.api.")]


def path_templates(resource_types):
    """Path template -> (resource type, verb by HTTP method; None for a subresource) for catalogue entries."""
    templates = {}
    for resource_type in resource_types:
        collection = resource_type.base_path("{namespace}")
        item = collection + "/{name}"
        # For a namespaced resource, base_path() is the list across all namespaces.
        templates[resource_type.base_path()] = (resource_type, {"GET": "list"})
        templates[collection] = (resource_type, COLLECTION_VERBS)
        templates[item] = (resource_type, ITEM_VERBS)
        for subresource in resource_type.subresources:
            templates[item + "/" + subresource] = (resource_type, None)
            templates[item + "/" + subresource + "/{path}"] = (resource_type, None)
    return templates


def test_by_default_only_ga_versions_are_served(served, every_version):
    assert served
    assert all(re.fullmatch(r"v\d+", rt.version) for rt in served)
    assert set(served) < set(every_version)
    assert any("alpha" in rt.version for rt in every_version)
    assert any("beta" in rt.version for rt in every_version)


def test_a_group_serves_all_its_ga_versions_and_prefers_the_highest(served):
    autoscaling_versions = {rt.version for rt in served if rt.group == "autoscaling"}
    assert autoscaling_versions == {"v1", "v2"}
    assert catalog.preferred_versions(served)["autoscaling"] == "v2"
    assert catalog.preferred_versions(served)[""] == "v1"
    assert catalog.preferred_versions(served)["apps"] == "v1"


def test_preferred_version_follows_kube_priority():
    def resource_type(version):
        return ResourceType(group="example.com", version=version, kind="Widget", plural="widgets", singular="widget", namespaced=True)

    assert catalog.preferred_versions([resource_type("v1alpha1"), resource_type("v1beta2")]) == {"example.com": "v1beta2"}
    assert catalog.preferred_versions([resource_type("v2beta1"), resource_type("v1")]) == {"example.com": "v1"}
    assert catalog.preferred_versions([]) == {}


def test_every_resource_type_is_complete(every_version):
    for rt in every_version:
        assert rt.plural and rt.kind and rt.verbs, rt
        assert rt.singular == rt.kind.lower()
        assert rt.kind[0].isupper() and not rt.kind.endswith("List")
        assert list(rt.verbs) == sorted(rt.verbs) and set(rt.verbs) <= set(ALL_VERBS)
        assert not rt.from_crd


def test_no_resource_is_served_twice(every_version):
    keys = [(rt.group, rt.version, rt.plural) for rt in every_version]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "ConfigMap", "Secret", "CustomResourceDefinition", "Namespace",
                                  "StorageClass", "ClusterRole", "HorizontalPodAutoscaler", "APIService"])
def test_well_known_kinds_are_served(served, kind):
    assert kind in {rt.kind for rt in served}


@pytest.mark.parametrize("group, plural", [
    ("", "namespaces"), ("", "nodes"), ("", "persistentvolumes"), ("", "componentstatuses"),
    ("storage.k8s.io", "storageclasses"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"), ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("apiregistration.k8s.io", "apiservices"), ("scheduling.k8s.io", "priorityclasses"),
])
def test_cluster_scoped_resources(served, group, plural):
    assert not find(served, group, plural).namespaced


@pytest.mark.parametrize("group, plural", [
    ("", "pods"), ("", "secrets"), ("", "configmaps"), ("", "events"), ("", "serviceaccounts"),
    ("apps", "deployments"), ("rbac.authorization.k8s.io", "roles"), ("events.k8s.io", "events"),
    ("authorization.k8s.io", "localsubjectaccessreviews"),
])
def test_namespaced_resources(served, group, plural):
    assert find(served, group, plural).namespaced


def test_events_are_served_by_core_and_events_groups(served):
    core_events = find(served, "", "events")
    events_group_events = find(served, "events.k8s.io", "events")
    assert core_events.kind == events_group_events.kind == "Event"
    assert core_events.short_names == events_group_events.short_names == ("ev",)


def test_subresources(served):
    pod_subresources = set(find(served, "", "pods").subresources)
    assert {"status", "exec", "log", "binding", "eviction", "ephemeralcontainers", "attach", "portforward", "proxy"} <= pod_subresources
    assert find(served, "apps", "deployments").subresources == ("scale", "status")
    assert find(served, "", "replicationcontrollers").subresources == ("scale", "status")
    assert find(served, "", "serviceaccounts").subresources == ("token",)
    assert find(served, "", "namespaces").subresources == ("finalize", "status")
    assert find(served, "", "services").subresources == ("proxy", "status")
    assert find(served, "certificates.k8s.io", "certificatesigningrequests").subresources == ("approval", "status")
    assert find(served, "", "configmaps").subresources == ()
    assert find(served, "apps", "deployments").has_status


def test_verbs_as_discovery_lists_them(served):
    assert find(served, "", "pods").verbs == ALL_VERBS
    assert find(served, "", "namespaces").verbs == ("create", "delete", "get", "list", "patch", "update", "watch")
    assert find(served, "", "componentstatuses").verbs == ("get", "list")
    assert find(served, "", "bindings").verbs == ("create",)
    for group, plural in [("authentication.k8s.io", "tokenreviews"), ("authentication.k8s.io", "selfsubjectreviews"),
                          ("authorization.k8s.io", "subjectaccessreviews"), ("authorization.k8s.io", "selfsubjectaccessreviews"),
                          ("authorization.k8s.io", "selfsubjectrulesreviews"), ("authorization.k8s.io", "localsubjectaccessreviews")]:
        assert find(served, group, plural).verbs == ("create",), plural


def test_short_names_and_categories(served):
    assert find(served, "", "pods").short_names == ("po",)
    assert find(served, "apps", "deployments").short_names == ("deploy",)
    assert find(served, "apiextensions.k8s.io", "customresourcedefinitions").short_names == ("crd", "crds")
    assert find(served, "", "secrets").short_names == ()
    in_all = {(rt.group, rt.plural) for rt in served if "all" in rt.categories}
    assert in_all == {("", "pods"), ("", "services"), ("", "replicationcontrollers"), ("apps", "deployments"),
                      ("apps", "daemonsets"), ("apps", "statefulsets"), ("apps", "replicasets"), ("batch", "jobs"),
                      ("batch", "cronjobs"), ("autoscaling", "horizontalpodautoscalers")}
    assert find(served, "apiextensions.k8s.io", "customresourcedefinitions").categories == ("api-extensions",)


def test_every_short_name_and_category_belongs_to_a_served_resource(every_version):
    """A renamed or dropped resource must not leave the hand-kept table behind."""
    served_group_resources = {rt.group_resource for rt in every_version}
    # pylint: disable=protected-access
    hand_kept = set(catalog._SHORT_NAMES) | catalog._ALL_CATEGORY | catalog._API_EXTENSIONS_CATEGORY | catalog._UNWATCHABLE
    assert hand_kept <= served_group_resources


def test_core_v1_api_paths_resolve_in_the_catalog(served):
    """Paths the client's CoreV1Api really requests are served, with the verb their HTTP method implies."""
    templates = path_templates(served)
    core_requests = [(method, path) for method, path in client_requests(kubernetes.client.CoreV1Api)
                     if path.startswith("/api/v1/") and path != "/api/v1/"]
    assert len(core_requests) > 100
    for method, path in core_requests:
        assert path in templates, path
        resource_type, verb_by_method = templates[path]
        if verb_by_method is not None:
            assert verb_by_method[method] in resource_type.verbs, (method, path)


def test_catalog_and_client_agree_on_every_resource_path(every_version):
    """Nothing the client can request is missing, and nothing is served that the client does not know."""
    served_roots = {rt.base_path().rsplit("/", 1)[0] for rt in every_version}
    client_paths = {path for api_class in client_api_classes() for _, path in client_requests(api_class)
                    if any(path.startswith(root + "/") and len(path) > len(root) + 1 for root in served_roots)}
    assert client_paths <= set(path_templates(every_version))
    for rt in every_version:
        assert rt.base_path("{namespace}") in client_paths, rt
        for subresource in rt.subresources:
            assert rt.base_path("{namespace}") + "/{name}/" + subresource in client_paths, (rt, subresource)


def test_results_are_cached_but_not_shared(served):
    served.clear()
    assert catalog.builtin_resource_types()


def test_kubernetes_version_matches_the_client_release():
    version = catalog.kubernetes_version()
    client_major = importlib.metadata.version("kubernetes").split(".")[0]
    assert version["major"] == "1"
    assert version["minor"] == client_major
    assert version["gitVersion"] == f"v1.{client_major}.0"
    assert f"release-1.{client_major}" in kubernetes.client.Configuration().to_debug_report()
    assert re.fullmatch(r"[0-9a-f]{40}", version["gitCommit"])
    assert version["gitTreeState"] == "clean"
    assert version["compiler"] == "gc"
    assert re.fullmatch(r"go\d+\.\d+\.\d+", version["goVersion"])
    assert re.fullmatch(r"[a-z]+/[a-z0-9]+", version["platform"])
    # The client's own model of GET /version accepts it.
    assert kubernetes.client.VersionInfo.from_dict(version).git_version == version["gitVersion"]

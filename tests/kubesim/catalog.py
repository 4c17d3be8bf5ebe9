"""Catalogue of the built-in resource types the emulator serves.

The catalogue is read from the installed ``kubernetes`` Python client, which is
generated from kube-apiserver's OpenAPI document: every operation of its API
classes carries an HTTP method, a path such as
``/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale`` and a
response model such as ``V1Deployment``. Grouping those operations by path
gives each resource's group, version, scope, verbs, kind and subresources, so
the emulator serves the API of the Kubernetes release the client was built for.
"""

import functools
import hashlib
import importlib.metadata
import importlib.util
import pathlib
import pkgutil
import platform
import re
from collections import namedtuple
from dataclasses import dataclass, field

from kubesim.types import ResourceType, version_priority_key

_CLIENT_PACKAGE = "kubernetes"
_CLIENT_API_PACKAGE = "kubernetes.client.api"

_ApiOperation = namedtuple("_ApiOperation", "name http_method path response_type")

# The generated API classes keep each operation's request in a private
# ``_<operation>_serialize`` method and its response models in the public
# ``<operation>`` method's ``_response_types_map``.
_METHOD_DEF_RE = re.compile(r"^[ \t]+def (\w+)\(", re.MULTILINE)
_REQUEST_RE = re.compile(r"""method=["'](?P<http_method>[A-Z]+)["'],\s*resource_path=["'](?P<path>[^"']+)["']""")
_RESPONSE_MAP_RE = re.compile(r"_response_types_map\b[^=]*=\s*\{(?P<entries>[^}]*)\}")
_RESPONSE_ENTRY_RE = re.compile(r"""["'](?P<status>\d{3})["']:\s*["'](?P<model>\w+)["']""")
_SUCCESS_STATUSES = ("200", "201", "202")

# Resource paths: /api/<version>/... for the core group, /apis/<group>/<version>/...
# otherwise. Templated groups (the custom objects API) do not match.
_RESOURCE_PATH_RE = re.compile(r"^/(?:api/(?P<core_version>v\w+)|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v\w+))/(?P<rest>[^{].*)$")
# Model names are <optional group prefix><version><Kind>: V1Pod, V1beta1FlowSchema, CoreV1Event.
_MODEL_KIND_RE = re.compile(r"^(?:[A-Z][a-z]+)*?V\d+(?:(?:alpha|beta)\d+)?(?P<kind>[A-Z]\w*)$")
_GA_VERSION_RE = re.compile(r"^v\d+$")

_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
_ITEM_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

# Discovery data the OpenAPI document behind the client does not carry, copied
# from kube-apiserver's discovery (kubernetes/kubernetes api/discovery/*.json).
# Only resources that have short names or categories are listed; keyed by (group, plural).
_SHORT_NAMES = {
    ("", "componentstatuses"): ("cs",),
    ("", "configmaps"): ("cm",),
    ("", "endpoints"): ("ep",),
    ("", "events"): ("ev",),
    ("", "limitranges"): ("limits",),
    ("", "namespaces"): ("ns",),
    ("", "nodes"): ("no",),
    ("", "persistentvolumeclaims"): ("pvc",),
    ("", "persistentvolumes"): ("pv",),
    ("", "pods"): ("po",),
    ("", "replicationcontrollers"): ("rc",),
    ("", "resourcequotas"): ("quota",),
    ("", "serviceaccounts"): ("sa",),
    ("", "services"): ("svc",),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("crd", "crds"),
    ("apps", "daemonsets"): ("ds",),
    ("apps", "deployments"): ("deploy",),
    ("apps", "replicasets"): ("rs",),
    ("apps", "statefulsets"): ("sts",),
    ("autoscaling", "horizontalpodautoscalers"): ("hpa",),
    ("batch", "cronjobs"): ("cj",),
    ("certificates.k8s.io", "certificatesigningrequests"): ("csr",),
    ("events.k8s.io", "events"): ("ev",),
    ("networking.k8s.io", "ingresses"): ("ing",),
    ("networking.k8s.io", "ipaddresses"): ("ip",),
    ("networking.k8s.io", "networkpolicies"): ("netpol",),
    ("policy", "poddisruptionbudgets"): ("pdb",),
    ("scheduling.k8s.io", "priorityclasses"): ("pc",),
    ("storage.k8s.io", "storageclasses"): ("sc",),
    ("storage.k8s.io", "volumeattributesclasses"): ("vac",),
}
_ALL_CATEGORY = {
    ("", "pods"), ("", "replicationcontrollers"), ("", "services"),
    ("apps", "daemonsets"), ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
    ("autoscaling", "horizontalpodautoscalers"), ("batch", "cronjobs"), ("batch", "jobs"),
}
_API_EXTENSIONS_CATEGORY = {
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("apiregistration.k8s.io", "apiservices"),
}
# The client gives every list operation a ``watch`` parameter, but these
# resources' storage cannot watch, so kube-apiserver does not offer the verb.
_UNWATCHABLE = {("", "componentstatuses")}

# /version fields a Python emulator has no real value for; shaped like a release build.
_GO_VERSION = "go1.26.0"
_BUILD_DATE = "2026-04-22T00:00:00Z"
_GO_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass
class _ResourceFacts:
    """What the operations on one group/version/resource reveal, gathered path by path."""

    namespaced: bool = False
    verbs: set = field(default_factory=set)
    subresources: set = field(default_factory=set)
    # Response models by the role of the operation that returns them.
    item_model: str = None
    created_model: str = None
    list_model: str = None

    def kind(self):
        """The kind read returns; create-only and list-only resources fall back to what they return."""
        if self.item_model:
            return _kind_of_model(self.item_model)
        if self.created_model:
            return _kind_of_model(self.created_model)
        return _kind_of_model(self.list_model).removesuffix("List")


def builtin_resource_types(include_prerelease=False):
    """Every built-in group/version/resource a kube-apiserver of the client's release serves.

    By default only GA versions, as a default kube-apiserver (which enables no
    new beta or alpha API); a group with several GA versions serves them all.
    """
    return [resource_type for resource_type in _all_resource_types()
            if include_prerelease or _GA_VERSION_RE.match(resource_type.version)]


def preferred_versions(resource_types):
    """Map each group to its preferred version: the one of highest kube-apiserver priority."""
    versions_by_group = {}
    for resource_type in resource_types:
        versions_by_group.setdefault(resource_type.group, set()).add(resource_type.version)
    return {group: min(versions, key=version_priority_key) for group, versions in versions_by_group.items()}


def kubernetes_version():
    """The body of kube-apiserver's GET /version for the release the client package was built for.

    Client packages are numbered after Kubernetes minors: client 37.x is generated from release-1.37.
    """
    minor = importlib.metadata.version(_CLIENT_PACKAGE).split(".")[0]
    git_version = f"v1.{minor}.0"
    architecture = platform.machine().lower()
    return {
        "major": "1",
        "minor": minor,
        "emulationMajor": "1",
        "emulationMinor": minor,
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": str(int(minor) - 1),
        "gitVersion": git_version,
        # Stable and commit-shaped; there is no real commit behind the emulator.
        "gitCommit": hashlib.sha1(git_version.encode(), usedforsecurity=False).hexdigest(),
        "gitTreeState": "clean",
        "buildDate": _BUILD_DATE,
        "goVersion": _GO_VERSION,
        "compiler": "gc",
        "platform": f"{platform.system().lower()}/{_GO_ARCHITECTURES.get(architecture, architecture)}",
    }


@functools.lru_cache(maxsize=None)
def _client_operations():
    """Every operation of the client's API classes, read from their source files (not imported)."""
    api_package = importlib.util.find_spec(_CLIENT_API_PACKAGE)
    operations = []
    for module in pkgutil.iter_modules(api_package.submodule_search_locations):
        source = (pathlib.Path(module.module_finder.path) / (module.name + ".py")).read_text(encoding="utf-8")
        operations.extend(_operations_in_source(source))
    return tuple(operations)


def _operations_in_source(source):
    requests, responses = {}, {}
    starts = list(_METHOD_DEF_RE.finditer(source))
    for start, end in zip(starts, starts[1:] + [None]):
        name = start.group(1)
        body = source[start.end():end.start() if end else len(source)]
        if name.startswith("_") and name.endswith("_serialize"):
            request = _REQUEST_RE.search(body)
            if request:
                requests[name[1:-len("_serialize")]] = (request["http_method"], request["path"])
        elif not name.startswith("_"):
            response_map = _RESPONSE_MAP_RE.search(body)
            if response_map:
                responses[name] = _success_model(response_map["entries"])
    return [_ApiOperation(name, http_method, path, responses.get(name))
            for name, (http_method, path) in requests.items()]


def _success_model(response_map_entries):
    models = {entry["status"]: entry["model"] for entry in _RESPONSE_ENTRY_RE.finditer(response_map_entries)}
    return next((models[status] for status in _SUCCESS_STATUSES if status in models), None)


def _kind_of_model(model):
    match = _MODEL_KIND_RE.match(model)
    if not match:
        raise ValueError(f"kubernetes client model {model!r} is not named <Version><Kind>")
    return match["kind"]


@functools.lru_cache(maxsize=None)
def _all_resource_types():
    facts_by_resource = {}
    for operation in _client_operations():
        path = _RESOURCE_PATH_RE.match(operation.path)
        if not path:
            continue  # discovery, version, logs, OpenID and custom objects endpoints
        group = path["group"] or ""
        version = path["core_version"] or path["version"]
        segments = path["rest"].split("/")
        namespaced = len(segments) > 2 and segments[:2] == ["namespaces", "{namespace}"]
        if namespaced:
            segments = segments[2:]
        plural = segments[0]
        facts = facts_by_resource.setdefault((group, version, plural), _ResourceFacts())
        facts.namespaced |= namespaced
        _record_operation(facts, operation, segments[1:])

    resource_types = [_resource_type(group, version, plural, facts) for (group, version, plural), facts in facts_by_resource.items()]
    resource_types.sort(key=lambda resource_type: (resource_type.group, version_priority_key(resource_type.version), resource_type.plural))
    return tuple(resource_types)


def _record_operation(facts, operation, segments_after_plural):
    """Fold one operation on <plural>[/{name}[/<subresource>...]] into the resource's facts."""
    if not segments_after_plural:
        facts.verbs.add(_COLLECTION_VERBS[operation.http_method])
        if operation.http_method == "GET":
            facts.list_model = operation.response_type
        elif operation.http_method == "POST":
            facts.created_model = operation.response_type
    elif len(segments_after_plural) == 1:
        facts.verbs.add(_ITEM_VERBS[operation.http_method])
        if operation.http_method == "GET":
            facts.item_model = operation.response_type
    else:
        facts.subresources.add(segments_after_plural[1])


def _resource_type(group, version, plural, facts):
    verbs = set(facts.verbs)
    if "list" in verbs and (group, plural) not in _UNWATCHABLE:
        verbs.add("watch")
    kind = facts.kind()
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=facts.namespaced,
        verbs=tuple(sorted(verbs)),
        short_names=_SHORT_NAMES.get((group, plural), ()),
        categories=_categories(group, plural),
        subresources=tuple(sorted(facts.subresources)),
    )


def _categories(group, plural):
    if (group, plural) in _ALL_CATEGORY:
        return ("all",)
    if (group, plural) in _API_EXTENSIONS_CATEGORY:
        return ("api-extensions",)
    return ()

"""Label and field selectors behave as k8s.io/apimachinery's labels.Parse and fields.ParseSelector."""

import pytest

from kubesim import selectors
from kubesim.selectors import SelectorError

WEB = {"app": "web", "tier": "frontend", "app.kubernetes.io/name": "shop", "replicas": "3"}
DB = {"app": "db", "tier": "backend"}
BARE = {}


@pytest.mark.parametrize("text, labels, expected", [
    ("", WEB, True),
    ("   ", BARE, True),
    ("app=web", WEB, True),
    ("app==web", WEB, True),
    ("app=web", DB, False),
    ("app=web", BARE, False),
    ("app!=web", DB, True),
    ("app!=web", WEB, False),
    # A naive implementation gets these wrong: "!=" and "notin" match objects lacking the key.
    ("app!=web", BARE, True),
    ("app notin (web,db)", BARE, True),
    ("app notin (web,db)", DB, False),
    ("app notin (web)", DB, True),
    ("app in (web,db)", DB, True),
    ("app in (web, db)", WEB, True),
    ("app in (cache)", WEB, False),
    ("app in (web)", BARE, False),
    ("app", WEB, True),
    ("app", BARE, False),
    ("!app", BARE, True),
    ("!app", WEB, False),
    ("app=web,tier=frontend", WEB, True),
    ("app=web,tier=backend", WEB, False),
    (" app = web , tier in ( frontend ) ", WEB, True),
    ("app.kubernetes.io/name=shop", WEB, True),
    ("app.kubernetes.io/name in (shop),!app.kubernetes.io/part-of", WEB, True),
    # "app=" means the label is present with an empty value.
    ("app=", {"app": ""}, True),
    ("app=", BARE, False),
    # Upstream reads "()" as the set holding only the empty string.
    ("app in ()", {"app": ""}, True),
    ("replicas>2", WEB, True),
    ("replicas<3", WEB, False),
    ("replicas>2", BARE, False),
    ("app>2", WEB, False),
    # "in" and "notin" are ordinary words where a key or a value is expected.
    ("in=notin", {"in": "notin"}, True),
    ("env in (in,notin)", {"env": "notin"}, True),
])
def test_label_selector_matches(text, labels, expected):
    assert selectors.parse_label_selector(text).matches(labels) is expected


def test_label_selector_treats_missing_labels_as_empty():
    assert selectors.parse_label_selector("app!=web").matches(None)
    assert not selectors.parse_label_selector("app").matches(None)


def test_empty_label_selector_reports_empty():
    assert selectors.parse_label_selector("").empty
    assert not selectors.parse_label_selector("a=b").empty


@pytest.mark.parametrize("text, message", [
    ("app in web", "unable to parse requirement: found 'web' expected: '('"),
    ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("app=web,", "found '', expected: identifier after ','"),
    ("app=web tier=db", "found 'tier', expected: ',' or 'end of string'"),
    ("=web", "found '=', expected: !, identifier, or 'end of string'"),
    ("app (web)", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
    ("app=(web)", "unable to parse requirement: found '(', expected: identifier"),
    ("!app=web", "found '=', expected: ',' or 'end of string'"),
    ("-app=web", 'unable to parse requirement: key: Invalid value: "-app"'),
    ("Example.com/app=web", "prefix part a lowercase RFC 1123 subdomain"),
    ("a/b/c=web", "a qualified name must consist of"),
    ("app=" + "x" * 64, "must be no more than 63 characters"),
    ("app=-web", 'values[0]: Invalid value: "-web"'),
    ("replicas>three", "the value must be an integer"),
])
def test_label_selector_syntax_errors(text, message):
    with pytest.raises(SelectorError) as raised:
        selectors.parse_label_selector(text)
    assert message in str(raised.value)


@pytest.mark.parametrize("selector, labels, expected", [
    ({}, WEB, True),
    ({"matchLabels": {"app": "web"}}, WEB, True),
    ({"matchLabels": {"app": "web"}}, DB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "edge"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]}, BARE, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]}, WEB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, DB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, DB, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]}]}, WEB, False),
])
def test_label_selector_from_dict_matches(selector, labels, expected):
    assert selectors.label_selector_from_dict(selector).matches(labels) is expected


def test_nil_label_selector_selects_nothing():
    selector = selectors.label_selector_from_dict(None)
    assert not selector.matches({})
    assert not selector.empty


@pytest.mark.parametrize("selector, message", [
    ({"matchExpressions": [{"key": "tier", "operator": "Equals", "values": ["a"]}]}, '"Equals" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}, "values set can't be empty"),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]}, "values set must be empty"),
    ({"matchLabels": {"app": "bad value"}}, 'Invalid value: "bad value"'),
    ({"matchLabels": {"bad key!": "web"}}, 'key: Invalid value: "bad key!"'),
])
def test_label_selector_from_dict_errors(selector, message):
    with pytest.raises(SelectorError) as raised:
        selectors.label_selector_from_dict(selector)
    assert message in str(raised.value)


RUNNING_POD = {
    "metadata": {"name": "web-1", "namespace": "shop"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always", "serviceAccountName": "web"},
    "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]},
}
PENDING_POD = {"metadata": {"name": "web-2", "namespace": "shop"}, "spec": {}, "status": {"phase": "Pending"}}


@pytest.mark.parametrize("text, kind, obj, expected", [
    ("", "Pod", RUNNING_POD, True),
    ("metadata.name=web-1", "Pod", RUNNING_POD, True),
    ("metadata.name==web-1", "Pod", RUNNING_POD, True),
    ("metadata.name!=web-1", "Pod", RUNNING_POD, False),
    ("metadata.namespace=shop,status.phase=Running", "Pod", RUNNING_POD, True),
    ("status.phase!=Succeeded,status.phase!=Failed", "Pod", PENDING_POD, True),
    ("spec.nodeName=node-a", "Pod", RUNNING_POD, True),
    # A missing field reads as the empty string.
    ("spec.nodeName=", "Pod", PENDING_POD, True),
    ("spec.nodeName!=", "Pod", PENDING_POD, False),
    # Legacy clients say spec.host for spec.nodeName.
    ("spec.host=node-a", "Pod", RUNNING_POD, True),
    ("status.podIP=10.0.0.5", "Pod", RUNNING_POD, True),
    ("spec.serviceAccountName=web", "Pod", RUNNING_POD, True),
    # Typed fields read as upstream formats them when unset.
    ("spec.hostNetwork=false", "Pod", PENDING_POD, True),
    ("spec.unschedulable=false", "Node", {"metadata": {"name": "n"}, "spec": {}}, True),
    ("spec.unschedulable=true", "Node", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}, True),
    ("status.replicas=0", "ReplicationController", {"metadata": {"name": "rc"}}, True),
    ("status.successful=2", "Job", {"metadata": {"name": "j"}, "status": {"succeeded": 2}}, True),
    ("type=kubernetes.io/tls", "Secret", {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}, True),
    ("status.phase=Active", "Namespace", {"metadata": {"name": "ns"}, "status": {"phase": "Active"}}, True),
    ("spec.clusterIP!=None", "Service", {"metadata": {"name": "svc"}, "spec": {"clusterIP": "None"}}, False),
    ("involvedObject.kind=Pod,involvedObject.name=web-1,reason=Started,type=Normal", "Event",
     {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web-1"}, "reason": "Started", "type": "Normal"}, True),
    # Event "source" falls back to reportingComponent.
    ("source=kubelet", "Event", {"metadata": {"name": "e"}, "reportingComponent": "kubelet"}, True),
    ("metadata.name=cm", "ConfigMap", {"metadata": {"name": "cm"}}, True),
    # Escaped separators in values.
    (r"metadata.name=a\,b", "ConfigMap", {"metadata": {"name": "a,b"}}, True),
])
def test_field_selector_matches(text, kind, obj, expected):
    assert selectors.parse_field_selector(text, kind).matches(obj) is expected


@pytest.mark.parametrize("text, kind, group, message", [
    ("status.hostIP=1.2.3.4", "Pod", None, "field label not supported: status.hostIP"),
    ("metadata.namespace=x", "Node", None, "field label not supported: metadata.namespace"),
    ("metadata.namespace=x", "Namespace", None, "field label not supported: metadata.namespace"),
    ("spec.replicas=1", "Deployment", None, '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    # apps/v1 registers no conversion func, so ReplicaSets only index metadata.
    ("status.replicas=1", "ReplicaSet", None, '"status.replicas" is not a known field selector'),
    ("status.phase=Running", "Widget", "example.com", '"status.phase" is not a known field selector'),
    # A custom resource named like a built-in kind does not borrow its fields.
    ("reason=Started", "Event", "example.com", '"reason" is not a known field selector'),
    ("involvedObject.kind=Pod", "Event", "events.k8s.io", "field label not supported: involvedObject.kind"),
    ("status.phase", "Pod", None, "invalid selector: 'status.phase'; can't understand 'status.phase'"),
    ("metadata.name=a=b", "Pod", None, "unescaped character in value: ="),
    (r"metadata.name=a\b", "Pod", None, "invalid escape sequence"),
])
def test_field_selector_errors(text, kind, group, message):
    with pytest.raises(SelectorError) as raised:
        selectors.parse_field_selector(text, kind, group)
    assert message in str(raised.value)


def test_events_k8s_io_fields_use_their_own_spelling():
    event = {"metadata": {"name": "e"}, "regarding": {"kind": "Pod"}, "reportingController": "kubelet"}
    selector = selectors.parse_field_selector("regarding.kind=Pod,reportingController=kubelet", "Event", "events.k8s.io")
    assert selector.matches(event)


def test_cluster_scoped_default_kinds_accept_metadata_namespace():
    # runtime.DefaultMetaV1FieldSelectorConversion: "metadata.namespace=" matches cluster-scoped objects.
    selector = selectors.parse_field_selector("metadata.namespace=", "ClusterRole", "rbac.authorization.k8s.io")
    assert selector.matches({"metadata": {"name": "admin"}})


def test_selector_errors_are_value_errors():
    assert issubclass(SelectorError, ValueError)

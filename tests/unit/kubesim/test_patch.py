"""JSON patch (RFC 6902), merge patch (RFC 7386) and strategic merge patch as kube-apiserver applies them."""

import copy

import pytest

from kubesim import patch
from kubesim.patch import MalformedPatchError, PatchError

# ---------------------------------------------------------------------------
# RFC 6902


@pytest.mark.parametrize("doc, operations, expected", [
    # RFC 6902 appendix A.1 - A.8, A.10, A.11, A.14, A.16.
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}], {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}], {"foo": "bar", "baz": "qux"}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}], {"foo": ["bar", ["abc", "def"]]}),
    # Beyond the appendix.
    ({"metadata": {"labels": {"a/b": "x"}}}, [{"op": "replace", "path": "/metadata/labels/a~1b", "value": "y"}],
     {"metadata": {"labels": {"a/b": "y"}}}),
    ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
    ({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}], {"b": 2}),
    ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
    # As evanphx/json-patch: a missing path tests equal to null.
    ({"a": 1}, [{"op": "test", "path": "/missing", "value": None}], {"a": 1}),
])
def test_json_patch(doc, operations, expected):
    assert patch.apply_json_patch(doc, operations) == expected


@pytest.mark.parametrize("doc, operations, error, message", [
    # RFC 6902 appendix A.9, A.12, A.15.
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], PatchError, "testing value /baz failed"),
    ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], PatchError, "doc is missing path: /baz/bat"),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], PatchError, "testing value /~01 failed"),
    # JSON true is not 1, although Python's == says so.
    ({"a": 1}, [{"op": "test", "path": "/a", "value": True}], PatchError, "testing value /a failed"),
    ({"a": {}}, [{"op": "replace", "path": "/a/b", "value": 1}], PatchError, "replace operation does not apply"),
    ({"a": {}}, [{"op": "remove", "path": "/a/b"}], PatchError, "remove operation does not apply"),
    ({"a": [1]}, [{"op": "add", "path": "/a/2", "value": 1}], PatchError, "index out of bounds"),
    ({"a": [1, 2]}, [{"op": "remove", "path": "/a/01"}], PatchError, "invalid array index"),
    ({"a": {"b": {}}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], PatchError, "move operation does not apply"),
    ({"a": 1}, [{"op": "add", "path": "/b"}], MalformedPatchError, "missing 'value'"),
    ({"a": 1}, [{"op": "frobnicate", "path": "/a"}], MalformedPatchError, "Unexpected kind: frobnicate"),
    ({"a": 1}, [{"op": "remove", "path": "a"}], MalformedPatchError, 'must be empty or start with a "/"'),
    ({"a": 1}, {"op": "remove", "path": "/a"}, MalformedPatchError, "must be an array"),
])
def test_json_patch_errors(doc, operations, error, message):
    with pytest.raises(error) as raised:
        patch.apply_json_patch(doc, operations)
    assert message in str(raised.value)


def test_json_patch_is_all_or_nothing_and_does_not_mutate():
    doc = {"a": {"b": [1, 2]}}
    snapshot = copy.deepcopy(doc)
    with pytest.raises(PatchError):
        patch.apply_json_patch(doc, [{"op": "remove", "path": "/a/b/0"}, {"op": "test", "path": "/a/b/0", "value": 1}])
    assert doc == snapshot
    operations = [{"op": "add", "path": "/a/c", "value": {"d": 1}}]
    result = patch.apply_json_patch(doc, operations)
    result["a"]["c"]["d"] = 2
    result["a"]["b"].append(3)
    assert doc == snapshot
    assert operations[0]["value"] == {"d": 1}


# ---------------------------------------------------------------------------
# RFC 7386


@pytest.mark.parametrize("doc, merge_patch, expected", [
    # RFC 7386 appendix A, every row.
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    # Lists are replaced, never merged, even Kubernetes merging lists.
    ({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}, {"spec": {"containers": [{"name": "c"}]}},
     {"spec": {"containers": [{"name": "c"}]}}),
])
def test_merge_patch(doc, merge_patch, expected):
    assert patch.apply_merge_patch(doc, merge_patch) == expected


def test_merge_patch_does_not_mutate_or_share():
    doc = {"a": {"b": "c"}, "d": [1]}
    merge_patch = {"a": {"e": {"f": 1}}}
    result = patch.apply_merge_patch(doc, merge_patch)
    result["a"]["e"]["f"] = 2
    result["d"].append(2)
    assert doc == {"a": {"b": "c"}, "d": [1]}
    assert merge_patch == {"a": {"e": {"f": 1}}}


# ---------------------------------------------------------------------------
# Strategic merge patch


def pod(*containers, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": list(containers), **spec}}


def names(items, key="name"):
    return [item[key] for item in items]


def test_containers_merge_by_name_and_keep_the_unmentioned_one():
    doc = pod({"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "proxy:1"})
    result = patch.apply_strategic_merge_patch(doc, {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}, "Pod")
    assert result["spec"]["containers"] == [{"name": "app", "image": "app:2"}, {"name": "sidecar", "image": "proxy:1"}]


def test_new_list_element_goes_before_untouched_ones_as_upstream():
    # strategicpatch.mergeSortedSlice puts a patch element unknown to the live list first.
    doc = pod({"name": "app"})
    result = patch.apply_strategic_merge_patch(doc, {"spec": {"containers": [{"name": "debug"}]}}, "Pod")
    assert names(result["spec"]["containers"]) == ["debug", "app"]


def test_patch_elements_interleave_with_server_only_elements_by_live_order():
    doc = pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    result = patch.apply_strategic_merge_patch(doc, {"spec": {"containers": [{"name": "c", "x": 1}, {"name": "a", "x": 1}]}}, "Pod")
    assert names(result["spec"]["containers"]) == ["b", "c", "a"]


@pytest.mark.parametrize("list_patch, expected_names", [
    ([{"name": "sidecar", "$patch": "delete"}], ["app"]),
    ([{"$patch": "replace"}, {"name": "new", "image": "n"}], ["new"]),
    ([{"name": "app", "$patch": "delete"}, {"name": "other"}], ["other", "sidecar"]),
])
def test_list_directives(list_patch, expected_names):
    doc = pod({"name": "app", "image": "a"}, {"name": "sidecar", "image": "s"})
    result = patch.apply_strategic_merge_patch(doc, {"spec": {"containers": list_patch}}, "Pod")
    assert names(result["spec"]["containers"]) == expected_names
    assert all("$patch" not in container for container in result["spec"]["containers"])


def test_ports_merge_by_container_port_in_containers_and_by_port_in_services():
    doc = pod({"name": "app", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}]})
    result = patch.apply_strategic_merge_patch(
        doc, {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}, "Pod")
    assert result["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443, "name": "https"}]

    service = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}}
    result = patch.apply_strategic_merge_patch(service, {"spec": {"ports": [{"port": 443, "targetPort": 9443}]}}, "Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 9443}]


@pytest.mark.parametrize("doc, smp, kind, expected", [
    # env merges by name inside a pod template.
    ({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}}},
     {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}}}}, "Deployment",
     {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]}]}}}}),
    # volumes by name, volumeMounts by mountPath.
    ({"spec": {"volumes": [{"name": "data", "emptyDir": {}}], "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/data", "name": "data"}]}]}},
     {"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
               "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}]}}, "Pod",
     {"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "data", "emptyDir": {}}],
               "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/data", "name": "data", "readOnly": True}]}]}}),
    # Tolerations carry no merge key upstream: replaced.
    ({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}, {"spec": {"tolerations": [{"key": "c"}]}}, "Pod",
     {"spec": {"tolerations": [{"key": "c"}]}}),
    # Status conditions merge by type.
    ({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Scheduled", "status": "True"}]}},
     {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, "Pod",
     {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Scheduled", "status": "True"}]}}),
    # ownerReferences merge by uid.
    ({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}, {"metadata": {"ownerReferences": [{"uid": "1", "controller": True}]}}, "Pod",
     {"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "controller": True}]}}),
    # Finalizers merge as a set of strings.
    ({"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["b", "c"]}}, "ConfigMap",
     {"metadata": {"finalizers": ["a", "b", "c"]}}),
    ({"metadata": {"finalizers": ["a", "b", "c"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, "ConfigMap",
     {"metadata": {"finalizers": ["a", "c"]}}),
    # A Namespace's spec.finalizers has no merge strategy: replaced.
    ({"spec": {"finalizers": ["kubernetes"]}}, {"spec": {"finalizers": ["other"]}}, "Namespace", {"spec": {"finalizers": ["other"]}}),
    # Maps merge, null deletes, a null for an absent key is dropped.
    ({"metadata": {"labels": {"a": "1", "b": "2"}}}, {"metadata": {"labels": {"a": None, "c": "3", "d": None}}}, "Pod",
     {"metadata": {"labels": {"b": "2", "c": "3"}}}),
    # Nulls inside a subtree the object lacks are dropped too (IgnoreUnmatchedNulls).
    ({"metadata": {}}, {"metadata": {"annotations": {"a": "1", "b": None}}}, "Pod", {"metadata": {"annotations": {"a": "1"}}}),
    # $patch in maps.
    ({"spec": {"selector": {"a": "1", "b": "2"}}}, {"spec": {"selector": {"$patch": "replace", "c": "3"}}}, "Service",
     {"spec": {"selector": {"c": "3"}}}),
    ({"spec": {"selector": {"a": "1"}}}, {"spec": {"selector": {"$patch": "delete"}}}, "Service", {"spec": {"selector": {}}}),
    # $retainKeys clears the keys it does not list (Deployment strategy, pod volumes).
    ({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, "Deployment", {"spec": {"strategy": {"type": "Recreate"}}}),
    ({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
     {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}, "Pod",
     {"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}}),
    # A type change replaces.
    ({"data": {"a": "b"}}, {"data": ["x"]}, "ConfigMap", {"data": ["x"]}),
])
def test_strategic_merge_patch(doc, smp, kind, expected):
    assert patch.apply_strategic_merge_patch(doc, smp, kind) == expected


def test_set_element_order_is_honoured_and_stripped():
    doc = pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    smp = {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                    "containers": [{"name": "a", "image": "new"}]}}
    result = patch.apply_strategic_merge_patch(doc, smp, "Pod")
    assert result["spec"]["containers"] == [{"name": "c"}, {"name": "a", "image": "new"}, {"name": "b"}]
    assert not [key for key in result["spec"] if key.startswith("$")]


def test_set_element_order_alone_reorders_and_keeps_server_only_elements():
    doc = {"metadata": {"finalizers": ["x", "y", "z"]}}
    result = patch.apply_strategic_merge_patch(doc, {"metadata": {"$setElementOrder/finalizers": ["z", "x"]}}, "Pod")
    # Upstream's best-effort interleave: "y" (live index 1) sorts before "z" (live index 2).
    assert result == {"metadata": {"finalizers": ["y", "z", "x"]}}


def test_kubectl_apply_style_patch_adds_container_where_the_order_says():
    doc = pod({"name": "app", "image": "app:1"})
    smp = {"spec": {"$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [{"name": "sidecar", "image": "proxy:1"}]}}
    result = patch.apply_strategic_merge_patch(doc, smp, "Pod")
    assert names(result["spec"]["containers"]) == ["app", "sidecar"]


def test_directives_never_leak_into_a_new_subtree():
    smp = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "$patch": "delete"}],
                        "$setElementOrder/env": [{"name": "X"}]}],
        "$retainKeys": ["containers"]}}}}
    result = patch.apply_strategic_merge_patch({"kind": "Deployment"}, smp, "Deployment")
    assert result == {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}}}


@pytest.mark.parametrize("smp, error, message", [
    ({"spec": {"containers": [{"image": "x"}]}}, PatchError, "does not contain declared merge key: name"),
    ({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}, PatchError, "merging lists cannot yet be specified"),
    ({"spec": {"containers": [{"name": "a", "$patch": "explode"}]}}, PatchError, "unknown patch type: explode"),
    ({"spec": {"$patch": "merge"}}, PatchError, "unknown patch type: merge in map"),
    ({"spec": {"$retainKeys": ["a"], "b": 1}}, MalformedPatchError, "invalid patch format of retainKeys"),
    ({"spec": {"$setElementOrder/containers": "app"}}, MalformedPatchError, "setElementOrder"),
    ({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}}, PatchError, "doesn't match $setElementOrder"),
    ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, MalformedPatchError, "primitive list"),
    (["not", "an", "object"], MalformedPatchError, "must be an object"),
])
def test_strategic_merge_patch_errors(smp, error, message):
    with pytest.raises(error) as raised:
        patch.apply_strategic_merge_patch(pod({"name": "a"}), smp, "Pod")
    assert message in str(raised.value)


def test_strategic_merge_patch_does_not_mutate_or_share():
    doc = pod({"name": "app", "env": [{"name": "A", "value": "1"}]}, {"name": "sidecar"})
    smp = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}}
    doc_snapshot, smp_snapshot = copy.deepcopy(doc), copy.deepcopy(smp)
    result = patch.apply_strategic_merge_patch(doc, smp, "Pod")
    result["metadata"]["labels"]["a"] = "changed"
    for container in result["spec"]["containers"]:
        container["mutated"] = True
        for variable in container.get("env", []):
            variable["value"] = "changed"
    assert doc == doc_snapshot
    assert smp == smp_snapshot


def test_patch_errors_are_value_errors():
    assert issubclass(MalformedPatchError, PatchError)
    assert issubclass(PatchError, ValueError)

# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wait_for and wait_for_crds against the emulator, its controllers making workloads ready."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kubesafe.k8s.plugins.module_utils.kube.client import KubeClient, connection_options
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.apply import Decision
from ansible_collections.kubesafe.k8s.plugins.module_utils.restore.wait import is_waitable, wait_for, wait_for_crds

NAMESPACE = "wait-test"


@pytest.fixture
def client(cluster):
    client = KubeClient(retry_backoff=0.01, **connection_options({"kubeconfig": cluster.kubeconfig}))
    client.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return client


def target(group_resource, name):
    return {"group_resource": group_resource, "namespace": NAMESPACE, "name": name}


def pod_template(app):
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}


def test_deployment_becomes_ready(client):
    client.request("POST", "/apis/apps/v1/namespaces/%s/deployments" % NAMESPACE, body={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": pod_template("web")}})

    (result,) = wait_for(client, [target("deployments.apps", "web")], 30)

    assert result["ready"] is True and result["reason"] is None
    assert (result["group_resource"], result["namespace"], result["name"]) == ("deployments.apps", NAMESPACE, "web")
    assert 0 <= result["seconds"] < 30
    status = client.request("GET", "/apis/apps/v1/namespaces/%s/deployments/web" % NAMESPACE)["status"]
    assert status["availableReplicas"] == 2


def test_statefulset_and_daemonset_become_ready(client):
    client.request("POST", "/apis/apps/v1/namespaces/%s/statefulsets" % NAMESPACE, body={
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": NAMESPACE},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": pod_template("db")}})
    client.request("POST", "/apis/apps/v1/namespaces/%s/daemonsets" % NAMESPACE, body={
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": NAMESPACE},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": pod_template("agent")}})

    results = wait_for(client, [target("statefulsets.apps", "db"), target("daemonsets.apps", "agent")], 30)

    assert [(result["name"], result["ready"]) for result in results] == [("db", True), ("agent", True)], results


def test_pending_claim_is_not_ready_after_the_timeout(client):
    client.request("POST", "/api/v1/namespaces/%s/persistentvolumeclaims" % NAMESPACE, body={
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NAMESPACE},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "no-such-class", "resources": {"requests": {"storage": "1Gi"}}}})

    (result,) = wait_for(client, [target("persistentvolumeclaims", "data")], 1.5)

    assert result["ready"] is False
    assert "not ready after" in result["reason"] and "Pending" in result["reason"] and "no-such-class" in result["reason"]
    assert 1.5 <= result["seconds"] < 5


def test_job_completes(client):
    client.request("POST", "/apis/batch/v1/namespaces/%s/jobs" % NAMESPACE, body={
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": NAMESPACE},
        "spec": {"template": dict(pod_template("migrate"), spec={"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]})}})

    (result,) = wait_for(client, [target("jobs.batch", "migrate")], 30)

    assert result["ready"] is True, result


def job(name, suspend=False, completions=None, node_selector=None):
    pod_spec = {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    spec = {"template": dict(pod_template(name), spec=pod_spec), "suspend": suspend}
    if completions:
        spec.update(completions=completions, parallelism=1)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def test_a_suspended_job_is_not_waited_for(client):
    client.request("POST", "/apis/batch/v1/namespaces/%s/jobs" % NAMESPACE, body=job("paused", suspend=True))

    (result,) = wait_for(client, [target("jobs.batch", "paused")], 300)

    assert result["ready"] is True and result["skipped"] is True and result["kind"] == "Job"
    assert result["reason"].startswith("suspended (spec.suspend is true)")


def test_a_running_job_counts_as_recovered_before_it_finishes(client):
    # A million completions one pod at a time: it runs for days, it has recovered once its first pod runs.
    client.request("POST", "/apis/batch/v1/namespaces/%s/jobs" % NAMESPACE, body=job("long", completions=1000000))

    (result,) = wait_for(client, [target("jobs.batch", "long")], 300)

    assert result["ready"] is True and result["skipped"] is False and result["reason"] is None, result
    status = client.request("GET", "/apis/batch/v1/namespaces/%s/jobs/long" % NAMESPACE)["status"]
    assert status.get("succeeded", 0) < 1000000 and not status.get("conditions")


def test_waits_not_met_say_kind_and_why(client):
    never = {"kubesim.example/no-such-node": "true"}  # no node matches: no pod is ever scheduled
    client.request("POST", "/apis/batch/v1/namespaces/%s/jobs" % NAMESPACE, body=job("stuck", node_selector=never))
    template = pod_template("web")
    template["spec"]["nodeSelector"] = never
    client.request("POST", "/apis/apps/v1/namespaces/%s/deployments" % NAMESPACE, body={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template}})

    job_result, deployment_result = wait_for(client, [target("jobs.batch", "stuck"), target("deployments.apps", "web")], 1)

    assert (job_result["kind"], job_result["ready"], job_result["reason"]) == ("Job", False, "not ready after 1s: no pod started (1 pending)")
    assert deployment_result["kind"] == "Deployment" and deployment_result["ready"] is False
    assert deployment_result["reason"].startswith("not ready after 1s: 0 of 3 replicas available")


def test_missing_object_and_other_kinds(client):
    decisions = [Decision(action="create", group_resource="configmaps", namespace=NAMESPACE, name="c"),
                 Decision(action="create", group_resource="deployments.apps", namespace=NAMESPACE, name="ghost")]

    results = wait_for(client, decisions, 1)

    assert [result["name"] for result in results] == ["ghost"]  # ConfigMaps have no readiness
    assert results[0]["ready"] is False and "not found" in results[0]["reason"]
    assert is_waitable("jobs.batch") and not is_waitable("configmaps")
    assert wait_for(client, [], 1) == []


def widget_crd(group="example.com"):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.%s" % group},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                     "versions": [{"name": name, "served": True, "storage": name == "v1",
                                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
                                  for name in ("v1", "v1beta1")]}}


def test_wait_for_crds_returns_once_served(client):
    crd = widget_crd()
    client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)

    by_object, by_name = wait_for_crds(client, [crd, "widgets.example.com"], 10)

    assert by_object["ready"] is True and by_object["name"] == "widgets.example.com" and by_object["seconds"] < 10
    assert by_name["ready"] is True
    client.request("GET", "/apis/example.com/v1beta1/namespaces/%s/widgets" % NAMESPACE)


def test_wait_for_crds_reports_a_crd_that_never_comes(client):
    (result,) = wait_for_crds(client, [widget_crd("absent.example.com")], 1)
    assert result["ready"] is False and "not served after" in result["reason"]
    (by_name,) = wait_for_crds(client, ["gadgets.example.com"], 0.5)
    assert by_name["ready"] is False and "does not exist" in by_name["reason"]

"""kubectl 1.32, unchanged, against the emulator: what a platform engineer would type."""

import json
import os
import time

import pytest
import yaml

from kubesim.cluster import SAMPLE_FIXTURE

pytestmark = pytest.mark.integration


def names(output):
    return sorted(line.split()[0] for line in output.strip().splitlines()[1:])


def test_api_resources_lists_builtins_and_crds(sample_cluster, kubectl):
    output = kubectl(sample_cluster, "api-resources").stdout
    assert "deployments" in output and "coupons" in output and "cpn" in output
    namespaced_off = kubectl(sample_cluster, "api-resources", "--namespaced=false", "-o", "name").stdout.split()
    assert "namespaces" in namespaced_off and "pods" not in namespaced_off


def test_get_all_and_label_selectors(sample_cluster, kubectl):
    output = kubectl(sample_cluster, "get", "all", "-A").stdout
    assert "deployment.apps/web" in output and "service/web-nodeport" in output and "statefulset.apps/db" in output
    frontend = kubectl(sample_cluster, "get", "deployments,services", "-A", "-l", "tier=frontend", "-o", "name").stdout.split()
    assert frontend and all(("web" in name) for name in frontend)
    not_frontend = kubectl(sample_cluster, "get", "deployments", "-A", "-l", "tier!=frontend,app", "-o", "name").stdout.split()
    assert set(frontend).isdisjoint(not_frontend)


def test_apply_twice_is_unchanged_the_second_time(cluster, kubectl):
    # CRDs first, as on a real cluster: kubectl cannot map or validate a
    # custom resource whose CRD it has not seen in discovery yet.
    with open(SAMPLE_FIXTURE, encoding="utf-8") as stream:
        crds = [doc for doc in yaml.safe_load_all(stream) if doc and doc["kind"] == "CustomResourceDefinition"]
    kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump_all(crds))
    first = kubectl(cluster, "apply", "-f", SAMPLE_FIXTURE).stdout
    assert "created" in first and "coupon.shop.example.com/welcome10 created" in first
    # The controllers' own writes after the first apply (ControllerRevisions, status) are not the second apply's: wait
    # for them to end (on a loaded machine they may still be running when the second apply starts).
    assert cluster.sim.settle(120), "the controllers did not settle after the first apply"
    versions_before = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
                       for o in cluster.control.dump()}
    second = kubectl(cluster, "apply", "-f", SAMPLE_FIXTURE).stdout.strip().splitlines()
    # Without published schemas kubectl builds patches from its compiled-in
    # types, which resend `patchStrategy: replace` maps (a PDB's selector)
    # every time: it says "configured" but the server sees a no-op. So do a
    # StatefulSet's volumeClaimTemplates, a replaced list whose stored items
    # carry defaults (volumeMode, status.phase) the manifest has not, as on a real cluster.
    assert second and [line for line in second if not line.endswith("unchanged") and "poddisruptionbudget" not in line
                       and not line.startswith("statefulset.apps/")] == []
    versions_after = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
                      for o in cluster.control.dump()}
    changed = {key for key, version in versions_after.items() if versions_before.get(key) != version}
    assert not {key for key in changed if key[0] not in ("Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job",
                                                         "PersistentVolume", "PersistentVolumeClaim", "Endpoints")}, changed


def test_create_and_delete_namespace(cluster, kubectl):
    assert "created" in kubectl(cluster, "create", "namespace", "team-a").stdout
    kubectl(cluster, "create", "configmap", "settings", "-n", "team-a", "--from-literal=color=blue")
    assert kubectl(cluster, "get", "configmap", "settings", "-n", "team-a", "-o", "jsonpath={.data.color}").stdout == "blue"
    kubectl(cluster, "delete", "namespace", "team-a")  # waits for the namespace to be gone
    result = kubectl(cluster, "get", "namespace", "team-a", check=False)
    assert result.returncode != 0 and "NotFound" in result.stderr


def test_chunked_get_over_many_objects(cluster, kubectl):
    configmaps = [{"apiVersion": "v1", "kind": "ConfigMap", "data": {"i": str(i)},
                   "metadata": {"name": "cm-%03d" % i, "namespace": "default"}} for i in range(25)]
    manifest = "\n".join(json.dumps(configmap) for configmap in configmaps)
    kubectl(cluster, "apply", "-f", "-", stdin=manifest)
    cluster.control.clear_audit()
    listed = kubectl(cluster, "get", "configmaps", "--chunk-size=2", "-o", "name").stdout.split()
    assert len(listed) == 26  # 25 + kube-root-ca.crt
    pages = [r for r in cluster.control.audit() if r["verb"] == "list" and r["resource"] == "configmaps"]
    assert len(pages) == 13 and all("limit=2" in r["path"] for r in pages)


def test_crd_then_its_resources(cluster, kubectl, tmp_path):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1", "namespace": "default"}, "spec": {"size": 2}}
    path = tmp_path / "crd.json"
    path.write_text(json.dumps(crd))
    kubectl(cluster, "create", "-f", str(path))
    kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(gadget))
    assert kubectl(cluster, "get", "gd", "g1", "-o", "jsonpath={.spec.size}").stdout == "2"


def test_label_annotate_and_cascading_delete(sample_cluster, kubectl):
    kubectl(sample_cluster, "label", "deployment", "web", "-n", "shop", "owner=team-shop")
    kubectl(sample_cluster, "annotate", "deployment", "web", "-n", "shop", "note=hello")
    deployment = json.loads(kubectl(sample_cluster, "get", "deployment", "web", "-n", "shop", "-o", "json").stdout)
    assert deployment["metadata"]["labels"]["owner"] == "team-shop" and deployment["metadata"]["annotations"]["note"] == "hello"
    replica_sets = kubectl(sample_cluster, "get", "replicasets", "-n", "shop", "-l", "app=web", "-o", "name").stdout.split()
    assert replica_sets, "the deployment controller made no ReplicaSet"
    kubectl(sample_cluster, "delete", "deployment", "web", "-n", "shop", "--cascade=foreground")
    deadline = time.monotonic() + 60  # the loop ends as soon as they are gone; room for a loaded machine
    while time.monotonic() < deadline and kubectl(sample_cluster, "get", "replicasets,pods", "-n", "shop", "-l", "app=web", "-o", "name").stdout.strip():
        time.sleep(0.1)
    assert not kubectl(sample_cluster, "get", "replicasets,pods", "-n", "shop", "-l", "app=web", "-o", "name").stdout.strip()


def test_kubectl_over_tls_with_a_token(kubesim_factory, kubectl):
    secured = kubesim_factory(use_tls=True, token="t0ken")
    assert secured.url.startswith("https://")
    assert "kube-system" in kubectl(secured, "get", "namespaces").stdout
    with open(secured.kubeconfig, encoding="utf-8") as stream:
        assert "certificate-authority" in stream.read()
    assert os.path.exists(secured.sim.certificates.ca_cert)


def test_rollout_status_of_a_deployment_and_a_statefulset(cluster, kubectl):
    manifests = yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
         "spec": {"selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
         "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                  "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}},
    ])
    kubectl(cluster, "apply", "-f", "-", stdin=manifests)
    # Both read the defaulted strategy (RollingUpdate) and replica count from the stored objects.
    deployment = kubectl(cluster, "rollout", "status", "deployment/web", "-n", "default", "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in deployment
    stateful_set = kubectl(cluster, "rollout", "status", "statefulset/db", "-n", "default", "--timeout=60s").stdout
    assert "partitioned roll out complete: 2 new pods have been updated" in stateful_set
    kubectl(cluster, "set", "image", "deployment/web", "web=nginx:1.28", "-n", "default")
    assert "successfully rolled out" in kubectl(cluster, "rollout", "status", "deployment/web", "-n", "default", "--timeout=60s").stdout


def _web_deployment(replicas, env, labels):
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                      "env": [{"name": name, "value": "1"} for name in env]}]}}}})


def test_apply_server_side_creates_updates_conflicts_forces_and_prunes(cluster, kubectl):
    first = _web_deployment(2, ["A", "B"], {"app": "web", "tier": "front"})
    assert "deployment.apps/web serverside-applied" in kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=first).stdout
    deployment = json.loads(kubectl(cluster, "get", "deployment", "web", "-o", "json", "--show-managed-fields").stdout)
    assert [(e["manager"], e["operation"]) for e in deployment["metadata"]["managedFields"]][0] == ("kubectl", "Apply")
    # Another client changes a field kubectl applied: the next apply conflicts, naming the field and the manager.
    kubectl(cluster, "scale", "deployment", "web", "--replicas=5")
    conflict = kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=first, check=False)
    assert conflict.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas' in conflict.stderr
    assert kubectl(cluster, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "5"
    # --force-conflicts takes the field back; fields left out of the manifest (a label, an env item) are removed.
    second = _web_deployment(2, ["A"], {"app": "web"})
    assert "serverside-applied" in kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=second).stdout
    applied = json.loads(kubectl(cluster, "get", "deployment", "web", "-o", "json").stdout)
    assert applied["spec"]["replicas"] == 2 and applied["metadata"]["labels"] == {"app": "web"}
    assert applied["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    # Applying again changes nothing.
    kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=second)
    again = json.loads(kubectl(cluster, "get", "deployment", "web", "-o", "json").stdout)
    assert again["metadata"]["generation"] == applied["metadata"]["generation"]


def test_apply_of_a_list_is_validated_against_the_published_schemas(cluster, kubectl, tmp_path):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "description": "What the gadget should be.",
                                                                  "properties": {"size": {"type": "integer", "description": "How big."}}}}}}}]}}
    kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(crd))
    kubectl(cluster, "create", "namespace", "team")
    kubectl(cluster, "create", "configmap", "settings", "-n", "team", "--from-literal=color=blue")
    kubectl(cluster, "create", "deployment", "web", "-n", "team", "--image=nginx:1.27")
    kubectl(cluster, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "example.com/v1", "kind": "Gadget",
                                                          "metadata": {"name": "g1", "namespace": "team"}, "spec": {"size": 2}}))
    # What `kubectl get -o json | kubectl apply -f -` does: a v1 List, validated by kubectl itself against /openapi/v2.
    listed = kubectl(cluster, "get", "configmap/settings", "deployment/web", "gadget/g1", "-n", "team", "-o", "json").stdout
    assert json.loads(listed)["kind"] == "List"
    applied = kubectl(cluster, "apply", "-f", "-", stdin=listed).stdout
    assert "configmap/settings configured" in applied and "deployment.apps/web configured" in applied and "gadget.example.com/g1 configured" in applied
    # A field no schema has is refused before anything is sent.
    cluster.control.clear_audit()
    wrong = kubectl(cluster, "apply", "-f", "-", stdin=listed.replace('"data": {', '"datum": {'), check=False)
    assert wrong.returncode != 0 and 'unknown field "datum" in io.k8s.api.core.v1.ConfigMap' in wrong.stderr
    assert not [r for r in cluster.control.audit() if r["verb"] in ("create", "patch", "update")]


def test_explain_reads_the_schemas_of_builtin_kinds_and_custom_resources(cluster, kubectl):
    spec = kubectl(cluster, "explain", "deployment.spec").stdout
    assert "KIND:       Deployment" in spec and "DeploymentSpec is the specification of the desired behavior" in spec
    assert "replicas\t<integer>" in spec and "template\t<PodTemplateSpec> -required-" in spec
    ports = kubectl(cluster, "explain", "pods.spec.containers.ports.containerPort").stdout
    assert "FIELD: containerPort <integer>" in ports
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "description": "What the gadget should be.",
                                                                  "properties": {"size": {"type": "integer", "description": "How big."}}}}}}}]}}
    kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(crd))
    gadget = kubectl(cluster, "explain", "gadget.spec").stdout
    assert "What the gadget should be." in gadget and "size\t<integer>" in gadget and "How big." in gadget


def test_create_generators_send_protobuf_the_emulator_reads(cluster, kubectl):
    kubectl(cluster, "create", "serviceaccount", "robot")
    kubectl(cluster, "create", "deployment", "web", "--image=nginx:1.27", "--port=80", "--replicas=0")
    kubectl(cluster, "create", "role", "reader", "--verb=get,list", "--resource=pods")
    kubectl(cluster, "create", "rolebinding", "robot-reads", "--role=reader", "--serviceaccount=default:robot")
    kubectl(cluster, "create", "secret", "generic", "creds", "--from-literal=password=s3cr3t")
    deployment = json.loads(kubectl(cluster, "get", "deployment", "web", "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 0
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    role = json.loads(kubectl(cluster, "get", "role", "reader", "-o", "json").stdout)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    binding = json.loads(kubectl(cluster, "get", "rolebinding", "robot-reads", "-o", "json").stdout)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    assert kubectl(cluster, "get", "secret", "creds", "-o", "jsonpath={.data.password}").stdout == "czNjcjN0"
    assert kubectl(cluster, "get", "serviceaccount", "robot", "-o", "name").stdout.strip() == "serviceaccount/robot"
    kubectl(cluster, "create", "cronjob", "nightly", "--image=busybox", "--schedule=0 1 * * *")
    kubectl(cluster, "create", "job", "nightly-now", "--from=cronjob/nightly")  # an ownerReference (a UID) in protobuf
    job = json.loads(kubectl(cluster, "get", "job", "nightly-now", "-o", "json").stdout)
    assert [owner["name"] for owner in job["metadata"]["ownerReferences"]] == ["nightly"]


def test_auth_can_i_and_whoami_are_answered_by_review_kinds(kubesim_factory, kubectl):
    secured = kubesim_factory(use_tls=True, token="t0ken")
    assert kubectl(secured, "auth", "can-i", "delete", "deployments", "-n", "default").stdout.strip() == "yes"
    assert "kubesim-admin" in kubectl(secured, "auth", "whoami").stdout
    kubectl(secured, "create", "serviceaccount", "robot")
    token = kubectl(secured, "create", "token", "robot").stdout.strip()
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    answered = json.loads(kubectl(secured, "create", "-f", "-", "-o", "json", stdin=json.dumps(review)).stdout)
    assert answered["status"]["authenticated"] is True and answered["status"]["user"]["username"] == "system:serviceaccount:default:robot"
    assert "tokenreviews" not in kubectl(secured, "api-resources", "--verbs=list", "-o", "name").stdout


def test_moving_from_client_side_to_server_side_apply_and_back(cluster, kubectl):
    kubectl(cluster, "apply", "-f", "-", stdin=_web_deployment(2, ["A"], {"app": "web"}))
    # The fields client-side apply set change hands without a conflict, as on a real cluster.
    assert "serverside-applied" in kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=_web_deployment(3, ["A"], {"app": "web"})).stdout
    assert kubectl(cluster, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    # And a later client-side apply computes its patch from the configuration applied last.
    kubectl(cluster, "apply", "-f", "-", stdin=_web_deployment(2, ["A", "B"], {"app": "web"}))
    deployment = json.loads(kubectl(cluster, "get", "deployment", "web", "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 2 and [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]] == ["A", "B"]

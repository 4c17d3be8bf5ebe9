"""The emulated controllers produce what a real cluster's controllers would, where a backup tool can see it."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import base64
import json
import time

import pytest

from kubesim import catalog, controllers, errors
from kubesim.garbage_collector import GarbageCollector
from kubesim.registry import Registry
from kubesim.store import Store

NAMESPACE = "apps"
NODE = "kubesim-node-1"
SNAPSHOT_RESOURCES = (("volumesnapshots", "VolumeSnapshot", "Namespaced"),
                      ("volumesnapshotcontents", "VolumeSnapshotContent", "Cluster"),
                      ("volumesnapshotclasses", "VolumeSnapshotClass", "Cluster"))


class Cluster:
    """Store, garbage collector and controller manager wired as KubeSim wires them, without HTTP."""

    def __init__(self):
        self.registry = Registry(catalog.builtin_resource_types())
        self.store = Store(self.registry)
        self.gc = GarbageCollector(self.store)
        self.controllers = controllers.ControllerManager(self.store)
        self.gc.start()
        self.controllers.start()
        self.create("", "namespaces", {"metadata": {"name": NAMESPACE}})
        self.create("", "nodes", {"metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}}})

    def rtype(self, group, plural):
        return self.registry.preferred(group, plural)

    def create(self, group, plural, body, namespace=None):
        rtype = self.rtype(group, plural)
        return self.store.create(rtype, namespace if rtype.namespaced else None, body)

    def get(self, group, plural, name, namespace=NAMESPACE):
        rtype = self.rtype(group, plural)
        return self.store.find(rtype, namespace if rtype.namespaced else None, name)

    def list(self, group, plural, namespace=NAMESPACE):
        rtype = self.rtype(group, plural)
        return self.store.objects(rtype, namespace if rtype.namespaced else None)

    def update(self, group, plural, obj):
        rtype = self.rtype(group, plural)
        return self.store.replace(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"], obj)

    def delete(self, group, plural, name, namespace=NAMESPACE, propagation=None):
        rtype = self.rtype(group, plural)
        return self.store.delete(rtype, namespace if rtype.namespaced else None, name, propagation=propagation)

    def settle(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.gc.idle() and self.controllers.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= 0.1:
                    return
            else:
                quiet_since = None
            time.sleep(0.01)
        raise AssertionError("controllers did not settle")

    def stop(self):
        self.controllers.stop()
        self.gc.stop()


@pytest.fixture(name="cluster")
def cluster_fixture():
    cluster = Cluster()
    yield cluster
    cluster.stop()


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in %ss" % timeout)


def pod_template(app, image="nginx:1.27"):
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": app, "image": image}]}}


def deployment(name, replicas=2, image="nginx:1.27"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": pod_template(name, image)}}


def owner_uids(obj):
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences") or []]


def condition_status(obj, condition_type):
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}.get(condition_type)


def pods_of(cluster, owner):
    return [pod for pod in cluster.list("", "pods") if owner["metadata"]["uid"] in owner_uids(pod)]


# ----------------------------------------------------------------- workloads

def test_deployment_owns_replicaset_which_owns_ready_pods(cluster):
    created = cluster.create("apps", "deployments", deployment("web"))
    cluster.settle()
    replica_sets = cluster.list("apps", "replicasets")
    assert len(replica_sets) == 1
    replica_set = replica_sets[0]
    pod_hash = replica_set["metadata"]["labels"]["pod-template-hash"]
    assert replica_set["metadata"]["name"] == "web-" + pod_hash
    assert set(pod_hash) <= set("456789bcdf")
    assert replica_set["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                           "uid": created["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    assert replica_set["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert replica_set["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = pods_of(cluster, replica_set)
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["name"].startswith("web-%s-" % pod_hash) and len(pod["metadata"]["name"]) == len("web-%s-" % pod_hash) + 5
        assert pod["metadata"]["labels"]["pod-template-hash"] == pod_hash
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert pod["spec"]["nodeName"] == NODE
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"].startswith("10.244.")
        assert condition_status(pod, "Ready") == "True"
        assert pod["status"]["containerStatuses"][0]["image"] == "docker.io/library/nginx:1.27"
        assert pod["status"]["containerStatuses"][0]["state"]["running"]
    assert len({pod["status"]["podIP"] for pod in pods}) == 2
    stored = cluster.get("apps", "deployments", "web")
    status = stored["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"]) == (2, 2, 2, 2)
    assert status["observedGeneration"] == stored["metadata"]["generation"]
    assert condition_status(stored, "Available") == "True" and condition_status(stored, "Progressing") == "True"
    assert stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    rs_status = cluster.get("apps", "replicasets", replica_set["metadata"]["name"])["status"]
    assert rs_status == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 1}


def test_settled_cluster_stops_writing(cluster):
    cluster.create("apps", "deployments", deployment("web"))
    cluster.settle()
    before = cluster.store.resource_version
    time.sleep(0.3)
    assert cluster.store.resource_version == before


def test_template_change_rolls_a_new_replicaset_and_keeps_the_old_one_at_zero(cluster):
    cluster.create("apps", "deployments", deployment("web"))
    cluster.settle()
    changed = cluster.get("apps", "deployments", "web")
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    cluster.update("apps", "deployments", changed)
    cluster.settle()
    replica_sets = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in cluster.list("apps", "replicasets")}
    assert set(replica_sets) == {"1", "2"}
    assert replica_sets["1"]["spec"]["replicas"] == 0 and replica_sets["2"]["spec"]["replicas"] == 2
    pods = cluster.list("", "pods")
    assert len(pods) == 2 and all(pod["spec"]["containers"][0]["image"] == "nginx:1.28" for pod in pods)
    stored = cluster.get("apps", "deployments", "web")
    assert stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert stored["status"]["observedGeneration"] == 2 and stored["status"]["updatedReplicas"] == 2


def test_deleting_a_deployment_removes_replicasets_and_pods_through_the_garbage_collector(cluster):
    cluster.create("apps", "deployments", deployment("web"))
    cluster.settle()
    cluster.delete("apps", "deployments", "web")
    cluster.settle()
    assert cluster.list("apps", "replicasets") == [] and cluster.list("", "pods") == []


def test_replicaset_scales_down_and_replaces_deleted_pods(cluster):
    cluster.create("apps", "deployments", deployment("web", replicas=3))
    cluster.settle()
    victim = cluster.list("", "pods")[0]["metadata"]["name"]
    cluster.delete("", "pods", victim)
    cluster.settle()
    names = {pod["metadata"]["name"] for pod in cluster.list("", "pods")}
    assert len(names) == 3 and victim not in names
    scaled = cluster.get("apps", "deployments", "web")
    scaled["spec"]["replicas"] = 1
    cluster.update("apps", "deployments", scaled)
    cluster.settle()
    assert len(cluster.list("", "pods")) == 1


def test_replicaset_adopts_matching_orphan_pods_instead_of_creating_more(cluster):
    cluster.create("", "pods", {"metadata": {"name": "restored", "namespace": NAMESPACE, "labels": {"app": "solo"}},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    replica_set = cluster.create("apps", "replicasets", {
        "metadata": {"name": "solo", "namespace": NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "solo"}}, "template": pod_template("solo")}})
    cluster.settle()
    pods = cluster.list("", "pods")
    assert [pod["metadata"]["name"] for pod in pods] == ["restored"]
    assert owner_uids(pods[0]) == [replica_set["metadata"]["uid"]]


def test_statefulset_pods_and_claims_follow_upstream_naming(cluster):
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "fast"}, "provisioner": "ebs.csi.aws.com"})
    stateful_set = cluster.create("apps", "statefulsets", {
        "metadata": {"name": "db", "namespace": NAMESPACE},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": pod_template("db", "postgres:16"),
                 "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "storage"}},
                                           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                                                    "resources": {"requests": {"storage": "1Gi"}}}}]}})
    cluster.settle()
    pods = {pod["metadata"]["name"]: pod for pod in cluster.list("", "pods")}
    assert sorted(pods) == ["db-0", "db-1"]
    revision = cluster.get("apps", "statefulsets", "db")["status"]["updateRevision"]
    for ordinal in (0, 1):
        pod = pods["db-%d" % ordinal]
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-%d" % ordinal
        assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == str(ordinal)
        assert pod["metadata"]["labels"]["controller-revision-hash"] == revision
        assert owner_uids(pod) == [stateful_set["metadata"]["uid"]]
        assert pod["spec"]["hostname"] == "db-%d" % ordinal and pod["spec"]["subdomain"] == "db"
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-%d" % ordinal}} in pod["spec"]["volumes"]
        assert pod["status"]["phase"] == "Running"
        stored_claim = cluster.get("", "persistentvolumeclaims", "data-db-%d" % ordinal)
        assert stored_claim["metadata"]["labels"] == {"tier": "storage", "app": "db"}
        assert "ownerReferences" not in stored_claim["metadata"]
        assert stored_claim["status"]["phase"] == "Bound"
    status = cluster.get("apps", "statefulsets", "db")["status"]
    assert (status["replicas"], status["readyReplicas"], status["currentReplicas"], status["updatedReplicas"], status["availableReplicas"]) == (2, 2, 2, 2, 2)
    assert status["currentRevision"] == revision and status["observedGeneration"] == 1
    assert [rev["metadata"]["name"] for rev in cluster.list("apps", "controllerrevisions")] == [revision]

    cluster.delete("apps", "statefulsets", "db")
    cluster.settle()
    assert cluster.list("", "pods") == []
    assert sorted(claim["metadata"]["name"] for claim in cluster.list("", "persistentvolumeclaims")) == ["data-db-0", "data-db-1"]


def test_statefulset_waits_for_each_pod_and_unbound_claims_keep_pods_pending(cluster):
    cluster.create("apps", "statefulsets", {
        "metadata": {"name": "db", "namespace": NAMESPACE},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}, "template": pod_template("db"),
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "storageClassName": "manual", "resources": {"requests": {"storage": "5Gi"}}}}]}})
    cluster.settle()
    pods = cluster.list("", "pods")
    assert [pod["metadata"]["name"] for pod in pods] == ["db-0"]
    assert pods[0]["status"]["phase"] == "Pending" and "nodeName" not in pods[0]["spec"]
    assert condition_status(pods[0], "PodScheduled") == "False"
    cluster.create("", "persistentvolumes", {"metadata": {"name": "manual-0"}, "spec": {
        "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "manual", "hostPath": {"path": "/data/0"}}})
    cluster.settle()
    assert cluster.get("", "pods", "db-0")["status"]["phase"] == "Running"
    assert cluster.get("", "pods", "db-1")["status"]["phase"] == "Pending"


def test_daemonset_runs_one_pod_per_node(cluster):
    daemon_set = cluster.create("apps", "daemonsets", {
        "metadata": {"name": "agent", "namespace": NAMESPACE},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": pod_template("agent")}})
    cluster.settle()
    pods = cluster.list("", "pods")
    assert len(pods) == 1
    assert owner_uids(pods[0]) == [daemon_set["metadata"]["uid"]] and pods[0]["spec"]["nodeName"] == NODE
    assert pods[0]["metadata"]["labels"]["controller-revision-hash"]
    status = cluster.get("apps", "daemonsets", "agent")["status"]
    assert status == {"currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0, "numberReady": 1,
                      "numberAvailable": 1, "updatedNumberScheduled": 1, "observedGeneration": 1}


def test_daemonset_template_generation_annotation_counts_template_changes(cluster):
    created = cluster.create("apps", "daemonsets", {
        "metadata": {"name": "agent", "namespace": NAMESPACE},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": pod_template("agent")}})
    assert created["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}
    cluster.settle()
    changed = cluster.get("apps", "daemonsets", "agent")
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    changed["metadata"]["annotations"]["deprecated.daemonset.template.generation"] = "7"  # not the client's to set
    assert cluster.update("apps", "daemonsets", changed)["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    relabelled = cluster.get("apps", "daemonsets", "agent")
    relabelled["metadata"]["labels"] = {"team": "infra"}
    assert cluster.update("apps", "daemonsets", relabelled)["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"


def test_paused_deployment_reports_paused_and_rolls_out_nothing(cluster):
    cluster.create("apps", "deployments", deployment("web", replicas=1))
    cluster.settle()
    paused = cluster.get("apps", "deployments", "web")
    paused["spec"]["paused"] = True
    paused["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    cluster.update("apps", "deployments", paused)
    cluster.settle()
    stored = cluster.get("apps", "deployments", "web")
    progressing = next(c for c in stored["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == ("Unknown", "DeploymentPaused", "Deployment is paused")
    assert stored["status"]["observedGeneration"] == stored["metadata"]["generation"]
    assert len(cluster.list("apps", "replicasets")) == 1
    assert [pod["spec"]["containers"][0]["image"] for pod in cluster.list("", "pods")] == ["nginx:1.27"]
    resumed = cluster.get("apps", "deployments", "web")
    resumed["spec"]["paused"] = False
    cluster.update("apps", "deployments", resumed)
    cluster.settle()
    stored = cluster.get("apps", "deployments", "web")
    assert next(c for c in stored["status"]["conditions"] if c["type"] == "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert len(cluster.list("apps", "replicasets")) == 2


def test_job_pods_succeed_and_the_job_completes(cluster):
    job = cluster.create("batch", "jobs", {"metadata": {"name": "migrate", "namespace": NAMESPACE}, "spec": {
        "completions": 2, "parallelism": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}}}})
    uid = job["metadata"]["uid"]
    cluster.settle()
    stored = cluster.get("batch", "jobs", "migrate")
    assert stored["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert condition_status(stored, "Complete") == "True" and condition_status(stored, "SuccessCriteriaMet") == "True"
    assert stored["status"]["succeeded"] == 2 and "active" not in stored["status"]
    assert stored["status"]["startTime"] and stored["status"]["completionTime"]
    pods = cluster.list("", "pods")
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["labels"] == {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                                             "batch.kubernetes.io/job-name": "migrate", "job-name": "migrate"}
        assert pod["status"]["phase"] == "Succeeded"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_legacy_token_secret_is_filled_and_goes_with_its_service_account(cluster):
    account = cluster.create("", "serviceaccounts", {"metadata": {"name": "builder", "namespace": NAMESPACE}})
    cluster.create("", "secrets", {"metadata": {"name": "builder-token", "namespace": NAMESPACE,
                                                "annotations": {"kubernetes.io/service-account.name": "builder"}},
                                   "type": "kubernetes.io/service-account-token"})
    cluster.settle()
    secret = cluster.get("", "secrets", "builder-token")
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == account["metadata"]["uid"]
    assert set(secret["data"]) == {"token", "ca.crt", "namespace"}
    assert base64.b64decode(secret["data"]["namespace"]).decode() == NAMESPACE
    token = base64.b64decode(secret["data"]["token"]).decode()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == "system:serviceaccount:%s:builder" % NAMESPACE
    assert claims["kubernetes.io/serviceaccount/secret.name"] == "builder-token"
    cluster.delete("", "serviceaccounts", "builder")
    cluster.settle()
    assert cluster.get("", "secrets", "builder-token") is None


def test_token_secret_without_an_account_name_is_invalid(cluster):
    with pytest.raises(errors.ApiError) as refused:
        cluster.create("", "secrets", {"metadata": {"name": "orphan", "namespace": NAMESPACE}, "type": "kubernetes.io/service-account-token"})
    assert refused.value.code == 422
    assert refused.value.message == 'Secret "orphan" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value'


# -------------------------------------------------------------------- volumes

def claim(name, size="1Gi", storage_class=None, **spec):
    body = {"metadata": {"name": name, "namespace": NAMESPACE},
            "spec": dict({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}, **spec)}
    if storage_class is not None:
        body["spec"]["storageClassName"] = storage_class
    return body


def volume(name, size, storage_class="manual", policy="Retain"):
    return {"metadata": {"name": name}, "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                                                 "storageClassName": storage_class, "persistentVolumeReclaimPolicy": policy,
                                                 "hostPath": {"path": "/data/" + name}}}


def test_claim_binds_the_smallest_matching_static_volume(cluster):
    cluster.create("", "persistentvolumes", volume("too-small", "500Mi"))
    cluster.create("", "persistentvolumes", volume("other-class", "2Gi", storage_class="slow"))
    cluster.create("", "persistentvolumes", volume("big", "10Gi"))
    cluster.create("", "persistentvolumes", volume("right", "2Gi"))
    created = cluster.create("", "persistentvolumeclaims", claim("data", "1Gi", "manual"))
    cluster.settle()
    bound = cluster.get("", "persistentvolumeclaims", "data")
    assert bound["spec"]["volumeName"] == "right"
    assert bound["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Gi"}}
    assert bound["metadata"]["annotations"] == {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes"}
    pv = cluster.get("", "persistentvolumes", "right")
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["uid"] == created["metadata"]["uid"] and pv["spec"]["claimRef"]["name"] == "data"
    assert cluster.get("", "persistentvolumes", "big")["status"]["phase"] == "Available"


def test_claim_naming_a_volume_binds_to_it(cluster):
    cluster.create("", "persistentvolumes", volume("chosen", "1Gi"))
    cluster.create("", "persistentvolumeclaims", claim("data", "1Gi", "manual", volumeName="chosen"))
    cluster.settle()
    bound = cluster.get("", "persistentvolumeclaims", "data")
    assert bound["status"]["phase"] == "Bound"
    assert "pv.kubernetes.io/bound-by-controller" not in bound["metadata"]["annotations"]


def test_default_storage_class_provisions_a_csi_volume(cluster):
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "gp3", "annotations": {
        "storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete"})
    created = cluster.create("", "persistentvolumeclaims", claim("data", "3Gi"))
    cluster.settle()
    bound = cluster.get("", "persistentvolumeclaims", "data")
    uid = created["metadata"]["uid"]
    assert bound["spec"]["storageClassName"] == "gp3" and bound["spec"]["volumeName"] == "pvc-" + uid
    assert bound["status"]["phase"] == "Bound" and bound["status"]["capacity"] == {"storage": "3Gi"}
    assert bound["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] == "ebs.csi.aws.com"
    assert bound["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
    pv = cluster.get("", "persistentvolumes", "pvc-" + uid)
    assert pv["spec"]["csi"]["driver"] == "ebs.csi.aws.com" and pv["spec"]["csi"]["volumeHandle"].startswith("vol-")
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["metadata"]["annotations"] == {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"}
    assert pv["spec"]["claimRef"]["uid"] == uid and pv["status"]["phase"] == "Bound"

    cluster.delete("", "persistentvolumeclaims", "data")
    cluster.settle()
    assert cluster.get("", "persistentvolumes", "pvc-" + uid) is None


def test_legacy_storage_class_annotation_chooses_the_class(cluster):
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "gp3", "annotations": {
        "storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "ebs.csi.aws.com"})
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "fast"}, "provisioner": "pd.csi.storage.gke.io"})
    cluster.create("", "persistentvolumes", volume("static", "1Gi", storage_class="manual"))
    legacy = claim("cassandra-data", "1Gi")
    legacy["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "fast"}
    created = cluster.create("", "persistentvolumeclaims", legacy)
    static = claim("static-data", "1Gi")
    static["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "manual"}
    cluster.create("", "persistentvolumeclaims", static)
    cluster.settle()
    bound = cluster.get("", "persistentvolumeclaims", "cassandra-data")
    # The annotation names the class: no default class is assigned, the class's provisioner provisions.
    assert bound["status"]["phase"] == "Bound" and "storageClassName" not in bound["spec"]
    assert cluster.get("", "persistentvolumes", "pvc-" + created["metadata"]["uid"])["spec"]["csi"]["driver"] == "pd.csi.storage.gke.io"
    assert cluster.get("", "persistentvolumeclaims", "static-data")["spec"]["volumeName"] == "static"


def test_retained_volume_is_released_with_its_claim_ref(cluster):
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "keep"}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Retain"})
    created = cluster.create("", "persistentvolumeclaims", claim("data", "1Gi", "keep"))
    cluster.settle()
    cluster.delete("", "persistentvolumeclaims", "data")
    cluster.settle()
    pv = cluster.get("", "persistentvolumes", "pvc-" + created["metadata"]["uid"])
    assert pv["status"]["phase"] == "Released" and pv["spec"]["claimRef"]["uid"] == created["metadata"]["uid"]
    # A new claim of the same name does not get the released volume back.
    cluster.create("", "persistentvolumeclaims", claim("data", "1Gi", "keep", volumeName=pv["metadata"]["name"]))
    cluster.settle()
    assert cluster.get("", "persistentvolumeclaims", "data")["status"]["phase"] == "Pending"


def test_wait_for_first_consumer_provisions_once_a_pod_uses_the_claim(cluster):
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "local"}, "provisioner": "rancher.io/local-path",
                                                        "volumeBindingMode": "WaitForFirstConsumer"})
    cluster.create("", "persistentvolumeclaims", claim("data", "1Gi", "local"))
    cluster.settle()
    assert cluster.get("", "persistentvolumeclaims", "data")["status"]["phase"] == "Pending"
    cluster.create("", "pods", {"metadata": {"name": "user", "namespace": NAMESPACE}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}], "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})
    cluster.settle()
    bound = cluster.get("", "persistentvolumeclaims", "data")
    assert bound["status"]["phase"] == "Bound" and bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == NODE
    assert cluster.get("", "pods", "user")["status"]["phase"] == "Running"


# ------------------------------------------------------------------ snapshots

def install_snapshot_crds(cluster):
    for plural, kind, scope in SNAPSHOT_RESOURCES:
        cluster.create("apiextensions.k8s.io", "customresourcedefinitions", {
            "metadata": {"name": plural + ".snapshot.storage.k8s.io"},
            "spec": {"group": "snapshot.storage.k8s.io", "scope": scope, "names": {"plural": plural, "kind": kind},
                     "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}} if plural != "volumesnapshotclasses" else {},
                                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})


def snapshot(name, **source):
    return {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"source": source}}


def bound_csi_claim(cluster):
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "csi"}, "provisioner": "hostpath.csi.k8s.io"})
    cluster.create("", "persistentvolumeclaims", claim("data", "2Gi", "csi"))
    cluster.settle()


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_snapshot_of_a_claim_becomes_ready_and_its_content_follows_the_deletion_policy(cluster, policy):
    install_snapshot_crds(cluster)
    bound_csi_claim(cluster)
    cluster.create("snapshot.storage.k8s.io", "volumesnapshotclasses", {
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass", "metadata": {"name": "snap"},
        "driver": "hostpath.csi.k8s.io", "deletionPolicy": policy})
    created = cluster.create("snapshot.storage.k8s.io", "volumesnapshots", dict(
        snapshot("backup", persistentVolumeClaimName="data"), spec={"volumeSnapshotClassName": "snap", "source": {"persistentVolumeClaimName": "data"}}))
    cluster.settle()
    stored = cluster.get("snapshot.storage.k8s.io", "volumesnapshots", "backup")
    content_name = "snapcontent-" + created["metadata"]["uid"]
    assert stored["status"]["readyToUse"] is True and stored["status"]["boundVolumeSnapshotContentName"] == content_name
    assert stored["status"]["restoreSize"] == "2Gi" and stored["status"]["creationTime"]
    content = cluster.get("snapshot.storage.k8s.io", "volumesnapshotcontents", content_name)
    volume_handle = cluster.list("", "persistentvolumes")[0]["spec"]["csi"]["volumeHandle"]
    assert content["spec"]["source"] == {"volumeHandle": volume_handle} and content["spec"]["deletionPolicy"] == policy
    assert content["spec"]["driver"] == "hostpath.csi.k8s.io" and content["spec"]["volumeSnapshotClassName"] == "snap"
    assert content["spec"]["volumeSnapshotRef"]["uid"] == created["metadata"]["uid"]
    assert content["status"]["readyToUse"] is True and content["status"]["restoreSize"] == 2 * 1024 ** 3
    assert content["status"]["snapshotHandle"].startswith("snap-") and isinstance(content["status"]["creationTime"], int)

    cluster.delete("snapshot.storage.k8s.io", "volumesnapshots", "backup")
    cluster.settle()
    remaining = cluster.get("snapshot.storage.k8s.io", "volumesnapshotcontents", content_name)
    assert (remaining is not None) == (policy == "Retain")


def test_snapshot_binds_a_pre_provisioned_content(cluster):
    install_snapshot_crds(cluster)
    cluster.create("snapshot.storage.k8s.io", "volumesnapshotcontents", {
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent", "metadata": {"name": "restored-content"},
        "spec": {"deletionPolicy": "Retain", "driver": "hostpath.csi.k8s.io", "source": {"snapshotHandle": "snap-123"},
                 "volumeSnapshotRef": {"name": "restored", "namespace": NAMESPACE}}})
    created = cluster.create("snapshot.storage.k8s.io", "volumesnapshots", snapshot("restored", volumeSnapshotContentName="restored-content"))
    cluster.settle()
    stored = cluster.get("snapshot.storage.k8s.io", "volumesnapshots", "restored")
    assert stored["status"]["readyToUse"] is True and stored["status"]["boundVolumeSnapshotContentName"] == "restored-content"
    content = cluster.get("snapshot.storage.k8s.io", "volumesnapshotcontents", "restored-content")
    assert content["spec"]["volumeSnapshotRef"]["uid"] == created["metadata"]["uid"]
    assert content["status"]["snapshotHandle"] == "snap-123"


# --------------------------------------------------------- restoring snapshots

SNAPSHOT_DRIVER = "hostpath.csi.k8s.io"


def snapshot_class(cluster, policy="Delete"):
    cluster.create("snapshot.storage.k8s.io", "volumesnapshotclasses", {
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass", "metadata": {"name": "snap"},
        "driver": SNAPSHOT_DRIVER, "deletionPolicy": policy})


def class_snapshot(name, claim_name):
    return dict(snapshot(name), spec={"volumeSnapshotClassName": "snap", "source": {"persistentVolumeClaimName": claim_name}})


def snapshot_source(name):
    return {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": name}


def volume_handle_of_claim(cluster, name):
    bound = cluster.get("", "persistentvolumeclaims", name)
    return cluster.get("", "persistentvolumes", bound["spec"]["volumeName"])["spec"]["csi"]["volumeHandle"]


def claim_events(cluster, name):
    """(type, reason, message) of the claim's Events, oldest first."""
    events = sorted(cluster.list("", "events"), key=lambda event: int(event["metadata"]["resourceVersion"]))
    return [(event["type"], event["reason"], event["message"]) for event in events
            if event["involvedObject"]["kind"] == "PersistentVolumeClaim" and event["involvedObject"]["name"] == name]


def snapshotted_claim(cluster, data=b"rows v1", policy="Delete"):
    """A bound 2Gi CSI claim "data" holding ``data`` and a ready snapshot "backup" of it."""
    install_snapshot_crds(cluster)
    bound_csi_claim(cluster)
    snapshot_class(cluster, policy)
    backend = cluster.controllers.volume_backend
    backend.write_volume(volume_handle_of_claim(cluster, "data"), data)
    cluster.create("snapshot.storage.k8s.io", "volumesnapshots", class_snapshot("backup", "data"))
    cluster.settle()
    return backend


def test_snapshot_copies_the_volume_data_at_the_time_it_is_taken(cluster):
    backend = snapshotted_claim(cluster)
    backend.write_volume(volume_handle_of_claim(cluster, "data"), b"rows v2")
    content = cluster.list("snapshot.storage.k8s.io", "volumesnapshotcontents", None)[0]
    handle = content["status"]["snapshotHandle"]
    assert backend.read_snapshot(handle) == b"rows v1"
    assert backend.snapshots() == [{"handle": handle, "size": 7, "source_volume": volume_handle_of_claim(cluster, "data"), "size_bytes": 2 * 1024 ** 3}]


def test_claim_from_a_snapshot_waits_for_it_to_be_ready_then_gets_its_data_on_a_new_volume(cluster):
    install_snapshot_crds(cluster)
    bound_csi_claim(cluster)
    snapshot_class(cluster)
    backend = cluster.controllers.volume_backend
    source_handle = volume_handle_of_claim(cluster, "data")
    backend.write_volume(source_handle, b"orders table")
    cluster.create("", "persistentvolumeclaims", claim("restored", "2Gi", "csi", dataSource=snapshot_source("backup")))
    cluster.settle()
    assert cluster.get("", "persistentvolumeclaims", "restored")["status"]["phase"] == "Pending"
    assert claim_events(cluster, "restored") == [(
        "Warning", "ProvisioningFailed", 'failed to provision volume with StorageClass "csi": error getting handle for DataSource Type VolumeSnapshot '
        'by Name backup: error getting snapshot backup from api server: volumesnapshots.snapshot.storage.k8s.io "backup" not found')]

    cluster.controllers.configure({"volumesnapshot": False})
    cluster.create("snapshot.storage.k8s.io", "volumesnapshots", class_snapshot("backup", "data"))
    cluster.settle()
    assert cluster.get("", "persistentvolumeclaims", "restored")["status"]["phase"] == "Pending"
    assert claim_events(cluster, "restored")[-1][2].endswith("snapshot backup not bound")
    assert len(cluster.list("", "persistentvolumes", None)) == 1

    cluster.controllers.configure({"volumesnapshot": True})  # the snapshot becoming ready alone must wake the claim up
    cluster.settle()
    restored = cluster.get("", "persistentvolumeclaims", "restored")
    assert restored["status"]["phase"] == "Bound"
    assert restored["spec"]["dataSource"] == restored["spec"]["dataSourceRef"] == snapshot_source("backup")
    pv = cluster.get("", "persistentvolumes", restored["spec"]["volumeName"])
    assert pv["spec"]["csi"]["driver"] == SNAPSHOT_DRIVER and pv["spec"]["csi"]["volumeHandle"] != source_handle
    assert pv["spec"]["claimRef"]["name"] == "restored" and pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert backend.read_volume(pv["spec"]["csi"]["volumeHandle"]) == b"orders table"
    backend.write_volume(pv["spec"]["csi"]["volumeHandle"], b"changed after restore")
    assert backend.read_volume(source_handle) == b"orders table"


@pytest.mark.parametrize("size, restorable", [("1Gi", False), ("3Gi", True)])
def test_claim_smaller_than_the_snapshot_restore_size_stays_pending(cluster, size, restorable):
    snapshotted_claim(cluster)
    cluster.create("", "persistentvolumeclaims", claim("restored", size, "csi", dataSourceRef=snapshot_source("backup")))
    cluster.settle()
    restored = cluster.get("", "persistentvolumeclaims", "restored")
    assert restored["status"]["phase"] == ("Bound" if restorable else "Pending")
    if restorable:
        assert restored["status"]["capacity"] == {"storage": size} and claim_events(cluster, "restored") == []
    else:
        assert "volumeName" not in restored["spec"]
        assert claim_events(cluster, "restored") == [(
            "Warning", "ProvisioningFailed", 'failed to provision volume with StorageClass "csi": error getting handle for DataSource Type VolumeSnapshot by '
            "Name backup: requested volume size 1073741824 is less than the size 2147483648 for the source snapshot backup")]


def test_claim_whose_class_has_another_driver_than_the_snapshot_stays_pending(cluster):
    snapshotted_claim(cluster)
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com"})
    cluster.create("", "persistentvolumeclaims", claim("restored", "2Gi", "gp3", dataSource=snapshot_source("backup")))
    cluster.settle()
    assert cluster.get("", "persistentvolumeclaims", "restored")["status"]["phase"] == "Pending"
    content_name = cluster.get("snapshot.storage.k8s.io", "volumesnapshots", "backup")["status"]["boundVolumeSnapshotContentName"]
    assert claim_events(cluster, "restored")[-1][2].endswith(
        "snapshotcontent %s for snapshot backup is not handled by CSI driver of StorageClass gp3" % content_name)


def test_snapshot_in_another_namespace_is_not_found(cluster):
    snapshotted_claim(cluster)
    cluster.create("", "namespaces", {"metadata": {"name": "other"}})
    body = claim("restored", "2Gi", "csi", dataSource=snapshot_source("backup"))
    body["metadata"]["namespace"] = "other"
    cluster.create("", "persistentvolumeclaims", body, namespace="other")
    cluster.settle()
    assert cluster.get("", "persistentvolumeclaims", "restored", namespace="other")["status"]["phase"] == "Pending"


def test_data_source_of_another_kind_is_left_to_a_volume_populator(cluster):
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "csi"}, "provisioner": SNAPSHOT_DRIVER})
    populator = {"apiGroup": "populators.example.com", "kind": "Backup", "name": "nightly"}
    cluster.create("", "persistentvolumeclaims", claim("populated", "1Gi", "csi", dataSourceRef=populator))
    cluster.settle()
    stored = cluster.get("", "persistentvolumeclaims", "populated")
    assert stored["status"]["phase"] == "Pending" and stored["spec"]["dataSource"] == populator
    assert claim_events(cluster, "populated") == [("Normal", "Provisioning", "Assuming an external populator will provision the volume")]


def test_claim_data_sources_are_normalized_as_kube_apiserver_does(cluster):
    mirrored = cluster.create("", "persistentvolumeclaims", claim("a", "1Gi", "none", dataSource=snapshot_source("s")))
    assert mirrored["spec"]["dataSourceRef"] == snapshot_source("s")
    # Only PVCs and VolumeSnapshots were ever accepted in dataSource: anything else is silently dropped.
    dropped = cluster.create("", "persistentvolumeclaims", claim("b", "1Gi", "none", dataSource={"apiGroup": "x.io", "kind": "Thing", "name": "t"}))
    assert "dataSource" not in dropped["spec"] and "dataSourceRef" not in dropped["spec"]
    # Cross-namespace data sources are an alpha feature, off.
    crossed = cluster.create("", "persistentvolumeclaims", claim("c", "1Gi", "none", dataSourceRef=dict(snapshot_source("s"), namespace="elsewhere")))
    assert "dataSource" not in crossed["spec"] and "dataSourceRef" not in crossed["spec"]
    with pytest.raises(Exception, match="must match dataSourceRef") as raised:
        cluster.create("", "persistentvolumeclaims", claim("d", "1Gi", "none", dataSource=snapshot_source("s"), dataSourceRef=snapshot_source("t")))
    assert raised.value.code == 422


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_deleting_the_snapshot_deletes_its_data_only_with_deletion_policy_delete(cluster, policy):
    backend = snapshotted_claim(cluster, policy=policy)
    [handle] = backend.snapshot_handles()
    cluster.delete("snapshot.storage.k8s.io", "volumesnapshots", "backup")
    cluster.settle()
    assert backend.snapshot_handles() == ([] if policy == "Delete" else [handle])


def test_deleting_a_claim_with_reclaim_policy_delete_deletes_its_volume_data(cluster):
    bound_csi_claim(cluster)
    backend = cluster.controllers.volume_backend
    handle = volume_handle_of_claim(cluster, "data")
    assert backend.read_volume(handle) == b""
    cluster.delete("", "persistentvolumeclaims", "data")
    cluster.settle()
    assert backend.read_volume(handle) is None and backend.volumes() == []


def pre_provisioned_content(name, handle):
    return {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent", "metadata": {"name": name},
            "spec": {"deletionPolicy": "Retain", "driver": SNAPSHOT_DRIVER, "source": {"snapshotHandle": handle},
                     "volumeSnapshotRef": {"name": "imported", "namespace": NAMESPACE}}}


def test_claim_from_a_pre_provisioned_snapshot_gets_the_data_its_handle_names(cluster):
    install_snapshot_crds(cluster)
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "csi"}, "provisioner": SNAPSHOT_DRIVER})
    backend = cluster.controllers.volume_backend
    backend.write_snapshot("snap-from-elsewhere", b"exported rows", size_bytes=1024 ** 3)
    cluster.create("snapshot.storage.k8s.io", "volumesnapshotcontents", pre_provisioned_content("imported-content", "snap-from-elsewhere"))
    cluster.create("snapshot.storage.k8s.io", "volumesnapshots", snapshot("imported", volumeSnapshotContentName="imported-content"))
    cluster.create("", "persistentvolumeclaims", claim("restored", "1Gi", "csi", dataSource=snapshot_source("imported")))
    cluster.settle()
    assert cluster.get("snapshot.storage.k8s.io", "volumesnapshots", "imported")["status"]["restoreSize"] == "1Gi"
    handle = volume_handle_of_claim(cluster, "restored")
    assert backend.read_volume(handle) == b"exported rows"
    assert [v for v in backend.volumes() if v["handle"] == handle] == [
        {"handle": handle, "size": 13, "source_snapshot": "snap-from-elsewhere", "snapshot_data_missing": False}]


def test_claim_from_a_snapshot_the_backend_does_not_hold_gets_an_empty_flagged_volume(cluster):
    install_snapshot_crds(cluster)
    cluster.create("storage.k8s.io", "storageclasses", {"metadata": {"name": "csi"}, "provisioner": SNAPSHOT_DRIVER})
    cluster.create("snapshot.storage.k8s.io", "volumesnapshotcontents", pre_provisioned_content("imported-content", "snap-other-account"))
    cluster.create("snapshot.storage.k8s.io", "volumesnapshots", snapshot("imported", volumeSnapshotContentName="imported-content"))
    cluster.create("", "persistentvolumeclaims", claim("restored", "1Gi", "csi", dataSource=snapshot_source("imported")))
    cluster.settle()
    handle = volume_handle_of_claim(cluster, "restored")
    restored = [v for v in cluster.controllers.volume_backend.volumes() if v["handle"] == handle]
    assert restored == [{"handle": handle, "size": 0, "source_snapshot": "snap-other-account", "snapshot_data_missing": True}]


# -------------------------------------------------------------------- switches

def test_switched_off_controller_leaves_objects_untouched_until_switched_on(cluster):
    cluster.controllers.configure({"deployment": False})
    assert cluster.controllers.describe()["deployment"] is False and cluster.controllers.describe()["replicaset"] is True
    cluster.create("apps", "deployments", deployment("web"))
    cluster.settle()
    assert cluster.list("apps", "replicasets") == []
    assert "status" not in cluster.get("apps", "deployments", "web")
    cluster.controllers.configure({"deployment": True})
    cluster.settle()
    assert len(cluster.list("apps", "replicasets")) == 1 and len(cluster.list("", "pods")) == 2


def test_switched_off_kubelet_leaves_pods_pending(cluster):
    cluster.controllers.configure({"kubelet": False})
    cluster.create("", "pods", {"metadata": {"name": "p", "namespace": NAMESPACE}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    cluster.settle()
    pod = cluster.get("", "pods", "p")
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"} and "nodeName" not in pod["spec"]


def test_unknown_controller_name_is_refused(cluster):
    with pytest.raises(Exception, match="unknown controller"):
        cluster.controllers.configure({"scheduler": False})


def test_all_controllers_off_at_construction():
    registry = Registry(catalog.builtin_resource_types())
    manager = controllers.ControllerManager(Store(registry), enabled=False)
    assert set(manager.describe().values()) == {False}
    assert manager.idle()

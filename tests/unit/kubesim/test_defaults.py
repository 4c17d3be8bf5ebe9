"""Built-in kinds are stored defaulted, as kube-apiserver's SetDefaults_* functions leave them."""


def _create(api, path, body):
    code, stored, _ = api.post(path, body)
    assert code == 201, stored
    return stored


def _pod_template(image="nginx:1.27", **spec):
    return {"metadata": {"labels": {"app": "x"}}, "spec": dict({"containers": [{"name": "c", "image": image, "ports": [{"containerPort": 80}]}]}, **spec)}


def test_deployment_is_defaulted(api):
    stored = _create(api, "/apis/apps/v1/namespaces/default/deployments",
                     {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": _pod_template()}})
    spec = stored["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always" and pod_spec["dnsPolicy"] == "ClusterFirst"
    assert pod_spec["schedulerName"] == "default-scheduler" and pod_spec["terminationGracePeriodSeconds"] == 30
    assert pod_spec["securityContext"] == {}
    container = pod_spec["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log" and container["terminationMessagePolicy"] == "File"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    # SetDefaults_Pod (enableServiceLinks) is for Pods, not pod templates.
    assert "enableServiceLinks" not in pod_spec


def test_recreate_deployment_gets_no_rolling_update(api):
    stored = _create(api, "/apis/apps/v1/namespaces/default/deployments", {
        "metadata": {"name": "web"},
        "spec": {"strategy": {"type": "Recreate"}, "selector": {"matchLabels": {"app": "x"}}, "template": _pod_template()}})
    assert stored["spec"]["strategy"] == {"type": "Recreate"}


def test_statefulset_is_defaulted(api):
    stored = _create(api, "/apis/apps/v1/namespaces/default/statefulsets", {
        "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "x"}}, "template": _pod_template(),
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                                                  "resources": {"requests": {"storage": "1Gi"}}}}]}})
    spec = stored["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["status"] == {"phase": "Pending"}


def test_statefulset_on_delete_strategy_is_kept(api):
    stored = _create(api, "/apis/apps/v1/namespaces/default/statefulsets", {
        "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "updateStrategy": {"type": "OnDelete"}, "selector": {"matchLabels": {"app": "x"}}, "template": _pod_template()}})
    assert stored["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_daemonset_and_replicaset_are_defaulted(api):
    daemon_set = _create(api, "/apis/apps/v1/namespaces/default/daemonsets", {
        "metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": _pod_template()}})
    assert daemon_set["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert daemon_set["spec"]["revisionHistoryLimit"] == 10
    replica_set = _create(api, "/apis/apps/v1/namespaces/default/replicasets", {
        "metadata": {"name": "rs"}, "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": _pod_template()}})
    assert replica_set["spec"]["replicas"] == 1


def test_job_and_cronjob_are_defaulted(api):
    job = _create(api, "/apis/batch/v1/namespaces/default/jobs", {
        "metadata": {"name": "migrate"}, "spec": {"template": _pod_template(restartPolicy="Never")}})
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed" and spec["manualSelector"] is False
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    # A Job without labels takes its template's.
    assert job["metadata"]["labels"]["app"] == "x"
    cron_job = _create(api, "/apis/batch/v1/namespaces/default/cronjobs", {
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": _pod_template(restartPolicy="OnFailure")}}}})
    spec = cron_job["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    job_spec = spec["jobTemplate"]["spec"]
    # The job template is a JobSpec: SetDefaults_Job does not run on it, the pod template defaults do.
    assert "backoffLimit" not in job_spec and job_spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_pod_is_defaulted(api):
    stored = _create(api, "/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": {
        "containers": [
            {"name": "latest", "image": "registry.local:5000/team/app", "resources": {"limits": {"cpu": "1"}},
             "readinessProbe": {"httpGet": {"port": 8080}}, "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]},
            {"name": "pinned", "image": "busybox@sha256:" + "a" * 64},
            {"name": "tagged", "image": "busybox:latest"},
        ],
        "volumes": [{"name": "scratch"}, {"name": "conf", "configMap": {"name": "c"}}, {"name": "host", "hostPath": {"path": "/var/log"}}],
    }})
    spec = stored["spec"]
    assert [c["imagePullPolicy"] for c in spec["containers"]] == ["Always", "IfNotPresent", "Always"]
    first = spec["containers"][0]
    assert first["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert first["readinessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
                                       "successThreshold": 1, "failureThreshold": 3}
    assert first["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "c", "defaultMode": 420}},
                               {"name": "host", "hostPath": {"path": "/var/log", "type": ""}}]
    assert spec["enableServiceLinks"] is True and spec["restartPolicy"] == "Always"


def test_claims_volumes_and_storage_classes_are_defaulted(api):
    claim = _create(api, "/api/v1/namespaces/default/persistentvolumeclaims", {
        "metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    assert claim["spec"]["volumeMode"] == "Filesystem"
    volume = _create(api, "/api/v1/persistentvolumes", {"metadata": {"name": "pv1"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}})
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and volume["spec"]["volumeMode"] == "Filesystem"
    storage_class = _create(api, "/apis/storage.k8s.io/v1/storageclasses", {"metadata": {"name": "fast"}, "provisioner": "x.csi.example.com"})
    assert storage_class["reclaimPolicy"] == "Delete" and storage_class["volumeBindingMode"] == "Immediate"


def test_network_policy_and_role_binding_are_defaulted(api):
    policy = _create(api, "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies", {"metadata": {"name": "np"}, "spec": {
        "podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}})
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    binding = _create(api, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", {
        "metadata": {"name": "rb"}, "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "default", "namespace": "default"}]})
    assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert binding["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io" and "apiGroup" not in binding["subjects"][1]


def test_updates_are_defaulted_and_a_resent_undefaulted_spec_is_a_no_op(cluster, api):
    cluster.control.configure(controllers=False)  # no controller may write status meanwhile
    path = "/apis/apps/v1/namespaces/default/deployments"
    manifest = {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": _pod_template()}}
    created = _create(api, path, manifest)
    # A PUT of the manifest as written (no defaults) changes nothing: it is defaulted the same way.
    code, replaced, _ = api.put(path + "/web", manifest)
    assert code == 200 and replaced["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert replaced["metadata"]["generation"] == 1
    # A patch removing a defaulted field gets it back.
    code, patched, _ = api.patch(path + "/web", {"spec": {"revisionHistoryLimit": None, "strategy": None}})
    assert code == 200 and patched["spec"]["revisionHistoryLimit"] == 10 and patched["spec"]["strategy"]["type"] == "RollingUpdate"
    assert patched["metadata"]["generation"] == 1


def test_custom_resources_are_not_defaulted(api):
    code, _, _ = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})
    assert code == 201
    widget = _create(api, "/apis/example.com/v1/namespaces/default/widgets", {"metadata": {"name": "w"}, "spec": {"template": _pod_template()}})
    assert widget["spec"] == {"template": _pod_template()}

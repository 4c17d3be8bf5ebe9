"""Defaulting of built-in kinds, as kube-apiserver applies it when it decodes a request body.

Each function follows a ``SetDefaults_*`` function of kubernetes/kubernetes
(pkg/apis/<group>/<version>/defaults.go) and the declarative ``+default``
tags its generated defaulters apply (``zz_generated.defaults.go``), with the
feature gates of a current release at their default (StatefulSetAutoDeletePVC
and JobPodReplacementPolicy on). Defaulting fills absent fields; the one value it
drops is the sessionAffinityConfig of a Service without ClientIP affinity.

Not defaulted: quantities are not rounded (SetDefaults_ResourceList), HorizontalPodAutoscalers
are served at two versions with different defaults and are left as sent, and
in-tree volume plugins nobody uses anymore (iSCSI, RBD, ScaleIO, AzureDisk).
"""

import copy

RBAC_GROUP = "rbac.authorization.k8s.io"
# v1.DefaultTerminationGracePeriodSeconds, v1.TerminationMessagePathDefault, v1.DefaultSchedulerName.
TERMINATION_GRACE_PERIOD_SECONDS = 30
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
SCHEDULER_NAME = "default-scheduler"
# Secret, ConfigMap, DownwardAPI and Projected volumes: 0644.
VOLUME_DEFAULT_MODE = 0o644


def _dict(parent, field):
    """``parent[field]`` as a dict, created when absent (defaulting a nil struct pointer to its zero value)."""
    value = parent.get(field)
    if not isinstance(value, dict):
        value = parent[field] = {}
    return value


def _default(parent, field, value):
    """Set ``field`` when absent, null or "": how an unset Go pointer or string arrives."""
    if parent.get(field) in (None, ""):
        parent[field] = value


def _dicts(value):
    return [item for item in value or [] if isinstance(item, dict)] if isinstance(value, list) else []


# ------------------------------------------------------------------ core/v1


def image_tag(image):
    """The tag of an image reference as parsers.ParseImageName reads it: "latest" when neither tag nor digest is given."""
    if "@" in image:
        return ""
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def _http_get(action):
    if isinstance(action, dict):
        _default(action, "path", "/")
        _default(action, "scheme", "HTTP")


def _probe(probe):
    if not isinstance(probe, dict):
        return
    for field, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        if not probe.get(field):
            probe[field] = value
    _http_get(probe.get("httpGet"))
    if isinstance(probe.get("grpc"), dict):
        _default(probe["grpc"], "service", "")


def _field_ref(ref):
    if isinstance(ref, dict):
        _default(ref, "apiVersion", "v1")


def container(obj):
    """SetDefaults_Container and the defaults of its nested types."""
    if not obj.get("imagePullPolicy"):
        obj["imagePullPolicy"] = "Always" if image_tag(str(obj.get("image") or "")) == "latest" else "IfNotPresent"
    if not obj.get("terminationMessagePath"):
        obj["terminationMessagePath"] = TERMINATION_MESSAGE_PATH
    if not obj.get("terminationMessagePolicy"):
        obj["terminationMessagePolicy"] = "File"
    for port in _dicts(obj.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for env in _dicts(obj.get("env")):
        _field_ref((env.get("valueFrom") or {}).get("fieldRef"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(obj.get(probe))
    lifecycle = obj.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            _http_get((lifecycle.get(hook) or {}).get("httpGet"))


_VOLUME_SOURCES_WITH_MODE = ("secret", "configMap", "downwardAPI", "projected")


def volume(obj):
    """SetDefaults_Volume and its sources' defaults."""
    if not any(key != "name" for key in obj):
        obj["emptyDir"] = {}
    for source in _VOLUME_SOURCES_WITH_MODE:
        if isinstance(obj.get(source), dict):
            _default(obj[source], "defaultMode", VOLUME_DEFAULT_MODE)
    if isinstance(obj.get("hostPath"), dict):
        _default(obj["hostPath"], "type", "")
    for item in _dicts((obj.get("downwardAPI") or {}).get("items")):
        _field_ref(item.get("fieldRef"))
    for projection in _dicts((obj.get("projected") or {}).get("sources")):
        for item in _dicts((projection.get("downwardAPI") or {}).get("items")):
            _field_ref(item.get("fieldRef"))
        if isinstance(projection.get("serviceAccountToken"), dict):
            _default(projection["serviceAccountToken"], "expirationSeconds", 3600)
    claim_template = (obj.get("ephemeral") or {}).get("volumeClaimTemplate")
    if isinstance(claim_template, dict):
        claim_spec(_dict(claim_template, "spec"))


def pod_spec(spec):
    """SetDefaults_PodSpec, for Pods and every pod template."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = TERMINATION_GRACE_PERIOD_SECONDS
    if not spec.get("schedulerName"):
        spec["schedulerName"] = SCHEDULER_NAME
    for item in _dicts(spec.get("volumes")):
        volume(item)
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for item in _dicts(spec.get(field)):
            container(item)


def pod_template(parent, field="template"):
    template = parent.get(field)
    if isinstance(template, dict):
        pod_spec(_dict(template, "spec"))


def pod(obj):
    """SetDefaults_Pod on top of the pod spec's defaults."""
    spec = _dict(obj, "spec")
    pod_spec(spec)
    for field in ("containers", "initContainers"):
        for item in _dicts(spec.get(field)):
            resources = item.get("resources")
            # Requests default to limits, on Pods only (not on templates).
            if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
                requests = _dict(resources, "requests")
                for name, value in resources["limits"].items():
                    requests.setdefault(name, value)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for field in ("containers", "initContainers"):
            for item in _dicts(spec.get(field)):
                for port in _dicts(item.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")


def claim_spec(spec):
    """SetDefaults_PersistentVolumeClaimSpec."""
    _default(spec, "volumeMode", "Filesystem")


def persistent_volume_claim(obj):
    claim_spec(_dict(obj, "spec"))


def persistent_volume(obj):
    spec = _dict(obj, "spec")
    if not spec.get("persistentVolumeReclaimPolicy"):
        spec["persistentVolumeReclaimPolicy"] = "Retain"
    _default(spec, "volumeMode", "Filesystem")


def pod_template_object(obj):
    pod_template(obj)


def replication_controller(obj):
    spec = _dict(obj, "spec")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        metadata = _dict(obj, "metadata")
        if not metadata.get("labels"):
            metadata["labels"] = dict(labels)
    _default(spec, "replicas", 1)  # declarative default
    pod_template(spec)


def service(obj):
    """SetDefaults_Service (IP families and allocations are the Service strategy's)."""
    spec = _dict(obj, "spec")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP" and not ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds"):
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in _dicts(spec.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    externally_accessible = spec["type"] in ("LoadBalancer", "NodePort") or (spec["type"] == "ClusterIP" and spec.get("externalIPs"))
    if externally_accessible and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and spec["type"] in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True


def node(obj):
    # NodeSpec is a struct, not a pointer: every Node has a spec, if only {}.
    _dict(obj, "spec")
    status = obj.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None and status.get("capacity") is not None:
        status["allocatable"] = dict(status["capacity"])


def endpoints(obj):
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            if not port.get("protocol"):
                port["protocol"] = "TCP"


# ------------------------------------------------------------------ apps/v1


def deployment(obj):
    spec = _dict(obj, "spec")
    _default(spec, "replicas", 1)
    strategy = _dict(spec, "strategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        _default(rolling, "maxUnavailable", "25%")
        _default(rolling, "maxSurge", "25%")
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    pod_template(spec)


def stateful_set(obj):
    spec = _dict(obj, "spec")
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = _dict(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        _dict(strategy, "rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        _default(strategy["rollingUpdate"], "partition", 0)
    retention = _dict(spec, "persistentVolumeClaimRetentionPolicy")
    for field in ("whenDeleted", "whenScaled"):
        if not retention.get(field):
            retention[field] = "Retain"
    _default(spec, "replicas", 1)
    _default(spec, "revisionHistoryLimit", 10)
    pod_template(spec)
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        # SetDefaults_PersistentVolumeClaim gives each template a Pending status, as in every stored StatefulSet.
        status = _dict(claim, "status")
        if not status.get("phase"):
            status["phase"] = "Pending"
        claim_spec(_dict(claim, "spec"))


def daemon_set(obj):
    spec = _dict(obj, "spec")
    strategy = _dict(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        _default(rolling, "maxUnavailable", 1)
        _default(rolling, "maxSurge", 0)
    _default(spec, "revisionHistoryLimit", 10)
    pod_template(spec)


def replica_set(obj):
    spec = _dict(obj, "spec")
    _default(spec, "replicas", 1)
    pod_template(spec)


# ----------------------------------------------------------------- batch/v1


def _pod_failure_policy(spec):
    for rule in _dicts((spec.get("podFailurePolicy") or {}).get("rules")):
        for pattern in _dicts(rule.get("onPodConditions")):
            if not pattern.get("status"):
                pattern["status"] = "True"


def job(obj):
    spec = _dict(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _default(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    metadata = _dict(obj, "metadata")
    if labels is not None and not metadata.get("labels"):
        metadata["labels"] = dict(labels)
    _default(spec, "completionMode", "NonIndexed")
    _default(spec, "suspend", False)
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed"
    _default(spec, "manualSelector", False)
    _pod_failure_policy(spec)
    pod_template(spec)


def cron_job(obj):
    spec = _dict(obj, "spec")
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    _default(spec, "suspend", False)
    _default(spec, "successfulJobsHistoryLimit", 3)
    _default(spec, "failedJobsHistoryLimit", 1)
    # The job template's spec is a JobSpec, not a Job: SetDefaults_Job does not run on it.
    job_spec = (spec.get("jobTemplate") or {}).get("spec")
    if isinstance(job_spec, dict):
        _pod_failure_policy(job_spec)
        pod_template(job_spec)


# ------------------------------------------------------ networking, storage, rbac


def network_policy(obj):
    spec = _dict(obj, "spec")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec.get(direction)):
            for port in _dicts(rule.get("ports")):
                if port.get("protocol") is None:
                    port["protocol"] = "TCP"


def ingress_class(obj):
    parameters = (obj.get("spec") or {}).get("parameters")
    if isinstance(parameters, dict) and parameters.get("scope") is None:
        parameters["scope"] = "Cluster"


def storage_class(obj):
    if obj.get("reclaimPolicy") is None:
        obj["reclaimPolicy"] = "Delete"
    if obj.get("volumeBindingMode") is None:
        obj["volumeBindingMode"] = "Immediate"


def csi_driver(obj):
    spec = _dict(obj, "spec")
    for field in ("attachRequired",):
        _default(spec, field, True)
    for field in ("podInfoOnMount", "storageCapacity", "requiresRepublish"):
        _default(spec, field, False)
    _default(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType")
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]


def role_binding(obj):
    role_ref = _dict(obj, "roleRef")
    if not role_ref.get("apiGroup"):
        role_ref["apiGroup"] = RBAC_GROUP
    for subject in _dicts(obj.get("subjects")):
        if not subject.get("apiGroup"):
            if subject.get("kind") == "ServiceAccount":
                subject.pop("apiGroup", None)
            elif subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP


DEFAULTERS = {
    ("", "pods"): pod,
    ("", "podtemplates"): pod_template_object,
    ("", "replicationcontrollers"): replication_controller,
    ("", "persistentvolumeclaims"): persistent_volume_claim,
    ("", "persistentvolumes"): persistent_volume,
    ("", "endpoints"): endpoints,
    ("", "services"): service,
    ("", "nodes"): node,
    ("apps", "deployments"): deployment,
    ("apps", "statefulsets"): stateful_set,
    ("apps", "daemonsets"): daemon_set,
    ("apps", "replicasets"): replica_set,
    ("batch", "jobs"): job,
    ("batch", "cronjobs"): cron_job,
    ("networking.k8s.io", "networkpolicies"): network_policy,
    ("networking.k8s.io", "ingressclasses"): ingress_class,
    ("storage.k8s.io", "storageclasses"): storage_class,
    ("storage.k8s.io", "csidrivers"): csi_driver,
    (RBAC_GROUP, "rolebindings"): role_binding,
    (RBAC_GROUP, "clusterrolebindings"): role_binding,
}


def apply(rtype, obj):
    """Default ``obj`` (a decoded request body of ``rtype``) in place; unknown kinds and custom resources are left alone."""
    defaulter = None if rtype.from_crd else DEFAULTERS.get((rtype.group, rtype.plural))
    if defaulter is not None and isinstance(obj, dict):
        defaulter(obj)
    return obj


def defaulted(rtype, obj):
    """A defaulted copy of ``obj``."""
    return apply(rtype, copy.deepcopy(obj))

"""Admission plugins of a default kube-apiserver that a client can notice on create.

ServiceAccount (plugin/pkg/admission/serviceaccount): a Pod runs as the
ServiceAccount it names, ``default`` when it names none, which must exist;
mirror pods (created by a kubelet from a static manifest) are left alone.
"""

from kubesim import errors

DEFAULT_SERVICE_ACCOUNT = "default"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


def admit_pod_service_account(store, namespace, pod):
    """Fill in the ServiceAccount of a Pod being created; 403 when it does not exist."""
    metadata = pod.get("metadata") or {}
    if MIRROR_POD_ANNOTATION in (metadata.get("annotations") or {}):
        return pod
    spec = pod.setdefault("spec", {})
    # The deprecated spec.serviceAccount is read when serviceAccountName is empty, and mirrored back on the way out.
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
    accounts = store.registry.lookup("", "v1", "serviceaccounts")
    if store.find(accounts, namespace, name) is None:
        # Admission runs before generateName is applied: such a pod is refused without a name.
        pod_name = metadata.get("name") or ""
        subject = 'pods "%s"' % pod_name if pod_name else "pods"
        details = {"name": pod_name, "kind": "pods"} if pod_name else {"kind": "pods"}
        raise errors.ApiError(403, "Forbidden", '%s is forbidden: error looking up service account %s/%s: serviceaccount "%s" not found'
                              % (subject, namespace, name, name), details)
    spec["serviceAccountName"] = name
    spec["serviceAccount"] = name
    return pod

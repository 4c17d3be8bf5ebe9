"""The default ClusterRoles and ClusterRoleBindings kube-apiserver creates when RBAC is on (bootstrappolicy).

Only those a client notices: discovery and health for everyone authenticated,
health and version for anonymous too, the self-reviews, and cluster-admin for
``system:masters``.
"""

import copy

_GROUP = "rbac.authorization.k8s.io"
_API_VERSION = _GROUP + "/v1"
_METADATA = {"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
             "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _role(name, rules):
    return {"apiVersion": _API_VERSION, "kind": "ClusterRole", "metadata": dict(copy.deepcopy(_METADATA), name=name), "rules": rules}


def _binding(name, role, *groups):
    return {"apiVersion": _API_VERSION, "kind": "ClusterRoleBinding", "metadata": dict(copy.deepcopy(_METADATA), name=name),
            "roleRef": {"apiGroup": _GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": _GROUP, "kind": "Group", "name": group} for group in groups]}


def objects():
    """What to seed into a fresh cluster whose authorizer is RBAC (the cluster-admin ClusterRole is always there)."""
    return [
        _role("system:discovery", [{"nonResourceURLs": sorted(["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"] + _PUBLIC_URLS),
                                    "verbs": ["get"]}]),
        _role("system:basic-user", [
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        _role("system:public-info-viewer", [{"nonResourceURLs": list(_PUBLIC_URLS), "verbs": ["get"]}]),
        _binding("cluster-admin", "cluster-admin", "system:masters"),
        _binding("system:discovery", "system:discovery", "system:authenticated"),
        _binding("system:basic-user", "system:basic-user", "system:authenticated"),
        _binding("system:public-info-viewer", "system:public-info-viewer", "system:authenticated", "system:unauthenticated"),
    ]

"""Whether a user may make a request: the emulator's authorizer chain and kube's 403 answers.

Modes (``KubeSim(authorization=...)``, ``serve --authorization``):
``AlwaysAllow`` (the default, for speed) and ``RBAC``, which is kube-apiserver's
``--authorization-mode=RBAC`` behind the privileged-group authorizer
(``system:masters`` may do everything, as the admin certificate kubeadm writes).

``Authorizer.allowed(user, attributes) -> (allowed, reason)`` is the one entry
point: the HTTP handler calls it for every request, the review resources
(SubjectAccessReview and friends) call it to answer.
"""

from dataclasses import dataclass

from kubesim import errors
from kubesim.authentication import MASTERS
from kubesim.rbac import RbacAuthorizer

ALWAYS_ALLOW = "AlwaysAllow"
RBAC = "RBAC"
MODES = {"alwaysallow": ALWAYS_ALLOW, "allow-all": ALWAYS_ALLOW, "rbac": RBAC}


def parse_mode(value):
    """``rbac`` / ``RBAC`` / ``AlwaysAllow`` / ``allow-all`` / None (AlwaysAllow)."""
    if value is None:
        return ALWAYS_ALLOW
    mode = MODES.get(str(value).lower())
    if mode is None:
        raise ValueError("unknown authorization mode %r: use rbac or AlwaysAllow" % value)
    return mode


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: a resource request (api_group, resource, ...) or a non-resource one (path)."""

    user: object
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    is_resource_request: bool = True


def request_attributes(user, method, path, segments, query):
    """The attributes kube's RequestInfoFactory derives from a request path, before anything is looked up:
    a path naming no served resource is refused 403 the same as one that does."""
    if segments[:1] == ["api"] and len(segments) > 2:
        group, parts = "", segments[2:]
    elif segments[:1] == ["apis"] and len(segments) > 3:
        group, parts = segments[1], segments[3:]
    else:
        return Attributes(user, method.lower(), path=path, is_resource_request=False)
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        # /namespaces/<ns>/<resource>/...; /namespaces/<ns>/status and /finalize are the namespace's own subresources.
        if len(parts) > 2 and parts[2] not in ("status", "finalize"):
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "GET": "get", "HEAD": "get"}.get(method, method.lower())
    if verb == "delete" and not name:
        verb = "deletecollection"
    if verb == "get" and not name:
        verb = "watch" if query.get("watch") in ("true", "1") else "list"
        # A LIST or WATCH with fieldSelector=metadata.name=<n> is authorized as a request for <n> (resourceNames).
        for term in (query.get("fieldSelector") or "").split(","):
            key, _, value = term.partition("=")
            value = value[1:] if value.startswith("=") else value  # metadata.name==x
            if key.strip() == "metadata.name" and value.strip():
                name = value.strip()
    return Attributes(user, verb, api_group=group, resource=resource, subresource=subresource, namespace=namespace, name=name)


def forbidden_message(attributes):
    """responsewriters.forbiddenMessage."""
    username = attributes.user.name if attributes.user is not None else ""
    if not attributes.is_resource_request:
        return 'User "%s" cannot %s path "%s"' % (username, attributes.verb, attributes.path)
    resource = attributes.resource + ("/" + attributes.subresource if attributes.subresource else "")
    if attributes.namespace:
        return 'User "%s" cannot %s resource "%s" in API group "%s" in the namespace "%s"' % (
            username, attributes.verb, resource, attributes.api_group, attributes.namespace)
    return 'User "%s" cannot %s resource "%s" in API group "%s" at the cluster scope' % (
        username, attributes.verb, resource, attributes.api_group)


def forbidden(attributes, reason=""):
    """The 403 kube-apiserver writes for a refused request (apierrors.NewForbidden of the request's group/resource)."""
    message = forbidden_message(attributes)
    if reason:
        message = "%s: %s" % (message, reason)
    if not attributes.is_resource_request:
        return errors.ApiError(403, "Forbidden", "forbidden: %s" % message, {})
    qualified = errors.qualified_resource(attributes.api_group, attributes.resource)
    details = {}
    if attributes.name:
        details["name"] = attributes.name
    if attributes.api_group:
        details["group"] = attributes.api_group
    details["kind"] = attributes.resource
    if attributes.name:
        return errors.ApiError(403, "Forbidden", '%s "%s" is forbidden: %s' % (qualified, attributes.name, message), details)
    return errors.ApiError(403, "Forbidden", "%s is forbidden: %s" % (qualified, message), details)


class Authorizer:
    def __init__(self, store, mode=ALWAYS_ALLOW):
        self.mode = parse_mode(mode)
        self.rbac = RbacAuthorizer(store) if self.mode == RBAC else None

    @property
    def enabled(self):
        return self.mode != ALWAYS_ALLOW

    def allowed(self, user, attributes):
        """(allowed, reason) for ``attributes`` (whose own user is ignored in favour of ``user``)."""
        if self.mode == ALWAYS_ALLOW:
            return True, ""
        if MASTERS in user.groups:
            return True, ""
        if attributes.user is not user:
            attributes = Attributes(user, attributes.verb, attributes.api_group, attributes.resource, attributes.subresource,
                                    attributes.namespace, attributes.name, attributes.path, attributes.is_resource_request)
        return self.rbac.authorize(attributes)

    def check(self, attributes):
        """Raise kube's 403 unless ``attributes.user`` may do what ``attributes`` names."""
        allowed, reason = self.allowed(attributes.user, attributes)
        if not allowed:
            raise forbidden(attributes, reason)

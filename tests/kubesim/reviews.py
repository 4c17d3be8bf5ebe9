"""Review resources: created, answered, never stored (kube-apiserver's authentication and authorization "virtual" kinds).

* TokenReview: is this token one the emulator issued or knows, and whose is it?
* SelfSubjectReview: who am I?
* SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectAccessReview: may U do V on R? (asked of the cluster's authorizer)
* SelfSubjectRulesReview: what may I do? (complete only when the authorizer allows everything)

The answer is the request object with its status filled, 201 Created, as kube-apiserver answers.
"""

import json

from kubesim import authentication, errors
from kubesim.authentication import UserInfo
from kubesim.authorization import Attributes

AUTHENTICATION = "authentication.k8s.io"
AUTHORIZATION = "authorization.k8s.io"
_KINDS = {(AUTHENTICATION, "tokenreviews"), (AUTHENTICATION, "selfsubjectreviews"), (AUTHORIZATION, "subjectaccessreviews"),
          (AUTHORIZATION, "localsubjectaccessreviews"), (AUTHORIZATION, "selfsubjectaccessreviews"), (AUTHORIZATION, "selfsubjectrulesreviews")}
# The API server's own audience (--api-audiences defaults to the service account issuer).
API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)


def is_review(rtype):
    return not rtype.from_crd and (rtype.group, rtype.plural) in _KINDS


def user_info(user):
    """userInfo (as reviews show it) of the user a request acts as (authentication.UserInfo)."""
    info = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    return info


def _decide(cluster, username, groups, attributes):
    return cluster.authorizer.allowed(UserInfo(username, tuple(groups)), attributes)


def answer(cluster, request, body, requester):
    """The review with its status, for the request's ``requester`` userInfo."""
    rtype = request.rtype
    if not isinstance(body, dict):
        raise errors.bad_request("the object provided is not a JSON object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version and api_version != rtype.api_version or kind and kind != rtype.kind:
        raise errors.bad_request("the API version or kind in the data (%s %s) does not match the expected (%s %s)"
                                 % (api_version, kind, rtype.api_version, rtype.kind))
    review = {"kind": rtype.kind, "apiVersion": rtype.api_version,
              "metadata": dict(body.get("metadata") or {}, creationTimestamp=None), "spec": dict(body.get("spec") or {})}
    spec = review["spec"]
    if rtype.plural == "tokenreviews":
        review["status"] = _token_status(cluster, spec)
    elif rtype.plural == "selfsubjectreviews":
        review.pop("spec")
        review["status"] = {"userInfo": requester}
    elif rtype.plural == "selfsubjectrulesreviews":
        review["status"] = _rules_status(cluster, requester, spec.get("namespace") or "")
    else:
        if rtype.plural == "subjectaccessreviews" or rtype.plural == "localsubjectaccessreviews":
            subject = {"user": spec.get("user") or "", "groups": spec.get("groups") or []}
            if not subject["user"] and not subject["groups"]:
                raise errors.invalid(AUTHORIZATION, rtype.kind, "", [("spec.user", 'Invalid value: "": at least one of user or group must be specified')])
        else:
            subject = {"user": requester["username"], "groups": requester.get("groups") or []}
        if rtype.plural == "localsubjectaccessreviews":
            namespace = (spec.get("resourceAttributes") or {}).get("namespace")
            if namespace != request.namespace:
                raise errors.invalid(AUTHORIZATION, rtype.kind, "", [("spec.resourceAttributes.namespace",
                                                                       'Invalid value: "%s": must match metadata.namespace' % (namespace or ""))])
            review["metadata"]["namespace"] = request.namespace
        review["status"] = _access_status(cluster, subject, spec)
    return review


def _access_status(cluster, subject, spec):
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(resource) == bool(non_resource):
        raise errors.invalid(AUTHORIZATION, "SubjectAccessReview", "", [(
            "spec.resourceAttributes", "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    if resource:
        attributes = Attributes(None, resource.get("verb") or "", api_group=resource.get("group") or "", resource=resource.get("resource") or "",
                                subresource=resource.get("subresource") or "", namespace=resource.get("namespace") or "",
                                name=resource.get("name") or "")
    else:
        attributes = Attributes(None, non_resource.get("verb") or "", path=non_resource.get("path") or "", is_resource_request=False)
    allowed, reason = _decide(cluster, subject["user"], subject["groups"], attributes)
    status = {"allowed": bool(allowed)}
    if reason:
        status["reason"] = reason
    return status


def _rules_status(cluster, requester, namespace):
    username, groups = requester["username"], requester.get("groups") or ()
    everything = Attributes(None, "*", api_group="*", resource="*", namespace=namespace)
    every_path = Attributes(None, "*", path="*", is_resource_request=False)
    if _decide(cluster, username, groups, everything)[0] and _decide(cluster, username, groups, every_path)[0]:
        return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    return {"resourceRules": [], "nonResourceRules": [], "incomplete": True,
            "evaluationError": "the authorizer of this emulator cannot list rules"}


def _token_status(cluster, spec):
    found = authenticate_token(cluster, spec.get("token") or "")
    if found is None:
        return {"user": {}, "error": "invalid bearer token"}
    user, token_audiences = found
    wanted = list(spec.get("audiences") or API_AUDIENCES)
    audiences = [audience for audience in wanted if audience in token_audiences]
    if not audiences:
        return {"user": {}, "error": "token audiences %s is invalid for the target audiences %s" % (json.dumps(token_audiences), json.dumps(wanted))}
    return {"authenticated": True, "user": user, "audiences": audiences}


def authenticate_token(cluster, token):
    """(userInfo, audiences) of a bearer token the emulator knows, else None: the cluster's admin token, or a
    ServiceAccount token it issued and has not revoked (authentication.service_account_token_user decides)."""
    if not token:
        return None
    if cluster.token and token == cluster.token:
        return user_info(authentication.admin()), list(API_AUDIENCES)
    user = authentication.service_account_token_user(cluster, token)
    if user is None:
        return None
    info = user_info(user)
    claims = authentication.token_claims(token) or {}
    if "kubernetes.io" in claims:  # a bound token from the TokenRequest API
        info["extra"] = {"authentication.kubernetes.io/credential-id": ["JTI=%s" % claims.get("jti")]}
        audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    else:  # a legacy token Secret's
        audiences = list(API_AUDIENCES)
    return info, audiences

"""Review resources: created, answered, never stored (kube-apiserver's authentication and authorization "virtual" kinds).

* TokenReview: is this token one the emulator issued or knows, and whose is it?
* SelfSubjectReview: who am I?
* SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectAccessReview: may U do V on R? (asked of the cluster's authorizer)
* SelfSubjectRulesReview: what may I do? (complete only when the authorizer allows everything)

The answer is the request object with its status filled, 201 Created, as kube-apiserver answers.
"""

import base64
import json
import time

from kubesim import errors
from kubesim.authorization import Attributes

AUTHENTICATION = "authentication.k8s.io"
AUTHORIZATION = "authorization.k8s.io"
_KINDS = {(AUTHENTICATION, "tokenreviews"), (AUTHENTICATION, "selfsubjectreviews"), (AUTHORIZATION, "subjectaccessreviews"),
          (AUTHORIZATION, "localsubjectaccessreviews"), (AUTHORIZATION, "selfsubjectaccessreviews"), (AUTHORIZATION, "selfsubjectrulesreviews")}
# The API server's own audience (--api-audiences defaults to the service account issuer).
API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)
_SERVICE_ACCOUNT_ISSUERS = ("https://kubernetes.default.svc.cluster.local", "kubernetes/serviceaccount")
_SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
ADMIN = "kubesim-admin"


def is_review(rtype):
    return not rtype.from_crd and (rtype.group, rtype.plural) in _KINDS


def user_info(name):
    """userInfo of a user the HTTP layer authenticated by name (bearer token, client certificate or none)."""
    if name == "system:anonymous":
        return {"username": name, "groups": ["system:unauthenticated"]}
    groups = ["system:masters", "system:authenticated"] if name == ADMIN else ["system:authenticated"]
    return {"username": name, "groups": groups}


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
        attributes = Attributes(subject["user"], tuple(subject["groups"]), resource.get("verb") or "", resource.get("group") or "",
                                resource.get("resource") or "", resource.get("subresource") or "", resource.get("namespace") or "",
                                resource.get("name") or "")
    else:
        attributes = Attributes(subject["user"], tuple(subject["groups"]), non_resource.get("verb") or "", path=non_resource.get("path") or "")
    decision = cluster.authorizer(attributes)
    status = {"allowed": bool(decision.allowed)}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _rules_status(cluster, requester, namespace):
    everything = Attributes(requester["username"], tuple(requester.get("groups") or ()), "*", "*", "*", "", namespace, "")
    if cluster.authorizer(everything).allowed and cluster.authorizer(everything._replace(group="", resource="", namespace="", path="*")).allowed:
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
    """(userInfo, audiences) of a bearer token the emulator knows, else None.

    Known: the cluster's admin token; the token of a legacy ServiceAccount token Secret; a token of the
    TokenRequest API whose claims name an existing ServiceAccount (same uid) and are not expired. The emulator
    signs nothing, so a token's claims are trusted as issued (its signature is not checked).
    """
    if not token:
        return None
    if cluster.token and token == cluster.token:
        return user_info(ADMIN), list(API_AUDIENCES)
    claims = _claims(token)
    if claims is None or claims.get("iss") not in _SERVICE_ACCOUNT_ISSUERS:
        return None
    store = cluster.store
    accounts, secrets = store.registry.lookup("", "v1", "serviceaccounts"), store.registry.lookup("", "v1", "secrets")
    if "kubernetes.io" in claims:  # a bound token from the TokenRequest API
        bound = claims["kubernetes.io"]
        namespace, account_name = bound.get("namespace"), (bound.get("serviceaccount") or {}).get("name")
        account = store.find(accounts, namespace, account_name) if namespace and account_name else None
        if account is None or account["metadata"]["uid"] != (bound.get("serviceaccount") or {}).get("uid") or claims.get("exp", 0) < time.time():
            return None
        extra = {"authentication.kubernetes.io/credential-id": ["JTI=%s" % claims.get("jti")]}
        audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    else:  # a legacy token: valid while its Secret holds it
        namespace = claims.get("kubernetes.io/serviceaccount/namespace")
        secret = store.find(secrets, namespace, claims.get("kubernetes.io/serviceaccount/secret.name")) if namespace else None
        stored = ((secret or {}).get("data") or {}).get("token") or ""
        if secret is None or secret.get("type") != _SERVICE_ACCOUNT_TOKEN or base64.b64decode(stored).decode(errors="replace") != token:
            return None
        account = store.find(accounts, namespace, claims.get("kubernetes.io/serviceaccount/service-account.name"))
        if account is None:
            return None
        extra, audiences = {}, list(API_AUDIENCES)
    user = {"username": "system:serviceaccount:%s:%s" % (namespace, account["metadata"]["name"]), "uid": account["metadata"]["uid"],
            "groups": ["system:serviceaccounts", "system:serviceaccounts:%s" % namespace, "system:authenticated"]}
    if extra:
        user["extra"] = extra
    return user, audiences


def _claims(token):
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None

"""Who sends a request: bearer tokens, client certificates, anonymous, and the Impersonate-* headers.

As kube-apiserver's authenticators: the static token file's user, x509 client
certificates (CN the user, O the groups), ServiceAccount tokens (TokenRequest
tokens and legacy token Secrets, checked against the account that still has to
exist with the same uid), otherwise ``system:anonymous``. Every authenticated
user is also in ``system:authenticated``; ServiceAccounts in
``system:serviceaccounts`` and ``system:serviceaccounts:<namespace>``.
"""

import base64
import json
import time
from dataclasses import dataclass, field

from kubesim import errors

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS = "system:serviceaccounts"
# The user of the emulator's static token and admin client certificate (tls.CLIENT_USER).
ADMIN_USER = "kubesim-admin"
LEGACY_TOKEN_ISSUER = "kubernetes/serviceaccount"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"


@dataclass(frozen=True)
class UserInfo:
    """user.Info: name, uid, groups."""

    name: str
    groups: tuple = ()
    uid: str = ""
    extra: dict = field(default_factory=dict)

    def __hash__(self):
        return hash((self.name, self.groups, self.uid))


def anonymous():
    return UserInfo(ANONYMOUS, (UNAUTHENTICATED,))


def admin():
    return UserInfo(ADMIN_USER, (MASTERS, AUTHENTICATED))


def service_account_user(namespace, name, uid=""):
    return UserInfo(SERVICE_ACCOUNT_PREFIX + "%s:%s" % (namespace, name),
                    (ALL_SERVICE_ACCOUNTS, "%s:%s" % (ALL_SERVICE_ACCOUNTS, namespace), AUTHENTICATED), uid)


def split_service_account(username):
    """(namespace, name) of ``system:serviceaccount:<ns>:<name>``, or None."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX):].split(":")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def authenticate(cluster, headers, certificate_subject, strict):
    """The UserInfo of a request; raises 401 for a token nobody issued.

    ``certificate_subject``: (CN, [O...]) of the verified client certificate, or None.
    ``strict``: False keeps the emulator's historical leniency when no authorization is on and no token was set
    (any unknown bearer token is the admin); True answers 401 as kube-apiserver does.
    """
    header = headers.get("Authorization") or ""
    if header:
        token = header[len("Bearer "):].strip() if header.startswith("Bearer ") else None
        if token and cluster.token and token == cluster.token:
            return admin()
        user = service_account_token_user(cluster, token) if token else None
        if user is not None:
            return user
        if strict or cluster.token:
            raise errors.unauthorized()
        return admin()
    if cluster.token and not strict:
        raise errors.unauthorized()
    if certificate_subject is not None:
        common_name, organizations = certificate_subject
        return UserInfo(common_name, tuple(organizations) + (AUTHENTICATED,))
    # kube-apiserver's --anonymous-auth (on by default): what anonymous may do is the authorizer's business.
    return anonymous()


def token_claims(token):
    """The claims (a dict) of a JWT's payload, unverified; None when it is not a JWT with a JSON object payload."""
    try:
        _, payload, _ = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


def service_account_token_user(cluster, token):
    """The ServiceAccount a token issued by this cluster names, or None (unknown, expired, revoked, or forged)."""
    from kubesim.subresources import token_signature_valid  # pylint: disable=import-outside-toplevel
    claims = token_claims(token)
    if not isinstance(claims, dict) or not token_signature_valid(token):
        return None
    store, registry = cluster.store, cluster.registry
    accounts = registry.lookup("", "v1", "serviceaccounts")
    if claims.get("iss") == LEGACY_TOKEN_ISSUER:
        namespace = claims.get("kubernetes.io/serviceaccount/namespace")
        name = claims.get("kubernetes.io/serviceaccount/service-account.name")
        uid = claims.get("kubernetes.io/serviceaccount/service-account.uid")
        secret = store.find(registry.lookup("", "v1", "secrets"), namespace, claims.get("kubernetes.io/serviceaccount/secret.name"))
        # A legacy token is revoked by deleting its Secret.
        stored = ((secret or {}).get("data") or {}).get("token")
        if not secret or secret.get("type") != TOKEN_SECRET_TYPE or not stored or base64.b64decode(stored).decode() != token:
            return None
    else:
        bound = claims.get("kubernetes.io") or {}
        namespace, account = bound.get("namespace"), bound.get("serviceaccount") or {}
        name, uid = account.get("name"), account.get("uid")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
            return None
    account = store.find(accounts, namespace, name) if namespace and name else None
    # A token outlives neither its ServiceAccount nor a new account of the same name.
    if account is None or account["metadata"]["uid"] != uid:
        return None
    return service_account_user(namespace, name, uid)


def impersonation_requests(headers):
    """(user, groups, uid, extra) asked for by Impersonate-* headers; user None when no impersonation."""
    user = headers.get("Impersonate-User")
    groups = tuple(headers.get_all("Impersonate-Group") or ())
    uid = headers.get("Impersonate-Uid")
    extra = {}
    for key, value in headers.items():
        if key.lower().startswith("impersonate-extra-"):
            extra.setdefault(key[len("impersonate-extra-"):].lower(), []).append(value)
    return user, groups, uid, extra


def impersonate(headers, acting_user, check):
    """The user a request acts as: ``acting_user`` or the one its Impersonate-* headers name.

    ``check(attributes)`` raises 403 when ``acting_user`` may not impersonate what ``attributes`` names (kube's
    impersonation filter checks each requested user, group, uid and extra with the verb ``impersonate``).
    """
    from kubesim.authorization import Attributes  # pylint: disable=import-outside-toplevel
    name, groups, uid, extra = impersonation_requests(headers)
    if name is None:
        if groups or uid or extra:
            asked = ["groups=%s" % list(groups)] if groups else []
            asked += ["uid=%s" % uid] if uid else []
            raise errors.internal_error("requested %s without impersonating a user" % ", ".join(asked or ["extra"]))
        return acting_user
    account = split_service_account(name)
    if account:
        check(Attributes(acting_user, "impersonate", api_group="", resource="serviceaccounts", namespace=account[0], name=account[1]))
    else:
        check(Attributes(acting_user, "impersonate", api_group="", resource="users", name=name))
    for group in groups:
        check(Attributes(acting_user, "impersonate", api_group="", resource="groups", name=group))
    if uid:
        check(Attributes(acting_user, "impersonate", api_group="authentication.k8s.io", resource="uids", name=uid))
    for key, values in extra.items():
        for value in values:
            check(Attributes(acting_user, "impersonate", api_group="authentication.k8s.io", resource="userextras", subresource=key, name=value))
    groups = list(groups)
    if account and not groups:
        groups = [ALL_SERVICE_ACCOUNTS, "%s:%s" % (ALL_SERVICE_ACCOUNTS, account[0])]
    if name != ANONYMOUS and AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return UserInfo(name, tuple(groups), uid or "", extra)

"""The ServiceAccount token controller: legacy token Secrets get a token, the root CA and their namespace.

As kube-controller-manager's tokens controller: a Secret of type
``kubernetes.io/service-account-token`` naming a ServiceAccount (annotation
``kubernetes.io/service-account.name``, optionally its uid) is filled with a
long-lived token, ``ca.crt`` and ``namespace``, and gets the account's uid
annotation; one whose ServiceAccount does not exist (or has another uid) is
deleted.
"""

import base64
import copy

from kubesim.controllers.common import Controller, is_deleting, meta, namespace_and_name
from kubesim.strategies import SIMULATED_ROOT_CA
from kubesim.subresources import fake_jwt

SECRETS = ("", "secrets")
SERVICE_ACCOUNTS = ("", "serviceaccounts")
TOKEN_TYPE = "kubernetes.io/service-account-token"
NAME_ANNOTATION = "kubernetes.io/service-account.name"
UID_ANNOTATION = "kubernetes.io/service-account.uid"
LEGACY_ISSUER = "kubernetes/serviceaccount"


def _is_token_secret(obj):
    return obj.get("type") == TOKEN_TYPE


class TokenController(Controller):
    name = "serviceaccount-token"
    watches = (SECRETS, SERVICE_ACCOUNTS)

    def keys_for(self, group_resource, event_type, obj, old):
        if group_resource == SECRETS:
            return [namespace_and_name(obj)] if _is_token_secret(obj) and event_type != "DELETED" else []
        namespace, account = namespace_and_name(obj)
        return [namespace_and_name(secret) for secret in self.objects(SECRETS, namespace)
                if _is_token_secret(secret) and (meta(secret).get("annotations") or {}).get(NAME_ANNOTATION) == account]

    def resync_keys(self):
        return [namespace_and_name(secret) for secret in self.objects(SECRETS) if _is_token_secret(secret)]

    def reconcile(self, key):
        secret = self.find(SECRETS, *key)
        if secret is None or not _is_token_secret(secret) or is_deleting(secret):
            return
        annotations = meta(secret).get("annotations") or {}
        account = self.find(SERVICE_ACCOUNTS, key[0], annotations.get(NAME_ANNOTATION))
        if account is None or annotations.get(UID_ANNOTATION) not in (None, "", meta(account)["uid"]):
            self.delete(SECRETS, secret)
            return
        data = secret.get("data") or {}
        ca_cert = base64.b64encode(SIMULATED_ROOT_CA.encode()).decode()
        if data.get("token") and data.get("ca.crt") == ca_cert and data.get("namespace"):
            return
        filled = copy.deepcopy(secret)
        filled["metadata"].setdefault("annotations", {}).update({NAME_ANNOTATION: meta(account)["name"], UID_ANNOTATION: meta(account)["uid"]})
        namespace, secret_name = key
        claims = {"iss": LEGACY_ISSUER, "kubernetes.io/serviceaccount/namespace": namespace,
                  "kubernetes.io/serviceaccount/secret.name": secret_name,
                  "kubernetes.io/serviceaccount/service-account.name": meta(account)["name"],
                  "kubernetes.io/serviceaccount/service-account.uid": meta(account)["uid"],
                  "sub": "system:serviceaccount:%s:%s" % (namespace, meta(account)["name"])}
        filled_data = filled.setdefault("data", {})
        filled_data["ca.crt"] = ca_cert
        for field, value in (("token", fake_jwt(claims)), ("namespace", namespace)):
            if not filled_data.get(field):
                filled_data[field] = base64.b64encode(value.encode()).decode()
        self.update(SECRETS, filled)

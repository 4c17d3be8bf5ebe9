"""With ``authorization="rbac"`` the emulator authenticates and authorizes requests as kube-apiserver does."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import base64
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from kubesim import tls

RBAC_V1 = "/apis/rbac.authorization.k8s.io/v1"


class Caller:
    """Raw HTTP requests to the emulator as one identity: (status code, decoded JSON body)."""

    def __init__(self, emulated, token=None, cert=None, headers=None):
        self.url = emulated.url
        self.token = token
        self.headers = list((headers or {}).items())
        self.context = None
        if emulated.sim.certificates is not None:
            self.context = ssl.create_default_context(cafile=emulated.sim.certificates.ca_cert)
            if cert:
                self.context.load_cert_chain(*cert)

    def __call__(self, method, path, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        for key, value in self.headers + list(headers):
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
        return status, json.loads(data) if data.startswith(b"{") else data.decode()


def _admin(emulated):
    return Caller(emulated, token=emulated.sim.token)


def _must(answer, code=(200, 201)):
    status, body = answer
    assert status in ((code,) if isinstance(code, int) else code), body
    return body


def _setup(admin, namespace="shop", account="backup", rules=None):
    _must(admin("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}}), (201, 409))
    _must(admin("POST", "/api/v1/namespaces/%s/serviceaccounts" % namespace, {"metadata": {"name": account}}))
    _must(admin("POST", "%s/namespaces/%s/roles" % (RBAC_V1, namespace), {
        "metadata": {"name": account}, "rules": rules or [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]}]}))
    _must(admin("POST", "%s/namespaces/%s/rolebindings" % (RBAC_V1, namespace), {
        "metadata": {"name": account}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account}]}))


def _token(admin, namespace="shop", account="backup", seconds=3600):
    body = _must(admin("POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (namespace, account),
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}))
    return body["status"]["token"]


@pytest.fixture
def rbac_cluster(kubesim_factory):
    return kubesim_factory(authorization="rbac")


def test_role_allows_its_verbs_and_resources_and_refuses_the_rest_with_kubes_403(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin)
    account = Caller(rbac_cluster, token=_token(admin))
    assert _must(account("GET", "/api/v1/namespaces/shop/pods"))["kind"] == "PodList"
    status, body = account("GET", "/api/v1/namespaces/shop/secrets")
    assert status == 403
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Forbidden", "code": 403,
                    "message": 'secrets is forbidden: User "system:serviceaccount:shop:backup" cannot list resource "secrets" '
                               'in API group "" in the namespace "shop"',
                    "details": {"kind": "secrets"}}
    status, body = account("GET", "/api/v1/namespaces/default/pods")
    assert (status, body["message"]) == (403, 'pods is forbidden: User "system:serviceaccount:shop:backup" cannot list resource "pods" '
                                              'in API group "" in the namespace "default"')
    status, body = account("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    assert body["message"] == ('customresourcedefinitions.apiextensions.k8s.io is forbidden: User "system:serviceaccount:shop:backup" '
                               'cannot list resource "customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope')
    assert body["details"] == {"group": "apiextensions.k8s.io", "kind": "customresourcedefinitions"}
    status, body = account("DELETE", "/api/v1/namespaces/shop/configmaps/kube-root-ca.crt")
    assert status == 403 and body["message"].startswith('configmaps "kube-root-ca.crt" is forbidden: User "system:serviceaccount:shop:backup" '
                                                        'cannot delete resource "configmaps"')
    assert body["details"] == {"name": "kube-root-ca.crt", "kind": "configmaps"}
    # Nothing was deleted: the refusal came before the store.
    assert _must(admin("GET", "/api/v1/namespaces/shop/configmaps/kube-root-ca.crt"))["metadata"]["name"] == "kube-root-ca.crt"


def test_resource_names_subresources_and_wildcards_match_as_kube_does(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin, rules=[
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]},
        {"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["*"]},
    ])
    _must(admin("POST", "/api/v1/namespaces/shop/configmaps", {"metadata": {"name": "settings"}, "data": {"a": "1"}}))
    _must(admin("POST", "/api/v1/namespaces/shop/configmaps", {"metadata": {"name": "other"}}))
    account = Caller(rbac_cluster, token=_token(admin))
    assert _must(account("GET", "/api/v1/namespaces/shop/configmaps/settings"))["data"] == {"a": "1"}
    assert account("GET", "/api/v1/namespaces/shop/configmaps/other")[0] == 403
    # resourceNames never cover a LIST, except one narrowed to the name by a field selector.
    assert account("GET", "/api/v1/namespaces/shop/configmaps")[0] == 403
    assert _must(account("GET", "/api/v1/namespaces/shop/configmaps?fieldSelector=metadata.name%3Dsettings"))["items"][0]["metadata"]["name"] == "settings"
    deployment = {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
    _must(account("POST", "/apis/apps/v1/namespaces/shop/deployments", deployment))
    assert _must(account("GET", "/apis/apps/v1/namespaces/shop/deployments/web/scale"))["kind"] == "Scale"
    status, body = account("PUT", "/apis/apps/v1/namespaces/shop/deployments/web/scale", {"spec": {"replicas": 3}})
    assert status == 403 and 'cannot update resource "deployments/scale" in API group "apps"' in body["message"]
    # pods/log does not grant the pod itself.
    assert account("GET", "/api/v1/namespaces/shop/pods")[0] == 403


def test_cluster_role_bindings_groups_and_role_bindings_to_cluster_roles(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin, rules=[{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}])
    _must(admin("POST", RBAC_V1 + "/clusterroles", {"metadata": {"name": "secret-reader"},
                                                    "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]}))
    # A RoleBinding to a ClusterRole grants it in the binding's namespace only.
    _must(admin("POST", RBAC_V1 + "/namespaces/shop/rolebindings", {
        "metadata": {"name": "secrets"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secret-reader"},
        "subjects": [{"kind": "Group", "name": "system:serviceaccounts:shop"}]}))
    account = Caller(rbac_cluster, token=_token(admin))
    assert _must(account("GET", "/api/v1/namespaces/shop/secrets"))["kind"] == "SecretList"
    assert account("GET", "/api/v1/namespaces/default/secrets")[0] == 403
    assert account("GET", "/api/v1/secrets")[0] == 403
    _must(admin("POST", RBAC_V1 + "/clusterrolebindings", {
        "metadata": {"name": "all-secrets"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secret-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "backup", "namespace": "shop"}]}))
    assert _must(account("GET", "/api/v1/secrets"))["kind"] == "SecretList"


def test_a_binding_to_a_missing_role_is_the_reason_given(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin)
    _must(admin("POST", RBAC_V1 + "/namespaces/shop/rolebindings", {
        "metadata": {"name": "dangling"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gone"},
        "subjects": [{"kind": "ServiceAccount", "name": "backup"}]}))
    status, body = Caller(rbac_cluster, token=_token(admin))("GET", "/api/v1/namespaces/shop/secrets")
    assert status == 403
    assert body["message"].endswith('in the namespace "shop": RBAC: role.rbac.authorization.k8s.io "gone" not found')


def test_discovery_is_for_authenticated_users_and_version_for_everyone(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin)
    account = Caller(rbac_cluster, token=_token(admin))
    anonymous = Caller(rbac_cluster)
    for path in ("/api", "/apis", "/api/v1", "/apis/apps/v1", "/version"):
        assert account("GET", path)[0] == 200, path
    assert anonymous("GET", "/version")[0] == 200
    assert anonymous("GET", "/healthz")[0] == 200
    status, body = anonymous("GET", "/apis")
    assert (status, body["message"], body["details"]) == (403, 'forbidden: User "system:anonymous" cannot get path "/apis"', {})
    status, body = anonymous("GET", "/api/v1/namespaces/shop/pods")
    assert body["message"] == 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "shop"'
    # A token nobody issued is 401, not anonymous.
    assert Caller(rbac_cluster, token="made-up")("GET", "/version")[0] == 401


def test_service_account_tokens_are_verified_and_revoked_with_their_account_or_secret(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin)
    token = _token(admin)
    header, claims, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    decoded["kubernetes.io"]["serviceaccount"]["name"] = "default"
    forged = ".".join((header, base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode(), signature))
    assert Caller(rbac_cluster, token=forged)("GET", "/api/v1/namespaces/shop/pods")[0] == 401
    # A legacy token Secret, filled by the token controller, authenticates as its account until the Secret goes.
    _must(admin("POST", "/api/v1/namespaces/shop/secrets", {"metadata": {"name": "backup-token", "annotations": {
        "kubernetes.io/service-account.name": "backup"}}, "type": "kubernetes.io/service-account-token"}))
    rbac_cluster.sim.settle()
    legacy = base64.b64decode(_must(admin("GET", "/api/v1/namespaces/shop/secrets/backup-token"))["data"]["token"]).decode()
    assert _must(Caller(rbac_cluster, token=legacy)("GET", "/api/v1/namespaces/shop/pods"))["kind"] == "PodList"
    _must(admin("DELETE", "/api/v1/namespaces/shop/secrets/backup-token"))
    assert Caller(rbac_cluster, token=legacy)("GET", "/api/v1/namespaces/shop/pods")[0] == 401
    assert Caller(rbac_cluster, token=token)("GET", "/api/v1/namespaces/shop/pods")[0] == 200
    _must(admin("DELETE", "/api/v1/namespaces/shop/serviceaccounts/backup"))
    assert Caller(rbac_cluster, token=token)("GET", "/api/v1/namespaces/shop/pods")[0] == 401
    records = [r for r in rbac_cluster.control.audit() if r["path"] == "/api/v1/namespaces/shop/pods"]
    assert [r["user"] for r in records if r["code"] == 200][:1] == ["system:serviceaccount:shop:backup"]


def test_client_certificates_name_the_user_and_its_groups(kubesim_factory, tmp_path):
    emulated = kubesim_factory(use_tls=True, authorization="rbac")
    admin = Caller(emulated, cert=(emulated.sim.certificates.client_cert, emulated.sim.certificates.client_key))
    _must(admin("POST", RBAC_V1 + "/clusterroles", {"metadata": {"name": "ns-reader"},
                                                    "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]}))
    _must(admin("POST", RBAC_V1 + "/clusterrolebindings", {
        "metadata": {"name": "ns-reader"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ns-reader"},
        "subjects": [{"kind": "Group", "name": "auditors"}]}))
    alice = Caller(emulated, cert=tls.make_client_certificate(emulated.sim.certificates, str(tmp_path / "alice"), "alice", ["auditors"]))
    bob = Caller(emulated, cert=tls.make_client_certificate(emulated.sim.certificates, str(tmp_path / "bob"), "bob", ["developers"]))
    assert _must(alice("GET", "/api/v1/namespaces"))["kind"] == "NamespaceList"
    status, body = bob("GET", "/api/v1/namespaces")
    assert (status, body["message"]) == (403, 'namespaces is forbidden: User "bob" cannot list resource "namespaces" in API group "" at the cluster scope')


def test_impersonation_needs_the_impersonate_verb_and_is_audited(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin)
    rbac_cluster.control.clear_audit()
    as_account = {"Impersonate-User": "system:serviceaccount:shop:backup"}
    assert _must(admin("GET", "/api/v1/namespaces/shop/pods", headers=as_account.items()))["kind"] == "PodList"
    status, body = admin("GET", "/api/v1/namespaces/shop/secrets", headers=as_account.items())
    assert status == 403 and 'User "system:serviceaccount:shop:backup" cannot list resource "secrets"' in body["message"]
    records = [r for r in rbac_cluster.control.audit() if r["resource"] == "pods"]
    assert (records[0]["user"], records[0]["impersonated_user"]) == ("kubesim-admin", "system:serviceaccount:shop:backup")

    account = Caller(rbac_cluster, token=_token(admin))
    status, body = account("GET", "/api/v1/namespaces/shop/pods", headers={"Impersonate-User": "jane"}.items())
    assert (status, body["message"]) == (403, 'users "jane" is forbidden: User "system:serviceaccount:shop:backup" cannot impersonate '
                                              'resource "users" in API group "" at the cluster scope')
    _must(admin("POST", RBAC_V1 + "/clusterroles", {"metadata": {"name": "impersonate-jane"}, "rules": [
        {"apiGroups": [""], "resources": ["users"], "resourceNames": ["jane"], "verbs": ["impersonate"]}]}))
    _must(admin("POST", RBAC_V1 + "/clusterrolebindings", {
        "metadata": {"name": "impersonate-jane"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "impersonate-jane"},
        "subjects": [{"kind": "ServiceAccount", "name": "backup", "namespace": "shop"}]}))
    # Now jane is who acts, and jane may not list pods.
    status, body = account("GET", "/api/v1/namespaces/shop/pods", headers={"Impersonate-User": "jane"}.items())
    assert (status, body["message"]) == (403, 'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "shop"')
    status, body = account("GET", "/api/v1/namespaces/shop/pods", headers={"Impersonate-User": "jane", "Impersonate-Group": "admins"}.items())
    assert 'groups "admins" is forbidden' in body["message"]


def test_kubectl_as_and_service_account_token_get_kubes_answers(kubesim_factory):
    emulated = kubesim_factory(use_tls=True, authorization="rbac")
    admin = Caller(emulated, cert=(emulated.sim.certificates.client_cert, emulated.sim.certificates.client_key))
    _setup(admin)
    env = emulated.env()
    denied = subprocess.run(["kubectl", "--as=system:serviceaccount:shop:backup", "-n", "shop", "get", "secrets"],
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert denied.returncode == 1
    assert denied.stderr.strip() == ('Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:shop:backup" '
                                     'cannot list resource "secrets" in API group "" in the namespace "shop"')
    kubeconfig = emulated.service_account_kubeconfig("shop", "backup")
    allowed = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", "shop", "get", "pods"],
                             env=env, capture_output=True, text=True, timeout=60, check=False)
    assert (allowed.returncode, allowed.stderr) == (0, "No resources found in shop namespace.\n")


def test_aggregated_cluster_roles_gather_the_rules_of_the_roles_they_select(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin)
    _must(admin("POST", RBAC_V1 + "/clusterroles", {"metadata": {"name": "monitoring"}, "aggregationRule": {
        "clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate-to-monitoring": "true"}}]}, "rules": []}))
    _must(admin("POST", RBAC_V1 + "/clusterrolebindings", {
        "metadata": {"name": "monitoring"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "monitoring"},
        "subjects": [{"kind": "ServiceAccount", "name": "backup", "namespace": "shop"}]}))
    account = Caller(rbac_cluster, token=_token(admin))
    assert account("GET", "/api/v1/nodes")[0] == 403
    _must(admin("POST", RBAC_V1 + "/clusterroles", {"metadata": {"name": "nodes-view", "labels": {"example.com/aggregate-to-monitoring": "true"}},
                                                    "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]}))
    rbac_cluster.sim.settle()
    assert _must(admin("GET", RBAC_V1 + "/clusterroles/monitoring"))["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]
    assert _must(account("GET", "/api/v1/nodes"))["kind"] == "NodeList"


def test_a_pod_naming_a_missing_service_account_is_refused_and_the_default_is_filled_in(cluster):
    pod = {"metadata": {"name": "web"}, "spec": {"serviceAccountName": "runner", "containers": [{"name": "web", "image": "nginx"}]}}
    admin = Caller(cluster)
    status, body = admin("POST", "/api/v1/namespaces/default/pods", pod)
    assert (status, body["reason"], body["message"]) == (403, "Forbidden", 'pods "web" is forbidden: error looking up service account '
                                                                           'default/runner: serviceaccount "runner" not found')
    assert admin("GET", "/api/v1/namespaces/default/pods/web")[0] == 404
    del pod["spec"]["serviceAccountName"]
    created = _must(admin("POST", "/api/v1/namespaces/default/pods", pod))
    assert (created["spec"]["serviceAccountName"], created["spec"]["serviceAccount"]) == ("default", "default")


def test_the_default_stays_allow_all(cluster):
    anonymous = Caller(cluster)
    assert anonymous("GET", "/api/v1/secrets")[0] == 200
    assert anonymous("POST", "/api/v1/namespaces", {"metadata": {"name": "open"}})[0] == 201


def test_the_command_line_serves_rbac_with_an_admin_kubeconfig(tmp_path):
    kubeconfig = str(tmp_path / "kubeconfig")
    tests_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    process = subprocess.Popen([sys.executable, "-m", "kubesim", "serve", "--tls", "--authorization", "rbac", "--kubeconfig", kubeconfig],
                               stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=tests_dir, PYTHONUNBUFFERED="1"))
    try:
        line = process.stdout.readline()
        assert "ready at https://" in line
        env = dict(os.environ, KUBECONFIG=kubeconfig)
        admin = subprocess.run(["kubectl", "get", "secrets", "-A", "-o", "name"], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert admin.returncode == 0, admin.stderr
        url = line.split("ready at ", 1)[1].split()[0]
        context = ssl.create_default_context(cafile=str(tmp_path / "pki" / "ca.crt"))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "/api/v1/secrets", context=context, timeout=30)  # pylint: disable=consider-using-with
        assert refused.value.code == 403
        assert json.loads(refused.value.read())["message"] == ('secrets is forbidden: User "system:anonymous" cannot list resource "secrets" '
                                                               'in API group "" at the cluster scope')
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_roles_and_bindings_grant_only_what_their_author_holds_unless_escalate_or_bind(rbac_cluster):
    admin = _admin(rbac_cluster)
    _setup(admin, rules=[{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create"]},
                         {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}])
    account = Caller(rbac_cluster, token=_token(admin))
    held = {"metadata": {"name": "cm-reader"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}
    _must(account("POST", RBAC_V1 + "/namespaces/shop/roles", held))
    more = {"metadata": {"name": "secret-reader"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
    status, body = account("POST", RBAC_V1 + "/namespaces/shop/roles", more)
    assert (status, body["message"]) == (403, 'roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "system:serviceaccount:shop:backup" '
                                              '(groups=["system:serviceaccounts" "system:serviceaccounts:shop" "system:authenticated"]) is attempting '
                                              'to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}')
    _must(admin("POST", RBAC_V1 + "/namespaces/shop/roles", more))
    binding = {"metadata": {"name": "others"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader"},
               "subjects": [{"kind": "User", "name": "jane"}]}
    status, body = account("POST", RBAC_V1 + "/namespaces/shop/rolebindings", binding)
    assert status == 403 and "is attempting to grant RBAC permissions not currently held" in body["message"]
    _must(account("POST", RBAC_V1 + "/namespaces/shop/rolebindings", dict(binding, roleRef=dict(binding["roleRef"], name="cm-reader"))))
    # The bind verb on that role lifts the check, as escalate does for roles.
    _must(admin("POST", RBAC_V1 + "/namespaces/shop/roles", {"metadata": {"name": "binder"}, "rules": [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "resourceNames": ["secret-reader"], "verbs": ["bind"]}]}))
    _must(admin("POST", RBAC_V1 + "/namespaces/shop/rolebindings", {
        "metadata": {"name": "binder"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "binder"},
        "subjects": [{"kind": "ServiceAccount", "name": "backup"}]}))
    _must(account("POST", RBAC_V1 + "/namespaces/shop/rolebindings", dict(binding, metadata={"name": "others-2"})))

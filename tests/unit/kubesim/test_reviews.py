"""Review kinds are answered with their status and never stored."""

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
RBAC_V1 = "/apis/rbac.authorization.k8s.io/v1"


def _access_review(kind, attributes, **spec):
    return {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": dict(spec, resourceAttributes=attributes)}


def test_access_reviews_are_answered_by_the_authorizer_and_not_stored(cluster, api, kubesim_factory, raw_api):
    code, review, _ = api.post(SSAR, _access_review("SelfSubjectAccessReview", {"verb": "delete", "resource": "pods", "namespace": "default"}))
    assert code == 201 and review["status"] == {"allowed": True}  # allow-all, no reason, as AlwaysAllow answers
    assert api.get(SSAR)[0] == 405
    assert not [o for o in cluster.control.dump() if o["kind"].endswith("Review")]
    # With RBAC, the answer is the authorizer's: bob may get deployments in shop through a RoleBinding, nothing else.
    rbac = kubesim_factory(authorization="rbac")
    admin = raw_api(rbac.url)
    token = {"Authorization": "Bearer " + rbac.sim.token}
    for path, body in (("/api/v1/namespaces", {"metadata": {"name": "shop"}}),
                       (RBAC_V1 + "/namespaces/shop/roles", {"metadata": {"name": "reader"},
                                                              "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]}),
                       (RBAC_V1 + "/namespaces/shop/rolebindings", {"metadata": {"name": "bob"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                                    "kind": "Role", "name": "reader"},
                                                                    "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}]})):
        assert admin.post(path, body, headers=token)[0] == 201
    code, review, _ = admin.post(SAR, _access_review("SubjectAccessReview", {"verb": "get", "group": "apps", "resource": "deployments",
                                                                             "namespace": "shop", "name": "web"}, user="bob", groups=["dev"]),
                                 headers=token)
    assert code == 201 and review["status"]["allowed"] is True and "bob" in review["status"].get("reason", "bob")
    code, review, _ = admin.post(SAR, _access_review("SubjectAccessReview", {"verb": "delete", "group": "apps", "resource": "deployments",
                                                                             "namespace": "shop", "name": "web"}, user="bob"), headers=token)
    assert code == 201 and review["status"]["allowed"] is False
    code, status, _ = admin.post(SAR, _access_review("SubjectAccessReview", {"verb": "get", "resource": "pods"}), headers=token)
    assert code == 422 and "at least one of user or group must be specified" in status["message"]
    assert not [o for o in rbac.control.dump() if o["kind"].endswith("Review")]


def test_self_subject_review_and_rules_review(api):
    code, review, _ = api.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert code == 201 and review["status"]["userInfo"] == {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
    code, rules, _ = api.post("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                              {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": "default"}})
    assert code == 201 and rules["status"]["incomplete"] is False
    assert rules["status"]["resourceRules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]


def test_token_review_knows_the_emulators_tokens_only(cluster, api):
    def review(token, audiences=None):
        spec = {"token": token}
        if audiences:
            spec["audiences"] = audiences
        return api.post("/apis/authentication.k8s.io/v1/tokenreviews", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec})
    api.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "robot"}})
    code, issued, _ = api.post("/api/v1/namespaces/default/serviceaccounts/robot/token", {"spec": {}})
    token = issued["status"]["token"]
    code, answer, _ = review(token)
    assert code == 201 and answer["status"]["authenticated"] is True
    user = answer["status"]["user"]
    assert user["username"] == "system:serviceaccount:default:robot"
    assert user["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]
    assert answer["status"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    assert "authenticated" not in review(token, ["vault"])[1]["status"]
    assert review("made-up")[1]["status"] == {"user": {}, "error": "invalid bearer token"}
    # Once the account is gone (another uid), its tokens no longer authenticate.
    api.delete("/api/v1/namespaces/default/serviceaccounts/robot")
    api.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "robot"}})
    assert "authenticated" not in review(token)[1]["status"]

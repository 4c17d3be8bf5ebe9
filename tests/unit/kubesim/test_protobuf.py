"""Protobuf request bodies of built-in kinds are read as Go's decoder and JSON encoder would make them."""


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, value):
    """One field: ints as varints, bytes/str as length-delimited, lists repeated."""
    if isinstance(value, list):
        return b"".join(_field(number, item) for item in value)
    if isinstance(value, bool) or isinstance(value, int):
        return _varint(number << 3) + _varint(int(value))
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _message(*pairs):
    return b"".join(_field(number, value) for number, value in pairs)


def _envelope(api_version, kind, raw):
    return b"k8s\x00" + _message((1, _message((1, api_version), (2, kind))), (2, raw), (3, ""), (4, ""))


def _post(api, path, body):
    return api.post(path, body, content_type="application/vnd.kubernetes.protobuf")


def test_a_deployment_keeps_a_zero_pointer_and_reads_int_or_string_quantities_and_maps(cluster, api):
    cluster.control.configure(controllers=False)
    metadata = _message((1, "web"), (11, _message((1, "app"), (2, "web"))))
    container = _message((1, "nginx"), (2, "nginx:1.27"), (6, _message((3, 80), (4, "TCP"))),
                         (8, _message((1, _message((1, "cpu"), (2, _message((1, "500m"))))))))
    template = _message((1, _message((11, _message((1, "app"), (2, "web"))))), (2, _message((2, container))))
    strategy = _message((1, "RollingUpdate"), (2, _message((2, _message((1, 1), (3, "30%"))))))
    spec = _message((1, 0), (2, _message((1, _message((1, "app"), (2, "web"))))), (3, template), (4, strategy))
    code, created, _ = _post(api, "/apis/apps/v1/namespaces/default/deployments", _envelope("apps/v1", "Deployment", _message((1, metadata), (2, spec))))
    assert code == 201, created
    assert created["metadata"]["labels"] == {"app": "web"}
    assert created["spec"]["replicas"] == 0  # a pointer sent as 0 stays 0 (not defaulted to 1)
    assert created["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == "30%"
    [nginx] = created["spec"]["template"]["spec"]["containers"]
    assert nginx["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert nginx["resources"] == {"limits": {"cpu": "500m"}}
    # Omitempty scalars the message carried as zero values are not rendered.
    assert "stdin" not in nginx and "workingDir" not in nginx


def test_service_account_role_binding_and_secret(cluster, api):
    owner = _message((1, "ConfigMap"), (3, "owner"), (4, "0f6a2b1c-uid"), (5, "v1"), (6, True))
    code, account, _ = _post(api, "/api/v1/namespaces/default/serviceaccounts",
                             _envelope("v1", "ServiceAccount", _message((1, _message((1, "robot"), (13, owner))), (4, False))))
    assert code == 201 and account["automountServiceAccountToken"] is False
    assert account["metadata"]["ownerReferences"] == [{"kind": "ConfigMap", "name": "owner", "uid": "0f6a2b1c-uid", "apiVersion": "v1", "controller": True}]
    rule = _message((1, ["get", "list"]), (2, [""]), (3, ["pods"]))
    code, role, _ = _post(api, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
                          _envelope("rbac.authorization.k8s.io/v1", "Role", _message((1, _message((1, "reader"))), (2, rule))))
    assert code == 201 and role["rules"] == [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
    binding = _message((1, _message((1, "reader"))), (2, _message((1, "User"), (2, "rbac.authorization.k8s.io"), (3, "bob"))),
                       (3, _message((1, "rbac.authorization.k8s.io"), (2, "Role"), (3, "reader"))))
    code, bound, _ = _post(api, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                           _envelope("rbac.authorization.k8s.io/v1", "RoleBinding", binding))
    assert code == 201 and bound["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]
    assert bound["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    code, secret, _ = _post(api, "/api/v1/namespaces/default/secrets",
                            _envelope("v1", "Secret", _message((1, _message((1, "creds"))), (2, _message((1, "key"), (2, b"\x00\xff"))), (3, "Opaque"))))
    assert code == 201 and secret["data"] == {"key": "AP8="} and secret["type"] == "Opaque"


def test_an_unknown_kind_or_a_body_without_the_envelope_is_415(api):
    code, status, _ = _post(api, "/api/v1/namespaces/default/configmaps", b"not protobuf")
    assert code == 415 and status["reason"] == "UnsupportedMediaType"

"""The emulator serves HTTPS with its own CA; clients verify it and authenticate with a token or a client certificate."""
# Test names say what each test checks.
# pylint: disable=missing-function-docstring

import ipaddress
import os
import shutil
import stat
import subprocess

import pytest
import urllib3
from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kubesim import kubeconfig, tls


def _load(path):
    with open(path, "rb") as stream:
        return x509.load_pem_x509_certificate(stream.read())


def test_certificates_are_signed_by_the_ca_and_keys_are_private(tmp_path):
    paths = tls.make_certificates(str(tmp_path), "10.1.2.3")
    ca, server, admin = _load(paths.ca_cert), _load(paths.server_cert), _load(paths.client_cert)
    server.verify_directly_issued_by(ca)
    admin.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.1.2.3")}
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubesim-admin"
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    for key in (paths.server_key, paths.client_key):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def _core(kubeconfig_path):
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig_path, client_configuration=configuration)
    return client.CoreV1Api(client.ApiClient(configuration))


def test_token_client_lists_namespaces_over_verified_https(kubesim_factory):
    emulated = kubesim_factory(use_tls=True, token="s3cret")
    assert emulated.url.startswith("https://127.0.0.1:")
    names = [namespace.metadata.name for namespace in _core(emulated.kubeconfig).list_namespace().items]
    assert "kube-system" in names


def test_client_certificate_kubeconfig_lists_namespaces(kubesim_factory):
    emulated = kubesim_factory(use_tls=True)
    assert "default" in [namespace.metadata.name for namespace in _core(emulated.kubeconfig).list_namespace().items]


def test_wrong_token_is_401(kubesim_factory, tmp_path):
    emulated = kubesim_factory(use_tls=True, token="s3cret")
    path = kubeconfig.write_kubeconfig(str(tmp_path / "wrong-kubeconfig"), emulated.url, ca_cert=emulated.sim.certificates.ca_cert, token="not-it")
    with pytest.raises(ApiException) as raised:
        _core(path).list_namespace()
    assert raised.value.status == 401


def test_server_is_not_trusted_without_the_ca(kubesim_factory):
    emulated = kubesim_factory(use_tls=True, token="s3cret")
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=_other_ca())
    with pytest.raises(urllib3.exceptions.SSLError):
        pool.request("GET", emulated.url + "/version", retries=False)


def _other_ca():
    directory = tls.default_directory()
    return tls.make_certificates(directory).ca_cert


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("token", [None, "s3cret"])
def test_kubectl_works_over_tls(kubesim_factory, token):
    emulated = kubesim_factory(use_tls=True, token=token)
    result = subprocess.run(["kubectl", "--kubeconfig", emulated.kubeconfig, "get", "ns", "-o", "name"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "namespace/kube-system" in result.stdout.split()

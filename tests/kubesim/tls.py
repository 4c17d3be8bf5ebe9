"""Certificates for serving the emulator over HTTPS: a CA, a server certificate and an admin client certificate."""

import datetime
import ipaddress
import os
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=1)
# Tolerates a client clock slightly behind ours, as kubeadm backdates its certificates.
BACKDATE = datetime.timedelta(minutes=5)
CLIENT_USER = "kubesim-admin"
CLIENT_GROUP = "system:masters"


@dataclass(frozen=True)
class Certificates:
    """Paths of the PEM files a server and its clients need."""

    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    ca_key: str = ""


def default_directory():
    """A new private directory for one server's certificates."""
    return tempfile.mkdtemp(prefix="kubesim-tls-")


def make_certificates(directory, host="127.0.0.1"):
    """Write a fresh CA, a server certificate valid for ``host``, 127.0.0.1 and localhost, and a client certificate."""
    os.makedirs(directory, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubesim-ca")])
    ca_cert = (_builder(ca_name, ca_name, ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    server_cert = (_leaf_builder(server_name, ca_cert, server_key, ExtendedKeyUsageOID.SERVER_AUTH)
                   .add_extension(x509.SubjectAlternativeName(_subject_alternative_names(host)), critical=False)
                   .sign(ca_key, hashes.SHA256()))

    client_key = ec.generate_private_key(ec.SECP256R1())
    # kube-apiserver reads the user from CN and the groups from O.
    client_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, CLIENT_GROUP), x509.NameAttribute(NameOID.COMMON_NAME, CLIENT_USER)])
    client_cert = _leaf_builder(client_name, ca_cert, client_key, ExtendedKeyUsageOID.CLIENT_AUTH).sign(ca_key, hashes.SHA256())

    paths = Certificates(
        ca_cert=os.path.join(directory, "ca.crt"),
        server_cert=os.path.join(directory, "apiserver.crt"),
        server_key=os.path.join(directory, "apiserver.key"),
        client_cert=os.path.join(directory, "admin.crt"),
        client_key=os.path.join(directory, "admin.key"),
        ca_key=os.path.join(directory, "ca.key"),
    )
    _write_certificate(paths.ca_cert, ca_cert)
    _write_key(paths.ca_key, ca_key)
    _write_certificate(paths.server_cert, server_cert)
    _write_key(paths.server_key, server_key)
    _write_certificate(paths.client_cert, client_cert)
    _write_key(paths.client_key, client_key)
    return paths


def make_client_certificate(certificates, directory, user, groups=()):
    """A client certificate for ``user`` (CN) in ``groups`` (O), signed by the emulator's CA, as kubeadm's
    ``kubeconfig user`` issues one; returns (certificate path, key path)."""
    with open(certificates.ca_key, "rb") as stream:
        ca_key = serialization.load_pem_private_key(stream.read(), password=None)
    with open(certificates.ca_cert, "rb") as stream:
        ca_cert = x509.load_pem_x509_certificate(stream.read())
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
                        + [x509.NameAttribute(NameOID.COMMON_NAME, user)])
    certificate = _leaf_builder(subject, ca_cert, key, ExtendedKeyUsageOID.CLIENT_AUTH).sign(ca_key, hashes.SHA256())
    os.makedirs(directory, exist_ok=True)
    cert_path, key_path = os.path.join(directory, "%s.crt" % user), os.path.join(directory, "%s.key" % user)
    _write_certificate(cert_path, certificate)
    _write_key(key_path, key)
    return cert_path, key_path


def client_common_name(connection):
    """The CN of the verified client certificate on a TLS connection, or None."""
    subject = client_subject(connection)
    return subject[0] if subject else None


def client_subject(connection):
    """(CN, [O, ...]) of the verified client certificate on a TLS connection, or None: kube's user and groups."""
    getpeercert = getattr(connection, "getpeercert", None)
    certificate = getpeercert() if getpeercert else None
    common_name, organizations = None, []
    for relative_name in (certificate or {}).get("subject", ()):
        for key, value in relative_name:
            if key == "commonName":
                common_name = value
            elif key == "organizationName":
                organizations.append(value)
    return (common_name, organizations) if common_name else None


def _builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + VALIDITY))


def _leaf_builder(subject, ca_cert, key, usage):
    ca_key_id = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (_builder(subject, ca_cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id), critical=False))


def _subject_alternative_names(host):
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if host:
        try:
            extra = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            extra = x509.DNSName(host)
        if extra not in names:
            names.append(extra)
    return names


def _write_certificate(path, certificate):
    with open(path, "wb") as stream:
        stream.write(certificate.public_bytes(serialization.Encoding.PEM))


def _write_key(path, key):
    # Created 0600 from the start so the key is never readable by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(path, 0o600)

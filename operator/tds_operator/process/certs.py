"""A CA and a serving certificate for the admission webhook, when none is provided.

kopf's own self-signed path needs `oscrypto`, which does not work with current OpenSSL, so the
operator makes its certificates with `cryptography`. In a cluster the Helm chart provides them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=365)
CA_FILE = "ca.crt"


@dataclass(frozen=True)
class ServingCertificate:
    """Paths of the serving certificate and key, and the PEM of the CA that signed it."""

    certfile: Path
    pkeyfile: Path
    ca_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _issue_ca(now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A fresh CA key and its self-signed certificate."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("tds-operator webhook CA"))
        .issuer_name(_name("tds-operator webhook CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca_cert


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    """`hosts` as subject alternative names: an IP address where one parses, else a DNS name."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue_serving_certificate(directory: Path, hosts: list[str]) -> ServingCertificate:
    """Create a fresh CA and a certificate for `hosts` (DNS names or IPs) signed by it."""
    now = datetime.now(UTC)
    ca_key, ca_cert = _issue_ca(now)
    names = _alt_names(hosts)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    certfile, pkeyfile = directory / "tls.crt", directory / "tls.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pkeyfile.write_bytes(_pem(key))
    pkeyfile.chmod(0o600)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    (directory / CA_FILE).write_bytes(ca_pem)
    return ServingCertificate(certfile, pkeyfile, ca_pem)


def serving_certificate(directory: Path, hosts: list[str]) -> ServingCertificate:
    """The certificate already in `directory` if it is valid for a day more and covers the first
    host, else a fresh one: local replicas that share a directory (and the webhook port, which
    kopf binds with SO_REUSEPORT) serve the same certificate, so either answers at the address
    the webhook configuration names."""
    certfile, pkeyfile, cafile = directory / "tls.crt", directory / "tls.key", directory / CA_FILE
    if certfile.exists() and pkeyfile.exists() and cafile.exists():
        cert = x509.load_pem_x509_certificate(certfile.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        covered = {str(n.value) for n in names}
        if hosts[0] in covered and cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=1):
            return ServingCertificate(certfile, pkeyfile, cafile.read_bytes())
    return issue_serving_certificate(directory, hosts)

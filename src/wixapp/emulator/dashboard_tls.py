"""The certificate and chromium flags that let the emulator play ``https://manage.wix.com``.

``@wix/dashboard`` refuses to run unless its ``origin`` query parameter is an HTTPS origin
under ``manage.wix.com`` (wix-platform.md §11), and posts its channel handshake to exactly
that origin. So the emulator's dashboard host is served over HTTPS, with a self-signed
certificate made here for ``manage.wix.com`` and ``*.manage.wix.com``, and a browser reaches
it by mapping those names to loopback (``chromium_flags``) and accepting the certificate.
Nothing is trusted system-wide: the flags apply to the one browser started with them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = [
    "DASHBOARD_HOST",
    "DASHBOARD_ORIGIN",
    "DashboardCertificate",
    "chromium_flags",
    "make_certificate",
]

DASHBOARD_HOST = "manage.wix.com"
DASHBOARD_ORIGIN = f"https://{DASHBOARD_HOST}"
_NAMES = (DASHBOARD_HOST, f"*.{DASHBOARD_HOST}", "localhost")
_VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class DashboardCertificate:
    """PEM files uvicorn serves, and the certificate's SHA-256 fingerprint to show."""

    certfile: Path
    keyfile: Path
    fingerprint: str


def make_certificate(directory: Path) -> DashboardCertificate:
    """A fresh self-signed certificate and key for the dashboard names, in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DASHBOARD_HOST)])
    now = datetime.datetime.now(datetime.UTC)
    alternative_names: list[x509.GeneralName] = [x509.DNSName(each) for each in _NAMES]
    alternative_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = directory / "manage.wix.com.pem", directory / "manage.wix.com.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.touch(mode=0o600)
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    return DashboardCertificate(certfile=certfile, keyfile=keyfile, fingerprint=fingerprint)


def chromium_flags(port: int, *, offline: bool = False) -> list[str]:
    """Chromium's flags to reach the dashboard host on ``port`` as ``https://manage.wix.com``.

    ``offline`` also sends every other name nowhere (loopback excepted), as the browser
    tests run.
    """
    rules = [
        f"MAP {DASHBOARD_HOST}:443 127.0.0.1:{port}",
        f"MAP *.{DASHBOARD_HOST}:443 127.0.0.1:{port}",
    ]
    if offline:
        rules += ["MAP * ~NOTFOUND", "EXCLUDE localhost", "EXCLUDE 127.0.0.1"]
    return [f"--host-resolver-rules={', '.join(rules)}", "--ignore-certificate-errors"]

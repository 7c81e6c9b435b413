"""RSA keys for webhooks: the app's public key however it was pasted, and test key pairs."""

from __future__ import annotations

import base64
import re
from functools import lru_cache

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from wixapp.errors import ConfigurationError

_PEM_ARMOUR = re.compile(r"-----(?:BEGIN|END)[A-Z0-9 ]*-----")

# --- keys ---------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """Parse the app's webhook public key however it was pasted into an env var.

    Accepts PEM (SPKI or PKCS#1), PEM whose newlines arrived as literal ``\\n``, and the bare
    base64 body without BEGIN/END lines. Raises ``ConfigurationError``: a bad key is ours.
    """
    try:
        key = serialization.load_der_public_key(_der_bytes(pem))
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError(
            "WIX_APP_PUBLIC_KEY is not an RSA public key: paste the webhook public key from "
            "the app dashboard (PEM, with or without its BEGIN/END lines)."
        )
    return key


def _der_bytes(pem: str) -> bytes:
    text = pem.strip().strip("'\"").replace("\\r", "").replace("\\n", "\n")
    body = "".join(_PEM_ARMOUR.sub("", text).split())
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


@lru_cache(maxsize=8)  # parsing checks the key, which costs tens of ms per signature
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_der_private_key(_der_bytes(pem), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("private_key_pem is not an unencrypted RSA private key.")
    return key


def generate_rsa_keypair(key_size: int = 2048) -> tuple[str, str]:
    """A fresh ``(private PKCS#8 PEM, public SPKI PEM)`` pair, as the app dashboard shows."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode("ascii"), public.decode("ascii")

"""Encryption at rest for secrets kept in the shared cache (app tokens).

The key is derived from the app secret with HKDF-SHA256, so nothing more needs configuring,
and rotating the secret simply makes the old entries unreadable (they count as misses).
Each value is sealed with AES-256-GCM under a fresh nonce and bound to its cache key as
associated data, so a value copied under another key does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Sealer"]

_NONCE_BYTES = 12
_SALT = b"wixapp shared cache"


class Sealer:
    """``seal(plaintext, context=key)`` / ``open(sealed, context=key)``; ValueError if forged."""

    def __init__(self, secret: str, *, purpose: str) -> None:
        if not secret:
            raise ValueError("a secret is needed to derive the encryption key")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose.encode()).derive(
            secret.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, *, context: bytes) -> bytes:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        if len(nonce) < _NONCE_BYTES:
            raise ValueError("the sealed value does not open: it is too short")
        try:
            return self._aead.decrypt(nonce, ciphertext, context)
        except InvalidTag:
            raise ValueError("the sealed value does not open with this key") from None

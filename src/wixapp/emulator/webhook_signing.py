"""Webhook bodies signed as Wix signs them (spec §7): an RS256 JWT whose ``data`` claim is
the JSON envelope, itself holding ``data`` and ``identity`` as JSON strings.

Written apart from the library's ``wixapp.webhooks`` on purpose: the emulator signs, the
library verifies, so a bug in either shows up as a disagreement in the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["WEBHOOK_TTL", "WebhookSigner", "pooled_key"]

WEBHOOK_TTL: Final = 3600
"""Seconds a webhook JWT is valid from its attempt (Wix's own lifetime is undocumented)."""

_APP_IDENTITY: Final = {"identityType": "APP"}


class WebhookSigner:
    """Signs one app's webhook bodies with its RSA key; ``public_key_pem`` is what the app's
    backend configures as WIX_APP_PUBLIC_KEY."""

    def __init__(self, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self._key = private_key or pooled_key(0)
        public = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key_pem = public.decode("ascii")

    def sign(
        self,
        event_type: str,
        instance_id: str,
        data: Mapping[str, Any],
        *,
        identity: Mapping[str, Any] | None,
        iat: int,
        exp: int,
        account_info: Mapping[str, Any] | None = None,
    ) -> str:
        envelope: dict[str, Any] = {
            "eventType": event_type,
            "instanceId": instance_id,
            "data": _compact(data),
            "identity": _compact(identity or _APP_IDENTITY),
        }
        if account_info is not None:  # an object beside eventType, as domain events carry it
            envelope["accountInfo"] = dict(account_info)
        claims = {"data": _compact(envelope), "iat": iat, "exp": exp}
        return jwt.encode(claims, self._key, algorithm="RS256")


@cache
def pooled_key(index: int) -> rsa.RSAPrivateKey:
    """The ``index``-th RSA key of this process. An emulator signs for its n-th app with key n,
    so its apps' keys differ, as Wix's do, while emulators share keys: generating one costs
    about 0.1 s, and every test makes an emulator. Not derived from the emulator's seed (RSA
    generation cannot be)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _compact(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), separators=(",", ":"))

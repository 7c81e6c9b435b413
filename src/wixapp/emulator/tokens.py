"""Access tokens and legacy ``instance`` values, as the emulator issues and checks them.

Access tokens look like Wix's (spec §5): ``OauthNG.JWS.<header>.<payload>.<signature>``,
HS256 with a key only this emulator knows, so, as at Wix, token-info is the only way to
check one. Expiry is judged by the caller on the emulator clock, never by PyJWT on the wall
clock, so ``advance_clock`` really expires tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

import jwt
from jwt.types import Options

from wixapp.models import SubjectType

__all__ = ["TOKEN_PREFIX", "LegacyInstance", "TokenClaims", "TokenSigner", "sign_legacy"]

TOKEN_PREFIX = "OauthNG.JWS."
_ALGORITHM = "HS256"
_NO_TIME_CHECKS: Options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}


@dataclass(frozen=True, slots=True)
class TokenClaims:
    token_id: str
    instance_id: str
    client_id: str
    subject_type: SubjectType
    subject_id: str
    site_id: str
    account_id: str | None
    iat: int
    exp: int
    generation: int  # the installation's generation: an uninstall kills older tokens


class TokenSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, claims: TokenClaims) -> str:
        return TOKEN_PREFIX + jwt.encode(asdict(claims), self._key, algorithm=_ALGORITHM)

    def read(self, token: str) -> TokenClaims | None:
        """The claims of a token this emulator signed, whatever its age; None otherwise."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        try:
            raw = jwt.decode(
                token[len(TOKEN_PREFIX) :], self._key, [_ALGORITHM], options=_NO_TIME_CHECKS
            )
            return TokenClaims(**{**raw, "subject_type": SubjectType(raw["subject_type"])})
        except (jwt.PyJWTError, TypeError, ValueError, KeyError):
            return None


@dataclass(frozen=True, slots=True)
class LegacyInstance:
    """A legacy ``instance`` parameter value split into its parts (spec §8), not yet verified."""

    signature: str
    data_part: str
    data: dict[str, Any]

    @classmethod
    def parse(cls, value: str) -> LegacyInstance | None:
        signature, dot, data_part = value.partition(".")
        if not dot or not signature or not data_part or "." in data_part:
            return None
        try:
            data = json.loads(_b64decode(data_part))
        except (binascii.Error, ValueError):
            return None
        return cls(signature, data_part, data) if isinstance(data, dict) else None

    def verify(self, secret: str) -> bool:
        expected = _signature(self.data_part, secret)
        return hmac.compare_digest(expected.encode(), self.signature.encode())


def sign_legacy(data: dict[str, Any], secret: str) -> str:
    """Build a legacy ``instance`` value: HMAC-SHA256 over the data part as sent."""
    data_part = _b64encode(json.dumps(data, separators=(",", ":")).encode())
    return f"{_signature(data_part, secret)}.{data_part}"


def _signature(data_part: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), data_part.encode(), hashlib.sha256).digest()
    return _b64encode(digest)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""Access tokens, as the emulator issues and checks them (legacy ``instance`` values are
``instance_param``'s).

Access tokens look like Wix's (spec §5): ``OauthNG.JWS.<header>.<payload>.<signature>``,
HS256 with a key only this emulator knows, so, as at Wix, token-info is the only way to
check one. Expiry is judged by the caller on the emulator clock, never by PyJWT on the wall
clock, so ``advance_clock`` really expires tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jwt
from jwt.types import Options

from wixapp.models import SubjectType

__all__ = ["TOKEN_PREFIX", "TokenClaims", "TokenSigner"]

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

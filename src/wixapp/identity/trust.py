"""The trust rules of spec §2, apart from the network call that fetches token-info.

Token-info alone says nothing about *our* app: an active answer may belong to another app's
token, to an expired one, or to one that names no instance. ``trust_token_info`` decides,
from the answer and the time only, so the rules can be tested without any server.
"""

from __future__ import annotations

from wixapp.errors import AuthenticationError, ExpiredTokenError, InvalidTokenError
from wixapp.models import Caller, TokenInfo

__all__ = ["trust_token_info"]


def trust_token_info(info: TokenInfo, *, app_id: str, now: float, leeway: float = 30.0) -> Caller:
    """The caller a token-info answer proves, or the ``AuthenticationError`` it warrants."""
    if not info.active:
        raise InvalidTokenError()
    if info.exp is not None and info.exp + leeway <= now:
        raise ExpiredTokenError()
    if info.client_id != app_id:
        raise AuthenticationError(
            "This Wix access token was issued to another app.", code="wrong_app"
        )
    if not info.instance_id:
        raise AuthenticationError(
            "This Wix access token names no app instance.", code="no_instance"
        )
    return Caller(
        instance_id=info.instance_id,
        subject_type=info.subject_type,
        subject_id=info.subject_id,
        site_id=info.site_id,
        expires_at=float(info.exp) if info.exp is not None else None,
    )

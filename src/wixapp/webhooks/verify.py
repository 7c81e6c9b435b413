"""Wix app webhooks: verify the RS256 JWT body, unwrap its three layers, dispatch to handlers.

Wix POSTs a JWT signed RS256 with the app's key (spec §7). ``verify_webhook`` trusts only
RS256 and only the configured public key: the token's header can choose neither another
algorithm nor another key (``kid``, ``jku`` and ``x5u`` are ignored; nothing is fetched).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.types import Options

from wixapp.errors import WebhookError, WebhookSignatureError
from wixapp.models import from_epoch
from wixapp.webhooks.events import WebhookEvent
from wixapp.webhooks.keys import load_public_key

DEFAULT_LEEWAY: Final = 60.0
"""Seconds of clock skew tolerated on ``exp`` and ``nbf``."""

ALGORITHM: Final = "RS256"

# Time claims are checked by _check_lifetime against an injectable clock, so PyJWT only
# verifies the signature here; aud/iss/sub/jti are not part of Wix webhooks.
_DECODE_OPTIONS: Final[Options] = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}

DEFAULT_IDENTITY: Final[Mapping[str, Any]] = MappingProxyType({"identityType": "APP"})

# --- verification ---------------------------------------------------------------------


def verify_webhook(
    body: bytes | str,
    public_key: str,
    *,
    now: float | None = None,
    leeway: float = DEFAULT_LEEWAY,
    app_id: str | None = None,
) -> WebhookEvent:
    """Verify a webhook body and unwrap it into a ``WebhookEvent``.

    Raises ``WebhookSignatureError`` (401) when the signature, algorithm or expiry is wrong
    and ``WebhookError`` (400) when the body is not a Wix webhook at all; a public key that
    does not parse is a ``ConfigurationError``. ``now`` is epoch seconds (tests). With
    ``app_id`` (WIX_APP_ID), an event whose data names another app is a ``WebhookError``
    (400 ``webhook_for_another_app``): a key signing for several apps cannot cross them.
    """
    token = _token_text(body)
    _require_rs256(token)
    claims = _verified_claims(token, load_public_key(public_key))
    issued_at, expires_at = _check_lifetime(claims, time.time() if now is None else now, leeway)
    event = _unwrap(claims, issued_at, expires_at)
    if app_id is not None:
        _require_app(event, app_id)
    return event


def _require_app(event: WebhookEvent, app_id: str) -> None:
    named = event.data.get("appId")
    if named is not None and named != app_id:
        raise WebhookError(
            "The webhook is for another app (its appId is not WIX_APP_ID); nothing was recorded.",
            code="webhook_for_another_app",
        )


def _token_text(body: bytes | str) -> str:
    if isinstance(body, bytes):
        try:
            body = body.decode("ascii")
        except UnicodeDecodeError:
            raise WebhookError("The webhook body is not ASCII, so it is not a JWT.") from None
    token = body.strip()
    if not token:
        raise WebhookError("The webhook body is empty; Wix sends a signed JWT.")
    return token


def _require_rs256(token: str) -> None:
    # Checked before any key is used: "alg" is attacker-chosen, so it selects nothing.
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise WebhookError("The webhook body is not a JWT (three base64url parts).") from None
    if header.get("alg") != ALGORITHM:
        raise WebhookSignatureError(
            "The webhook JWT is not signed with RS256, the only algorithm Wix uses; rejected.",
            code="webhook_algorithm_rejected",
        )


def _verified_claims(token: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
    try:
        return jwt.decode(token, key, algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
    except jwt.InvalidSignatureError:
        raise WebhookSignatureError() from None
    except jwt.DecodeError:  # after InvalidSignatureError, which subclasses it
        raise WebhookError("The webhook JWT is malformed: its parts do not decode.") from None
    except jwt.InvalidTokenError:
        raise WebhookSignatureError() from None


def _check_lifetime(
    claims: Mapping[str, Any], now: float, leeway: float
) -> tuple[datetime | None, datetime | None]:
    exp, nbf = _number_claim(claims, "exp"), _number_claim(claims, "nbf")
    if exp is not None and now > exp + leeway:
        raise WebhookSignatureError(
            f"The webhook expired at {_iso(exp)}; if fresh webhooks fail too, check this "
            "server's clock.",
            code="webhook_expired",
        )
    if nbf is not None and now + leeway < nbf:
        raise WebhookSignatureError(
            f"The webhook is not valid before {_iso(nbf)}; check this server's clock.",
            code="webhook_not_yet_valid",
        )
    iat = _number_claim(claims, "iat")
    return (None if iat is None else from_epoch(iat)), (None if exp is None else from_epoch(exp))


def _number_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        number = _float_or_none(value)
    if number is None or not math.isfinite(number):
        raise WebhookError(f"The webhook is malformed: its {name!r} claim is not a number.")
    return number


def _float_or_none(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _iso(epoch: float) -> str:
    moment = from_epoch(epoch)
    return moment.isoformat() if moment else str(epoch)


def _unwrap(
    claims: Mapping[str, Any], issued_at: datetime | None, expires_at: datetime | None
) -> WebhookEvent:
    envelope = _json_object(claims.get("data"), "the JWT claim 'data'", required=True)
    return WebhookEvent(
        event_type=_required_text(envelope, "eventType"),
        instance_id=_required_text(envelope, "instanceId"),
        data=_json_object(envelope.get("data"), "the event's 'data'"),
        identity=_json_object(envelope.get("identity"), "the event's 'identity'"),
        issued_at=issued_at,
        expires_at=expires_at,
        account_info=_account_info(envelope.get("accountInfo")),
    )


def _account_info(value: object) -> dict[str, Any] | None:
    # An object beside eventType (the SDK reads it as one); a JSON string is tolerated. It
    # only informs, so a malformed one is dropped rather than refusing the whole event.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _json_object(value: object, where: str, *, required: bool = False) -> dict[str, Any]:
    if isinstance(value, dict):  # tolerated: a layer nested as an object, not a JSON string
        return value
    if value is None or value == "":
        if required:
            raise WebhookError(f"The webhook is malformed: {where} is missing.")
        return {}
    if not isinstance(value, str):
        raise WebhookError(f"The webhook is malformed: {where} is not a JSON string.")
    try:
        parsed = json.loads(value)
    except ValueError:
        raise WebhookError(f"The webhook is malformed: {where} is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise WebhookError(f"The webhook is malformed: {where} is not a JSON object.")
    return parsed


def _required_text(envelope: Mapping[str, Any], key: str) -> str:
    value = envelope.get(key)
    if not isinstance(value, str) or not value.strip():
        raise WebhookError(f"The webhook is malformed: it has no {key}.")
    return value

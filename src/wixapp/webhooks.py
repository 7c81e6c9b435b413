"""Wix app webhooks: verify the RS256 JWT body, unwrap its three layers, dispatch to handlers.

Wix POSTs a JWT signed RS256 with the app's key (spec §7). ``verify_webhook`` trusts only
RS256 and only the configured public key: the token's header can choose neither another
algorithm nor another key (``kid``, ``jku`` and ``x5u`` are ignored; nothing is fetched).

Wix wants a 200 within 1250 ms and redelivers otherwise, so events arrive late, twice or out
of order. Handlers must be idempotent; ``WebhookEvent.dedupe_key`` names an event across
redeliveries, and ``WebhookRouter.dispatch_in_background`` lets the route answer before slow
handlers finish.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Annotated, Any, Final, TypeVar

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.types import Options
from pydantic import BeforeValidator

from wixapp.errors import ConfigurationError, WebhookError, WebhookSignatureError
from wixapp.models import WixModel

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_TTL",
    "LIFECYCLE_VIEWS",
    "AppInstalled",
    "AppRemoved",
    "DispatchResult",
    "EventType",
    "Handler",
    "LifecycleData",
    "PaidPlanAutoRenewalCancelled",
    "PaidPlanChanged",
    "PaidPlanPurchased",
    "PlanConvertedToPaid",
    "PlanEvent",
    "PlanReactivated",
    "PlanTransferred",
    "WebhookEvent",
    "WebhookRouter",
    "canonical_event_type",
    "generate_rsa_keypair",
    "load_public_key",
    "sign_webhook",
    "to_datetime",
    "verify_webhook",
]

logger = logging.getLogger(__name__)

DEFAULT_LEEWAY: Final = 60.0
"""Seconds of clock skew tolerated on ``exp`` and ``nbf``."""

DEFAULT_TTL: Final = 3600
"""Lifetime ``sign_webhook`` gives a webhook without ``exp`` (Wix's own is undocumented)."""

_ALGORITHM: Final = "RS256"

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

_DEFAULT_IDENTITY: Final[Mapping[str, Any]] = MappingProxyType({"identityType": "APP"})
_PEM_ARMOUR = re.compile(r"-----(?:BEGIN|END)[A-Z0-9 ]*-----")


class EventType(StrEnum):
    APP_INSTALLED = "AppInstalled"
    APP_REMOVED = "AppRemoved"
    PAID_PLAN_PURCHASED = "PaidPlanPurchased"
    PAID_PLAN_CHANGED = "PaidPlanChanged"
    PAID_PLAN_AUTO_RENEWAL_CANCELLED = "PaidPlanAutoRenewalCancelled"
    # UNCONFIRMED names (spec §7); the "PaidPlan…" spellings are accepted as aliases.
    PLAN_CONVERTED_TO_PAID = "PlanConvertedToPaid"
    PLAN_REACTIVATED = "PlanReactivated"
    PLAN_TRANSFERRED = "PlanTransferred"


_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "PaidPlanConvertedToPaid": EventType.PLAN_CONVERTED_TO_PAID,
        "PaidPlanReactivated": EventType.PLAN_REACTIVATED,
        "PaidPlanTransferred": EventType.PLAN_TRANSFERRED,
    }
)


def canonical_event_type(event_type: str) -> str:
    """The name routing and typed views use: an alias of an unconfirmed name maps to it."""
    return str(_ALIASES.get(event_type, event_type))


# --- tolerant field parsing -------------------------------------------------------------


def to_datetime(value: object) -> datetime | None:
    """Read a timestamp tolerantly: ISO 8601 (``Z`` or offset), or epoch seconds or ms.

    Anything else is ``None``: a strange timestamp must not make an event unreadable.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, str):
        return _from_text(value.strip())
    return None


def _from_epoch(seconds: float) -> datetime | None:
    if abs(seconds) > 1e11:  # 1e11 s is the year 5138: this must be milliseconds
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_text(text: str) -> datetime | None:
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _to_str(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


LooseDatetime = Annotated[datetime | None, BeforeValidator(to_datetime)]
LooseStr = Annotated[str | None, BeforeValidator(_to_str)]


# --- typed views of the lifecycle events (spec §7) ------------------------------------


class LifecycleData(WixModel):
    """Base of the typed views: every field optional, unknown fields ignored, never raises."""


class AppInstalled(LifecycleData):
    app_id: LooseStr = None
    origin_instance_id: LooseStr = None  # only when the site was duplicated


class AppRemoved(LifecycleData):
    app_id: LooseStr = None


class PlanEvent(LifecycleData):
    """Fields every paid-plan event carries."""

    operation_time_stamp: LooseDatetime = None
    vendor_product_id: LooseStr = None
    cycle: LooseStr = None


class PaidPlanPurchased(PlanEvent):
    expires_on: LooseDatetime = None
    coupon_name: LooseStr = None
    invoice_id: LooseStr = None


class PaidPlanChanged(PlanEvent):
    previous_vendor_product_id: LooseStr = None
    previous_cycle: LooseStr = None
    coupon_name: LooseStr = None
    invoice_id: LooseStr = None


class PaidPlanAutoRenewalCancelled(PlanEvent):
    cancel_reason: LooseStr = None
    user_reason: LooseStr = None
    subscription_cancellation_type: LooseStr = None


class _UnconfirmedPlanEvent(PlanEvent):
    expires_on: LooseDatetime = None
    invoice_id: LooseStr = None
    reason: LooseStr = None


class PlanConvertedToPaid(_UnconfirmedPlanEvent):
    """UNCONFIRMED event name and fields (spec §7)."""


class PlanReactivated(_UnconfirmedPlanEvent):
    """UNCONFIRMED event name and fields (spec §7)."""


class PlanTransferred(_UnconfirmedPlanEvent):
    """UNCONFIRMED event name and fields (spec §7)."""


LIFECYCLE_VIEWS: Final[Mapping[str, type[LifecycleData]]] = MappingProxyType(
    {
        EventType.APP_INSTALLED: AppInstalled,
        EventType.APP_REMOVED: AppRemoved,
        EventType.PAID_PLAN_PURCHASED: PaidPlanPurchased,
        EventType.PAID_PLAN_CHANGED: PaidPlanChanged,
        EventType.PAID_PLAN_AUTO_RENEWAL_CANCELLED: PaidPlanAutoRenewalCancelled,
        EventType.PLAN_CONVERTED_TO_PAID: PlanConvertedToPaid,
        EventType.PLAN_REACTIVATED: PlanReactivated,
        EventType.PLAN_TRANSFERRED: PlanTransferred,
    }
)


# --- the event ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    """One verified webhook. ``data`` and ``identity`` are the decoded inner layers."""

    event_type: str
    instance_id: str
    data: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    issued_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def kind(self) -> str:
        """``event_type`` with aliases of unconfirmed names resolved."""
        return canonical_event_type(self.event_type)

    @property
    def identity_type(self) -> str | None:
        """ANONYMOUS_VISITOR, MEMBER, WIX_USER or APP, as Wix says; ``None`` when absent."""
        return _to_str(self.identity.get("identityType"))

    @property
    def event_time(self) -> datetime | None:
        """When it happened: ``operationTimeStamp`` if the event has one, else ``iat``."""
        return to_datetime(self.data.get("operationTimeStamp")) or self.issued_at

    @property
    def dedupe_key(self) -> str:
        """SHA-256 of (eventType, instanceId, iat, data): equal for redeliveries of one event.

        A redelivery is the same body, so a hash of the raw JWT would match too; this key
        also survives a redelivery that is re-encoded or re-signed with the same ``iat``.
        ``iat`` must stay in: a remove-and-reinstall sends an ``AppInstalled`` whose data is
        identical to the first one, and only the time tells them apart.
        """
        iat = None if self.issued_at is None else self.issued_at.timestamp()
        material = [self.event_type, self.instance_id, iat, self.data]
        encoded = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(encoded.encode()).hexdigest()

    def view(self) -> LifecycleData | None:
        """The typed view of a lifecycle event, or ``None`` for any other eventType."""
        model = LIFECYCLE_VIEWS.get(self.kind)
        return None if model is None else model.model_validate(self.data)


# --- verification ---------------------------------------------------------------------


def verify_webhook(
    body: bytes | str,
    public_key: str,
    *,
    now: float | None = None,
    leeway: float = DEFAULT_LEEWAY,
) -> WebhookEvent:
    """Verify a webhook body and unwrap it into a ``WebhookEvent``.

    Raises ``WebhookSignatureError`` (401) when the signature, algorithm or expiry is wrong
    and ``WebhookError`` (400) when the body is not a Wix webhook at all; a public key that
    does not parse is a ``ConfigurationError``. ``now`` is epoch seconds (tests).
    """
    token = _token_text(body)
    _require_rs256(token)
    claims = _verified_claims(token, load_public_key(public_key))
    issued_at, expires_at = _check_lifetime(claims, time.time() if now is None else now, leeway)
    return _unwrap(claims, issued_at, expires_at)


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
    if header.get("alg") != _ALGORITHM:
        raise WebhookSignatureError(
            "The webhook JWT is not signed with RS256, the only algorithm Wix uses; rejected.",
            code="webhook_algorithm_rejected",
        )


def _verified_claims(token: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
    try:
        return jwt.decode(token, key, algorithms=[_ALGORITHM], options=_DECODE_OPTIONS)
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
    return (None if iat is None else _from_epoch(iat)), (None if exp is None else _from_epoch(exp))


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
    moment = _from_epoch(epoch)
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
    )


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
def _load_private_key(pem: str) -> rsa.RSAPrivateKey:
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


def sign_webhook(
    event_type: str,
    instance_id: str,
    data: Mapping[str, Any],
    *,
    private_key_pem: str,
    identity: Mapping[str, Any] | None = None,
    iat: float | None = None,
    exp: float | None = None,
) -> str:
    """Sign a webhook body exactly as Wix does (tests and the emulator).

    ``identity`` defaults to ``{"identityType": "APP"}``; ``exp`` to ``iat + DEFAULT_TTL``.
    """
    issued = int(time.time() if iat is None else iat)
    envelope = {
        "eventType": event_type,
        "instanceId": instance_id,
        "data": _compact(data),
        "identity": _compact(_DEFAULT_IDENTITY if identity is None else identity),
    }
    expires = int(issued + DEFAULT_TTL if exp is None else exp)
    claims = {"data": _compact(envelope), "iat": issued, "exp": expires}
    return jwt.encode(claims, _load_private_key(private_key_pem), algorithm=_ALGORITHM)


def _compact(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), separators=(",", ":"))


# --- dispatch -----------------------------------------------------------------------------

Handler = Callable[[WebhookEvent], object]
"""A webhook handler: ``async def`` (awaited) or a plain function (run in a worker thread)."""

HandlerT = TypeVar("HandlerT", bound=Handler)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """Names of the handlers that ran, in order, and of those among them that raised."""

    ran: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class _Route:
    event_type: str | None  # canonical name; None matches every event
    handler: Handler
    name: str
    is_async: bool


class WebhookRouter:
    """Handlers per eventType, registered decorator-style, sync or async.

    ``dispatch`` runs every matching handler in registration order; one that raises is
    logged and the rest still run, so one buggy handler cannot block the others.
    """

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._background: set[asyncio.Task[DispatchResult]] = set()

    def on(self, *event_types: str) -> Callable[[HandlerT], HandlerT]:
        """Decorator: run the handler for each of these eventTypes."""
        if not event_types:
            raise ValueError("name at least one eventType, or use on_any for every event")

        def register(handler: HandlerT) -> HandlerT:
            for event_type in event_types:
                self.add(handler, event_type)
            return handler

        return register

    def on_any(self, handler: HandlerT) -> HandlerT:
        """Decorator: run the handler for every event, known or not."""
        self.add(handler, None)
        return handler

    def add(self, handler: Handler, event_type: str | None = None) -> None:
        """Register without a decorator; ``event_type=None`` matches every event."""
        key = None if event_type is None else canonical_event_type(event_type)
        self._routes.append(_Route(key, handler, _name_of(handler), _is_async(handler)))

    async def dispatch(self, event: WebhookEvent) -> DispatchResult:
        ran: list[str] = []
        failed: list[str] = []
        for route in [r for r in self._routes if r.event_type in (None, event.kind)]:
            ran.append(route.name)
            if not await _run(route, event):
                failed.append(route.name)
        return DispatchResult(tuple(ran), tuple(failed))

    def dispatch_in_background(self, event: WebhookEvent) -> asyncio.Task[DispatchResult]:
        """Start ``dispatch`` without waiting, so the route can answer Wix at once."""
        task = asyncio.get_running_loop().create_task(self.dispatch(event))
        self._background.add(task)  # the loop keeps only a weak reference to tasks
        task.add_done_callback(self._settled)
        return task

    @property
    def pending(self) -> int:
        """Background dispatches not finished yet."""
        return len(self._background)

    async def drain(self) -> None:
        """Wait for every background dispatch, including ones started meanwhile."""
        while self._background:
            await asyncio.wait(tuple(self._background))

    async def shutdown(self, grace: float) -> int:
        """Drain for up to ``grace`` seconds, then cancel what is left; returns how many
        dispatches were cancelled (logged, so a lost handler run is never silent).

        A sync handler already running in its worker thread cannot be interrupted: its
        dispatch is cancelled, the thread finishes on its own.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._background and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(tuple(self._background), timeout=remaining)
        left = tuple(self._background)
        for task in left:
            task.cancel()
        if left:
            logger.warning(
                "Cancelled %d webhook dispatches still running at shutdown; their handlers "
                "did not finish. Wix will not redeliver those events.",
                len(left),
            )
            await asyncio.wait(left)
        return len(left)

    def _settled(self, task: asyncio.Task[DispatchResult]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("Background webhook dispatch crashed.", exc_info=error)


async def _run(route: _Route, event: WebhookEvent) -> bool:
    try:
        if route.is_async:
            result = route.handler(event)
        else:
            result = await asyncio.to_thread(route.handler, event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        # Names only: the event body and the handler's locals stay out of the log.
        logger.exception(
            "Webhook handler %s failed on %s for instance %s; the other handlers still ran.",
            route.name,
            event.event_type,
            event.instance_id,
        )
        return False
    return True


def _is_async(handler: Handler) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        type(handler).__call__
    )


def _name_of(handler: Handler) -> str:
    qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)

"""Signed test webhooks for any URL (``wixapp webhook send``): every lifecycle event Wix
sends and domain events of any entity, signed with a key file or a running emulator's key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from wixapp.emulator import EmulatorControl
from wixapp.emulator.domain_events import domain_event_data
from wixapp.errors import ConfigurationError
from wixapp.protocol import split_domain_event_type
from wixapp.webhooks import EventType, canonical_event_type, sign_webhook

__all__ = [
    "LIFECYCLE_EVENTS",
    "TestWebhook",
    "post_webhook",
    "sign_test_webhook",
    "sign_with_emulator",
]

LIFECYCLE_EVENTS: Final = tuple(str(event) for event in EventType)

_PLAN_DEFAULTS: Final = {"vendorProductId": "premium", "cycle": "MONTHLY"}


@dataclass(frozen=True, kw_only=True)
class TestWebhook:
    """One event to send. ``data`` is merged over the defaults the event gets: ``appId``
    for the lifecycle, a plan and the time for plan events, a domain event's metadata and
    slot built from its name (``entity``, ``modified_fields``, ``action_body``)."""

    __test__ = False  # not a pytest test class

    event_type: str
    instance_id: str
    app_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    entity: dict[str, Any] | None = None
    modified_fields: dict[str, Any] | None = None
    action_body: dict[str, Any] | None = None
    identity: dict[str, Any] | None = None
    account_info: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        domain = split_domain_event_type(self.event_type) is not None
        if not domain and canonical_event_type(self.event_type) not in LIFECYCLE_EVENTS:
            raise ConfigurationError(
                f"{self.event_type!r} is neither a lifecycle event ({', '.join(LIFECYCLE_EVENTS)})"
                " nor a domain event name such as wix.contacts.v4.contact_created"
            )

    def payload(self, now: float) -> dict[str, Any]:
        """The inner ``data`` Wix would send at ``now`` (epoch seconds)."""
        moment = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        iso = moment.replace("+00:00", "Z")
        return self._defaults(iso) | self.data

    def _defaults(self, iso: str) -> dict[str, Any]:
        if split_domain_event_type(self.event_type) is not None:
            return domain_event_data(
                self.event_type,
                event_id=str(uuid.uuid4()),
                event_time=iso,
                entity=self.entity,
                modified_fields=self.modified_fields,
                action_body=self.action_body,
            )
        kind = canonical_event_type(self.event_type)
        if kind in (EventType.APP_INSTALLED, EventType.APP_REMOVED):
            return {} if self.app_id is None else {"appId": self.app_id}
        return {"operationTimeStamp": iso, **_PLAN_DEFAULTS}


def sign_test_webhook(webhook: TestWebhook, *, now: float, private_key_pem: str) -> str:
    """The body signed with ``private_key_pem`` (PEM), as Wix signs it."""
    return sign_webhook(
        webhook.event_type,
        webhook.instance_id,
        webhook.payload(now),
        private_key_pem=private_key_pem,
        identity=webhook.identity,
        iat=now,
        account_info=webhook.account_info,
    )


async def sign_with_emulator(webhook: TestWebhook, emulator_url: str, *, now: float) -> str:
    """The body signed by the emulator at ``emulator_url`` with the key of the instance's
    app, or of ``webhook.app_id`` for an instance it has not installed (its
    ``/_emulator/apps/{app_id}/webhook-public-key`` verifies it)."""
    async with EmulatorControl.for_url(emulator_url) as control:
        try:
            return await control.sign_webhook(
                webhook.instance_id,
                webhook.event_type,
                data=webhook.payload(now),
                identity=webhook.identity,
                account_info=webhook.account_info,
                app_id=webhook.app_id,
            )
        except httpx.HTTPError as error:
            raise ConfigurationError(f"--emulator {emulator_url}: {error!r}") from None


async def post_webhook(
    url: str, body: str, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.Response:
    """POST ``body`` to ``url`` as Wix does (the whole body is the JWT)."""
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
        return await client.post(url, content=body, headers=headers)

"""Webhook events: the event names, the verified event, and typed views of lifecycle data.

Wix redelivers, so events arrive late, twice or out of order: ``WebhookEvent.dedupe_key``
names an event across redeliveries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from wixapp.models import LooseDatetime, LooseStr, WixModel, to_datetime, to_str
from wixapp.webhooks.domain import AccountInfo, DomainEvent, read_domain_event


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
    cancelled_during_free_trial: LooseStr = None  # DURING_FREE_TRIAL | NOT_DURING_FREE_TRIAL


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


class WebhookIdentity(WixModel):
    """Who caused an event (the envelope's ``identity``): a Wix user installing, buying or
    removing the app; a member; an anonymous visitor; or the app itself."""

    identity_type: LooseStr = None  # ANONYMOUS_VISITOR, MEMBER, WIX_USER or APP
    wix_user_id: LooseStr = None
    member_id: LooseStr = None
    anonymous_visitor_id: LooseStr = None
    app_id: LooseStr = None


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
    account_info: dict[str, Any] | None = None  # the envelope's accountInfo, when sent

    @property
    def kind(self) -> str:
        """``event_type`` with aliases of unconfirmed names resolved."""
        return canonical_event_type(self.event_type)

    @property
    def identity_type(self) -> str | None:
        """ANONYMOUS_VISITOR, MEMBER, WIX_USER or APP, as Wix says; ``None`` when absent."""
        return to_str(self.identity.get("identityType"))

    @property
    def actor(self) -> WebhookIdentity:
        """The ``identity`` layer, typed: who caused the event."""
        return WebhookIdentity.model_validate(self.identity)

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

    @property
    def account(self) -> AccountInfo | None:
        """The envelope's ``accountInfo``, typed; ``None`` when Wix sent none."""
        return None if self.account_info is None else AccountInfo.model_validate(self.account_info)

    def domain_event(self) -> DomainEvent | None:
        """The typed view of a domain event (an entity created, updated, deleted or acted
        on), read as ``@wix/sdk``'s ``webhooks.process`` reads it; ``None`` for an event
        whose data carries none of ``createdEvent``, ``updatedEvent``, ``deletedEvent``,
        ``actionEvent``."""
        return read_domain_event(self.data, self._base_metadata())

    def _base_metadata(self) -> dict[str, Any]:
        base: dict[str, Any] = {"instanceId": self.instance_id}
        if self.identity:
            base["identity"] = self.identity
        if self.account_info is not None:
            base["accountInfo"] = self.account_info
        return base

    def view(self) -> LifecycleData | None:
        """The typed view of a lifecycle event, or ``None`` for any other eventType."""
        model = LIFECYCLE_VIEWS.get(self.kind)
        return None if model is None else model.model_validate(self.data)

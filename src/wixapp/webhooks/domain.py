"""Domain events: a site's own entities created, updated, deleted or acted on.

Wix sends them in the lifecycle events' signed envelope; the inner ``data`` carries one of
``createdEvent``, ``updatedEvent``, ``deletedEvent`` or ``actionEvent`` beside the event's
metadata (``id``, ``entityFqdn``, ``slug``, ``entityId``, ``eventTime``, …). ``read_domain_event``
reads them as ``@wix/sdk``'s ``webhooks.process`` does (``runHandler`` in
``build/event-handlers-modules.js``): the same slot wins when several are present, the same
metadata (the envelope's ``instanceId``, ``identity`` and ``accountInfo``, then every other
field of the payload), so Python handlers see what Node handlers see. The SDK's per-module
REST-to-SDK renames (``_id`` for ``id``, dates as ``Date``) are not applied: the entity
stays as Wix sent it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, cast

from wixapp.models import LooseDatetime, LooseStr, WixModel
from wixapp.protocol import DOMAIN_EVENT_SLOTS, split_domain_event_type

__all__ = [
    "DOMAIN_SLOTS",
    "AccountInfo",
    "DomainEvent",
    "DomainEventKind",
    "DomainEventMetadata",
    "read_domain_event",
    "split_domain_event_type",
]

DomainEventKind = Literal["created", "updated", "deleted", "action"]

DOMAIN_SLOTS: Final = cast(Mapping[str, DomainEventKind], DOMAIN_EVENT_SLOTS)


class AccountInfo(WixModel):
    """The envelope's ``accountInfo``: the Wix account (and site) the event belongs to."""

    account_id: LooseStr = None
    parent_account_id: LooseStr = None
    site_id: LooseStr = None


class DomainEventMetadata(WixModel):
    """The SDK's ``metadata``, typed; every field optional, unknown fields ignored."""

    id: LooseStr = None
    entity_fqdn: LooseStr = None
    slug: LooseStr = None
    entity_id: LooseStr = None
    event_time: LooseDatetime = None
    triggered_by_anonymize_request: bool | None = None
    originated_from: LooseStr = None
    entity_event_sequence: LooseStr = None
    instance_id: LooseStr = None
    account_info: AccountInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """One domain event. ``entity`` is the created, current (updated) or deleted entity;
    ``action_body`` an action's body (the SDK's ``data``); ``metadata_fields`` the SDK's
    ``metadata`` object as it is, ``metadata`` the same typed."""

    kind: DomainEventKind
    entity: Any = None
    modified_fields: dict[str, Any] | None = None
    action_body: Any = None
    metadata_fields: dict[str, Any]

    @property
    def metadata(self) -> DomainEventMetadata:
        return DomainEventMetadata.model_validate(self.metadata_fields)

    @property
    def entity_fqdn(self) -> str | None:
        return self.metadata.entity_fqdn

    @property
    def event_time(self) -> datetime | None:
        return self.metadata.event_time

    def envelope(self) -> dict[str, Any]:
        """What the SDK hands a handler (before its module's renames), keys absent as there."""
        shape = {
            "entity": self.entity,
            "data": self.action_body,
            "metadata": self.metadata_fields,
            "modifiedFields": self.modified_fields,
        }
        return {key: value for key, value in shape.items() if value is not None}


def read_domain_event(
    payload: Mapping[str, Any], base_metadata: Mapping[str, Any]
) -> DomainEvent | None:
    """``payload`` read as the SDK's ``runHandler`` reads a domain event; ``None`` when it
    carries none of the four slots (a lifecycle or other event). ``base_metadata`` is the
    envelope's ``instanceId``, ``identity`` and ``accountInfo`` (absent ones left out)."""
    if not any(_js_truthy(payload.get(slot)) for slot in DOMAIN_SLOTS):
        return None
    fields = {key: value for key, value in payload.items() if key not in DOMAIN_SLOTS}
    metadata = {**base_metadata, **fields}
    kind = next(kind for slot, kind in DOMAIN_SLOTS.items() if _js_truthy(payload.get(slot)))
    inner = _mapping(payload.get(_slot_of(kind)))
    if kind == "deleted":
        entity = inner.get("deletedEntity")
        return DomainEvent(
            kind=kind, entity=entity if _js_truthy(entity) else None, metadata_fields=metadata
        )
    if kind == "action":
        return DomainEvent(kind=kind, action_body=inner.get("body"), metadata_fields=metadata)
    if kind == "updated":
        modified = inner.get("modifiedFields")
        return DomainEvent(
            kind=kind,
            entity=inner.get("currentEntity"),
            modified_fields=modified if _js_truthy(modified) else None,
            metadata_fields=metadata,
        )
    return DomainEvent(kind=kind, entity=inner.get("entity"), metadata_fields=metadata)


def _slot_of(kind: DomainEventKind) -> str:
    return next(slot for slot, each in DOMAIN_SLOTS.items() if each == kind)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _js_truthy(value: object) -> bool:
    """JavaScript's truthiness, which the SDK's ``if (deletedEvent)`` tests use: every
    object and array is true, even empty; null, false, 0, NaN and "" are false."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True

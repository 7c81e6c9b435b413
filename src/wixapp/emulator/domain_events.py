"""The inner ``data`` of a domain event, as Wix composes it: the event's metadata beside one
slot (``createdEvent.entity``, ``updatedEvent.currentEntity`` + ``modifiedFields``,
``deletedEvent.deletedEntity`` or ``actionEvent.body``), picked by the event name's slug."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wixapp.emulator.wix_errors import EmulatorError
from wixapp.protocol import split_domain_event_type

__all__ = ["domain_event_data"]


def domain_event_data(
    event_type: str,
    *,
    event_id: str,
    event_time: str,
    entity: Mapping[str, Any] | None = None,
    modified_fields: Mapping[str, Any] | None = None,
    action_body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``wix.stores.v1.product_created`` puts ``entity`` in ``createdEvent``; ``_updated``
    and ``_deleted`` their slots; any other slug is an action whose body is ``action_body``."""
    parts = split_domain_event_type(event_type)
    if parts is None:
        raise EmulatorError(
            f"{event_type!r} is not a domain event name such as wix.contacts.v4.contact_created."
        )
    fqdn, slug = parts
    subject = dict(entity or {})
    data: dict[str, Any] = {
        "id": event_id,
        "entityFqdn": fqdn,
        "slug": slug,
        "entityId": str(subject.get("id") or subject.get("_id") or ""),
        "eventTime": event_time,
        "triggeredByAnonymizeRequest": False,
    }
    if slug == "created":
        data["createdEvent"] = {"entity": subject}
    elif slug == "updated":
        modified = dict(modified_fields or {})
        data["updatedEvent"] = {"currentEntity": subject, "modifiedFields": modified}
    elif slug == "deleted":
        data["deletedEvent"] = {"deletedEntity": subject} if subject else {}
    else:
        data["actionEvent"] = {"body": dict(action_body or {})}
    return data

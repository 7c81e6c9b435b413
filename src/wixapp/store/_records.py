"""What the store hands out: frozen records, ETags, and its errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Final

from wixapp.errors import PreconditionFailedError, StoreUnavailableError

__all__ = [
    "UNSET",
    "EventRecord",
    "InstanceRecord",
    "InstanceStatus",
    "PreconditionFailedError",
    "SettingsRecord",
    "StoreUnavailableError",
    "Unset",
    "etag_for",
    "matching_versions",
]


class Unset(Enum):
    """Type of UNSET: "leave this field alone", distinct from None ("clear it")."""

    token = 0


UNSET: Final = Unset.token


class InstanceStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceRecord:
    """One app instance (tenant) as the store last recorded it. Timestamps are aware UTC."""

    instance_id: str
    site_id: str | None
    status: InstanceStatus
    first_seen_at: datetime
    last_seen_at: datetime
    installed_at: datetime | None
    removed_at: datetime | None
    lifecycle_at: datetime | None
    package_name: str | None
    vendor_product_id: str | None
    billing_cycle: str | None
    is_free: bool | None
    plan_expires_at: datetime | None
    plan_event_at: datetime | None
    site_url: str | None
    locale: str | None

    @property
    def is_active(self) -> bool:
        return self.status is InstanceStatus.ACTIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsRecord:
    """An instance's settings document and the version that guards concurrent writes."""

    instance_id: str
    document: dict[str, Any]
    version: int
    updated_at: datetime
    updated_by: str | None

    @property
    def etag(self) -> str:
        return etag_for(self.version)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """One recorded webhook delivery; ``payload`` is what the recorder chose to keep."""

    event_id: str
    instance_id: str
    event_type: str
    received_at: datetime
    event_at: datetime | None
    payload: dict[str, Any]


_MAX_VERSION = 2**31 - 1  # the column is a 32-bit integer; larger tags can never match
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
_OUR_TAG = re.compile(r"v([0-9]{1,10})")


def etag_for(version: int) -> str:
    """A strong entity tag, quoted as it goes in the ETag header."""
    return f'"v{version}"'


def matching_versions(if_match: str) -> list[int]:
    """Versions named by an If-Match list; weak tags never match (RFC 9110 §13.1.1)."""
    versions = []
    for weak, tag in _ENTITY_TAG.findall(if_match)[:32]:
        found = None if weak else _OUR_TAG.fullmatch(tag)
        if found and int(found[1]) <= _MAX_VERSION:
            versions.append(int(found[1]))
    return versions

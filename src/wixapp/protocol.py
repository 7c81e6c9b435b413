"""Wix's wire conventions, shared by the library and the emulator so both read and write
them one way: the endpoint names and paths, the ``Authorization`` header, ``Retry-After``,
the request id header."""

from __future__ import annotations

import email.utils
import math
import re
import time
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "DOMAIN_EVENT_SLOTS",
    "ENDPOINT_PATHS",
    "REQUEST_ID_HEADER",
    "Endpoint",
    "parse_retry_after",
    "retry_after_seconds",
    "split_domain_event_type",
    "strip_bearer",
]


DOMAIN_EVENT_SLOTS: Final = MappingProxyType(
    {
        # The inner data's slot → the domain event's kind, in @wix/sdk's order of precedence
        # when a payload carries several (runHandler in build/event-handlers-modules.js).
        "deletedEvent": "deleted",
        "actionEvent": "action",
        "updatedEvent": "updated",
        "createdEvent": "created",
    }
)

_DOMAIN_EVENT_TYPE: Final = re.compile(r"^(?P<fqdn>[a-z0-9]+(?:\.[a-z0-9-]+)+)_(?P<slug>\w+)$")


def split_domain_event_type(event_type: str) -> tuple[str, str] | None:
    """``wix.contacts.v4.contact_created`` → ``("wix.contacts.v4.contact", "created")``: the
    entity's FQDN and the slug (``created``, ``updated``, ``deleted`` or an action's name);
    ``None`` for a name without a dotted entity, such as the lifecycle's ``AppInstalled``."""
    match = _DOMAIN_EVENT_TYPE.match(event_type)
    return None if match is None else (match["fqdn"], match["slug"])


class Endpoint(StrEnum):
    """The Wix endpoints wixapp calls (and the emulator plays), by the names used for call
    counts, metrics and injected faults."""

    TOKEN_INFO = "token-info"
    TOKEN = "token"
    INSTANCE = "instance"


ENDPOINT_PATHS: Final = MappingProxyType(
    {
        Endpoint.TOKEN_INFO: "/oauth2/token-info",
        Endpoint.TOKEN: "/oauth2/token",
        Endpoint.INSTANCE: "/apps/v1/instance",
    }
)

REQUEST_ID_HEADER: Final = "x-wix-request-id"
"""Wix's id of an answer, on every one: quoted in the SDK's errors and in wixapp's."""

_BEARER: Final = re.compile(r"\s*bearer\s+", re.IGNORECASE)


def strip_bearer(header: str) -> str:
    """The credential of an ``Authorization`` value: ``Bearer <token>`` or the raw token (as
    ``fetchWithAuth`` sends it). Only a leading scheme is removed, never one further in."""
    found = _BEARER.match(header)
    return (header[found.end() :] if found else header).strip()


def retry_after_seconds(value: float | None, default: int = 1) -> int:
    """Whole seconds for a ``Retry-After`` header: rounded up, so a client that honours it
    never retries too early, and at least 1; ``default`` when the delay is unknown."""
    if value is None:
        return default
    return max(1, math.ceil(value))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)

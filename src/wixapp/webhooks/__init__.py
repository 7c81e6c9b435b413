"""Wix app webhooks: verify the RS256 JWT body, read its events, dispatch them to handlers.

``events`` names the events and their typed views, ``domain`` reads the domain events (an
entity created, updated, deleted or acted on), ``verify`` checks a delivery against the app's
public key (``keys``), ``signing`` signs one as Wix does (the emulator and tests), ``router``
runs the app's handlers.
"""

from wixapp.webhooks.domain import (
    AccountInfo,
    DomainEvent,
    DomainEventKind,
    DomainEventMetadata,
    split_domain_event_type,
)
from wixapp.webhooks.events import (
    LIFECYCLE_VIEWS,
    AppInstalled,
    AppRemoved,
    EventType,
    LifecycleData,
    PaidPlanAutoRenewalCancelled,
    PaidPlanChanged,
    PaidPlanPurchased,
    PlanConvertedToPaid,
    PlanEvent,
    PlanReactivated,
    PlanTransferred,
    WebhookEvent,
    WebhookIdentity,
    canonical_event_type,
)
from wixapp.webhooks.keys import generate_rsa_keypair, load_public_key
from wixapp.webhooks.router import DispatchResult, Handler, WebhookRouter
from wixapp.webhooks.signing import DEFAULT_TTL, sign_webhook
from wixapp.webhooks.verify import DEFAULT_LEEWAY, verify_webhook

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_TTL",
    "LIFECYCLE_VIEWS",
    "AccountInfo",
    "AppInstalled",
    "AppRemoved",
    "DispatchResult",
    "DomainEvent",
    "DomainEventKind",
    "DomainEventMetadata",
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
    "WebhookIdentity",
    "WebhookRouter",
    "canonical_event_type",
    "generate_rsa_keypair",
    "load_public_key",
    "sign_webhook",
    "split_domain_event_type",
    "verify_webhook",
]

"""Domain events: wixapp reads a signed event as the official ``@wix/sdk`` does.

The same signed bodies go to ``webhooks.process`` of the SDK in frontend/node_modules (run by
node) and to ``verify_webhook``; the SDK's handler envelope must equal
``WebhookEvent.domain_event().envelope()``, and what ``process`` returns must equal the event's
instance, type, payload, identity and account info.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wixapp.emulator.domain_events import domain_event_data
from wixapp.emulator.wix_errors import EmulatorError
from wixapp.webhooks import (
    DomainEvent,
    generate_rsa_keypair,
    sign_webhook,
    split_domain_event_type,
    verify_webhook,
)

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
SDK_SCRIPT = ROOT / "tests" / "node" / "sdk_webhooks.mjs"
INSTANCE = "1ec48d1e-1919-4b9f-8e08-f7a242fdbf52"
ACCOUNT = {"accountId": "acc-1", "parentAccountId": "parent-1", "siteId": "site-1"}
MEMBER = {"identityType": "MEMBER", "memberId": "m-1"}
CONTACT = {"id": "c-1", "info": {"name": {"first": "Ada"}}, "revision": "2"}
COMMON = {
    "id": "ev-1",
    "entityFqdn": "wix.contacts.v4.contact",
    "entityId": "c-1",
    "eventTime": "2026-05-01T10:00:00.123Z",
    "triggeredByAnonymizeRequest": False,
    "originatedFrom": "wix.crm",
    "entityEventSequence": "7",
}

# (event type, is it a domain event for the SDK, inner data, identity, accountInfo)
CASES: list[tuple[str, bool, dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]] = [
    (
        "wix.contacts.v4.contact_created",
        True,
        {**COMMON, "slug": "created", "createdEvent": {"entity": CONTACT}},
        None,
        ACCOUNT,
    ),
    (
        "wix.contacts.v4.contact_updated",
        True,
        {
            **COMMON,
            "slug": "updated",
            "updatedEvent": {
                "currentEntity": CONTACT,
                "modifiedFields": {"info.name.first": "Ada", "tags[0]": "vip"},
            },
        },
        MEMBER,
        ACCOUNT,
    ),
    (
        "wix.contacts.v4.contact_updated",
        True,
        {**COMMON, "slug": "updated", "updatedEvent": {"currentEntity": CONTACT}},
        None,
        None,
    ),
    (
        "wix.contacts.v4.contact_deleted",
        True,
        {**COMMON, "slug": "deleted", "deletedEvent": {"deletedEntity": CONTACT}},
        None,
        {"accountId": "acc-1"},
    ),
    (
        "wix.contacts.v4.contact_deleted",
        True,
        {**COMMON, "slug": "deleted", "deletedEvent": {}},
        None,
        None,
    ),
    (
        "wix.ecom.v1.order_approved",
        True,
        {**COMMON, "slug": "approved", "actionEvent": {"body": {"order": {"id": "o-1"}}}},
        {"identityType": "WIX_USER", "wixUserId": "u-1"},
        ACCOUNT,
    ),
    (  # several slots: the SDK's order decides (deleted, action, updated, created)
        "wix.contacts.v4.contact_deleted",
        True,
        {
            **COMMON,
            "createdEvent": {"entity": {"id": "other"}},
            "deletedEvent": {"deletedEntity": CONTACT},
        },
        None,
        None,
    ),
    ("AppInstalled", False, {"appId": "app-1"}, None, None),
]


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_rsa_keypair()


def sdk_reads(public_key: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (FRONTEND / "node_modules" / "@wix" / "sdk").is_dir():
        pytest.skip("needs node and frontend/node_modules (make frontend)")
    completed = subprocess.run(
        [node, "--input-type=module", "-e", SDK_SCRIPT.read_text()],
        cwd=FRONTEND,  # so @wix/sdk resolves from frontend/node_modules
        input=json.dumps({"publicKey": public_key, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return results


def test_the_official_sdk_and_wixapp_read_each_signed_event_alike(
    keys: tuple[str, str],
) -> None:
    private, public = keys
    bodies = [
        sign_webhook(
            event_type,
            INSTANCE,
            data,
            private_key_pem=private,
            identity=identity,
            account_info=account,
        )
        for event_type, _, data, identity, account in CASES
    ]
    cases = [
        {"jwt": body, "type": event_type, "domain": domain}
        for body, (event_type, domain, *_) in zip(bodies, CASES, strict=True)
    ]
    for body, case, sdk in zip(bodies, CASES, sdk_reads(public, cases), strict=True):
        event = verify_webhook(body, public)
        processed = sdk["processed"]
        assert processed["instanceId"] == event.instance_id
        assert processed["eventType"] == event.event_type
        assert processed["payload"] == event.data
        assert processed["identity"] == event.identity
        assert processed.get("accountInfo") == event.account_info
        domain_event = event.domain_event()
        if case[1]:
            assert domain_event is not None
            assert sdk["envelope"] == domain_event.envelope(), case[0]
        else:
            assert domain_event is None


def test_the_typed_view_of_an_update(keys: tuple[str, str]) -> None:
    private, public = keys
    event_type, _, data, identity, account = CASES[1]
    body = sign_webhook(
        event_type, INSTANCE, data, private_key_pem=private, identity=identity, account_info=account
    )
    domain_event = verify_webhook(body, public).domain_event()
    assert isinstance(domain_event, DomainEvent)
    assert domain_event.kind == "updated"
    assert domain_event.entity == CONTACT
    assert domain_event.modified_fields == {"info.name.first": "Ada", "tags[0]": "vip"}
    metadata = domain_event.metadata
    assert (metadata.id, metadata.entity_fqdn, metadata.slug, metadata.entity_id) == (
        "ev-1",
        "wix.contacts.v4.contact",
        "updated",
        "c-1",
    )
    assert metadata.event_time == datetime(2026, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert metadata.instance_id == INSTANCE
    assert metadata.entity_event_sequence == "7"
    assert metadata.account_info is not None
    assert metadata.account_info.site_id == "site-1"
    assert domain_event.metadata_fields["identity"] == MEMBER


def test_the_emulator_builds_each_slot_by_the_name() -> None:
    when = "2026-05-01T10:00:00Z"
    created = domain_event_data(
        "wix.stores.v1.product_created", entity={"id": "p"}, event_id="e", event_time=when
    )
    assert created["createdEvent"] == {"entity": {"id": "p"}}
    assert (created["entityFqdn"], created["slug"], created["entityId"]) == (
        "wix.stores.v1.product",
        "created",
        "p",
    )
    updated = domain_event_data(
        "wix.stores.v1.product_updated",
        entity={"id": "p"},
        modified_fields={"name": "x"},
        event_id="e",
        event_time=when,
    )
    assert updated["updatedEvent"] == {
        "currentEntity": {"id": "p"},
        "modifiedFields": {"name": "x"},
    }
    deleted = domain_event_data("wix.stores.v1.product_deleted", event_id="e", event_time=when)
    assert deleted["deletedEvent"] == {}
    action = domain_event_data(
        "wix.ecom.v1.order_payment_status_updated",
        action_body={"order": {"id": "o"}},
        event_id="e",
        event_time=when,
    )
    assert action["actionEvent"] == {"body": {"order": {"id": "o"}}}
    assert action["slug"] == "payment_status_updated"


def test_only_dotted_entity_names_are_domain_events() -> None:
    assert split_domain_event_type("wix.contacts.v4.contact_created") == (
        "wix.contacts.v4.contact",
        "created",
    )
    assert split_domain_event_type("AppInstalled") is None
    with pytest.raises(EmulatorError, match="not a domain event name"):
        domain_event_data("AppRemoved", event_id="e", event_time="t")

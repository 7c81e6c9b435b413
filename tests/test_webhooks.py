from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from wixapp import webhooks
from wixapp.errors import ConfigurationError, WebhookError, WebhookSignatureError
from wixapp.webhooks import (
    AppInstalled,
    AppRemoved,
    EventType,
    LifecycleData,
    PaidPlanAutoRenewalCancelled,
    PaidPlanChanged,
    PaidPlanPurchased,
    PlanConvertedToPaid,
    PlanReactivated,
    PlanTransferred,
    WebhookEvent,
    WebhookRouter,
    generate_rsa_keypair,
    sign_webhook,
    verify_webhook,
)

INSTANCE = "1ec48d1e-1919-4b9f-8e08-f7a242fdbf52"
APP_ID = "7f58c233-72b6-4e45-889c-56aca8dbb2ba"
NOW = 1_715_081_667


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(scope="module")
def other_keys() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verification must never fetch a key (jku, x5u, JWKS)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("webhook verification tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def _envelope(
    event_type: str = "AppInstalled", data: Any = None, identity: Any = None
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "instanceId": INSTANCE,
        "data": json.dumps(data if data is not None else {"appId": APP_ID}),
        "identity": json.dumps(identity or {"identityType": "WIX_USER", "wixUserId": "u-1"}),
    }


def _claims(envelope: Any = None, **extra: Any) -> dict[str, Any]:
    data = json.dumps(_envelope()) if envelope is None else envelope
    return {"data": data, "iat": NOW, **extra}


def _rs256(claims: dict[str, Any], private_pem: str, **headers: Any) -> str:
    return jwt.encode(claims, private_pem, algorithm="RS256", headers=headers or None)


def _verify(token: str | bytes, public_pem: str, **kwargs: Any) -> WebhookEvent:
    return verify_webhook(token, public_pem, now=NOW + 1, **kwargs)


def _signed(keys: tuple[str, str], event_type: str, data: dict[str, Any], **kw: Any) -> str:
    return sign_webhook(event_type, INSTANCE, data, private_key_pem=keys[0], iat=NOW, **kw)


# --- happy paths -------------------------------------------------------------------------

LIFECYCLE_CASES: list[tuple[str, dict[str, Any], type[LifecycleData], str, Any]] = [
    (
        "AppInstalled",
        {"appId": APP_ID, "originInstanceId": "orig"},
        AppInstalled,
        "origin_instance_id",
        "orig",
    ),
    ("AppRemoved", {"appId": APP_ID}, AppRemoved, "app_id", APP_ID),
    (
        "PaidPlanPurchased",
        {
            "operationTimeStamp": "2024-05-07T10:00:00.000Z",
            "vendorProductId": "pro",
            "cycle": "YEARLY",
            "expiresOn": "2025-05-07T10:00:00Z",
            "couponName": "X",
            "invoiceId": "inv-1",
        },
        PaidPlanPurchased,
        "expires_on",
        datetime(2025, 5, 7, 10, tzinfo=UTC),
    ),
    (
        "PaidPlanChanged",
        {
            "operationTimeStamp": "2024-05-07T10:00:00Z",
            "vendorProductId": "pro",
            "cycle": "MONTHLY",
            "previousVendorProductId": "basic",
            "previousCycle": "YEARLY",
        },
        PaidPlanChanged,
        "previous_vendor_product_id",
        "basic",
    ),
    (
        "PaidPlanAutoRenewalCancelled",
        {
            "operationTimeStamp": "2024-05-07T10:00:00Z",
            "vendorProductId": "pro",
            "cycle": "MONTHLY",
            "cancelReason": "USER_ACTION",
            "userReason": "too dear",
            "subscriptionCancellationType": "AT_END_OF_PERIOD",
        },
        PaidPlanAutoRenewalCancelled,
        "subscription_cancellation_type",
        "AT_END_OF_PERIOD",
    ),
    (
        "PaidPlanAutoRenewalCancelled",
        {"vendorProductId": "pro", "cancelledDuringFreeTrial": "DURING_FREE_TRIAL"},
        PaidPlanAutoRenewalCancelled,
        "cancelled_during_free_trial",
        "DURING_FREE_TRIAL",
    ),
    (
        "PlanConvertedToPaid",
        {"vendorProductId": "pro", "reason": "TRIAL_ENDED"},
        PlanConvertedToPaid,
        "reason",
        "TRIAL_ENDED",
    ),
    (
        "PlanReactivated",
        {"vendorProductId": "pro", "invoiceId": 42},
        PlanReactivated,
        "invoice_id",
        "42",
    ),
    (
        "PlanTransferred",
        {"vendorProductId": "pro", "cycle": "MONTHLY"},
        PlanTransferred,
        "cycle",
        "MONTHLY",
    ),
]


@pytest.mark.parametrize(
    ("event_type", "data", "view_type", "field", "expected"),
    LIFECYCLE_CASES,
    ids=[case[0] for case in LIFECYCLE_CASES],
)
def test_each_lifecycle_event_verifies_and_has_a_typed_view(
    keys: tuple[str, str],
    event_type: str,
    data: dict[str, Any],
    view_type: type[LifecycleData],
    field: str,
    expected: Any,
) -> None:
    event = _verify(_signed(keys, event_type, {**data, "futureField": 1}), keys[1])
    assert event.event_type == event_type
    assert event.instance_id == INSTANCE
    assert event.data["futureField"] == 1
    assert event.identity == {"identityType": "APP"}
    assert event.issued_at == datetime.fromtimestamp(NOW, UTC)
    view = event.view()
    assert isinstance(view, view_type)
    assert getattr(view, field) == expected


def test_paid_plan_view_parses_every_documented_field(keys: tuple[str, str]) -> None:
    data = LIFECYCLE_CASES[2][1]
    view = _verify(_signed(keys, "PaidPlanPurchased", data), keys[1]).view()
    assert view == PaidPlanPurchased(
        operation_time_stamp=datetime(2024, 5, 7, 10, tzinfo=UTC),
        vendor_product_id="pro",
        cycle="YEARLY",
        expires_on=datetime(2025, 5, 7, 10, tzinfo=UTC),
        coupon_name="X",
        invoice_id="inv-1",
    )


def test_view_tolerates_odd_field_types(keys: tuple[str, str]) -> None:
    data = {"operationTimeStamp": "yesterday", "cycle": ["?"], "expiresOn": 1715081667000}
    view = _verify(_signed(keys, "PaidPlanPurchased", data), keys[1]).view()
    assert isinstance(view, PaidPlanPurchased)
    assert view.operation_time_stamp is None
    assert view.cycle is None
    assert view.expires_on == datetime.fromtimestamp(1715081667, UTC)


def test_unknown_event_type_still_parses(keys: tuple[str, str]) -> None:
    event = _verify(_signed(keys, "SomethingNew", {"x": [1, 2]}), keys[1])
    assert event.event_type == "SomethingNew"
    assert event.kind == "SomethingNew"
    assert event.data == {"x": [1, 2]}
    assert event.view() is None


@pytest.mark.parametrize(
    ("sent", "canonical", "view_type"),
    [
        ("PaidPlanConvertedToPaid", "PlanConvertedToPaid", PlanConvertedToPaid),
        ("PaidPlanReactivated", "PlanReactivated", PlanReactivated),
        ("PaidPlanTransferred", "PlanTransferred", PlanTransferred),
    ],
)
def test_unconfirmed_event_names_accept_the_paid_plan_spelling(
    keys: tuple[str, str], sent: str, canonical: str, view_type: type[LifecycleData]
) -> None:
    event = _verify(_signed(keys, sent, {"vendorProductId": "pro"}), keys[1])
    assert event.event_type == sent
    assert event.kind == canonical
    assert isinstance(event.view(), view_type)


def test_identity_and_times(keys: tuple[str, str]) -> None:
    token = _signed(
        keys,
        "PaidPlanChanged",
        {"operationTimeStamp": "2024-05-07T10:00:00Z"},
        identity={"identityType": "WIX_USER", "wixUserId": "u-1"},
        exp=NOW + 300,
    )
    event = _verify(token, keys[1])
    assert event.identity_type == "WIX_USER"
    assert event.identity["wixUserId"] == "u-1"
    assert event.event_time == datetime(2024, 5, 7, 10, tzinfo=UTC)
    assert event.expires_at == datetime.fromtimestamp(NOW + 300, UTC)


def test_event_time_falls_back_to_iat(keys: tuple[str, str]) -> None:
    event = _verify(_signed(keys, "AppInstalled", {"appId": APP_ID}), keys[1])
    assert event.event_time == datetime.fromtimestamp(NOW, UTC)


def test_bytes_body_with_trailing_newline_is_accepted(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppRemoved", {"appId": APP_ID})
    assert _verify(token.encode() + b"\r\n", keys[1]).event_type == "AppRemoved"


def test_sign_webhook_produces_the_three_wix_layers(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {"appId": APP_ID})
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, keys[1], algorithms=["RS256"], options={"verify_exp": False})
    assert set(claims) == {"data", "iat", "exp"}
    assert claims["iat"] == NOW
    assert claims["exp"] == NOW + webhooks.DEFAULT_TTL
    assert isinstance(claims["data"], str)
    envelope = json.loads(claims["data"])
    assert set(envelope) == {"eventType", "instanceId", "data", "identity"}
    assert isinstance(envelope["data"], str)
    assert isinstance(envelope["identity"], str)
    assert json.loads(envelope["data"]) == {"appId": APP_ID}


# --- tolerated shapes --------------------------------------------------------------------


def test_inner_layers_given_as_objects_are_tolerated(keys: tuple[str, str]) -> None:
    envelope = {
        "eventType": "AppInstalled",
        "instanceId": INSTANCE,
        "data": {"appId": APP_ID},
        "identity": {"identityType": "APP"},
    }
    event = _verify(_rs256(_claims(envelope), keys[0]), keys[1])
    assert event.data == {"appId": APP_ID}
    assert event.identity_type == "APP"


def test_missing_inner_data_and_identity_are_empty(keys: tuple[str, str]) -> None:
    envelope = {"eventType": "AppRemoved", "instanceId": INSTANCE}
    event = _verify(_rs256(_claims(json.dumps(envelope)), keys[0]), keys[1])
    assert event.data == {}
    assert event.identity == {}
    assert event.identity_type is None


def test_token_without_exp_or_iat_is_accepted(keys: tuple[str, str]) -> None:
    event = _verify(_rs256({"data": json.dumps(_envelope())}, keys[0]), keys[1])
    assert event.issued_at is None
    assert event.expires_at is None
    assert event.event_time is None


def test_kid_jku_and_x5u_headers_are_ignored(keys: tuple[str, str]) -> None:
    headers = {"kid": "other", "jku": "https://evil.example/jwks", "x5u": "https://evil.example/c"}
    token = _rs256(_claims(json.dumps(_envelope())), keys[0], **headers)
    assert _verify(token, keys[1]).instance_id == INSTANCE


# --- public key forms --------------------------------------------------------------------


def _public_key_forms(public_pem: str) -> dict[str, str]:
    body = "".join(line for line in public_pem.splitlines() if not line.startswith("-----"))
    return {
        "pem": public_pem,
        "escaped_newlines": public_pem.strip().replace("\n", "\\n"),
        "no_header_lines": body,
        "quoted_one_line": '"' + public_pem.strip().replace("\n", " ") + '"',
        "crlf": public_pem.replace("\n", "\r\n"),
    }


@pytest.mark.parametrize(
    "form", ["pem", "escaped_newlines", "no_header_lines", "quoted_one_line", "crlf"]
)
def test_public_key_is_accepted_however_it_was_pasted(keys: tuple[str, str], form: str) -> None:
    pasted = _public_key_forms(keys[1])[form]
    assert pasted != keys[1] or form == "pem"
    assert _verify(_signed(keys, "AppRemoved", {}), pasted).event_type == "AppRemoved"


@pytest.mark.parametrize("bad_key", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n"])
def test_unusable_public_key_is_a_configuration_error(keys: tuple[str, str], bad_key: str) -> None:
    with pytest.raises(ConfigurationError, match="WIX_APP_PUBLIC_KEY"):
        _verify(_signed(keys, "AppRemoved", {}), bad_key)


def test_private_key_is_not_accepted_as_the_public_key(keys: tuple[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        _verify(_signed(keys, "AppRemoved", {}), keys[0])


# --- rejections: authentication (401) -------------------------------------------------


def _assert_401(error: WebhookError, code: str = "invalid_webhook_signature") -> None:
    assert isinstance(error, WebhookSignatureError)
    assert error.status == 401
    assert error.code == code
    assert error.detail


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "RS512", "PS256", "ES256"])
def test_any_alg_but_rs256_is_rejected_before_decoding(
    keys: tuple[str, str], alg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("jwt.decode ran for a token whose alg is not RS256")

    monkeypatch.setattr(jwt, "decode", must_not_decode)
    token = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(_claims())}."
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_401(caught.value, "webhook_algorithm_rejected")


def test_valid_rs512_signature_from_the_right_key_is_still_rejected(
    keys: tuple[str, str],
) -> None:
    token = jwt.encode(_claims(json.dumps(_envelope())), keys[0], algorithm="RS512")
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_401(caught.value, "webhook_algorithm_rejected")


def test_header_without_alg_is_rejected(keys: tuple[str, str]) -> None:
    token = f"{_segment({'typ': 'JWT'})}.{_segment(_claims())}.c2ln"
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_401(caught.value, "webhook_algorithm_rejected")


def _hs256_with_public_key(public_pem: str, claims: dict[str, Any]) -> str:
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(claims)}"
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def test_hs256_signed_with_the_public_key_pem_is_rejected(keys: tuple[str, str]) -> None:
    token = _hs256_with_public_key(keys[1], _claims(json.dumps(_envelope())))
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_401(caught.value, "webhook_algorithm_rejected")


def test_hs256_confusion_fails_even_without_the_header_check(
    keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defence in depth: the explicit algorithms=["RS256"] alone must also stop it.
    monkeypatch.setattr(webhooks.verify, "_require_rs256", lambda token: None)
    token = _hs256_with_public_key(keys[1], _claims(json.dumps(_envelope())))
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_401(caught.value)


def test_wrong_key_is_rejected(keys: tuple[str, str], other_keys: tuple[str, str]) -> None:
    token = sign_webhook("AppInstalled", INSTANCE, {}, private_key_pem=other_keys[0], iat=NOW)
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_401(caught.value)


def test_attacker_key_named_by_kid_and_jku_is_rejected(
    keys: tuple[str, str], other_keys: tuple[str, str]
) -> None:
    headers = {"kid": "wix", "jku": "https://evil.example/jwks.json", "x5u": "https://e/x"}
    token = _rs256(_claims(json.dumps(_envelope())), other_keys[0], **headers)
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_401(caught.value)


def test_tampered_payload_is_rejected(keys: tuple[str, str]) -> None:
    header, _, signature = _signed(keys, "AppInstalled", {"appId": APP_ID}).split(".")
    forged = _claims(json.dumps({**_envelope(), "instanceId": "someone-else"}))
    with pytest.raises(WebhookError) as caught:
        _verify(f"{header}.{_segment(forged)}.{signature}", keys[1])
    _assert_401(caught.value)


def test_tampered_signature_is_rejected(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {"appId": APP_ID})
    flipped = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(WebhookError) as caught:
        _verify(flipped, keys[1])
    _assert_401(caught.value)


def test_truncated_signature_is_rejected(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {"appId": APP_ID})
    with pytest.raises(WebhookError) as caught:
        _verify(token[:-22], keys[1])  # still valid base64url: a signature mismatch
    _assert_401(caught.value)


def test_every_truncation_is_rejected(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {"appId": APP_ID})
    for cut in range(1, len(token), 7):
        with pytest.raises(WebhookError):
            _verify(token[:-cut], keys[1])


def test_expired_webhook_is_rejected(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {}, exp=NOW + 10)
    with pytest.raises(WebhookError) as caught:
        verify_webhook(token, keys[1], now=NOW + 10 + 61)
    _assert_401(caught.value, "webhook_expired")
    assert "expired" in caught.value.detail


def test_expiry_allows_the_leeway(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {}, exp=NOW + 10)
    assert verify_webhook(token, keys[1], now=NOW + 10 + 59).instance_id == INSTANCE
    with pytest.raises(WebhookSignatureError):
        verify_webhook(token, keys[1], now=NOW + 10 + 1, leeway=0)


def test_expiry_uses_the_real_clock_by_default(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {}, exp=NOW + 10)  # NOW is in 2024
    with pytest.raises(WebhookSignatureError):
        verify_webhook(token, keys[1])


def test_not_yet_valid_webhook_is_rejected(keys: tuple[str, str]) -> None:
    token = _rs256(_claims(json.dumps(_envelope()), nbf=NOW + 3600), keys[0])
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_401(caught.value, "webhook_not_yet_valid")


# --- rejections: malformed (400) ----------------------------------------------------------


def _assert_400(error: WebhookError) -> None:
    assert not isinstance(error, WebhookSignatureError)
    assert error.status == 400
    assert error.code == "invalid_webhook"
    assert error.detail


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"hello", b"\xff\xfe\x00", b'{"eventType": "AppInstalled"}', "a.b.c", "x.y"],
)
def test_garbage_body_is_a_400(keys: tuple[str, str], body: bytes | str) -> None:
    with pytest.raises(WebhookError) as caught:
        _verify(body, keys[1])
    _assert_400(caught.value)


def test_body_truncated_to_two_parts_is_a_400(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {"appId": APP_ID})
    with pytest.raises(WebhookError) as caught:
        _verify(token.rsplit(".", 1)[0], keys[1])
    _assert_400(caught.value)


def test_body_truncated_inside_the_payload_is_rejected(keys: tuple[str, str]) -> None:
    token = _signed(keys, "AppInstalled", {"appId": APP_ID})
    header, payload, _ = token.split(".")
    with pytest.raises(WebhookError):
        _verify(f"{header}.{payload[: len(payload) // 2]}", keys[1])


MALFORMED_CLAIMS: dict[str, dict[str, Any]] = {
    "no_data_claim": {"iat": NOW},
    "data_not_json": _claims("{not json"),
    "data_json_list": _claims("[1, 2]"),
    "data_a_number": _claims(None) | {"data": 7},
    "no_event_type": _claims(
        json.dumps({k: v for k, v in _envelope().items() if k != "eventType"})
    ),
    "no_instance_id": _claims(json.dumps({**_envelope(), "instanceId": ""})),
    "instance_id_not_text": _claims(json.dumps({**_envelope(), "instanceId": 5})),
    "inner_data_not_json": _claims(json.dumps({**_envelope(), "data": "{oops"})),
    "inner_data_a_list": _claims(json.dumps({**_envelope(), "data": "[]"})),
    "identity_not_json": _claims(json.dumps({**_envelope(), "identity": "nope"})),
    "exp_not_a_number": _claims(json.dumps(_envelope()), exp="soon"),
    "exp_not_finite": _claims(json.dumps(_envelope()), exp="NaN"),
    "iat_a_bool": {"data": json.dumps(_envelope()), "iat": True},
}


@pytest.mark.parametrize("case", sorted(MALFORMED_CLAIMS))
def test_signed_but_malformed_layers_are_a_400(keys: tuple[str, str], case: str) -> None:
    token = _rs256(MALFORMED_CLAIMS[case], keys[0])
    with pytest.raises(WebhookError) as caught:
        _verify(token, keys[1])
    _assert_400(caught.value)


def test_signature_is_checked_before_the_layers_are_read(
    keys: tuple[str, str], other_keys: tuple[str, str]
) -> None:
    token = _rs256(MALFORMED_CLAIMS["data_not_json"], other_keys[0])
    with pytest.raises(WebhookSignatureError):
        _verify(token, keys[1])


def test_numeric_string_times_are_tolerated(keys: tuple[str, str]) -> None:
    claims = {"data": json.dumps(_envelope()), "iat": str(NOW), "exp": f"{NOW + 60}"}
    event = _verify(_rs256(claims, keys[0]), keys[1])
    assert event.issued_at == datetime.fromtimestamp(NOW, UTC)


# --- dedupe -------------------------------------------------------------------------------


def test_redelivery_has_the_same_dedupe_key(keys: tuple[str, str]) -> None:
    token = _signed(keys, "PaidPlanPurchased", {"vendorProductId": "pro"})
    assert _verify(token, keys[1]).dedupe_key == _verify(token, keys[1]).dedupe_key
    resigned = _signed(keys, "PaidPlanPurchased", {"vendorProductId": "pro"}, exp=NOW + 99)
    assert _verify(resigned, keys[1]).dedupe_key == _verify(token, keys[1]).dedupe_key


def test_reinstall_gets_a_new_dedupe_key(keys: tuple[str, str]) -> None:
    first = _signed(keys, "AppInstalled", {"appId": APP_ID})
    again = sign_webhook(
        "AppInstalled", INSTANCE, {"appId": APP_ID}, private_key_pem=keys[0], iat=NOW + 600
    )
    assert _verify(first, keys[1]).dedupe_key != _verify(again, keys[1]).dedupe_key


def test_dedupe_key_depends_on_type_instance_and_data() -> None:
    base = WebhookEvent(event_type="AppInstalled", instance_id=INSTANCE, data={"a": 1, "b": 2})
    variants = [
        WebhookEvent(event_type="AppRemoved", instance_id=INSTANCE, data={"a": 1, "b": 2}),
        WebhookEvent(event_type="AppInstalled", instance_id="other", data={"a": 1, "b": 2}),
        WebhookEvent(event_type="AppInstalled", instance_id=INSTANCE, data={"a": 2, "b": 2}),
        WebhookEvent(
            event_type="AppInstalled",
            instance_id=INSTANCE,
            data={"a": 1, "b": 2},
            issued_at=datetime.fromtimestamp(NOW, UTC),
        ),
    ]
    assert len(base.dedupe_key) == 64
    assert all(variant.dedupe_key != base.dedupe_key for variant in variants)
    reordered = WebhookEvent(event_type="AppInstalled", instance_id=INSTANCE, data={"b": 2, "a": 1})
    assert reordered.dedupe_key == base.dedupe_key


# --- router -------------------------------------------------------------------------------


def _event(event_type: str = "AppInstalled") -> WebhookEvent:
    return WebhookEvent(event_type=event_type, instance_id=INSTANCE, data={"appId": APP_ID})


async def test_router_runs_sync_and_async_handlers_in_order() -> None:
    router = WebhookRouter()
    calls: list[tuple[str, str, int]] = []
    loop_thread = threading.get_ident()

    @router.on(EventType.APP_INSTALLED)
    def sync_handler(event: WebhookEvent) -> None:
        calls.append(("sync", event.event_type, threading.get_ident()))

    @router.on("AppInstalled", "AppRemoved")
    async def async_handler(event: WebhookEvent) -> None:
        calls.append(("async", event.event_type, threading.get_ident()))

    @router.on("PaidPlanChanged")
    def unrelated(event: WebhookEvent) -> None:
        calls.append(("unrelated", event.event_type, 0))

    result = await router.dispatch(_event())
    assert [name.rsplit(".", 1)[-1] for name in result.ran] == ["sync_handler", "async_handler"]
    assert result.ok
    assert [(kind, et) for kind, et, _ in calls] == [
        ("sync", "AppInstalled"),
        ("async", "AppInstalled"),
    ]
    assert calls[0][2] != loop_thread  # sync handlers run in a worker thread
    assert calls[1][2] == loop_thread
    assert sync_handler.__name__ == "sync_handler"  # the decorator returns the function


async def test_catch_all_runs_for_known_and_unknown_events() -> None:
    router = WebhookRouter()
    seen: list[str] = []

    @router.on_any
    async def everything(event: WebhookEvent) -> None:
        seen.append(event.event_type)

    await router.dispatch(_event("AppRemoved"))
    result = await router.dispatch(_event("BrandNewEvent"))
    assert seen == ["AppRemoved", "BrandNewEvent"]
    assert len(result.ran) == 1


async def test_no_matching_handler_runs_nothing() -> None:
    router = WebhookRouter()
    router.add(lambda event: None, "AppRemoved")
    result = await router.dispatch(_event("AppInstalled"))
    assert result.ran == ()
    assert result.ok


async def test_alias_event_reaches_handler_of_the_canonical_name() -> None:
    router = WebhookRouter()
    seen: list[str] = []
    router.add(lambda event: seen.append(event.event_type), "PlanReactivated")
    await router.dispatch(_event("PaidPlanReactivated"))
    assert seen == ["PaidPlanReactivated"]


async def test_callable_object_with_async_call_is_awaited() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.seen: list[str] = []

        async def __call__(self, event: WebhookEvent) -> None:
            await asyncio.sleep(0)
            self.seen.append(event.instance_id)

    recorder = Recorder()
    router = WebhookRouter()
    router.add(recorder)
    result = await router.dispatch(_event())
    assert recorder.seen == [INSTANCE]
    assert result.ok


async def test_failing_handler_is_logged_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = WebhookRouter()
    ran: list[str] = []

    @router.on("AppInstalled")
    def broken_sync(event: WebhookEvent) -> None:
        raise RuntimeError("sync boom")

    @router.on("AppInstalled")
    async def broken_async(event: WebhookEvent) -> None:
        raise ValueError("async boom")

    @router.on_any
    async def healthy(event: WebhookEvent) -> None:
        ran.append("healthy")

    event = WebhookEvent(
        event_type="AppInstalled", instance_id=INSTANCE, data={"secret": "s3cr3t-value"}
    )
    with caplog.at_level(logging.ERROR, logger="wixapp.webhooks"):
        result = await router.dispatch(event)
    assert ran == ["healthy"]
    assert len(result.ran) == 3
    assert [name.rsplit(".", 1)[-1] for name in result.failed] == ["broken_sync", "broken_async"]
    assert not result.ok
    failures = [r for r in caplog.records if r.name == "wixapp.webhooks"]
    assert len(failures) == 2
    assert all(r.exc_info for r in failures)
    assert "broken_sync" in failures[0].getMessage()
    assert all("s3cr3t-value" not in r.getMessage() for r in failures)


def test_on_without_event_types_is_an_error() -> None:
    with pytest.raises(ValueError, match="on_any"):
        WebhookRouter().on()


async def test_background_dispatch_returns_before_a_slow_handler_finishes() -> None:
    router = WebhookRouter()
    loop = asyncio.get_running_loop()
    running = asyncio.Event()  # set from the handler's thread, through the loop
    release = threading.Event()  # the handler blocks on it until the test lets it finish
    finished = threading.Event()
    threads: list[int] = []

    @router.on("AppInstalled")
    def slow(event: WebhookEvent) -> None:
        threads.append(threading.get_ident())
        loop.call_soon_threadsafe(running.set)
        if release.wait(timeout=10):
            finished.set()

    task = router.dispatch_in_background(_event())
    try:
        assert not finished.is_set()  # it returned while the handler cannot have finished
        assert router.pending == 1
        # The loop stays free while the handler blocks in its thread: it runs the callback
        # the handler scheduled, and the drain below waits without finishing.
        async with asyncio.timeout(10):
            await running.wait()
        assert len(threads) == 1
        assert threads[0] != threading.get_ident()
        draining = asyncio.create_task(router.drain())
        done, _ = await asyncio.wait({draining}, timeout=0.05)
        assert not done
        assert router.pending == 1
        assert not finished.is_set()
    finally:
        release.set()
    async with asyncio.timeout(10):
        await draining
    assert finished.is_set()
    assert router.pending == 0
    assert task.result().ok


async def test_drain_waits_for_dispatches_started_while_draining() -> None:
    router = WebhookRouter()
    order: list[str] = []

    @router.on("AppInstalled")
    async def first(event: WebhookEvent) -> None:
        await asyncio.sleep(0.05)
        order.append("installed")
        router.dispatch_in_background(_event("AppRemoved"))

    @router.on("AppRemoved")
    async def second(event: WebhookEvent) -> None:
        await asyncio.sleep(0.05)
        order.append("removed")

    router.dispatch_in_background(_event())
    await router.drain()
    assert order == ["installed", "removed"]
    assert router.pending == 0

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from wixapp.errors import AuthenticationError, ConfigurationError, InvalidInstanceError
from wixapp.identity.legacy import LegacyInstance, sign_instance_param, verify_instance_param

SECRET = "3a5f1c9e-app-secret"
SIGN_DATE = "2024-05-07T11:54:27.466Z"
SIGNED_AT = datetime(2024, 5, 7, 11, 54, 27, 466000, tzinfo=UTC).timestamp()

PAYLOAD: dict[str, Any] = {
    "instanceId": "1ec48d1e-1919-4b9f-8e08-f7a242fdbf52",
    "appDefId": "7f58c233-72b6-4e45-889c-56aca8dbb2ba",
    "signDate": SIGN_DATE,
    "uid": "f1d3-user",
    "permissions": "OWNER",
    "demoMode": False,
    "siteOwnerId": "f1d3-owner",
    "siteMemberId": "f1d3-member",
    "aid": "a-1",
    "vendorProductId": "pro",
    "originInstanceId": "0000-origin",
    "expirationDate": "2025-05-07T11:54:27Z",
    "somethingNew": {"nested": True},
}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _with_mac(data_part: str, secret: str = SECRET) -> str:
    """A value whose MAC is right for any data part, valid or not."""
    mac = hmac.new(secret.encode(), data_part.encode(), hashlib.sha256).digest()
    return f"{_b64(mac)}.{data_part}"


def _reject(value: str, *, code: str = "invalid_instance", **kwargs: Any) -> InvalidInstanceError:
    with pytest.raises(InvalidInstanceError) as caught:
        verify_instance_param(value, SECRET, **kwargs)
    error = caught.value
    assert isinstance(error, AuthenticationError)
    assert error.status == 401
    assert error.code == code
    assert error.detail
    return error


def test_round_trip_parses_every_field() -> None:
    instance = verify_instance_param(sign_instance_param(PAYLOAD, SECRET), SECRET)
    assert instance == LegacyInstance(
        instance_id=PAYLOAD["instanceId"],
        app_def_id=PAYLOAD["appDefId"],
        sign_date=datetime(2024, 5, 7, 11, 54, 27, 466000, tzinfo=UTC),
        uid="f1d3-user",
        permissions="OWNER",
        demo_mode=False,
        site_owner_id="f1d3-owner",
        site_member_id="f1d3-member",
        aid="a-1",
        vendor_product_id="pro",
        origin_instance_id="0000-origin",
        expiration_date=datetime(2025, 5, 7, 11, 54, 27, tzinfo=UTC),
    )


def test_only_instance_id_is_required() -> None:
    instance = verify_instance_param(sign_instance_param({"instanceId": "i-1"}, SECRET), SECRET)
    assert instance.instance_id == "i-1"
    assert instance.sign_date is None
    assert instance.permissions is None


def test_loose_field_forms_are_tolerated() -> None:
    payload = {"instanceId": "i-1", "demoMode": "true", "signDate": "garbage", "aid": 7}
    instance = verify_instance_param(sign_instance_param(payload, SECRET), SECRET)
    assert instance.demo_mode is True
    assert instance.sign_date is None
    assert instance.aid == "7"


def test_sign_instance_param_has_the_wix_format() -> None:
    value = sign_instance_param(PAYLOAD, SECRET)
    signature, data = value.split(".")
    assert "=" not in value
    assert json.loads(base64.urlsafe_b64decode(data + "==")) == PAYLOAD
    expected = hmac.new(SECRET.encode(), data.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=") == expected


def test_wrong_secret_is_rejected() -> None:
    value = sign_instance_param(PAYLOAD, "some-other-secret")
    assert "signature" in _reject(value).detail


def test_tampered_data_is_rejected() -> None:
    signature, _ = sign_instance_param(PAYLOAD, SECRET).split(".")
    forged = _b64(json.dumps({**PAYLOAD, "instanceId": "someone-else"}).encode())
    _reject(f"{signature}.{forged}")


def test_tampered_signature_is_rejected() -> None:
    signature, data = sign_instance_param(PAYLOAD, SECRET).split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    _reject(f"{flipped}.{data}")


def test_signature_is_checked_before_the_data_is_decoded() -> None:
    value = _with_mac(_b64(b"not json"), secret="wrong")
    assert "signature" in _reject(value).detail


def _needs_padding(payload: dict[str, Any]) -> dict[str, Any]:
    """Grow the payload until its base64 form needs '=' padding."""
    extra = ""
    while len(json.dumps({**payload, "x": extra}, separators=(",", ":"))) % 3 == 0:
        extra += "x"
    return {**payload, "x": extra}


def _padded(part: str) -> str:
    return part + "=" * (-len(part) % 4)


def test_padding_on_either_part_is_tolerated() -> None:
    signature, data = sign_instance_param(_needs_padding(PAYLOAD), SECRET).split(".")
    assert _padded(signature) != signature
    assert _padded(data) != data
    for value in (
        f"{_padded(signature)}.{data}",
        f"{signature}.{_padded(data)}",
        f"{_padded(signature)}.{_padded(data)}",
    ):
        assert verify_instance_param(value, SECRET).instance_id == PAYLOAD["instanceId"]


def test_value_signed_over_the_padded_form_is_accepted() -> None:
    raw = json.dumps(_needs_padding({"instanceId": "i-1"}), separators=(",", ":"))
    data = _padded(_b64(raw.encode()))
    assert data.endswith("=")
    assert verify_instance_param(_with_mac(data), SECRET).instance_id == "i-1"


def test_standard_base64_alphabet_is_tolerated() -> None:
    for n in range(200):
        value = sign_instance_param({"instanceId": f"i-{n}"}, SECRET)
        if "-" in value or "_" in value:
            break
    else:
        pytest.fail("no sample value used the URL-safe characters")
    standard = value.replace("-", "+").replace("_", "/")
    assert verify_instance_param(standard, SECRET).instance_id == f"i-{n}"


def test_surrounding_whitespace_is_ignored() -> None:
    value = sign_instance_param(PAYLOAD, SECRET)
    assert verify_instance_param(f"  {value}\n", SECRET).instance_id == PAYLOAD["instanceId"]


@pytest.mark.parametrize(
    "value",
    ["", "abc", "a.b.c", ".abc", "abc.", "ab$c.def", "abc.de f", "abc.d=ef", "абв.где"],
)
def test_malformed_value_is_rejected(value: str) -> None:
    _reject(value)


def test_bad_base64_in_the_data_part_is_rejected() -> None:
    assert "base64" in _reject(_with_mac("A")).detail  # one char cannot be base64


def test_bad_base64_in_the_signature_part_is_rejected() -> None:
    _, data = sign_instance_param(PAYLOAD, SECRET).split(".")
    assert "base64" in _reject(f"A.{data}").detail


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"not json", "JSON"),
        (b"\xff\xfe", "JSON"),
        (b"[1, 2]", "instanceId"),
        (b"{}", "instanceId"),
        (b'{"instanceId": ""}', "instanceId"),
        (b'{"instanceId": 123}', "instanceId"),
        (b'{"instanceId": "i-1", "demoMode": "perhaps"}', "demoMode"),
    ],
)
def test_correctly_signed_but_bad_data_is_rejected(raw: bytes, detail: str) -> None:
    assert detail in _reject(_with_mac(_b64(raw))).detail


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def observed(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", observed)
    verify_instance_param(sign_instance_param(PAYLOAD, SECRET), SECRET)
    assert calls
    calls.clear()
    _reject(sign_instance_param(PAYLOAD, "wrong"))
    assert calls
    assert all(len(a) == len(b) == 32 for a, b in calls)


def test_verification_fails_if_compare_digest_says_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    _reject(sign_instance_param(PAYLOAD, SECRET))


def test_max_age_accepts_a_fresh_value() -> None:
    value = sign_instance_param(PAYLOAD, SECRET)
    instance = verify_instance_param(value, SECRET, max_age=300, now=SIGNED_AT + 299)
    assert instance.instance_id == PAYLOAD["instanceId"]


def test_max_age_rejects_an_old_value() -> None:
    value = sign_instance_param(PAYLOAD, SECRET)
    _reject(value, code="instance_expired", max_age=300, now=SIGNED_AT + 301)


def test_max_age_uses_the_real_clock_by_default() -> None:
    _reject(sign_instance_param(PAYLOAD, SECRET), code="instance_expired", max_age=300)


def test_max_age_needs_a_sign_date() -> None:
    value = sign_instance_param({"instanceId": "i-1"}, SECRET)
    _reject(value, code="instance_expired", max_age=300, now=SIGNED_AT)


def test_without_max_age_an_old_value_is_accepted() -> None:
    value = sign_instance_param(PAYLOAD, SECRET)
    assert verify_instance_param(value, SECRET, now=SIGNED_AT + 10**9).uid == "f1d3-user"


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        verify_instance_param(sign_instance_param(PAYLOAD, SECRET), "")
    with pytest.raises(ConfigurationError):
        sign_instance_param(PAYLOAD, "")

from __future__ import annotations

import pytest

from wixapp.models import AppInstance, AppToken, SubjectType, TokenInfo

DOC_TOKEN_INFO = {
    "active": "true",
    "subjectType": "APP",
    "subjectId": "a8098c1a-f86e-11da-bd1a-00112444be1e",
    "exp": "1715096067",
    "iat": "1715081667",
    "clientId": "7f58c233-72b6-4e45-889c-56aca8dbb2ba",
    "siteId": "65c5e710-5e64-4b54-a807-237a554d28a7",
    "instanceId": "1ec48d1e-1919-4b9f-8e08-f7a242fdbf52",
}


def test_token_info_parses_the_documented_string_form() -> None:
    info = TokenInfo.model_validate(DOC_TOKEN_INFO)
    assert info.active is True
    assert info.exp == 1715096067
    assert info.iat == 1715081667
    assert info.subject_type is SubjectType.APP
    assert info.instance_id == "1ec48d1e-1919-4b9f-8e08-f7a242fdbf52"


def test_token_info_parses_native_types() -> None:
    info = TokenInfo.model_validate({**DOC_TOKEN_INFO, "active": True, "exp": 1715096067})
    assert info.active is True
    assert info.exp == 1715096067


@pytest.mark.parametrize("value", ["false", False, "FALSE", ""])
def test_inactive_forms(value: object) -> None:
    assert TokenInfo.model_validate({"active": value}).active is False


def test_every_field_may_be_absent() -> None:
    info = TokenInfo.model_validate({})
    assert info.active is False
    assert info.exp is None
    assert info.subject_type is SubjectType.UNKNOWN


@pytest.mark.parametrize("raw", ["ROBOT", None, 7, "visitor"])
def test_unknown_subject_types_are_unknown_not_errors(raw: object) -> None:
    expected = SubjectType.VISITOR if raw == "visitor" else SubjectType.UNKNOWN
    assert TokenInfo.model_validate({"subjectType": raw}).subject_type is expected


def test_app_instance_parses_the_documented_example() -> None:
    body = {
        "instance": {
            "appName": "MY_SHINY_APP",
            "appVersion": "0.0.53",
            "billing": {"billingCycle": "MONTHLY", "packageName": "e8f4", "source": "coupon"},
            "instanceId": "07864c16-3a6f-4dd2-9973-028705762b2c",
            "isFree": False,
            "permissions": ["WIX_DEVELOPERS.MANAGE_APP_INSTANCE"],
        },
        "site": {
            "locale": "he",
            "multilingual": {"isMultiLingual": False, "supportedLanguages": []},
            "paymentCurrency": "ILS",
            "siteDisplayName": "Mysite 34",
            "url": "https://doereg11.wixsite.com/mysite-34",
            "ownerInfo": {"email": "site-owner@test.com", "emailStatus": "VERIFIED_OPT_IN"},
            "siteId": "64fc2d7e-1585-45ef-b1c3-6081185108c1",
            "somethingNew": {"ignored": True},
        },
    }
    parsed = AppInstance.model_validate(body)
    assert parsed.instance.billing is not None
    assert parsed.instance.billing.billing_cycle == "MONTHLY"
    assert parsed.instance.is_free is False
    assert parsed.site.locale == "he"
    assert parsed.site.multilingual is not None
    assert parsed.site.multilingual.is_multi_lingual is False
    assert parsed.site.owner_info is not None
    assert parsed.site.owner_info.email_status == "VERIFIED_OPT_IN"
    dumped = parsed.model_dump(by_alias=True, exclude_none=True)
    assert dumped["site"]["siteDisplayName"] == "Mysite 34"


def test_app_token_expiry_and_repr_hides_the_token() -> None:
    token = AppToken.model_validate(
        {"access_token": "OauthNG.JWS.secret-part", "token_type": "Bearer", "expires_in": "14400"}
    )
    assert token.expires_in == 14400
    assert token.expires_within(14401, now=token.obtained_at)
    assert not token.expires_within(100, now=token.obtained_at)
    assert "secret-part" not in repr(token)

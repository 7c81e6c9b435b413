"""GET /get-instance with the legacy signed ``?instance=`` value (spec §8)."""

from __future__ import annotations

import httpx
import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.identity.legacy import sign_instance_param
from wixapp.testing import TokenFactory


@pytest.mark.parametrize("path", ["/get-instance", "/api/get-instance"])
async def test_an_owner_value_identifies_a_user(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    path: str,
) -> None:
    value = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    owner_id = wix_emulator_state.site(wix_instance.site_id).owner_id

    response = await backend.get(path, params={"instance": value})

    assert response.status_code == 200
    assert response.json() == {
        "instanceId": wix_instance.instance_id,
        "subjectType": "USER",
        "subjectId": owner_id,
        "siteId": None,
    }
    assert wix_emulator_state.calls()["token-info"] == 0  # checked locally


@pytest.mark.parametrize(
    ("permissions", "member", "role"),
    [(None, None, "VISITOR"), (None, "member-1", "MEMBER"), ("EDITOR", None, "VISITOR")],
)
async def test_a_member_is_a_member_and_anyone_else_but_the_owner_a_visitor(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    permissions: str | None,
    member: str | None,
    role: str,
) -> None:
    value = wix_emulator_state.sign_legacy_instance(
        wix_instance.instance_id, permissions=permissions, site_member_id=member
    )
    response = await backend.get("/get-instance", params={"instance": value})

    assert response.status_code == 200
    assert response.json()["subjectType"] == role
    assert response.json()["subjectId"]
    # The emulator reads the same value with the same rule.
    claims = wix_emulator_state.peek(value)
    assert claims is not None
    assert claims.subject_type == role
    if member:
        assert response.json()["subjectId"] == member


async def test_include_instance_works_with_a_legacy_value(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    value = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    response = await backend.get("/get-instance", params={"instance": value, "include": "instance"})
    assert response.status_code == 200
    assert response.json()["instance"]["instance"]["instanceId"] == wix_instance.instance_id


async def test_the_authorization_header_wins_when_both_are_sent(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    wix_token: TokenFactory,
) -> None:
    value = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    response = await backend.get(
        "/get-instance",
        params={"instance": value},
        headers={"Authorization": wix_token(wix_instance.instance_id, "VISITOR")},
    )
    assert response.json()["subjectType"] == "VISITOR"
    bad = await backend.get(
        "/get-instance", params={"instance": value}, headers={"Authorization": "junk"}
    )
    assert bad.status_code == 401


def _tampered(value: str) -> str:
    signature, data = value.split(".")
    return f"{signature}.{data[:-2]}{'A' if data[-2] != 'A' else 'B'}{data[-1]}"


@pytest.mark.parametrize("case", ["other secret", "tampered", "garbage", "empty", "no dot"])
async def test_an_invalid_value_is_a_401(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
    case: str,
) -> None:
    good = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    value = {
        "other secret": sign_instance_param({"instanceId": wix_instance.instance_id}, "nope"),
        "tampered": _tampered(good),
        "garbage": "%%%.%%%",
        "empty": "",
        "no dot": "abc",
    }[case]

    response = await backend.get("/get-instance", params={"instance": value})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_instance"
    assert "WWW-Authenticate" in response.headers


async def test_a_legacy_value_reads_settings_but_never_writes_them(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    value = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)  # OWNER
    read = await backend.get("/api/settings", params={"instance": value})
    assert read.status_code == 200
    assert read.json()["instanceId"] == wix_instance.instance_id
    write = await backend.put(
        "/api/settings", params={"instance": value}, json={}, headers={"If-Match": '"v0"'}
    )
    assert (write.status_code, write.json()["error"]) == (401, "missing_token")

"""Tokens, identities and credentials: who may read what, and for how long."""

from __future__ import annotations

import httpx
import pytest
from emulator_testkit import World, app_token, elevate, get_instance, token_info

from wixapp.emulator import EmulatorState
from wixapp.identity.legacy import sign_instance_param
from wixapp.models import SubjectType


def app_error_code(response: httpx.Response) -> str:
    code: str = response.json()["details"]["applicationError"]["code"]
    return code


# ---- token-info


@pytest.mark.parametrize("subject", ["VISITOR", "MEMBER", "USER", "APP"])
async def test_token_info_reports_the_subject(
    wix: httpx.AsyncClient, state: EmulatorState, world: World, subject: str
) -> None:
    minted = state.mint_token(world.instance_id, subject, subject_id="someone")

    body = (await token_info(wix, minted.token)).json()

    assert body["active"] == "true"
    assert body["subjectType"] == subject
    assert body["subjectId"] == "someone"
    assert body["instanceId"] == world.instance_id
    assert body["exp"] == str(minted.exp)


async def test_token_expires_on_the_emulator_clock(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id, lifetime=60).token
    state.advance_clock(59)
    assert (await token_info(wix, token)).status_code == 200

    state.advance_clock(2)

    response = await token_info(wix, token)
    assert response.status_code == 401
    assert app_error_code(response) == "UNAUTHENTICATED"


async def test_app_token_lives_four_hours(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = await app_token(wix, world.app, world.instance_id)
    state.advance_clock(14_399)
    assert (await get_instance(wix, token)).status_code == 200

    state.advance_clock(2)

    assert (await get_instance(wix, token)).status_code == 401
    assert (await token_info(wix, token)).status_code == 401


async def test_revoked_token_is_inactive(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = await app_token(wix, world.app, world.instance_id)
    other = await app_token(wix, world.app, world.instance_id)

    state.revoke_token(token)

    assert (await token_info(wix, token)).status_code == 401
    assert (await get_instance(wix, token)).status_code == 401
    assert (await token_info(wix, other)).status_code == 200


@pytest.mark.parametrize("garbage", ["", "nope", "OauthNG.JWS.a.b.c", "a.b"])
async def test_garbage_is_not_a_token(wix: httpx.AsyncClient, garbage: str) -> None:
    response = await token_info(wix, garbage)

    assert response.status_code in (400, 401)


async def test_forged_token_is_refused(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id, "APP").token
    prefix, payload, signature = token.rsplit(".", 2)
    forged = f"{prefix}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"

    assert (await token_info(wix, forged)).status_code == 401
    assert (await get_instance(wix, forged)).status_code == 401


async def test_another_emulators_token_is_refused(wix: httpx.AsyncClient, world: World) -> None:
    stranger = EmulatorState(seed=99)
    app = stranger.register_app(world.app.app_id, world.app.app_secret)
    site = stranger.create_site(site_id=world.site.site_id)
    stranger.install(app.app_id, site.site_id, instance_id=world.instance_id)

    token = stranger.mint_token(world.instance_id, "APP").token

    assert (await token_info(wix, token)).status_code == 401


async def test_uninstall_kills_tokens_and_reinstall_keeps_the_instance(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    old = await app_token(wix, world.app, world.instance_id)

    state.uninstall(world.instance_id)

    assert (await token_info(wix, old)).status_code == 401
    assert (await elevate(wix, world.app, world.instance_id)).status_code == 400
    again = state.install(world.app.app_id, world.site.site_id)
    assert again.instance_id == world.instance_id
    assert (await token_info(wix, old)).status_code == 401
    fresh = await app_token(wix, world.app, world.instance_id)
    assert (await get_instance(wix, fresh)).json()["instance"]["instanceId"] == world.instance_id


# ---- legacy instance parameter (spec §8)


@pytest.mark.parametrize(
    ("permissions", "member", "expected"),
    [("OWNER", None, "USER"), (None, "member-1", "MEMBER"), (None, None, "VISITOR")],
)
async def test_legacy_instance_value_is_accepted(
    wix: httpx.AsyncClient,
    state: EmulatorState,
    world: World,
    permissions: str | None,
    member: str | None,
    expected: str,
) -> None:
    value = state.sign_legacy_instance(
        world.instance_id, permissions=permissions, site_member_id=member
    )

    body = (await token_info(wix, value)).json()

    assert body["active"] == "true"
    assert body["subjectType"] == expected
    assert body["instanceId"] == world.instance_id
    assert body["clientId"] == world.app.app_id
    if member:
        assert body["subjectId"] == member


async def test_legacy_instance_value_with_a_bad_signature_is_refused(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    value = state.sign_legacy_instance(world.instance_id)
    data_part = value.split(".")[1]
    wrong_secret = sign_instance_param(
        {"instanceId": world.instance_id, "appDefId": world.app.app_id}, "not-the-secret"
    )

    assert (await token_info(wix, "AAAA." + data_part)).status_code == 401
    assert (await token_info(wix, wrong_secret)).status_code == 401


# ---- POST /oauth2/token


async def test_wrong_secret_is_refused(wix: httpx.AsyncClient, world: World) -> None:
    app = world.app.model_copy(update={"app_secret": "wrong"})

    response = await elevate(wix, app, world.instance_id)

    assert response.status_code == 401
    assert app_error_code(response) == "UNAUTHENTICATED"


async def test_unknown_client_is_refused(wix: httpx.AsyncClient, world: World) -> None:
    app = world.app.model_copy(update={"app_id": "someone-else"})

    assert (await elevate(wix, app, world.instance_id)).status_code == 401


async def test_instance_of_another_app_is_refused(wix: httpx.AsyncClient, world: World) -> None:
    response = await elevate(wix, world.app, world.other_installation.instance_id)

    assert response.status_code == 400
    violation = response.json()["details"]["validationError"]["fieldViolations"][0]
    assert violation["field"] == "instance_id"


async def test_unknown_instance_is_refused(wix: httpx.AsyncClient, world: World) -> None:
    assert (await elevate(wix, world.app, "no-such-instance")).status_code == 400


async def test_wrong_grant_type_is_refused(wix: httpx.AsyncClient, world: World) -> None:
    body = {
        "grant_type": "authorization_code",
        "client_id": world.app.app_id,
        "client_secret": world.app.app_secret,
        "instance_id": world.instance_id,
    }

    response = await wix.post("/oauth2/token", json=body)

    assert response.status_code == 400
    assert (
        response.json()["details"]["validationError"]["fieldViolations"][0]["field"] == "grant_type"
    )


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "client_secret", "instance_id"])
async def test_missing_field_is_refused(wix: httpx.AsyncClient, world: World, missing: str) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": world.app.app_id,
        "client_secret": world.app.app_secret,
        "instance_id": world.instance_id,
    }
    del body[missing]

    response = await wix.post("/oauth2/token", json=body)

    assert response.status_code == 400


@pytest.mark.parametrize("spelling", ["snake_case", "lowerCamelCase"])
async def test_client_credentials_take_either_field_spelling(
    wix: httpx.AsyncClient, world: World, spelling: str
) -> None:
    """Wix's own guide sends ``instanceId`` (and Node's axios sample does); the REST reference
    ``instance_id``: the gateway takes both (spec §11)."""
    names = ["grant_type", "client_id", "client_secret", "instance_id"]
    values = ["client_credentials", world.app.app_id, world.app.app_secret, world.instance_id]
    if spelling == "lowerCamelCase":
        names = ["grantType", "clientId", "clientSecret", "instanceId"]
    response = await wix.post("/oauth2/token", json=dict(zip(names, values, strict=True)))

    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


async def test_a_body_neither_json_nor_a_form_is_refused(wix: httpx.AsyncClient) -> None:
    response = await wix.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials",
        headers={"Content-Type": "text/plain"},
    )

    assert response.status_code == 400


async def test_a_form_encoded_body_mints_a_token(wix: httpx.AsyncClient, world: World) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": world.app.app_id,
        "client_secret": world.app.app_secret,
        "instance_id": world.instance_id,
    }

    response = await wix.post("/oauth2/token", data=form)  # application/x-www-form-urlencoded

    assert response.status_code == 200, response.text
    assert (await get_instance(wix, response.json()["access_token"])).status_code == 200


async def test_a_form_encoded_body_with_a_wrong_secret_is_refused(
    wix: httpx.AsyncClient, world: World
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": world.app.app_id,
        "client_secret": "wrong",
        "instance_id": world.instance_id,
    }

    assert (await wix.post("/oauth2/token", data=form)).status_code == 401


# ---- GET /apps/v1/instance


@pytest.mark.parametrize("subject", [SubjectType.VISITOR, SubjectType.MEMBER])
async def test_visitors_and_members_may_not_read_the_instance(
    wix: httpx.AsyncClient, state: EmulatorState, world: World, subject: SubjectType
) -> None:
    token = state.mint_token(world.instance_id, subject).token

    response = await get_instance(wix, token)

    assert response.status_code == 403
    assert app_error_code(response) == "PERMISSION_DENIED"


async def test_a_wix_user_of_the_site_reads_the_instance(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    """Wix's docs let a Wix user identity call Get App Instance: a dashboard page's owner."""
    token = state.mint_token(world.instance_id, SubjectType.USER).token

    response = await get_instance(wix, token)

    assert response.status_code == 200, response.text
    assert response.json()["instance"]["instanceId"] == world.instance_id


async def test_a_wix_user_token_of_another_app_may_not_read_the_instance(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    minted = state.mint_token(world.instance_id, "USER", app_id=world.other_app.app_id)

    assert (await get_instance(wix, minted.token)).status_code == 403


@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer ", "BEARER  "])
async def test_authorization_raw_or_bearer(
    wix: httpx.AsyncClient, world: World, prefix: str
) -> None:
    token = await app_token(wix, world.app, world.instance_id)

    response = await get_instance(wix, prefix + token)

    assert response.status_code == 200


@pytest.mark.parametrize("authorization", [None, "", "Bearer ", "Bearer garbage"])
async def test_missing_or_invalid_token_is_unauthenticated(
    wix: httpx.AsyncClient, authorization: str | None
) -> None:
    response = await get_instance(wix, authorization)

    assert response.status_code == 401
    assert app_error_code(response) == "UNAUTHENTICATED"


async def test_app_token_reads_only_its_own_instance(wix: httpx.AsyncClient, world: World) -> None:
    token_a = await app_token(wix, world.app, world.instance_id)
    token_b = await app_token(wix, world.other_app, world.other_installation.instance_id)

    instance_a = (await get_instance(wix, token_a)).json()
    instance_b = (await get_instance(wix, token_b)).json()

    assert instance_a["instance"]["instanceId"] == world.instance_id
    assert instance_a["site"]["siteId"] == world.site.site_id
    assert instance_b["instance"]["instanceId"] == world.other_installation.instance_id
    assert instance_b["site"]["siteId"] != world.site.site_id


async def test_token_naming_another_app_may_not_read_the_instance(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    minted = state.mint_token(world.instance_id, "APP", app_id=world.other_app.app_id)

    assert (await token_info(wix, minted.token)).json()["clientId"] == world.other_app.app_id
    assert (await get_instance(wix, minted.token)).status_code == 403

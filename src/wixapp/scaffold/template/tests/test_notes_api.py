"""The notes API through the real app: the caller's Wix token decides the site and the role."""

import httpx
from fastapi import FastAPI
from wixapp.emulator import EmulatorState
from wixapp.server import database_engine
from wixapp.store import InstanceStatements
from wixapp.testing import EmulatorClock, InstallFactory, TokenFactory

from wixnew_app.notes import NOTES_CACHE_TTL
from wixnew_app.tables import notes


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


async def test_the_owner_creates_lists_updates_and_deletes_notes(
    backend: httpx.AsyncClient, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    site = wix_install()
    owner = auth(wix_token(site.instance_id, "USER"))

    created = await backend.post("/api/notes", json={"text": "Open on Sunday"}, headers=owner)
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["text"] == "Open on Sunday"
    assert note["pinned"] is False

    patched = await backend.patch(f"/api/notes/{note['id']}", json={"pinned": True}, headers=owner)
    assert patched.json() == {**note, "pinned": True}

    listed = await backend.get("/api/notes", headers=owner)
    assert listed.json() == {"instanceId": site.instance_id, "notes": [{**note, "pinned": True}]}

    deleted = await backend.delete(f"/api/notes/{note['id']}", headers=owner)
    assert deleted.status_code == 204
    assert (await backend.get("/api/notes", headers=owner)).json()["notes"] == []


async def test_a_visitor_reads_the_notes_but_may_not_change_them(
    backend: httpx.AsyncClient, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    site = wix_install()
    owner = auth(wix_token(site.instance_id, "USER"))
    visitor = auth(wix_token(site.instance_id, "VISITOR"))
    await backend.post("/api/notes", json={"text": "Fresh bread daily"}, headers=owner)

    read = await backend.get("/api/notes", headers=visitor)
    assert [note["text"] for note in read.json()["notes"]] == ["Fresh bread daily"]

    refused = await backend.post("/api/notes", json={"text": "spam"}, headers=visitor)
    assert refused.status_code == 403
    assert refused.json()["error"] == "user_required"


async def test_sites_never_see_or_change_each_others_notes(
    backend: httpx.AsyncClient, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    bakery, bike_shop = wix_install(display_name="Bakery"), wix_install(display_name="Bike Shop")
    bakery_owner = auth(wix_token(bakery.instance_id, "USER"))
    bike_owner = auth(wix_token(bike_shop.instance_id, "USER"))
    note = (
        await backend.post("/api/notes", json={"text": "Bakery only"}, headers=bakery_owner)
    ).json()

    theirs = await backend.get("/api/notes", headers=bike_owner)
    assert theirs.json() == {"instanceId": bike_shop.instance_id, "notes": []}
    for method in ("PATCH", "DELETE"):
        attempt = await backend.request(
            method, f"/api/notes/{note['id']}", json={"text": "hacked"}, headers=bike_owner
        )
        assert attempt.status_code == 404, method
        assert attempt.json()["error"] == "not_found"
    mine = await backend.get("/api/notes", headers=bakery_owner)
    assert [n["text"] for n in mine.json()["notes"]] == ["Bakery only"]


async def test_the_list_is_cached_and_every_write_through_the_api_shows_at_once(
    app: FastAPI,
    backend: httpx.AsyncClient,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    wix_clock: EmulatorClock,
) -> None:
    site = wix_install()
    owner = auth(wix_token(site.instance_id, "USER", lifetime=2 * NOTES_CACHE_TTL))
    await backend.post("/api/notes", json={"text": "Open on Sunday"}, headers=owner)
    assert await _texts(backend, owner) == ["Open on Sunday"]

    # A row written behind the app's back (another tool, a migration) is not seen at once:
    # page views read the cached list, not the database ...
    async with database_engine(app).begin() as connection:
        statement = InstanceStatements(site.instance_id).insert(notes).values(text="By hand")
        await connection.execute(statement)
    assert await _texts(backend, owner) == ["Open on Sunday"]

    # ... while a write through the API drops the cached list before it answers,
    created = await backend.post("/api/notes", json={"text": "Closed on Monday"}, headers=owner)
    assert created.status_code == 201
    assert await _texts(backend, owner) == ["Open on Sunday", "By hand", "Closed on Monday"]

    # and without one, the list is read again once NOTES_CACHE_TTL has passed.
    async with database_engine(app).begin() as connection:
        await connection.execute(InstanceStatements(site.instance_id).delete(notes))
    assert len(await _texts(backend, owner)) == 3
    wix_clock.advance(NOTES_CACHE_TTL + 1)
    assert await _texts(backend, owner) == []


async def _texts(backend: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    listed = await backend.get("/api/notes", headers=headers)
    assert listed.status_code == 200, listed.text
    return [note["text"] for note in listed.json()["notes"]]


def test_the_widgets_read_and_the_writes_are_documented_on_one_path(app: FastAPI) -> None:
    """The GET runs on wixapp's lean path, the POST through FastAPI: OpenAPI shows both."""
    operations = app.openapi()["paths"]["/api/notes"]
    assert set(operations) == {"get", "post"}
    listed = operations["get"]
    schema = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/NoteList"}
    assert ("header", "Authorization") in [(p["in"], p["name"]) for p in listed["parameters"]]


async def test_bad_input_and_missing_tokens_get_wixapps_json_errors(
    backend: httpx.AsyncClient, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    owner = auth(wix_token(wix_install().instance_id, "USER"))
    empty = await backend.post("/api/notes", json={"text": ""}, headers=owner)
    assert empty.status_code == 422
    assert empty.json()["error"] == "invalid_request"

    anonymous = await backend.get("/api/notes")
    assert anonymous.status_code == 401
    assert "error" in anonymous.json()


async def test_a_note_id_beyond_the_column_is_a_422_not_a_500(
    backend: httpx.AsyncClient, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    owner = auth(wix_token(wix_install().instance_id, "USER"))
    for method in ("PATCH", "DELETE"):
        answer = await backend.request(
            method, "/api/notes/99999999999999999999", json={"pinned": True}, headers=owner
        )
        assert answer.status_code == 422, (method, answer.text)
        assert answer.json()["error"] == "invalid_request"


async def test_the_backend_runs_on_the_emulators_clock(
    backend: httpx.AsyncClient,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    wix_clock: EmulatorClock,
) -> None:
    owner = auth(wix_token(wix_install().instance_id, "USER", lifetime=60))
    assert (await backend.get("/api/notes", headers=owner)).status_code == 200  # now cached

    wix_clock.advance(3600)  # reaches the backend through create_app(clock=...)

    expired = await backend.get("/api/notes", headers=owner)
    assert expired.status_code == 401
    assert expired.json()["error"] == "expired_token"


async def test_removing_the_app_deletes_the_sites_notes(
    app: FastAPI,
    backend: httpx.AsyncClient,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    wix_clock: EmulatorClock,
) -> None:
    bakery, florist = wix_install(display_name="Bakery"), wix_install(display_name="Florist")
    for site in (bakery, florist):
        owner = auth(wix_token(site.instance_id, "USER"))
        await backend.post("/api/notes", json={"text": "Ours"}, headers=owner)

    removed = wix_emulator_state.sign_webhook(bakery.instance_id, "AppRemoved")
    assert (await backend.post("/webhooks", content=removed)).json()["status"] == "applied"
    await app.state.webhooks.drain()  # the handlers run after the answer to Wix
    wix_clock.advance(1)
    reinstalled = wix_emulator_state.sign_webhook(bakery.instance_id, "AppInstalled")
    assert (await backend.post("/webhooks", content=reinstalled)).json()["status"] == "applied"

    for site, expected in ((bakery, []), (florist, ["Ours"])):
        read = await backend.get("/api/notes", headers=auth(wix_token(site.instance_id)))
        assert [note["text"] for note in read.json()["notes"]] == expected, site.instance_id

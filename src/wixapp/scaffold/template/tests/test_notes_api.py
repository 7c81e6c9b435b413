"""The notes API through the real app: the caller's Wix token decides the site and the role."""

import httpx
from wixapp.testing import InstallFactory, TokenFactory


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

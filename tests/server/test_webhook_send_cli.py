"""``wixapp webhook send``: signed test webhooks from the command line to a running backend."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx

from wixapp import WebhookEvent, WebhookRouter
from wixapp.emulator import EmulatorControl, EmulatorServer
from wixapp.server import create_app
from wixapp.testing import settings_for_emulator
from wixapp.testing.loopback import serving
from wixapp.webhooks import DomainEvent, generate_rsa_keypair


async def wixapp_cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wixapp",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_events_signed_by_the_emulator_reach_the_backend_and_its_handlers(
    tmp_path: Path,
) -> None:
    contacts: list[DomainEvent | None] = []
    router = WebhookRouter()

    @router.on("wix.contacts.v4.contact_created")
    async def contact_created(event: WebhookEvent) -> None:
        contacts.append(event.domain_event())

    with EmulatorServer() as emulator:
        async with EmulatorControl.for_url(emulator.url) as control:
            app = await control.register_app()
            site = await control.create_site()
            instance_id = (await control.install(app.app_id, site.site_id)).instance_id
            token = (await control.mint_token(instance_id, "VISITOR")).token
            settings = settings_for_emulator(
                app,
                base_url=emulator.url,
                database_url=f"sqlite:///{tmp_path / 'app.db'}",
                WIX_APP_PUBLIC_KEY=await control.webhook_public_key(app.app_id),
            )
            backend = create_app(settings, webhooks=router)
            async with serving(backend) as url, httpx.AsyncClient(base_url=url) as client:
                common = ["--to", f"{url}/webhooks", "--instance", instance_id]
                sign = ["--emulator", emulator.url]
                assert (
                    await client.get("/get-instance", headers={"Authorization": token})
                ).is_success

                created = await wixapp_cli(
                    "webhook",
                    "send",
                    "wix.contacts.v4.contact_created",
                    *common,
                    *sign,
                    "--entity",
                    json.dumps({"id": "c-1", "info": {"name": {"first": "Ada"}}}),
                )
                await router.drain()
                removed = await wixapp_cli(
                    "webhook", "send", "AppRemoved", *common, *sign, "--app-id", app.app_id
                )
                after_removal = await client.get("/get-instance", headers={"Authorization": token})

    assert created[0] == 0, created
    assert created[1].startswith("HTTP 200")
    (contact,) = contacts
    assert contact is not None
    assert contact.entity == {"id": "c-1", "info": {"name": {"first": "Ada"}}}
    assert contact.metadata.entity_id == "c-1"
    assert removed[0] == 0, removed
    assert after_removal.status_code == 401
    assert after_removal.json()["error"] == "app_removed"


async def test_a_key_file_signs_and_a_refusal_is_printed_with_exit_status_1(
    tmp_path: Path,
) -> None:
    private, public = generate_rsa_keypair()
    _, stranger = generate_rsa_keypair()
    key_file = tmp_path / "key.pem"
    key_file.write_text(private)
    with EmulatorServer() as emulator:
        async with EmulatorControl.for_url(emulator.url) as control:
            app = await control.register_app()
            answers = []
            for number, public_key in enumerate((public, stranger)):
                settings = settings_for_emulator(
                    app,
                    base_url=emulator.url,
                    database_url=f"sqlite:///{tmp_path / f'{number}.db'}",
                    WIX_APP_PUBLIC_KEY=public_key,
                )
                async with serving(create_app(settings)) as url:
                    answers.append(
                        await wixapp_cli(
                            "webhook",
                            "send",
                            "PaidPlanPurchased",
                            "--to",
                            f"{url}/webhooks",
                            "--instance",
                            "i-1",
                            "--key-file",
                            str(key_file),
                        )
                    )

    accepted, refused = answers
    assert accepted[0] == 0, accepted
    assert accepted[1].startswith("HTTP 200")
    status, output = refused
    assert status == 1
    assert output.startswith("HTTP 401")
    assert "webhook" in output


async def test_an_unknown_event_or_a_missing_key_is_one_line() -> None:
    status, output = await wixapp_cli(
        "webhook",
        "send",
        "SomethingHappened",
        "--to",
        "http://127.0.0.1:9/webhooks",
        "--instance",
        "i-1",
        "--key-file",
        "/nonexistent/key.pem",
    )
    assert status == 2
    assert output.strip().count("\n") == 0
    assert "SomethingHappened" in output
    assert "AppInstalled" in output

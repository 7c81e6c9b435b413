"""The emulator served by uvicorn on a real loopback port, driven over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from wixapp.emulator import EmulatorControl, EmulatorServer, serve


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=3) as running:
        yield running


async def test_full_flow_over_a_real_port(server: EmulatorServer) -> None:
    async with (
        EmulatorControl.for_url(server.url) as control,
        httpx.AsyncClient(base_url=server.url, timeout=5) as wix,
    ):
        app = await control.register_app()
        site = await control.create_site()
        installation = await control.install(app.app_id, site.site_id)
        visitor = await control.mint_token(installation.instance_id)

        info = (await wix.post("/oauth2/token-info", json={"token": visitor.token})).json()
        token = await wix.post(
            "/oauth2/token",
            json={
                "grant_type": "client_credentials",
                "client_id": app.app_id,
                "client_secret": app.app_secret,
                "instance_id": info["instanceId"],
            },
        )
        instance = await wix.get(
            "/apps/v1/instance", headers={"Authorization": token.json()["access_token"]}
        )

        assert info["subjectType"] == "VISITOR"
        assert instance.status_code == 200
        assert instance.json()["instance"]["instanceId"] == installation.instance_id
        assert await control.calls() == {"token-info": 1, "token": 1, "instance": 1}
        assert server.state.calls() == {"token-info": 1, "token": 1, "instance": 1}


async def test_a_hang_times_the_client_out_and_does_not_block_shutdown() -> None:
    server = EmulatorServer()
    server.start()
    try:
        server.state.add_fault("*", hang=True)
        async with httpx.AsyncClient(base_url=server.url, timeout=0.3) as wix:
            with pytest.raises(httpx.ReadTimeout):
                await wix.post("/oauth2/token-info", json={"token": "x"})
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 0.9  # released by the disconnect, not a timeout


async def test_a_reset_closes_the_socket_mid_answer_and_the_server_goes_on(
    server: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.state.add_fault("token-info", reset=True, count=1)
    async with httpx.AsyncClient(base_url=server.url, timeout=2) as wix:
        with pytest.raises(httpx.RemoteProtocolError):
            await wix.post("/oauth2/token-info", json={"token": "x"})
        after = await wix.post("/oauth2/token-info", json={"token": "x"})
    assert after.status_code == 401
    assert server.state.calls()["token-info"] == 2
    assert "Exception in ASGI application" not in caplog.text  # on purpose: not logged


def test_serve_runs_uvicorn_with_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        seen.update(options, app=app)

    monkeypatch.setattr("uvicorn.run", fake_run)

    serve(port=9999, seed=5)

    assert (seen["host"], seen["port"]) == ("127.0.0.1", 9999)
    assert seen["app"].state.emulator.register_app().app_id

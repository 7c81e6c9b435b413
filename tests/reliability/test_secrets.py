"""No secret in any log or metric: access tokens, the app secret, app tokens, webhook JWTs and
the legacy signed ``instance`` value never appear, whole or in distinctive parts.

Two runs of a full flow (identify, elevate, settings, webhooks, the legacy parameter,
errors, the token budget, injected faults): in-process with every logger at DEBUG (root,
wixapp, httpx, httpcore, SQLAlchemy, uvicorn), and served by a uvicorn subprocess logging
everything at DEBUG, access log included, whose stderr is searched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from scale.harness import LOOPBACK, free_port, worker_environment
from wixapp.emulator import EmulatorServer, EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.logs import redact
from wixapp.testing import TokenFactory, open_backend
from wixapp.webhooks import generate_rsa_keypair, sign_webhook

from .conftest import Build, client_for

ALL_LOGGERS = ["", "wixapp", "httpx", "httpcore", "sqlalchemy", "uvicorn", "uvicorn.error",
               "uvicorn.access", "asyncio"]  # fmt: skip


@dataclass
class Secrets:
    """Every secret of a run, by name."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> str:
        self.values[name] = value
        return value

    def pieces(self) -> dict[str, str]:
        """Each secret whole, and the parts that would identify it (JWT payloads and
        signatures, token segments, halves of the secret)."""
        found: dict[str, str] = {}
        for name, value in self.values.items():
            found[value] = name
            parts = value.split(".")
            for index, part in enumerate(parts):
                if len(part) >= 16 and not (index == 0 and len(parts) == 3):  # a JWT header
                    found[part] = f"{name} (part {index})"
            if len(parts) == 1 and len(value) >= 24:
                found[value[:16]] = f"{name} (start)"
                found[value[-16:]] = f"{name} (end)"
        return found

    def assert_absent(self, text: str, where: str) -> None:
        leaks = sorted({name for piece, name in self.pieces().items() if piece in text})
        lines = [line[:300] for line in text.splitlines() if any(p in line for p in self.pieces())]
        assert not leaks, f"{where} holds {leaks}: {lines[:5]}"


class Capture(logging.Handler):
    """Every record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def every_log_at_debug() -> Iterator[Capture]:
    capture = Capture()
    saved = []
    for name in ALL_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger, level in saved:
            logger.removeHandler(capture)
            logger.setLevel(level)


def forged(secrets: Secrets) -> str:
    return secrets.add(
        "forged token",
        "OauthNG.JWS.eyJraWQiOiJmb3JnZWQ.c2VjcmV0LXBheWxvYWQtMTIzNDU2.c2lnbmF0dXJlLTk4NzY1NDMyMTA",
    )


Fault = Callable[..., Awaitable[None]]


async def full_flow(
    client: httpx.AsyncClient,
    secrets: Secrets,
    *,
    visitor: str,
    owner: str,
    legacy: str,
    private_key: str,
    instance_id: str,
    fresh: Callable[[], str],
    fault: Fault,
    clear: Callable[[], Awaitable[None]],
) -> list[int]:
    """The whole life of a site, errors and faults included; returns the statuses seen."""
    statuses = []

    async def get(path: str, token: str | None = None, **headers: str) -> None:
        if token is not None:
            headers["Authorization"] = token
        statuses.append((await client.get(path, headers=headers)).status_code)

    async def put(token: str, if_match: str | None, greeting: str) -> httpx.Response:
        headers = {"Authorization": token} | ({"If-Match": if_match} if if_match else {})
        answer = await client.put("/api/settings", json={"greeting": greeting}, headers=headers)
        statuses.append(answer.status_code)
        return answer

    async def webhook(body: str) -> None:
        statuses.append((await client.post("/webhooks", content=body)).status_code)

    await get("/get-instance", visitor)
    await get("/get-instance?include=instance", "Bearer " + owner)
    await get("/api/settings", visitor)
    saved = await put(owner, '"v0"', "hello")
    await put(owner, saved.headers["ETag"], "again")
    await put(owner, saved.headers["ETag"], "stale")  # 412
    await put(owner, None, "no if-match")  # 428
    await put(visitor, "*", "not a user")  # 403
    await get("/get-instance", forged(secrets))  # 401 after asking Wix
    await get("/get-instance", owner[:-5] + "AAAAA")  # 401, a tampered token
    await get("/get-instance", "Bearer " + owner + " extra")  # 401 malformed
    await get(f"/get-instance?instance={legacy}")
    await get(f"/get-instance?instance={legacy[:-3]}xyz")  # 401
    now = int(time.time())
    install = secrets.add(
        "webhook JWT",
        sign_webhook("AppInstalled", instance_id, {}, private_key_pem=private_key, iat=now),
    )
    await webhook(install)
    await webhook(install)  # a redelivery
    await webhook(secrets.add("tampered webhook JWT", install[:-6] + "AAAAAA"))
    payload = install.split(".")[1]
    await webhook(secrets.add("alg-none webhook JWT", f"eyJhbGciOiJub25lIn0.{payload}."))
    # Faults: each on a new token, so Wix is asked.
    for kind in (
        {"status": 503},
        {"malformed": True},
        {"reset": True},
        {"status": 429, "retry_after": 30},
    ):
        await fault("token-info", **kind)
        await get("/get-instance", secrets.add(f"fresh token {len(statuses)}", fresh()))
        await clear()
    await fault("instance", hang=True)
    await client.get("/get-instance?include=instance", headers={"Authorization": owner})
    await clear()
    statuses.append((await client.get("/metrics")).status_code)
    return statuses


# ---- in-process, every logger -------------------------------------------------------------


async def test_no_secret_in_any_log_or_metric_in_process(
    build: Build,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    secrets = Secrets()
    secrets.add("app secret", wix_registered_app.app_secret)
    private_key, public_key = generate_rsa_keypair()
    app = build(
        WIX_APP_PUBLIC_KEY=public_key,
        WIXAPP_HTTP_TIMEOUT=0.2,
        WIXAPP_UPSTREAM_DEADLINE=0.5,
        WIXAPP_TOKEN_INFO_BUDGET_PER_IP=3,
    )
    visitor = secrets.add("visitor token", wix_token(wix_instance.instance_id))
    owner = secrets.add("owner token", wix_token(wix_instance.instance_id, "USER"))
    legacy = secrets.add(
        "legacy instance", wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    )

    async def fault(endpoint: str, **kind: Any) -> None:
        wix_emulator_state.add_fault(endpoint, **kind)

    async def clear() -> None:
        wix_emulator_state.clear_faults()

    with every_log_at_debug() as capture:
        async with open_backend(app) as client:
            statuses = await full_flow(
                client,
                secrets,
                visitor=visitor,
                owner=owner,
                legacy=legacy,
                private_key=private_key,
                instance_id=wix_instance.instance_id,
                fresh=lambda: wix_token(wix_instance.instance_id),
                fault=fault,
                clear=clear,
            )
            async with client_for(app, "198.51.100.77") as abuser:  # the budget's 429
                for index in range(5):
                    await abuser.get(
                        "/get-instance", headers={"Authorization": forged(secrets) + str(index)}
                    )
            app_token = secrets.add(
                "app token",
                (await app.state.wixapp.wix.app_token(wix_instance.instance_id)).access_token,
            )
            metrics = (await client.get("/metrics")).text
    assert app_token
    assert {200, 401, 403, 412, 428, 429, 502, 503} <= set(statuses)
    assert len(capture.lines) > 100, "DEBUG logging should have captured plenty"
    # The test's own client (playing the browser) logs the URLs it requests: not the backend.
    backend_lines = [line for line in capture.lines if "http://backend.test/" not in line]
    assert any("wix-emulator.invalid" in line for line in backend_lines)  # its own calls
    secrets.assert_absent("\n".join(backend_lines), "the logs")
    secrets.assert_absent(metrics, "/metrics")


# ---- served by a uvicorn subprocess, its stderr -------------------------------------------

SERVE_AT_DEBUG = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                    format="%(asctime)s %(levelname)s %(name)s %(message)s")
import uvicorn
uvicorn.run("wixapp.server:create_app", factory=True, host=sys.argv[1], port=int(sys.argv[2]),
            log_level="debug", access_log=True)
"""


@pytest.mark.multiprocess
async def test_no_secret_on_a_served_backends_stderr(tmp_path: Path) -> None:
    secrets = Secrets()
    private_key, public_key = generate_rsa_keypair()
    with EmulatorServer() as server:
        state = server.state
        app = state.register_app()
        secrets.add("app secret", app.app_secret)
        site = state.create_site()
        installed = state.install(app.app_id, site.site_id)
        minted = state.mint_token

        def recording_mint(*args: Any, **kwargs: Any) -> Any:  # app tokens too
            token = minted(*args, **kwargs)
            secrets.add(f"minted token {len(secrets.values)}", token.token)
            return token

        state.mint_token = recording_mint  # type: ignore[method-assign]
        visitor = state.mint_token(installed.instance_id).token
        owner = state.mint_token(installed.instance_id, "USER").token
        legacy = secrets.add("legacy instance", state.sign_legacy_instance(installed.instance_id))
        port = free_port()
        environment = worker_environment(
            {
                "WIX_APP_ID": app.app_id,
                "WIX_APP_SECRET": app.app_secret,
                "WIX_APP_PUBLIC_KEY": public_key,
                "WIX_API_BASE_URL": server.url,
                "WIXAPP_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
                "WIXAPP_HTTP_TIMEOUT": "0.3",
                "WIXAPP_UPSTREAM_DEADLINE": "0.6",
            }
        )
        log = tmp_path / "served.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-c", SERVE_AT_DEBUG, LOOPBACK, str(port)],
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://{LOOPBACK}:{port}"
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                for _ in range(200):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.05)

                async def fault(endpoint: str, **kind: Any) -> None:
                    state.add_fault(endpoint, **kind)

                async def clear() -> None:
                    state.clear_faults()

                statuses = await full_flow(
                    client,
                    secrets,
                    visitor=visitor,
                    owner=owner,
                    legacy=legacy,
                    private_key=private_key,
                    instance_id=installed.instance_id,
                    fresh=lambda: state.mint_token(installed.instance_id).token,
                    fault=fault,
                    clear=clear,
                )
                metrics = (await client.get("/metrics")).text
        finally:
            process.terminate()
            process.wait(10)
    text = log.read_text(errors="replace")
    assert {200, 401, 403, 412, 428, 429, 502, 503} <= set(statuses)
    assert re.search(r'"GET /get-instance\?instance=\[redacted\] HTTP/1.1" 200', text), text[-3000:]
    assert "DEBUG" in text  # it really logged everything (aiohttp, the default sender,
    # logs no request lines of its own; wixapp's client logs each Wix refusal)
    assert any(name.startswith("minted token") for name in secrets.values)
    secrets.assert_absent(text, "the served backend's stderr")
    secrets.assert_absent(metrics, "/metrics")


def test_the_access_log_filter_redacts_only_the_instance_value() -> None:
    assert redact("/get-instance?include=instance&instance=abc.DEF-1&x=2") == (
        "/get-instance?include=instance&instance=[redacted]&x=2"
    )
    assert redact("/get-instance?Instance=abc") == "/get-instance?Instance=[redacted]"
    assert redact("/api/settings?instanceId=1") == "/api/settings?instanceId=1"

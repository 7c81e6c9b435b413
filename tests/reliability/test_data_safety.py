"""Data safety, on SQLite (WAL) and PostgreSQL: no lost update under concurrent writers, no
acknowledged write lost when the server is killed mid-write, no read across tenants."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scale.harness import workers
from wixapp.emulator import EmulatorServer, EmulatorState
from wixapp.emulator.records import RegisteredApp
from wixapp.server import create_app
from wixapp.testing import InstallFactory, TokenFactory, open_backend, settings_for_emulator

from .conftest import EmulatorClock, Figures

COUNTER = re.compile(r"count=(\d+)")


@pytest.fixture
def app_on_database(
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    database_url: str,
) -> FastAPI:
    config = settings_for_emulator(
        wix_registered_app, database_url=database_url, WIXAPP_MIGRATE_ON_START=False
    )
    return create_app(config, wix_transport=wix_transport, clock=EmulatorClock(wix_emulator_state))


# ---- concurrent read-modify-write ---------------------------------------------------------


async def increment(client: httpx.AsyncClient, token: str) -> int:
    """Read, add one, write with If-Match; on 412 read again. Returns the conflicts met."""
    conflicts = 0
    while True:
        read = await client.get("/api/settings", headers={"Authorization": token})
        assert read.status_code == 200, read.text
        found = COUNTER.fullmatch(read.json()["settings"]["greeting"])
        count = int(found[1]) if found else 0
        await asyncio.sleep(0)  # let the other writers read the same version
        written = await client.put(
            "/api/settings",
            json={**read.json()["settings"], "greeting": f"count={count + 1}"},
            headers={"Authorization": token, "If-Match": read.headers["ETag"]},
        )
        if written.status_code == 200:
            return conflicts
        assert written.status_code == 412, written.text
        conflicts += 1


async def test_concurrent_writers_never_lose_an_update(
    app_on_database: FastAPI,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    figures: Figures,
    database_url: str,
) -> None:
    writers = 25
    site = wix_install()
    tokens = [wix_token(site.instance_id, "USER") for _ in range(writers)]
    async with open_backend(app_on_database) as client:
        conflicts = await asyncio.gather(*(increment(client, token) for token in tokens))
        final = await client.get("/api/settings", headers={"Authorization": tokens[0]})
    kind = database_url.split(":", 1)[0]
    figures.fault(
        f"concurrent_writers_{kind}",
        fault=f"{writers} writers, read-modify-write with If-Match, retry on 412",
        requests=2 * (writers + sum(conflicts)) + 1,
        outcomes={"200 writes": writers, "412 conflicts": sum(conflicts)},
        final_counter=final.json()["settings"]["greeting"],
    )
    assert final.json()["settings"]["greeting"] == f"count={writers}"
    assert final.json()["version"] == writers
    assert sum(conflicts) > 0  # the writers really raced


# ---- kill -9 mid-write --------------------------------------------------------------------


@dataclass
class Ledger:
    """What the writers sent and what the server acknowledged."""

    acknowledged: dict[int, str] = field(default_factory=dict)  # version → greeting
    unanswered: set[str] = field(default_factory=set)  # sent, no answer (killed meanwhile)
    refused: int = 0


async def hammer(url: str, token: str, writer: int, ledger: Ledger, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        sequence = 0
        while not stop.is_set():
            sequence += 1
            greeting = f"writer {writer} write {sequence}"
            try:
                answer = await client.put(
                    "/api/settings",
                    json={"greeting": greeting},
                    headers={"Authorization": token, "If-Match": "*"},
                )
            except httpx.HTTPError:
                ledger.unanswered.add(greeting)
                return  # the server is gone
            if answer.status_code == 200:
                ledger.acknowledged[answer.json()["version"]] = greeting
            else:
                ledger.refused += 1


@contextlib.contextmanager
def emulator_with_site() -> Iterator[tuple[EmulatorServer, RegisteredApp, str, str]]:
    with EmulatorServer() as server:
        app = server.state.register_app()
        site = server.state.create_site()
        installed = server.state.install(app.app_id, site.site_id)
        token = server.state.mint_token(installed.instance_id, "USER").token
        yield server, app, installed.instance_id, token


def backend_environment(
    server: EmulatorServer, app: RegisteredApp, database_url: str
) -> dict[str, str]:
    return {
        "WIX_APP_ID": app.app_id,
        "WIX_APP_SECRET": app.app_secret,
        "WIX_API_BASE_URL": server.url,
        "WIXAPP_DATABASE_URL": database_url,
        "WIXAPP_MIGRATE_ON_START": "false",
    }


@pytest.mark.multiprocess
async def test_kill_9_mid_write_loses_no_acknowledged_write(
    database_url: str, tmp_path: Path, figures: Figures
) -> None:
    ledger = Ledger()
    with emulator_with_site() as (server, app, _, token):
        environment = backend_environment(server, app, database_url)
        with workers(1, environment, tmp_path) as (backend,):
            async with httpx.AsyncClient(base_url=backend.url, timeout=5) as client:
                first = await client.put(
                    "/api/settings",
                    json={"greeting": "first"},
                    headers={"Authorization": token, "If-Match": '"v0"'},
                )
                assert first.status_code == 200, first.text
                ledger.acknowledged[1] = "first"
            stop = asyncio.Event()
            writers = [
                asyncio.create_task(hammer(backend.url, token, index, ledger, stop))
                for index in range(8)
            ]
            deadline = time.monotonic() + 10
            while len(ledger.acknowledged) < 150 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            os.kill(backend.process.pid, signal.SIGKILL)  # mid-write: 8 writes in flight
            killed_at = len(ledger.acknowledged)
            async with asyncio.timeout(10):
                await asyncio.gather(*writers)
            stop.set()
            assert backend.process.wait(5) == -signal.SIGKILL
        with workers(1, environment, tmp_path) as (restarted,):
            async with httpx.AsyncClient(base_url=restarted.url, timeout=5) as client:
                after = await client.get("/api/settings", headers={"Authorization": token})
    assert after.status_code == 200, after.text
    version, greeting = after.json()["version"], after.json()["settings"]["greeting"]
    last = max(ledger.acknowledged)
    kind = database_url.split(":", 1)[0]
    figures.fault(
        f"kill_9_{kind}",
        fault="SIGKILL of the backend process while 8 writers PUT settings",
        requests=len(ledger.acknowledged) + len(ledger.unanswered) + ledger.refused,
        outcomes={
            "200 acknowledged": len(ledger.acknowledged),
            "no answer (killed)": len(ledger.unanswered),
            "refused": ledger.refused,
        },
        acknowledged_at_kill=killed_at,
        last_acknowledged_version=last,
        version_after_restart=version,
    )
    assert ledger.refused == 0
    assert len(ledger.acknowledged) >= 100
    assert version >= last  # every acknowledged write is in
    if version == last:
        assert greeting == ledger.acknowledged[last]
    else:  # committed, but the answer was lost with the process: one of the unanswered
        assert greeting in ledger.unanswered
    if kind == "sqlite":
        path = database_url.split("sqlite:///", 1)[1]
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# ---- tenant isolation, as a property ------------------------------------------------------

SITES = 4


@dataclass
class Tenants:
    """The backend, the sites' tokens and what each site's USERs wrote (the model)."""

    client: httpx.AsyncClient
    users: dict[str, list[str]]
    others: dict[str, list[str]]  # VISITOR and MEMBER tokens
    written: dict[str, set[str]]  # instance → every greeting its USERs saved
    current: dict[str, str | None]  # instance → the last saved greeting (None: never)
    etags: dict[str, str] = field(default_factory=dict)  # instance → last ETag seen
    requests: int = 0


@pytest.fixture
async def tenants(
    app_on_database: FastAPI, wix_install: InstallFactory, wix_token: TokenFactory
) -> AsyncIterator[Tenants]:
    sites = [wix_install().instance_id for _ in range(SITES)]
    users = {site: [wix_token(site, "USER") for _ in range(2)] for site in sites}
    others = {site: [wix_token(site, "VISITOR"), wix_token(site, "MEMBER")] for site in sites}
    async with open_backend(app_on_database) as client:
        yield Tenants(client, users, others, {site: set() for site in sites}, dict.fromkeys(sites))


operation = st.one_of(
    st.tuples(
        st.just("write"),
        st.integers(0, SITES - 1),
        st.integers(0, 1),
        st.text(max_size=40),
        st.sampled_from(["*", "last", "v0", "other-site"]),
    ),
    st.tuples(st.just("read"), st.integers(0, SITES - 1), st.integers(0, 3)),
    st.tuples(st.just("intrude"), st.integers(0, SITES - 1), st.integers(0, 1)),
)


async def apply(tenants: Tenants, step: tuple[Any, ...]) -> None:
    sites = list(tenants.users)
    kind, site = step[0], sites[step[1]]
    client = tenants.client
    tenants.requests += 1
    serial = tenants.requests  # makes every greeting unique
    if kind == "read":
        tokens = tenants.users[site] + tenants.others[site]
        read = await client.get("/api/settings", headers={"Authorization": tokens[step[2]]})
        assert read.status_code == 200
        body = read.json()
        assert body["instanceId"] == site
        greeting = body["settings"]["greeting"]
        if tenants.current[site] is None:
            assert body["version"] == 0
        else:
            assert greeting in tenants.written[site]  # written by this site's USERs only
            assert greeting == tenants.current[site]
        tenants.etags[site] = read.headers["ETag"]
        return
    if kind == "intrude":  # a non-USER of the site tries to write: refused, nothing changes
        token = tenants.others[site][step[2]]
        answer = await client.put(
            "/api/settings",
            json={"greeting": f"intruder {serial}"},
            headers={"Authorization": token, "If-Match": "*"},
        )
        assert answer.status_code == 403
        return
    _, _, user, text, condition = step
    greeting = f"{site[:8]}#{serial}:{text}"
    if_match = {
        "*": "*",
        "v0": '"v0"',
        "last": tenants.etags.get(site, '"v0"'),
        "other-site": tenants.etags.get(sites[(step[1] + 1) % SITES], '"v0"'),
    }[condition]
    answer = await client.put(
        "/api/settings",
        json={"greeting": greeting},
        headers={"Authorization": tenants.users[site][user], "If-Match": if_match},
    )
    assert answer.status_code in (200, 412), answer.text
    if answer.status_code == 200:
        assert answer.json()["instanceId"] == site
        tenants.written[site].add(greeting)
        tenants.current[site] = greeting
        tenants.etags[site] = answer.headers["ETag"]


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operation, min_size=1, max_size=25))
async def test_a_site_only_ever_reads_what_its_own_users_wrote(
    tenants: Tenants, figures: Figures, steps: list[tuple[Any, ...]]
) -> None:
    figures.fuzzed("tenant_isolation_sequences")
    for step in steps:
        await apply(tenants, step)
    figures.fuzzed("tenant_isolation_requests", len(steps))

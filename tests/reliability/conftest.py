"""Fixtures for the reliability tests: backends on faulty transports, and the figures.

Every load or fault test here is bounded in count and time. Their figures (requests sent,
outcome counts, upstream calls) are collected in ``FIGURES`` and written at the end of the
session to ``artifacts/faults.json`` and ``artifacts/fuzz.json`` (git-ignored), and shown in
the terminal summary, so they can be quoted without ``-s``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from wixapp.config import Settings
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import RegisteredApp
from wixapp.server import create_app
from wixapp.testing import EmulatorClock, settings_for_emulator

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


class Figures:
    """What the reliability tests measured, by kind ("faults", "fuzz")."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, dict[str, Any]]] = {"faults": {}, "fuzz": {}}

    def fault(self, name: str, **figures: Any) -> None:
        self.entries["faults"][name] = figures

    def fuzzed(self, name: str, count: int = 1, **extra: Any) -> None:
        entry = self.entries["fuzz"].setdefault(name, {"inputs": 0})
        entry["inputs"] += count
        entry.update(extra)

    def write(self) -> None:
        for kind, entries in self.entries.items():
            if not entries:
                continue
            ARTIFACTS.mkdir(exist_ok=True)
            document: dict[str, Any] = {"written_at": time.time(), kind: entries}
            if kind == "fuzz":
                document["total_inputs"] = sum(e["inputs"] for e in entries.values())
            (ARTIFACTS / f"{kind}.json").write_text(json.dumps(document, indent=2) + "\n")

    def lines(self) -> list[str]:
        lines = []
        for name, entry in self.entries["faults"].items():
            outcomes = ", ".join(f"{k}: {v}" for k, v in entry.get("outcomes", {}).items())
            calls = entry.get("upstream_calls")
            lines.append(
                f"fault {name}: {entry.get('requests')} requests → {outcomes}"
                + (f"; upstream calls {calls}" if calls is not None else "")
            )
        for name, entry in self.entries["fuzz"].items():
            lines.append(f"fuzz {name}: {entry['inputs']} inputs")
        if self.entries["fuzz"]:
            total = sum(e["inputs"] for e in self.entries["fuzz"].values())
            lines.append(f"fuzz total: {total} inputs")
        return lines


FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    yield FIGURES
    FIGURES.write()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = FIGURES.lines()
    if lines:
        terminalreporter.section("reliability figures (artifacts/faults.json, fuzz.json)")
        for line in lines:
            terminalreporter.write_line(line)


def outcome_of(response: httpx.Response) -> str:
    """ "200", or the status and our error code: "503 upstream_timeout"."""
    if response.status_code < 400:
        return str(response.status_code)
    try:
        code = response.json().get("error", "?")
    except ValueError:
        code = "(not JSON)"
    return f"{response.status_code} {code}"


def tally(responses: list[httpx.Response]) -> dict[str, int]:
    return dict(sorted(Counter(outcome_of(r) for r in responses).items()))


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps the transport to Wix: counts calls, and the most in flight at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


Build = Callable[..., FastAPI]


@pytest.fixture
def settings_for(wix_registered_app: RegisteredApp, tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a SQLite file of this test's own (fault tests do not depend on the DB)."""

    def make(**extra: Any) -> Settings:
        return settings_for_emulator(
            wix_registered_app, database_url=f"sqlite:///{tmp_path / 'wixapp.db'}", **extra
        )

    return make


@pytest.fixture
def build(
    settings_for: Callable[..., Settings],
    wix_transport: httpx.ASGITransport,
    wix_emulator_state: EmulatorState,
) -> Build:
    """A backend on the in-process emulator; ``transport`` wraps the way to it."""

    def make(*, transport: httpx.AsyncBaseTransport | None = None, **extra: Any) -> FastAPI:
        return create_app(
            settings_for(**extra),
            wix_transport=transport or wix_transport,
            clock=EmulatorClock(wix_emulator_state),
        )

    return make


def client_for(app: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """An httpx client on ``app`` in-process, as a caller from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://backend.test")

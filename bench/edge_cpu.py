"""CPU per request of the backend's own edge, with no HTTP server in the way.

Drives the ASGI app that ``create_app()`` builds directly, in-process, with the emulator as
Wix: each measured request is one warm call (token and data cached), so what is counted is
wixapp's and Starlette's work per request, not the server's parsing or the kernel's. Run it
before and after a change to the request path, in the same shell:

    .venv/bin/python bench/edge_cpu.py    # µs of CPU per request per route, least of 5 rounds

It ends with the ratios the speed targets name: a user's FastAPI route with
``current_caller`` against the same app's bare route, and a user's lean route
(``lean_route``) against ``/get-instance``; and, to tell FastAPI's share from wixapp's, the
same route with a dependency that only returns a constant.

Numbers vary with the machine; compare runs taken side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from wixapp.emulator import EmulatorState, create_emulator
from wixapp.models import Caller
from wixapp.server import LeanRequest, create_app, current_caller, lean_route
from wixapp.testing.settings import settings_for_emulator

ROUTES = (
    "/get-instance",
    "/get-instance?include=instance",
    "/api/settings",
    "/app/bare",  # a user's own FastAPI route, no identification
    "/app/caller",  # the same with Depends(current_caller)
    "/app/constant-dependency",  # the same with a dependency that only returns a constant
    "/api/app/guarded",  # the same under WIXAPP_GUARD_PATHS=/api/ (the edge identifies)
    "/app/lean",  # a user's route on the lean path: lean_route(...), per-instance data
)

# A user's per-instance data, as a hot route reads it from its own cache.
NOTES: dict[str, list[str]] = {}


async def _lean_notes(who: Caller, request: LeanRequest) -> dict[str, Any]:
    return {"instanceId": who.instance_id, "notes": NOTES.get(who.instance_id, [])}


async def _constant() -> str:
    return "world"


async def _with_dependency(who: Annotated[str, Depends(_constant)]) -> dict[str, str]:
    return {"hello": who}


def _user_routes(app: FastAPI) -> None:
    """A user's own routes, as an app adds them to the backend."""

    async def bare() -> dict[str, str]:
        return {"hello": "world"}

    async def caller(who: Annotated[Caller, Depends(current_caller)]) -> dict[str, str]:
        return {"hello": who.instance_id}

    app.add_api_route("/app/bare", bare)
    app.add_api_route("/app/constant-dependency", _with_dependency)
    app.add_api_route("/app/caller", caller)
    app.add_api_route("/api/app/guarded", caller)


def _scope(path: str, token: str) -> dict[str, Any]:
    route, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", token.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _request(app: Any, scope: dict[str, Any]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(requests: int, rounds: int) -> dict[str, float]:
    state = EmulatorState(rate_limit=False)
    registered = state.register_app()
    site = state.create_site()
    installation = state.install(registered.app_id, site.site_id)
    token = state.mint_token(installation.instance_id, "USER").token
    transport = httpx.ASGITransport(app=create_emulator(state=state))
    results: dict[str, float] = {}
    with TemporaryDirectory() as directory:
        settings = settings_for_emulator(
            registered,
            database_url=f"sqlite:///{Path(directory) / 'edge.db'}",
            WIXAPP_GUARD_PATHS="/api/app/",
        )
        NOTES[installation.instance_id] = ["open at 7", "rye"]
        lean_routes = [lean_route("/app/lean", _lean_notes)]
        app = create_app(settings, wix_transport=transport, lean_routes=lean_routes)
        _user_routes(app)
        async with app.router.lifespan_context(app):
            for path in ROUTES:
                scope = _scope(path, token)
                assert await _request(app, scope) == 200, path  # warm: token and data cached
            for _ in range(rounds):  # the least of several rounds: other load only adds
                for path in ROUTES:
                    scope = _scope(path, token)
                    started = time.process_time()
                    for _ in range(requests):
                        await _request(app, scope)
                    micros = (time.process_time() - started) / requests * 1e6
                    results[path] = min(results.get(path, micros), micros)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000, help="per route and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = asyncio.run(measure(args.requests, args.rounds))
    for path, micros in results.items():
        print(f"{path:36} {micros:7.1f} µs CPU per request")
    for route, reference in RATIOS:  # as throughput: the reference's CPU over the route's
        ratio = results[reference] / results[route]
        print(f"{route} ÷ {reference}: {ratio:.2f}× (requests per CPU second)")


RATIOS = (
    ("/app/caller", "/app/bare"),
    ("/app/constant-dependency", "/app/bare"),  # FastAPI's own cost of one dependency
    ("/app/caller", "/app/constant-dependency"),  # identification's cost on top of it
    ("/api/app/guarded", "/app/bare"),
    ("/app/lean", "/get-instance"),
)


if __name__ == "__main__":
    main()

"""The server every bench scenario runs: the production backend plus two bare routes.

``create_bench_app()`` builds the real backend with ``wixapp.server.create_app()`` (settings
from the environment, exactly as ``wixapp serve`` does) and adds two routes that answer the
same JSON shape as ``/get-instance`` without identifying anyone:

- ``GET /bare``: answered by the same lean path as ``/get-instance`` (EdgeMiddleware, CORS,
  timing, orjson), so the gap between ``/bare`` and ``/get-instance`` is what identification
  costs, nothing else;
- ``GET /bare-fastapi``: an ordinary FastAPI route, as a user's own route would be.

Run it as ``uvicorn benchapp:create_bench_app --factory --app-dir bench``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import Scope

from wixapp.server import create_app
from wixapp.server.lean import JSONAnswer, LeanRoute
from wixapp.server.state import ServerState

# The shape of /get-instance's answer (Caller.public()), with values of the same length.
BARE_BODY: dict[str, str | None] = {
    "instanceId": "00000000-0000-4000-8000-000000000000",
    "subjectType": "VISITOR",
    "subjectId": "00000000-0000-4000-8000-000000000001",
    "siteId": "00000000-0000-4000-8000-000000000002",
}


async def _bare(state: ServerState, scope: Scope) -> JSONAnswer:
    return JSONAnswer(orjson.dumps(BARE_BODY))


def create_bench_app() -> FastAPI:
    app = create_app(lean_routes=[LeanRoute("/bare", _bare)])

    @app.get("/bare-fastapi")
    async def bare() -> dict[str, Any]:
        """A user's own FastAPI route: the same JSON answer, no identification."""
        return dict(BARE_BODY)

    return app

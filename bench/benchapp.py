"""The server every bench scenario runs: the production backend plus a user's routes.

``create_bench_app()`` builds the real backend with ``wixapp.server.create_app()`` (settings
from the environment, exactly as ``wixapp serve`` does) and adds the routes a user's app
would, each answering JSON of ``/get-instance``'s shape:

- ``GET /bare``: answered by the same lean path as ``/get-instance`` (EdgeMiddleware, CORS,
  timing, orjson) without identifying anyone, so the gap between ``/bare`` and
  ``/get-instance`` is what identification costs, nothing else;
- ``GET /bare-fastapi``: an ordinary FastAPI route, as a user's own route would be;
- ``GET /caller-fastapi``: the same route identifying its caller with
  ``Depends(current_caller)``;
- ``GET /app/lean``: a user's route on the lean path (``lean_route``), identifying its
  caller as ``/get-instance`` does.

Run it as ``uvicorn benchapp:create_bench_app --factory --app-dir bench``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI
from starlette.types import Scope

from wixapp.models import Caller
from wixapp.server import LeanRequest, create_app, current_caller, lean_route
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


async def _lean_caller(who: Caller, request: LeanRequest) -> dict[str, Any]:
    """A user's hot route on the lean path: who is calling."""
    return who.public()


def create_bench_app() -> FastAPI:
    app = create_app(lean_routes=[LeanRoute("/bare", _bare), lean_route("/app/lean", _lean_caller)])

    @app.get("/bare-fastapi")
    async def bare() -> dict[str, Any]:
        """A user's own FastAPI route: the same JSON answer, no identification."""
        return dict(BARE_BODY)

    @app.get("/caller-fastapi")
    async def caller(who: Annotated[Caller, Depends(current_caller)]) -> dict[str, Any]:
        """The same route, identifying its caller as a user's route does."""
        return who.public()

    return app

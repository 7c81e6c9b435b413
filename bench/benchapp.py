"""The server every bench scenario runs: the production backend plus one bare route.

``create_bench_app()`` builds the real backend with ``wixapp.server.create_app()`` (settings
from the environment, exactly as ``wixapp serve`` does) and adds ``GET /bare``, which answers
the same JSON shape as ``/get-instance`` without identifying anyone. The bare route runs
through the same middleware (CORS, body limit, timing) in the same process, so the gap
between ``/bare`` and ``/get-instance`` is what identification costs, nothing else.

Run it as ``uvicorn benchapp:create_bench_app --factory --app-dir bench``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from wixapp.server import create_app

# The shape of /get-instance's answer (Caller.public()), with values of the same length.
BARE_BODY: dict[str, str | None] = {
    "instanceId": "00000000-0000-4000-8000-000000000000",
    "subjectType": "VISITOR",
    "subjectId": "00000000-0000-4000-8000-000000000001",
    "siteId": "00000000-0000-4000-8000-000000000002",
}


def create_bench_app() -> FastAPI:
    app = create_app()

    @app.get("/bare")
    async def bare() -> dict[str, Any]:
        """The framework's ceiling: the same JSON answer, no identification."""
        return dict(BARE_BODY)

    return app

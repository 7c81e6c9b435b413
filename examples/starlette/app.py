"""Per-instance notes on Starlette with wixapp's plain ASGI middleware.

Run against the emulator: ``python examples/run.py starlette``; against Wix: set WIX_APP_ID
and WIX_APP_SECRET, then ``python examples/starlette/app.py``. The same middleware wraps
any ASGI app (Litestar, Quart, …).
"""

from __future__ import annotations

import os

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from wixapp.adapters.asgi import WixMiddleware

notes: dict[str, list[str]] = {}  # a real app keeps these in its database, by instance_id


async def read_notes(request: Request) -> JSONResponse:
    caller = request.state.wix_caller  # identified by the middleware
    return JSONResponse(
        {"instanceId": caller.instance_id, "notes": notes.get(caller.instance_id, [])}
    )


async def add_note(request: Request) -> JSONResponse:
    caller = request.state.wix_caller
    text = str((await request.json())["text"])[:200]
    notes.setdefault(caller.instance_id, []).append(text)
    return JSONResponse({"instanceId": caller.instance_id, "notes": notes[caller.instance_id]})


app = Starlette(
    routes=[
        Route("/api/notes", read_notes, methods=["GET"]),
        Route("/api/notes", add_note, methods=["POST"]),
    ],
    # Settings from the environment; identifies /api/*, answers CORS, errors and /webhooks.
    middleware=[Middleware(WixMiddleware, guard=["/api/"])],
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))

"""The stack's ceiling: a raw ASGI app answering constant JSON of ``/get-instance``'s shape.

No framework, no middleware: one ``http.response.start`` and one ``http.response.body`` with
bytes encoded once. ``make bench`` runs it under the same uvicorn stack as the backend
(uvloop + httptools, one worker), so ``/get-instance`` against it is what wixapp and
Starlette cost over the server itself.

    uvicorn rawasgi:app --app-dir bench --loop uvloop --http httptools --lifespan off
"""

from __future__ import annotations

import orjson
from benchapp import BARE_BODY
from starlette.types import Receive, Scope, Send

BODY = orjson.dumps(BARE_BODY)
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-length", str(len(BODY)).encode()),
        (b"content-type", b"application/json"),
    ],
}
BODY_MESSAGE = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Every HTTP request's answer (run with ``--lifespan off``: no other scope comes)."""
    await send(START)
    await send(BODY_MESSAGE)

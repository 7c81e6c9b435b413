"""``POST /webhooks``: Wix's signed lifecycle deliveries (spec §7).

The body is the JWT itself, whatever the Content-Type. ``WebhookReceiver`` (receiver.py,
shared with the framework adapters) verifies it with ``WIX_APP_PUBLIC_KEY`` (RS256 only),
applies the built-in lifecycle handling (``Lifecycle``) and answers 200 at once; the user's
``WebhookRouter`` handlers then run in the background, so a slow handler never delays the
answer Wix wants within 1250 ms. A rejected body (400 or 401) changes nothing: nothing
recorded, nothing dispatched.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from wixapp.server.state import server_state

__all__ = ["webhook_router"]

webhook_router = APIRouter()


_ANSWER = {
    "type": "object",
    "properties": {"status": {"type": "string"}, "eventType": {"type": "string"}},
    "required": ["status", "eventType"],
}
_ERROR = {"$ref": "#/components/schemas/ErrorBody"}


@webhook_router.post(
    "/webhooks",
    response_class=JSONResponse,
    responses={
        200: {"content": {"application/json": {"schema": _ANSWER}}},
        400: {
            "description": "not a Wix webhook",
            "content": {"application/json": {"schema": _ERROR}},
        },
        401: {
            "description": "not signed with the app's key, or expired",
            "content": {"application/json": {"schema": _ERROR}},
        },
        413: {
            "description": "the body is too large",
            "content": {"application/json": {"schema": _ERROR}},
        },
        503: {
            "description": "WIX_APP_PUBLIC_KEY is not set (Retry-After)",
            "content": {"application/json": {"schema": _ERROR}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The JWT Wix signs (RS256), whatever the Content-Type.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def receive_webhook(request: Request) -> JSONResponse:
    """Wix's signed lifecycle webhooks: verified, recorded, applied, then 200."""
    return await server_state(request).webhook_receiver.receive(await request.body())

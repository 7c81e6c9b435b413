"""``POST /webhooks``: Wix's signed lifecycle deliveries (spec §7).

The body is the JWT itself, whatever the Content-Type. The route verifies it with
``WIX_APP_PUBLIC_KEY`` (RS256 only), applies the built-in lifecycle handling (``Lifecycle``)
and answers 200 at once; the user's ``WebhookRouter`` handlers then run in the background,
so a slow handler never delays the answer Wix wants within 1250 ms. A rejected body (400 or
401) changes nothing: nothing recorded, nothing dispatched.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from wixapp.errors import ConfigurationError, WebhookError
from wixapp.server.responses import error_response
from wixapp.server.state import ServerState, server_state
from wixapp.webhooks import load_public_key, verify_webhook

__all__ = ["webhook_router"]

logger = logging.getLogger("wixapp.server")

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
    state = server_state(request)
    key = _usable_key(state)
    if isinstance(key, JSONResponse):
        return key
    body = await request.body()
    try:
        event = verify_webhook(body, key, now=state.lifecycle.clock())
    except WebhookError as error:
        logger.warning("refused a webhook (%d %s): %s", error.status, error.code, error.detail)
        raise
    outcome = await state.lifecycle.handle(event)
    if outcome.is_new:
        state.webhooks.dispatch_in_background(event)
    return JSONResponse(
        {"status": outcome.verdict.value, "eventType": event.event_type},
        headers={"Cache-Control": "no-store"},
    )


def _usable_key(state: ServerState) -> str | JSONResponse:
    """The public key, or a 503 (logged once) while WIX_APP_PUBLIC_KEY is missing or
    unusable: Wix retries, so nothing is lost once the operator sets it."""
    key = state.settings.app_public_key
    if not key:
        detail = (
            "Webhooks are not configured: set WIX_APP_PUBLIC_KEY to the app's public key "
            "from the app dashboard."
        )
    else:
        try:
            load_public_key(key)
            return key
        except ConfigurationError as error:
            detail = error.detail
    if not state.webhook_key_warned:
        state.webhook_key_warned = True
        logger.error("answering webhooks with 503: %s", detail)
    return error_response(503, "webhooks_not_configured", detail, headers={"Retry-After": "60"})

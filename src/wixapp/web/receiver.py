"""Receiving a Wix webhook, the one way every front door does it (spec §7).

The backend's ``POST /webhooks``, the ASGI middleware, Flask and Django all hand the body
to :class:`WebhookReceiver`: the public key must be usable (else 503, logged once: Wix
retries, so nothing is lost once the operator sets it), the JWT is verified (RS256, the
configured key only, and for this app: an event naming another app ID is refused; a refusal
is 400/401 with no side effect), ``Lifecycle`` records and
applies the event, and the user's handlers run in the background so Wix gets its 200 at once.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from starlette.responses import JSONResponse

from wixapp.config import Settings
from wixapp.errors import ConfigurationError, WebhookError, WixAppError
from wixapp.logs import LogLimiter
from wixapp.web.lifecycle import Lifecycle
from wixapp.webhooks import WebhookEvent, WebhookRouter, load_public_key, verify_webhook

__all__ = ["WebhookReceiver", "WebhooksNotConfiguredError"]

logger = logging.getLogger("wixapp.web")

REFUSAL_LOG_INTERVAL = 60.0
"""Refused webhooks (anyone can post one) are logged at most once a minute per reason."""
_refusals = LogLimiter(interval=REFUSAL_LOG_INTERVAL)


def _log_refusal(error: WebhookError) -> None:
    _refusals.log(
        logger,
        logging.WARNING,
        error.code,
        "refused a webhook (%d %s): %s",
        error.status,
        error.code,
        error.detail,
    )


class WebhooksNotConfiguredError(WixAppError):
    """WIX_APP_PUBLIC_KEY is missing or unusable: 503, so that Wix delivers again later."""

    status_code = 503
    default_code = "webhooks_not_configured"
    default_detail = (
        "Webhooks are not configured: set WIX_APP_PUBLIC_KEY to the app's public key from "
        "the app dashboard."
    )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "60"}


class WebhookReceiver:
    """Verify → ``Lifecycle.handle`` → 200 → the ``routes``' handlers, in the background."""

    def __init__(self, *, settings: Settings, lifecycle: Lifecycle, routes: WebhookRouter) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.routes = routes
        self._key_warned = False

    def check_key(self) -> None:
        """At start: one warning line now when the key is missing or unusable, rather than
        an error at the first webhook Wix sends."""
        with contextlib.suppress(WebhooksNotConfiguredError):
            self._usable_key(at_start=True)

    def verify(self, body: bytes | str) -> WebhookEvent:
        """The verified event; ``WebhookError`` (400/401) or a 503 while the key is missing."""
        key = self._usable_key()
        try:
            return verify_webhook(
                body, key, now=self.lifecycle.clock(), app_id=self.settings.app_id
            )
        except WebhookError as error:
            _log_refusal(error)
            raise

    async def receive(self, body: bytes | str) -> JSONResponse:
        """Verify, record and apply the event, start its handlers; the answer for Wix."""
        event = self.verify(body)
        outcome = await self.lifecycle.handle(event)
        if outcome.is_new:
            self.routes.dispatch_in_background(event)
        answer: dict[str, Any] = {"status": outcome.verdict.value, "eventType": event.event_type}
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    def _usable_key(self, *, at_start: bool = False) -> str:
        key = self.settings.app_public_key
        if not key:
            problem = WebhooksNotConfiguredError()
        else:
            try:
                load_public_key(key)
                return key
            except ConfigurationError as error:
                problem = WebhooksNotConfiguredError(error.detail)
        if not self._key_warned:
            self._key_warned = True
            if at_start:
                logger.warning("webhooks will be answered 503: %s", problem.detail)
            else:
                logger.error("answering webhooks with 503: %s", problem.detail)
        raise problem

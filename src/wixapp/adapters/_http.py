"""What every framework adapter answers the same way: wixapp's JSON errors and widget CORS.

Both come from the backend's own code, applied outside any event loop: the error body is
the one ``response_for`` renders, and the CORS rules are Starlette's ``CORSMiddleware``
with the backend's options, so a Flask or Django app answers a widget exactly as wixapp's
FastAPI backend does.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.errors import WixAppError
from wixapp.server.responses import response_for

__all__ = ["CORS_HEADERS", "EXPOSED_HEADERS", "Answer", "CorsPolicy", "error_answer"]

HeaderItems = Iterable[tuple[str, str]]
"""Header names and values, as ``headers.items()`` gives them in any framework."""

CORS_METHODS = ("GET", "PUT", "POST", "OPTIONS")
CORS_HEADERS = ("Authorization", "Content-Type", "x-wix-linguist", "If-Match", "If-None-Match")
EXPOSED_HEADERS = ("ETag", "Retry-After", "WWW-Authenticate")
CORS_MAX_AGE = 600


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP answer, for frameworks that build their own response objects."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    media_type: str | None = None

    @classmethod
    def of(cls, response: Response) -> Answer:
        headers = [
            (name, value)
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        ]
        content_type = response.headers.get("content-type")
        return cls(response.status_code, headers, bytes(response.body), content_type)


def error_answer(error: WixAppError) -> Answer:
    """wixapp's JSON error for ``error``: ``{"error": code, "detail": …}`` and its headers."""
    return Answer.of(response_for(error))


class CorsPolicy:
    """The backend's CORS rules for widgets (``WIXAPP_CORS_ORIGINS``), for any framework."""

    def __init__(self, origins: Sequence[str]) -> None:
        self.options: dict[str, Any] = {
            "allow_origins": list(origins),
            "allow_methods": list(CORS_METHODS),
            "allow_headers": list(CORS_HEADERS),
            "expose_headers": list(EXPOSED_HEADERS),
            "allow_credentials": False,
            "max_age": CORS_MAX_AGE,
        }
        self._rules = CORSMiddleware(_no_app, **self.options)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """The rules as ASGI middleware in front of ``app``."""
        return CORSMiddleware(app, **self.options)

    def preflight(self, method: str, headers: HeaderItems) -> Answer | None:
        """The answer to a CORS preflight, or ``None`` if the request is not one."""
        request_headers = _headers(headers)
        if method != "OPTIONS" or "origin" not in request_headers:
            return None
        if "access-control-request-method" not in request_headers:
            return None
        return Answer.of(self._rules.preflight_response(request_headers=request_headers))

    def headers_for(
        self, request_headers: HeaderItems, response_headers: HeaderItems
    ) -> list[tuple[str, str]]:
        """``response_headers`` with the CORS headers this request's answer must carry."""
        message: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers
            ],
        }
        _run_now(self._rules.send(message, _keep, _headers(request_headers)))
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]]


def _headers(items: HeaderItems) -> Headers:
    return Headers(raw=[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items])


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("CorsPolicy's rules are applied directly, never as an app")


async def _keep(message: Message) -> None:
    """The ``send`` the rules hand the rewritten message to: it is already in place."""


def _run_now(work: Coroutine[Any, Any, None]) -> None:
    # Starlette's CORS ``send`` only awaits the ``send`` it is given (``_keep``, which never
    # suspends), so the coroutine completes in one step, with no event loop.
    try:
        work.send(None)
    except StopIteration:
        return
    work.close()
    raise RuntimeError("the CORS rules tried to wait; they cannot run outside an event loop")

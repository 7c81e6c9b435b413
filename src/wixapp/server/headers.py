"""Security headers on every answer, and paths that never bounce through the Host header.

- ``X-Content-Type-Options: nosniff`` everywhere: a JSON answer is never run as script.
- A Content-Security-Policy on HTML: the settings panel may be framed only by the Wix
  editor's origins (``WIX_EDITOR_ORIGINS``), the configured Wix (the emulator, when
  ``WIX_API_BASE_URL`` points at one) and ``WIXAPP_FRAME_ANCESTORS``; any other page by no
  one.
- A trailing slash is dropped from the path before routing instead of being redirected:
  Starlette's redirect builds its ``Location`` from the request's ``Host`` header, which a
  client chooses.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.config import DEFAULT_WIX_API_BASE_URL, Settings

__all__ = ["WIX_EDITOR_ORIGINS", "SecurityHeadersMiddleware", "panel_frame_ancestors"]

WIX_EDITOR_ORIGINS = ("https://*.wix.com", "https://*.editorx.com")
"""Where Wix's editor and dashboard frame an app's settings panel."""

_NOSNIFF = (b"x-content-type-options", b"nosniff")
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'{connect}; base-uri 'none'; form-action 'self'; "
    "frame-ancestors {ancestors}"
)


def panel_frame_ancestors(settings: Settings) -> list[str]:
    """The origins that may frame the settings panel."""
    origins = list(WIX_EDITOR_ORIGINS)
    if settings.api_base_url.rstrip("/") != DEFAULT_WIX_API_BASE_URL:
        origins.append(_origin(settings.api_base_url))  # the emulator serves the editor
    origins += settings.frame_ancestors
    return list(dict.fromkeys(origins))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _policy(ancestors: Iterable[str], connect: Iterable[str]) -> bytes:
    extra = "".join(f" {each}" for each in connect)
    return _PAGE_POLICY.format(connect=extra, ancestors=" ".join(ancestors) or "'none'").encode()


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        connect = [_origin(settings.api_base_url)]
        # Every HTML page may be an app's settings panel (wixapp's /panel, or the app's own
        # from its static folder): each may be framed by the Wix editor, and by nothing else.
        self._policy = (
            b"content-security-policy",
            _policy(panel_frame_ancestors(settings), connect),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        policy = self._policy

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append(_NOSNIFF)
                if any(
                    name == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                ):
                    headers.append(policy)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)

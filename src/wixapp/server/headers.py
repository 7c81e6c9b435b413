"""Security headers on every answer, and paths that never bounce through the Host header.

- ``X-Content-Type-Options: nosniff`` everywhere: a JSON answer is never run as script.
- A Content-Security-Policy on HTML: the settings panel and the dashboard page may be
  framed only by Wix's editor and dashboard origins (``WIX_EDITOR_ORIGINS``), the configured
  Wix (the emulator, when ``WIX_API_BASE_URL`` points at one) and
  ``WIXAPP_FRAME_ANCESTORS``. Styles may come from Wix's design-system stylesheets, which
  the official editor SDK adds to the panel (``WIX_DESIGN_SYSTEM_STYLES``);
  ``WIXAPP_CSP_EXTRA`` adds sources to any directive.
- A trailing slash is dropped from the path before routing instead of being redirected:
  Starlette's redirect builds its ``Location`` from the request's ``Host`` header, which a
  client chooses.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from starlette.types import Message, Scope, Send

from wixapp.config import DEFAULT_WIX_API_BASE_URL, Settings

__all__ = [
    "NOSNIFF",
    "WIX_DESIGN_SYSTEM_STYLES",
    "WIX_EDITOR_ORIGINS",
    "SecurityHeaders",
    "page_policy",
    "panel_frame_ancestors",
]

WIX_EDITOR_ORIGINS = ("https://*.wix.com", "https://*.editorx.com")
"""Where Wix's editor and dashboard frame an app's settings panel and dashboard page."""

WIX_DESIGN_SYSTEM_STYLES = "https://www.unpkg.com/@wix/design-system/dist/statics/"
"""Where @wix/editor's frame API loads its design tokens from (tokens-studio.global.css, and
tokens-default.global.css in the classic editor): a path prefix, nothing else on that host."""

NOSNIFF = (b"x-content-type-options", b"nosniff")
"""On every answer; the lean answers (JSON) write it themselves."""


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


def page_policy(settings: Settings) -> str:
    """The Content-Security-Policy of every HTML page the backend serves."""
    directives: dict[str, list[str]] = {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'", WIX_DESIGN_SYSTEM_STYLES],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", _origin(settings.api_base_url)],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": panel_frame_ancestors(settings) or ["'none'"],
    }
    for name, sources in settings.csp_extra.items():
        directives[name] = list(dict.fromkeys([*directives.get(name, []), *sources]))
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in directives.items())


class SecurityHeaders:
    """The headers every answer carries (applied by EdgeMiddleware, not a layer of its own),
    and the trailing slash dropped before routing."""

    def __init__(self, settings: Settings) -> None:
        # Every HTML page may be an app's settings panel or dashboard page (wixapp's /panel
        # and /dashboard, or the app's own from its static folder): each may be framed by
        # Wix, and by nothing else.
        self._policy = (b"content-security-policy", page_policy(settings).encode())

    @staticmethod
    def routed(scope: Scope) -> Scope:
        """The scope to route: its path without a trailing slash."""
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            return {**scope, "path": path.rstrip("/") or "/"}
        return scope

    def wrap(self, send: Send) -> Send:
        """``send`` adding nosniff to every answer, and the pages' policy to HTML."""
        return functools.partial(self._send, send=send)

    async def _send(self, message: Message, send: Send) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append(NOSNIFF)
            if any(
                name == b"content-type" and value.startswith(b"text/html")
                for name, value in headers
            ):
                headers.append(self._policy)
            message = {**message, "headers": headers}
        await send(message)

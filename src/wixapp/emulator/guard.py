"""What keeps the emulator a safe developer tool, and the request id Wix puts on answers.

The emulator runs on developers' machines, where any web page they visit can send requests
to it. ``LocalOnly`` refuses, on everything but the Wix API routes (which a backend calls,
possibly as "www.wixapis.com"):

- a ``Host`` that is not a loopback name (DNS rebinding: a page whose name resolves to
  127.0.0.1 sends its own name), and an ``Origin`` that is not a loopback origin (a page
  elsewhere posting to the control API);
- under the control API, a POST, PUT or PATCH whose body is not ``application/json``: a
  cross-site form or ``text/plain`` fetch needs no CORS preflight, a JSON body does.

Loopback means ``localhost`` and ``*.localhost``, ``127.0.0.0/8`` and ``[::1]``; names
under ``.invalid`` are allowed too (they never resolve, so no page can use them; the
in-process test clients do). ``allowed_hosts`` adds names or addresses on purpose, for a
LAN set-up (``wixapp emulator --allow-host NAME``).

``RequestIds`` adds ``x-wix-request-id`` to every answer, as Wix does (the SDK quotes it in
its errors, and so do wixapp's).
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.protocol import REQUEST_ID_HEADER

__all__ = ["LocalOnly", "RequestIds", "is_loopback_host"]

_WIX_API_PREFIXES = ("/oauth2/", "/apps/")
_CONTROL_PREFIX = "/_emulator"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_loopback_host(host: str, allowed: Iterable[str] = ()) -> bool:
    """Whether ``host`` (a name or address, no port) is this machine, or allowed on purpose."""
    name = host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
    if not name:
        return False
    if name in {entry.lower() for entry in allowed}:
        return True
    if name == "localhost" or name.endswith((".localhost", ".invalid")):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LocalOnly:
    """Pure ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_WIX_API_PREFIXES):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, detail = refusal
        await _send_json(send, status, {"error": code, "detail": detail})

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = Headers(scope=scope)
        host = _hostname(headers.get("host", ""))
        if not is_loopback_host(host, self.allowed_hosts):
            return (
                403,
                "emulator_host_refused",
                "The emulator answers only on loopback names (localhost, 127.0.0.1, [::1]); "
                "start it with --allow-host NAME to reach it by another name.",
            )
        origin = headers.get("origin")
        if origin is not None and not is_loopback_host(_origin_host(origin), self.allowed_hosts):
            return (
                403,
                "emulator_origin_refused",
                "The emulator refuses requests from pages that are not on this machine; "
                "allow an origin's host on purpose with --allow-host NAME.",
            )
        if scope["path"].startswith(_CONTROL_PREFIX) and scope["method"] in _BODY_METHODS:
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "application/json":
                return (
                    415,
                    "emulator_json_only",
                    "The control API takes only JSON bodies: send "
                    "Content-Type: application/json (an empty body is {}).",
                )
        return None


class RequestIds:
    """Pure ASGI middleware: a fresh ``x-wix-request-id`` on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)


def _hostname(host_header: str) -> str:
    """The name in a Host header, without its port ("[::1]:8765" → "::1")."""
    try:
        return urlsplit(f"//{host_header}").hostname or ""
    except ValueError:  # "[::1" and the like
        return ""


def _origin_host(origin: str) -> str:
    """The host of an Origin; "null" (sandboxed and file pages) has none, so it is refused."""
    try:
        parsed = urlsplit(origin)
        hostname = parsed.hostname
    except ValueError:
        return ""
    return hostname or "" if parsed.scheme in ("http", "https") else ""


async def _send_json(send: Send, status: int, body: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})

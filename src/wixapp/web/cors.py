"""CORS for the widget's and panel's cross-origin calls (spec §9), for every front door.

One policy: Starlette's ``CORSMiddleware`` with the backend's options. The backend installs
it as middleware allowing every method its routes answer (``RouteCORSMiddleware``), narrowed
by ``WIXAPP_CORS_METHODS``; the framework adapters apply the same rules to Flask and Django
answers (``preflight`` and ``headers_for`` run them without an event loop). A refused
preflight is answered in wixapp's JSON error form on every door (400 ``cors_origin_refused``
or ``cors_request_refused``), and a refused origin is logged once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.config import Settings
from wixapp.logs import LogLimiter
from wixapp.web.answers import error_response

__all__ = [
    "ANY_METHOD",
    "CORS_HEADERS",
    "CORS_METHODS",
    "EXPOSED_HEADERS",
    "CorsPolicy",
    "HeaderItems",
    "RouteCORSMiddleware",
    "WixCORSMiddleware",
    "cors_headers",
    "policy_for_any_routes",
    "route_methods",
]

# What fetchWithAuth sends (spec §9), and the preconditions of settings writes.
CORS_HEADERS = ("Authorization", "Content-Type", "x-wix-linguist", "If-Match", "If-None-Match")
CORS_METHODS = ("GET", "PUT", "POST", "OPTIONS")
EXPOSED_HEADERS = ("ETag", "Retry-After", "WWW-Authenticate")
CORS_MAX_AGE = 600
ANY_METHOD = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

HeaderItems = Iterable[tuple[str, str]]
"""Header names and values, as ``headers.items()`` gives them in any framework."""

logger = logging.getLogger("wixapp.web")
# Once per origin: a misconfigured site asks on every page view. (Each line costs a request,
# as an access log line does, and the table is bounded.)
_refused_origins = LogLimiter(interval=None)


class WixCORSMiddleware(CORSMiddleware):
    """Starlette's CORS rules, refusing a preflight in wixapp's JSON error form."""

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code != 400:
            return answer
        kept = {
            k: v for k, v in answer.headers.items() if k not in ("content-length", "content-type")
        }
        origin = request_headers["origin"]
        if self.is_allowed_origin(origin):
            detail = f"{bytes(answer.body).decode()}: not allowed by this backend's CORS rules."
            return error_response(400, "cors_request_refused", detail, kept)
        _log_refused(origin)
        detail = (
            f"The origin {origin[:200]} may not call this backend: add it to WIXAPP_CORS_ORIGINS."
        )
        return error_response(400, "cors_origin_refused", detail, kept)


def _log_refused(origin: str) -> None:
    if _refused_origins.allow(origin) is not None:
        logger.warning(
            "refused a cross-origin request from %r: WIXAPP_CORS_ORIGINS does not list it "
            "(logged once per origin)",
            origin[:200],
        )


class CorsPolicy:
    """The backend's CORS rules for widgets (``WIXAPP_CORS_ORIGINS``), for any framework."""

    def __init__(self, origins: Sequence[str], methods: Iterable[str] = CORS_METHODS) -> None:
        exact, pattern = split_origins(origins)
        self.options: dict[str, Any] = {
            "allow_origins": exact,
            "allow_origin_regex": pattern,
            "allow_methods": sorted(methods),
            "allow_headers": list(CORS_HEADERS),
            "expose_headers": list(EXPOSED_HEADERS),
            "allow_credentials": False,
            "max_age": CORS_MAX_AGE,
        }
        self._rules = WixCORSMiddleware(_no_app, **self.options)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """The rules as ASGI middleware in front of ``app``."""
        return WixCORSMiddleware(app, **self.options)

    def preflight(self, method: str, headers: HeaderItems) -> Response | None:
        """The answer to a CORS preflight, or ``None`` if the request is not one."""
        request_headers = _headers(headers)
        if method != "OPTIONS" or "origin" not in request_headers:
            return None
        if "access-control-request-method" not in request_headers:
            return None
        return self._rules.preflight_response(request_headers=request_headers)

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


def cors_headers(rules: CORSMiddleware, origin: bytes | None) -> tuple[tuple[bytes, bytes], ...]:
    """The headers ``rules`` add to an answer (one with none of them yet) to a request from
    ``origin`` (None: no Origin header): Starlette's own code, run on an empty answer."""
    message: Message = {"type": "http.response.start", "status": 200, "headers": []}
    request = Headers(raw=[] if origin is None else [(b"origin", origin)])
    _run_now(rules.send(message, _keep, request))
    return tuple(message["headers"])


def split_origins(origins: Sequence[str]) -> tuple[list[str], str | None]:
    """The allow-list as exact origins and one pattern for the ``https://*.domain`` entries:
    every subdomain, at any depth, of that domain (not the domain itself, not
    ``domain.evil.net``). Settings refuse any other use of ``*`` at start."""
    exact = [origin for origin in origins if "*." not in origin]
    wildcards = [origin for origin in origins if "*." in origin]
    if not wildcards:
        return exact, None
    alternatives = []
    for origin in wildcards:
        scheme, _, host = origin.partition("://*.")
        domain, _, port = host.partition(":")
        suffix = re.escape(domain.lower()) + (f":{port}" if port else "")
        alternatives.append(f"{re.escape(scheme.lower())}://(?:[a-z0-9-]+\\.)+{suffix}")
    return exact, "(?:" + "|".join(alternatives) + ")"


def policy_for_any_routes(settings: Settings) -> CorsPolicy:
    """The policy of a front door whose routes wixapp cannot list (the ASGI middleware,
    Flask, Django): every method, narrowed by ``WIXAPP_CORS_METHODS``."""
    return CorsPolicy(settings.cors_origins, settings.cors_methods or ANY_METHOD)


class RouteCORSMiddleware(WixCORSMiddleware):
    """The backend's CORS middleware: the policy allowing every method the app's routes
    answer, narrowed by ``WIXAPP_CORS_METHODS``.

    ``routes`` is the app's live route list: the middleware is built when the server starts,
    so routes the app adds after ``create_app`` (its own PATCH or DELETE) count too.
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute], settings: Settings) -> None:
        methods = route_methods(routes)
        if settings.cors_methods is not None:
            methods &= set(settings.cors_methods)
        super().__init__(app, **CorsPolicy(settings.cors_origins, methods).options)


def route_methods(routes: Iterable[BaseRoute]) -> set[str]:
    """The HTTP methods of ``routes`` and of the routers mounted or included among them."""
    methods: set[str] = set()
    for route in routes:
        methods |= set(getattr(route, "methods", None) or ())
        if isinstance(route, Mount):
            methods |= route_methods(route.routes)
        # FastAPI keeps an included router as one entry that points at the original.
        included = getattr(route, "original_router", None)
        if included is not None:
            methods |= route_methods(included.routes)
    return methods


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

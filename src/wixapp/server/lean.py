"""The lean hot path: the widget's GET requests answered without FastAPI's per-request work.

``GET /get-instance`` (and ``/api/get-instance``) and ``GET /api/settings`` are what page
views ask. FastAPI declares them (their OpenAPI description, and the answers to every other
method) and its route functions give the answers built here; but
:class:`~wixapp.server.middleware.EdgeMiddleware` answers a GET of these paths itself,
straight from the ASGI scope: no dependency resolution, no parameter models, no ``Request``
object, JSON written by orjson. The caller is identified by the same code as
:func:`wixapp.server.routes.current_caller`, and an error is the same JSON answer the
exception handlers give.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from wixapp.errors import WixAppError
from wixapp.identity.visibility import visible_instance
from wixapp.models import Caller
from wixapp.server.responses import error_response, response_for
from wixapp.server.schemas import DEFAULT_SETTINGS
from wixapp.server.state import ServerState
from wixapp.store import SettingsRecord

__all__ = [
    "LEAN_ROUTES",
    "NEVER_SAVED_ETAG",
    "JSONAnswer",
    "LeanRoute",
    "caller_of",
    "identify",
    "instance_answer",
    "invalid_include",
    "scope_client",
    "scope_header",
    "settings_answer",
]

logger = logging.getLogger("wixapp.server")

NEVER_SAVED_ETAG = '"v0"'


@dataclass(frozen=True, slots=True)
class JSONAnswer:
    """A 200 JSON answer: the encoded body and any extra headers."""

    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, send: Send) -> int:
        headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json"),
            *((name.encode(), value.encode("latin-1")) for name, value in self.headers),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
        return 200

    def response(self) -> Response:
        """The same answer for a FastAPI route."""
        return Response(self.body, media_type="application/json", headers=dict(self.headers))


# -- who is calling -----------------------------------------------------------------------


async def identify(state: ServerState, authorization: str | None, client: str | None) -> Caller:
    """The caller behind an Authorization header value, noted as seen."""
    return await caller_of(state, authorization, None, client)


async def caller_of(
    state: ServerState, authorization: str | None, instance: str | None, client: str | None
) -> Caller:
    """The token's caller or, when the request has no Authorization header at all, the
    legacy signed ``instance`` value's (:meth:`wixapp.WixApp.identify_request`); noted as
    seen."""
    caller = await state.wix.identify_request(authorization, instance=instance, client=client)
    state.seen.note(caller.instance_id, caller.site_id)
    return caller


# -- the answers (the FastAPI routes give these too) --------------------------------------


async def instance_answer(state: ServerState, caller: Caller, include: str | None) -> JSONAnswer:
    """``/get-instance``: the caller, and with ``include="instance"`` Wix's instance data:
    all of it for a USER, the ``WIXAPP_VISITOR_INSTANCE_FIELDS`` for anyone else
    (:mod:`wixapp.identity.visibility`)."""
    body: dict[str, Any] = caller.public()
    if include == "instance":
        data = await state.wix.instance(caller.instance_id)
        if caller.is_user:
            body["instance"] = _encoded_once(data.data, _dump_instance)
        else:
            fields = state.settings.visitor_instance_fields
            visible = functools.partial(_dump_visible, caller=caller, fields=fields)
            body["instance"] = _encoded_once(data.data, visible, _VISIBLE)
        body["instanceStale"] = data.stale
    return JSONAnswer(orjson.dumps(body))


async def settings_answer(state: ServerState, caller: Caller) -> JSONAnswer:
    """``GET /api/settings``: the instance's settings (cached; see ServerState.settings_cache)."""
    record = await state.settings_cache.get(caller.instance_id)
    return settings_json(caller, record)


def settings_json(caller: Caller, record: SettingsRecord | None) -> JSONAnswer:
    """The settings answer for a record (None: never saved, the defaults as version 0)."""
    if record is None:
        document, version, etag = _DEFAULT_SETTINGS, 0, NEVER_SAVED_ETAG
    else:
        document = _encoded_once(record, _dump_document)
        version, etag = record.version, record.etag
    body = {"instanceId": caller.instance_id, "settings": document, "version": version}
    return JSONAnswer(orjson.dumps(body), (("etag", etag), ("cache-control", "no-store")))


def invalid_include() -> Response:
    """The 422 FastAPI's validation gives for an ``include`` other than "instance"."""
    problem = {"field": "query.include", "problem": "Input should be 'instance'"}
    return error_response(
        422, "invalid_request", "The request does not match the schema.", problems=[problem]
    )


def _dump_instance(data: Any) -> bytes:
    return orjson.dumps(data.model_dump(by_alias=True, exclude_none=True))


def _dump_visible(data: Any, *, caller: Caller, fields: list[str]) -> bytes:
    document = data.model_dump(by_alias=True, exclude_none=True)
    return orjson.dumps(visible_instance(document, caller, fields))


def _dump_document(record: SettingsRecord) -> bytes:
    return orjson.dumps(record.document)


_ENCODED: dict[int, tuple[object, orjson.Fragment]] = {}
_VISIBLE: dict[int, tuple[object, orjson.Fragment]] = {}  # what visitors see of the same
_MAX_ENCODED = 20_000


def _encoded_once(
    value: Any,
    dump: Callable[[Any], bytes],
    table: dict[int, tuple[object, orjson.Fragment]] = _ENCODED,
) -> orjson.Fragment:
    """``value`` as JSON, encoded once per cached object. A cache serves the same object
    until it replaces it, so the object's identity is the key (the entry keeps it alive, so
    the identity cannot be reused meanwhile)."""
    found = table.get(id(value))
    if found is not None and found[0] is value:
        return found[1]
    if len(table) >= _MAX_ENCODED:
        table.clear()
    fragment = orjson.Fragment(dump(value))
    table[id(value)] = (value, fragment)
    return fragment


_DEFAULT_SETTINGS = orjson.Fragment(orjson.dumps(DEFAULT_SETTINGS))


# -- the ASGI side ------------------------------------------------------------------------


class LeanRoute:
    """One path's GET answered from the scope (see the module's doc)."""

    def __init__(
        self, path: str, answer: Callable[[ServerState, Scope], Awaitable[JSONAnswer | Response]]
    ) -> None:
        self.path = path
        self._answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer the request; the status sent."""
        state: ServerState = scope["app"].state.wixapp
        try:
            answer = await self._answer(state, scope)
        except WixAppError as error:
            if error.status >= 500:
                logger.warning("answering %d %s: %s", error.status, error.code, error.detail)
            answer = response_for(error)
        except Exception as error:
            logger.error("unexpected %s while answering a request", type(error).__name__)
            answer = error_response(500, "internal_error", "Something went wrong on our side.")
        if isinstance(answer, JSONAnswer):
            return await answer.send(send)
        await answer(scope, receive, send)
        return answer.status_code


def scope_header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (names are lower-case in ASGI)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def scope_client(scope: Scope) -> str | None:
    """The client's address, for the token-check budget."""
    client = scope.get("client")
    return str(client[0]) if client else None


async def _get_instance(state: ServerState, scope: Scope) -> JSONAnswer | Response:
    query = scope["query_string"]
    params = QueryParams(query) if query else None
    instance = params.get("instance") if params is not None else None
    caller = await caller_of(
        state, scope_header(scope, b"authorization"), instance, scope_client(scope)
    )
    include = params.get("include") if params is not None else None
    if include is not None and include != "instance":
        return invalid_include()
    return await instance_answer(state, caller, include)


async def _read_settings(state: ServerState, scope: Scope) -> JSONAnswer:
    caller = await identify(state, scope_header(scope, b"authorization"), scope_client(scope))
    return await settings_answer(state, caller)


def _routes(routes: Iterable[LeanRoute]) -> dict[str, LeanRoute]:
    return {route.path: route for route in routes}


LEAN_ROUTES = _routes(
    [
        LeanRoute("/get-instance", _get_instance),
        LeanRoute("/api/get-instance", _get_instance),
        LeanRoute("/api/settings", _read_settings),
    ]
)
"""The GET paths EdgeMiddleware answers itself, by path."""

"""The lean route table: the backend's GET routes of page views, implemented once.

``GET /get-instance`` (and ``/api/get-instance``) and ``GET /api/settings`` are what page views
ask. Each :class:`LeanRoute` here is the only implementation of its route:
:class:`~wixapp.server.middleware.EdgeMiddleware` answers a GET of its path straight from the
ASGI scope (no dependency resolution, no ``Request`` object, JSON written by orjson), and the
FastAPI declaration of the same path (its OpenAPI entry, and the 405 to other methods) is
generated from the route's :class:`Declaration` by :func:`declare_routes`, calling the same
code. The query parameters are one pydantic model: it validates them, and its JSON schema is
what OpenAPI shows, so the two cannot drift.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from wixapp.errors import ConfigurationError, InvalidRequestError, WixAppError
from wixapp.identity.visibility import visible_instance
from wixapp.models import Caller
from wixapp.server.headers import NOSNIFF
from wixapp.server.schemas import CallerBody, ErrorBody, SettingsBody
from wixapp.server.state import ServerState
from wixapp.store import SettingsRecord
from wixapp.web import Credentials, error_answer, unexpected_answer

__all__ = [
    "AUTHORIZATION_PARAMETER",
    "CALLER_SCOPE_KEY",
    "LEAN_ROUTES",
    "NEVER_SAVED_ETAG",
    "AnswerCodec",
    "Declaration",
    "Headerlist",
    "InstanceQuery",
    "JSONAnswer",
    "LeanHandler",
    "LeanRequest",
    "LeanRoute",
    "caller_in",
    "declare_routes",
    "error_statuses",
    "lean_route",
    "lean_table",
    "settings_json",
]

NEVER_SAVED_ETAG = '"v0"'

CALLER_SCOPE_KEY = "wixapp.caller"
"""Where a guarded request's caller waits in the scope (the ASGI adapter uses the same key)."""


Headerlist = tuple[tuple[bytes, bytes], ...]
"""Raw response headers (ASGI's form)."""

_JSON = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class JSONAnswer:
    """A 200 JSON answer: the encoded body and any extra headers."""

    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    # Its own raw headers (length, type, the extra ones) and whether one is a vary,
    # encoded once: a cached answer is sent many times.
    _head: Headerlist = field(init=False, repr=False, compare=False)
    _varies: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        length = (b"content-length", b"%d" % len(self.body))
        if not self.headers:
            object.__setattr__(self, "_head", (length, _JSON))
            object.__setattr__(self, "_varies", False)
            return
        own = tuple((name.encode(), value.encode("latin-1")) for name, value in self.headers)
        object.__setattr__(self, "_head", (length, _JSON, *own))
        object.__setattr__(self, "_varies", any(name.lower() == b"vary" for name, _ in own))

    async def send(self, send: Send, trailer: Headerlist = (NOSNIFF,)) -> int:
        """Send the answer; ``trailer``: the headers after its own (EdgeMiddleware's: the
        security header, then the CORS headers of the request's origin)."""
        if self._varies:
            headers = _vary_merged(list(self._head), trailer)
        else:
            headers = [*self._head, *trailer]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
        return 200

    def response(self) -> Response:
        """The same answer as a Starlette response (for a FastAPI route)."""
        return Response(self.body, media_type="application/json", headers=dict(self.headers))


class AnswerCodec:
    """Cached answers in the shared tier (``wix.instance_cache(..., AnswerCodec(), ...)``): a
    lean route that returns a :class:`JSONAnswer` built once per change sends the same bytes
    on every request. Only the body is kept, so the answer may carry no extra headers."""

    def encode(self, key: str, value: JSONAnswer) -> bytes:
        if value.headers:
            raise ValueError("AnswerCodec keeps the body only: cache answers without headers")
        return value.body

    def decode(self, key: str, data: bytes) -> JSONAnswer:
        return JSONAnswer(data)

    def tag(self, value: JSONAnswer) -> str:
        return ""


def _vary_merged(
    headers: list[tuple[bytes, bytes]], trailer: Headerlist
) -> list[tuple[bytes, bytes]]:
    """``headers`` (with a vary) then ``trailer``, except that a ``vary`` in the trailer joins
    the answer's own (one header, where the first was), as Starlette's CORS rules write it."""
    own = [i for i, (name, _) in enumerate(headers) if name.lower() == b"vary"]
    for name, value in trailer:
        if name != b"vary":
            headers.append((name, value))
            continue
        joined = b", ".join([*(headers[i][1] for i in own), value])
        headers[own[0]] = (b"vary", joined)
        for i in reversed(own[1:]):
            del headers[i]
        own = own[:1]
    return headers


# -- who is calling -----------------------------------------------------------------------


async def caller_in(state: ServerState, scope: Scope, query: QueryParams | None = None) -> Caller:
    """The caller the edge identified for this request (a guarded path), or identified now
    by the edge's rules and noted as seen (``query``: the query string, if parsed already)."""
    caller: Caller | None = scope.get(CALLER_SCOPE_KEY)
    if caller is None:
        caller = await state.edge.identify(Credentials.from_scope(scope, query))
        state.seen.note(caller.instance_id, caller.site_id)
    return caller


# -- the answers --------------------------------------------------------------------------


class InstanceQuery(BaseModel):
    """The query parameters of ``/get-instance``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    include: Literal["instance"] | None = None
    instance: str | None = Field(
        default=None,
        description="The legacy signed `instance` value of Wix iframes (no header).",
    )


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
    return settings_json(caller, record, state.settings_schema.encoded_defaults)


def settings_json(
    caller: Caller, record: SettingsRecord | None, defaults: orjson.Fragment
) -> JSONAnswer:
    """The settings answer for a record (None: never saved, the defaults as version 0)."""
    # Built once per cached record, or per instance for the defaults (same checks as
    # _encoded_once: the object's identity, kept alive by the entry).
    key, source = (caller.instance_id, defaults) if record is None else (id(record), record)
    found = _SETTINGS_ANSWERS.get(key)
    if found is not None and found[0] is source and found[1].instance_id == caller.instance_id:
        return found[1].answer
    if record is None:
        answer = _settings_answer(caller.instance_id, defaults, 0, NEVER_SAVED_ETAG)
    else:
        document = _encoded_once(record, _dump_document)
        answer = _settings_answer(caller.instance_id, document, record.version, record.etag)
    if len(_SETTINGS_ANSWERS) >= _MAX_ENCODED:
        _SETTINGS_ANSWERS.clear()
    _SETTINGS_ANSWERS[key] = (source, _Answered(caller.instance_id, answer))
    return answer


@dataclass(frozen=True, slots=True)
class _Answered:
    instance_id: str
    answer: JSONAnswer


def _settings_answer(instance_id: str, document: Any, version: int, etag: str) -> JSONAnswer:
    body = {"instanceId": instance_id, "settings": document, "version": version}
    return JSONAnswer(orjson.dumps(body), (("etag", etag), ("cache-control", "no-store")))


def _dump_instance(data: Any) -> bytes:
    return orjson.dumps(data.model_dump(by_alias=True, exclude_none=True))


def _dump_visible(data: Any, *, caller: Caller, fields: list[str]) -> bytes:
    document = data.model_dump(by_alias=True, exclude_none=True)
    return orjson.dumps(visible_instance(document, caller, fields))


def _dump_document(record: SettingsRecord) -> bytes:
    return orjson.dumps(record.document)


# A settings answer per cached record (as _encoded_once: the record's identity is the key).
_SETTINGS_ANSWERS: dict[int | str, tuple[object, _Answered]] = {}
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


# -- the route table ----------------------------------------------------------------------

LeanAnswer = Callable[[ServerState, Scope], Awaitable[JSONAnswer]]
Query = TypeVar("Query", bound=BaseModel)


def error_statuses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route gives (all in ErrorBody's shape)."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


_MEANING = {
    400: "the body is not JSON",
    401: "missing, malformed, invalid or expired token (WWW-Authenticate says which)",
    403: "this caller may not do this",
    412: "If-Match does not name the current version (ETag: the current one)",
    413: "the body is too large",
    422: "the request does not match the schema",
    428: "If-Match is required",
    429: "Wix throttles this instance, or too many unknown tokens (Retry-After)",
    502: "Wix answered something wixapp cannot use",
    503: "Wix, or the database, is unavailable (Retry-After)",
}
IDENTIFIED_ERRORS = (401, 422, 429, 502, 503)

AUTHORIZATION_PARAMETER: dict[str, Any] = {
    "description": "The Wix access token, raw (as fetchWithAuth sends it) or `Bearer <token>`.",
    "in": "header",
    "name": "Authorization",
    "required": False,
    "schema": {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": "The Wix access token, raw (as fetchWithAuth sends it) or `Bearer <token>`.",
        "title": "Authorization",
    },
}


@dataclass(frozen=True, slots=True)
class Declaration:
    """How FastAPI declares a lean route: its operation's name and description, its query
    model and its documented answers."""

    name: str
    description: str | None
    responses: dict[int | str, dict[str, Any]]
    query: type[BaseModel] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def identified(
        cls,
        name: str,
        description: str | None = None,
        model: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
    ) -> Declaration:
        """A route that identifies its caller: a 200 in ``model``'s shape (if given), and the
        answers identification can give instead (401, 422, 429, 502, 503)."""
        ok = {"model": model} if model is not None else {"description": "Successful Response"}
        return cls(name, description, {200: ok, **error_statuses(*IDENTIFIED_ERRORS)}, query)

    def parameters(self) -> list[dict[str, Any]]:
        """OpenAPI's parameters: the query model's fields, then the Authorization header."""
        query = [] if self.query is None else _query_parameters(self.query)
        return [*query, AUTHORIZATION_PARAMETER]


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = {key: value for key, value in field_schema.items() if key != "default"}
        parameter = {"in": "query", "name": name, "required": False, "schema": field_schema}
        if "description" in field_schema:
            parameter = {"description": field_schema["description"], **parameter}
        parameters.append(parameter)
    return parameters


class LeanRoute:
    """One path's GET, answered from the scope; ``declaration`` (None: undocumented) is how
    FastAPI declares it."""

    def __init__(self, path: str, answer: LeanAnswer, declaration: Declaration | None = None):
        self.path = path
        self.declaration = declaration
        self._answer = answer

    async def __call__(
        self,
        state: ServerState,
        scope: Scope,
        receive: Receive,
        send: Send,
        trailer: Headerlist = (NOSNIFF,),
    ) -> int:
        """Answer the request, ``trailer`` after the answer's own headers (the security
        header, and the CORS headers); the status sent."""
        try:
            return await (await self.answer(state, scope)).send(send, trailer)
        except WixAppError as error:
            refusal = error_answer(error)
        except Exception as error:
            refusal = unexpected_answer(error)
        refusal.raw_headers.extend(trailer)  # wixapp's error answers carry no vary of their own
        await refusal(scope, receive, send)
        return refusal.status_code

    def answer(self, state: ServerState, scope: Scope) -> Awaitable[JSONAnswer]:
        """The 200 answer, or the WixAppError to render (as the backend's handlers do)."""
        return self._answer(state, scope)


def declare_routes(router: APIRouter, routes: Iterable[LeanRoute]) -> None:
    """Declare each documented lean route on ``router``: OpenAPI from its declaration, and
    the route's own code should FastAPI ever be the one to call it."""
    for route in routes:
        declared = route.declaration
        if declared is None:
            continue
        router.add_api_route(
            route.path,
            _endpoint(route, declared),
            methods=["GET"],
            response_model=None,
            responses=declared.responses,
            openapi_extra={"parameters": declared.parameters(), **declared.extra},
        )


def _endpoint(route: LeanRoute, declared: Declaration) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        # An error propagates to the backend's exception handlers: the same answers.
        return (await route.answer(request.app.state.wixapp, request.scope)).response()

    endpoint.__name__ = declared.name
    endpoint.__doc__ = declared.description
    return endpoint


def _validated(model: type[Query], query: QueryParams) -> Query:
    try:  # a repeated parameter: the last value counts, as in Starlette and FastAPI
        return model.model_validate(dict(query))
    except ValidationError as error:
        raise InvalidRequestError(error.errors(), location=("query",)) from None


_PARSED: dict[tuple[type[BaseModel], bytes], tuple[QueryParams, Any]] = {}
_MAX_PARSED = 256


def _parsed_query(model: type[Query], raw: bytes) -> tuple[QueryParams | None, Query]:
    """A route's parsed and validated query. Page views send a handful of query strings
    (``include=instance``), so those are parsed once per process; one that carries a
    legacy ``instance`` value (a credential) is never kept."""
    if not raw:
        return None, _defaults(model)
    known = _PARSED.get((model, raw))
    if known is not None:
        return known
    query = QueryParams(raw)
    parsed = query, _validated(model, query)
    if "instance" not in query:
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()
        _PARSED[model, raw] = parsed
    return parsed


@functools.cache
def _defaults(model: type[Query]) -> Query:
    return model()


async def _get_instance(state: ServerState, scope: Scope) -> JSONAnswer:
    query, validated = _parsed_query(InstanceQuery, scope["query_string"])  # once, for both
    caller = await caller_in(state, scope, query)
    return await instance_answer(state, caller, validated.include)


async def _read_settings(state: ServerState, scope: Scope) -> JSONAnswer:
    return await settings_answer(state, await caller_in(state, scope))


SETTINGS_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "model": SettingsBody,
        "headers": {"ETag": {"description": 'the version, "v<n>"', "schema": {"type": "string"}}},
    }
}
_GET_INSTANCE = Declaration.identified(
    "get_instance",
    "Who is calling: the app instance (tenant) and the subject behind the token.",
    CallerBody,
    InstanceQuery,
)
_READ_SETTINGS = Declaration(
    "read_settings", None, {**SETTINGS_ANSWER, **error_statuses(*IDENTIFIED_ERRORS)}
)

LEAN_ROUTES: dict[str, LeanRoute] = {
    route.path: route
    for route in [
        LeanRoute("/get-instance", _get_instance, _GET_INSTANCE),
        LeanRoute("/api/get-instance", _get_instance, _GET_INSTANCE),
        LeanRoute("/api/settings", _read_settings, _READ_SETTINGS),
    ]
}
"""The GET paths EdgeMiddleware answers itself, by path."""


# -- an app's own lean routes --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeanRequest:
    """What an app's lean route gets beside its caller: the backend's state (``store``,
    ``wix``, ...), the request's ASGI scope, and its query validated by the declaration's
    query model (None when the declaration has none)."""

    state: ServerState
    scope: Scope
    query: Any = None

    @property
    def headers(self) -> Headers:
        return Headers(scope=self.scope)

    @property
    def app(self) -> Any:
        """The application (``request.app.state`` holds what the app's lifespan set up)."""
        return self.scope["app"]


LeanHandler = Callable[[Caller, LeanRequest], Awaitable[Any]]


def lean_route(
    path: str, handler: LeanHandler, declaration: Declaration | None = None
) -> LeanRoute:
    """An app's own GET answered on the lean path, as ``/get-instance`` is: the caller is
    identified (or taken from the guard), ``handler(caller, request)`` returns what to send
    (JSON-able for orjson, a pydantic model, or a :class:`JSONAnswer` for extra headers), and
    a :class:`~wixapp.errors.WixAppError` it raises is wixapp's JSON error. ``declaration``
    is its OpenAPI entry (default: the handler's name and docstring, identified errors)."""
    declared = declaration or Declaration.identified(handler.__name__, inspect.getdoc(handler))
    model = declared.query

    async def answer(state: ServerState, scope: Scope) -> JSONAnswer:
        query, validated = (
            (None, None) if model is None else _parsed_query(model, scope["query_string"])
        )
        caller = await caller_in(state, scope, query)
        return _json_answer(await handler(caller, LeanRequest(state, scope, validated)))

    return LeanRoute(path, answer, declared)


def _json_answer(result: Any) -> JSONAnswer:
    if isinstance(result, JSONAnswer):
        return result
    if isinstance(result, BaseModel):
        return JSONAnswer(result.__pydantic_serializer__.to_json(result, by_alias=True))
    return JSONAnswer(orjson.dumps(result))


def lean_table(app_routes: Iterable[LeanRoute] = ()) -> dict[str, LeanRoute]:
    """The built-in lean routes and an app's own, by path (a path taken twice is refused)."""
    table = dict(LEAN_ROUTES)
    for route in app_routes:
        if route.path in table:
            raise ConfigurationError(f"lean route {route.path}: the path is already taken")
        table[route.path] = route
    return table

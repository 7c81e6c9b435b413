"""The backend's routes: identification, settings, health and metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import fastapi.routing
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.dependencies.models import Dependant
from starlette.responses import JSONResponse, Response

from wixapp.errors import (
    PayloadTooLargeError,
    PermissionDeniedError,
    WixAppError,
)
from wixapp.metrics import CONTENT_TYPE_LATEST
from wixapp.models import Caller
from wixapp.server.lean import (
    AUTHORIZATION_PARAMETER,
    IDENTIFIED_ERRORS,
    LEAN_ROUTES,
    NEVER_SAVED_ETAG,
    SETTINGS_ANSWER,
    caller_in,
    declare_routes,
    error_statuses,
    settings_json,
)
from wixapp.server.schemas import WidgetSettings
from wixapp.server.state import ServerState, server_state
from wixapp.web import error_response

__all__ = ["authorization_documented", "caller_or_legacy_instance", "current_caller", "router"]

logger = logging.getLogger("wixapp.server")

router = APIRouter()


async def current_caller(request: Request) -> Caller:
    """The identified caller of this request (a FastAPI dependency): the edge's, when the
    path is guarded (``WIXAPP_GUARD_PATHS``), else identified now by the same rules (the
    token, or while ``WIXAPP_LEGACY_INSTANCE`` allows, the legacy ``instance`` parameter).

    The ``Authorization`` header is read from the scope, not declared as a parameter:
    FastAPI would parse and validate it on every request. OpenAPI still documents it on
    every route that depends on this (:func:`authorization_documented`).
    """
    return await caller_in(request.app.state.wixapp, request.scope)


def authorization_documented(
    app: FastAPI, generate: Callable[[], dict[str, Any]]
) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with the ``Authorization`` header added to each operation whose route
    depends on :func:`current_caller` (directly or through another dependency), once, when
    the schema is built."""

    def described() -> dict[str, Any]:
        schema = generate()
        paths = schema.get("paths", {})
        for route in _api_routes(app):
            if _depends_on_caller(route.dependant):
                for method in route.methods:
                    operation = paths.get(route.path_format, {}).get(method.lower())
                    if operation is not None:
                        _add_authorization(operation)
        return schema

    return described


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route, included routers' too: FastAPI 0.16x keeps an included router as
    one entry (``iter_route_contexts`` flattens it); earlier versions copy its routes."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in app.routes if flatten is None else flatten(app.routes):
        if isinstance(getattr(route, "dependant", None), Dependant):
            yield route


def _depends_on_caller(dependant: Dependant) -> bool:
    return any(
        sub.call is current_caller or _depends_on_caller(sub) for sub in dependant.dependencies
    )


def _add_authorization(operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("in") == "header" and p.get("name") == "Authorization" for p in parameters):
        parameters.append(AUTHORIZATION_PARAMETER)


caller_or_legacy_instance = current_caller
"""The same dependency (every identified route accepts the legacy parameter alike)."""

CallerDep = Annotated[Caller, Depends(current_caller)]

# The page views' GETs: generated from the lean route table (their one implementation).
declare_routes(router, LEAN_ROUTES.values())

_SETTINGS_REQUEST = {
    "requestBody": {
        "required": True,
        "description": "The whole settings document; absent fields take their defaults.",
        "content": {"application/json": {"schema": WidgetSettings.model_json_schema()}},
    }
}


@router.put(
    "/api/settings",
    responses={
        **SETTINGS_ANSWER,
        **error_statuses(*IDENTIFIED_ERRORS, 400, 403, 412, 413, 422, 428),
    },
    openapi_extra=_SETTINGS_REQUEST,
)
async def write_settings(
    request: Request,
    caller: CallerDep,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The ETag from GET /api/settings ("v0" before the first save).',
        ),
    ] = None,
) -> Response:
    """Save the settings (USER callers only), if they are still the version read."""
    if not caller.is_user:
        raise PermissionDeniedError(
            "Only a Wix user (the site owner in the editor or dashboard) may change settings.",
            code="user_required",
        )
    state = server_state(request)
    document = state.settings_schema.validate(
        await _read_settings_body(request, state.settings.settings_max_bytes)
    )
    if if_match is None:
        return error_response(
            428,
            "precondition_required",
            "Send If-Match with the ETag from GET /api/settings, so no change is lost.",
        )
    record = await state.store.put_settings(  # a stale If-Match raises PreconditionFailedError
        caller.instance_id,
        document,
        if_match=None if if_match == NEVER_SAVED_ETAG else if_match,
        create_only=if_match == NEVER_SAVED_ETAG,
        updated_by=caller.subject_id,
    )
    # Every process drops its copy before the answer leaves: the next read here loads
    # this write; the others see it when the broadcast arrives (see InstanceCache).
    await state.settings_cache.invalidate(caller.instance_id)
    return settings_json(caller, record, state.settings_schema.encoded_defaults).response()


async def _read_settings_body(request: Request, max_bytes: int) -> Any:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise PayloadTooLargeError(max_bytes, "Settings JSON")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise _InvalidJSON() from None


class _InvalidJSON(WixAppError):
    status_code = 400
    default_code = "invalid_json"
    default_detail = "The body is not JSON: send the settings as a JSON object."


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


_READINESS = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "checks": {
            "type": "object",
            "description": "states only (the reasons are logged): database ok | unavailable "
            "| migrations_pending; redis (when configured) ok | degraded",
            "additionalProperties": {"type": "string"},
        },
    },
    "required": ["status", "checks"],
}


@router.get(
    "/readyz",
    response_class=JSONResponse,
    responses={
        200: {"content": {"application/json": {"schema": _READINESS}}},
        503: {
            "description": "the database is unreachable, or its migrations are pending",
            "content": {"application/json": {"schema": _READINESS}},
        },
    },
)
async def readyz(request: Request) -> JSONResponse:
    state = server_state(request)
    checks = {"database": await _database_state(state)}
    ready = checks["database"] == "ok"
    shared_cache = await state.wix.shared_cache_status()
    if shared_cache is not None:  # not part of `ready`: without Redis requests still work
        checks["redis"] = "ok" if shared_cache == "ok" else "degraded"
        _log_state("redis", shared_cache)
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _database_state(state: ServerState) -> str:
    """ "ok", "unavailable" or "migrations_pending"; the reason goes to the log."""
    try:
        await state.store.ping()
        pending = await state.store.pending_migrations()
    except Exception as error:
        _log_state("database", f"unavailable ({type(error).__name__}: {error})")
        return "unavailable"
    _log_state("database", "migrations_pending" if pending else "ok")
    return "migrations_pending" if pending else "ok"


_last_states: dict[str, str] = {}


def _log_state(check: str, state: str) -> None:
    """Readiness details are for operators: logged when they change, never answered."""
    if _last_states.get(check) != state:
        _last_states[check] = state
        if state != "ok":
            logger.warning("readiness: %s is %s", check, state)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

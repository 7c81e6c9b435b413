"""The backend's routes: identification, settings, health and metrics."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from wixapp.errors import PayloadTooLargeError, PermissionDeniedError, WixAppError
from wixapp.metrics import CONTENT_TYPE_LATEST
from wixapp.models import Caller
from wixapp.server.lean import (
    NEVER_SAVED_ETAG,
    caller_of,
    identify,
    instance_answer,
    settings_answer,
    settings_json,
)
from wixapp.server.responses import error_response
from wixapp.server.schemas import (
    CallerBody,
    ErrorBody,
    SettingsBody,
    WidgetSettings,
)
from wixapp.server.state import ServerState, server_state

__all__ = ["caller_or_legacy_instance", "current_caller", "router"]

logger = logging.getLogger("wixapp.server")

router = APIRouter()


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route gives (all in ErrorBody's shape)."""
    meaning = {
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
    return {status: {"model": ErrorBody, "description": meaning[status]} for status in statuses}


_IDENTIFIED = (401, 422, 429, 502, 503)

AuthorizationHeader = Annotated[
    str | None,
    Header(
        alias="Authorization",
        description="The Wix access token, raw (as fetchWithAuth sends it) or `Bearer <token>`.",
    ),
]


async def current_caller(request: Request, authorization: AuthorizationHeader = None) -> Caller:
    """The identified caller of this request (a FastAPI dependency).

    ``authorization`` only documents the header: it is read from ``request`` so that a
    direct call, ``await current_caller(request)``, sees it too.
    """
    client = request.client.host if request.client else None
    return await identify(server_state(request), request.headers.get("authorization"), client)


CallerDep = Annotated[Caller, Depends(current_caller)]


async def caller_or_legacy_instance(
    request: Request,
    instance: Annotated[
        str | None,
        Query(description="The legacy signed `instance` value of Wix iframes (no header)."),
    ] = None,
    authorization: AuthorizationHeader = None,
) -> Caller:
    """``current_caller``, or, when the request has no Authorization header, the legacy
    signed ``?instance=`` value of Wix iframes and dashboards (spec §8), checked locally
    with the app secret in constant time. OWNER permissions make a USER, anything else a
    VISITOR (``LegacyInstance.caller``). A bad value is a 401."""
    client = request.client.host if request.client else None
    header = request.headers.get("authorization")
    return await caller_of(server_state(request), header, instance, client)


_CALLER_ANSWER = {200: {"model": CallerBody}, **_errors(*_IDENTIFIED)}


# GET of these paths is answered by the lean path (wixapp.server.lean) before FastAPI sees
# it; the routes declare them (OpenAPI, other methods) and give the same answers.


@router.get("/get-instance", response_model=None, responses=_CALLER_ANSWER)
@router.get("/api/get-instance", response_model=None, responses=_CALLER_ANSWER)
async def get_instance(
    request: Request,
    caller: Annotated[Caller, Depends(caller_or_legacy_instance)],
    include: Annotated[Literal["instance"] | None, Query()] = None,
) -> Response:
    """Who is calling: the app instance (tenant) and the subject behind the token."""
    answer = await instance_answer(server_state(request), caller, include)
    return answer.response()


_SETTINGS_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "model": SettingsBody,
        "headers": {"ETag": {"description": 'the version, "v<n>"', "schema": {"type": "string"}}},
    }
}
_SETTINGS_REQUEST = {
    "requestBody": {
        "required": True,
        "description": "The whole settings document; absent fields take their defaults.",
        "content": {"application/json": {"schema": WidgetSettings.model_json_schema()}},
    }
}


@router.get("/api/settings", responses={**_SETTINGS_ANSWER, **_errors(*_IDENTIFIED)})
async def read_settings(request: Request, caller: CallerDep) -> Response:
    answer = await settings_answer(server_state(request), caller)
    return answer.response()


@router.put(
    "/api/settings",
    responses={**_SETTINGS_ANSWER, **_errors(*_IDENTIFIED, 400, 403, 412, 413, 422, 428)},
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
    document = await _read_settings_body(request, state.settings.settings_max_bytes)
    if if_match is None:
        return error_response(
            428,
            "precondition_required",
            "Send If-Match with the ETag from GET /api/settings, so no change is lost.",
        )
    record = await state.store.put_settings(  # a stale If-Match raises PreconditionFailed
        caller.instance_id,
        document,
        if_match=None if if_match == NEVER_SAVED_ETAG else if_match,
        create_only=if_match == NEVER_SAVED_ETAG,
        updated_by=caller.subject_id,
    )
    # Every process drops its copy before the answer leaves: the next read here loads
    # this write; the others see it when the broadcast arrives (see InstanceCache).
    await state.settings_cache.invalidate(caller.instance_id)
    return settings_json(caller, record).response()


async def _read_settings_body(request: Request, max_bytes: int) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise PayloadTooLargeError(max_bytes, "Settings JSON")
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        raise _InvalidJSON() from None
    try:
        return WidgetSettings.model_validate(raw).document()
    except ValidationError as error:
        raise _InvalidSettings(error) from None


class _InvalidJSON(WixAppError):
    status_code = 400
    default_code = "invalid_json"
    default_detail = "The body is not JSON: send the settings as a JSON object."


class _InvalidSettings(WixAppError):
    status_code = 422
    default_code = "invalid_settings"

    def __init__(self, error: ValidationError) -> None:
        self.problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "problem": e["msg"]}
            for e in error.errors()
        ]
        super().__init__("The settings do not match the schema; fix the fields listed.")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "problems": self.problems}


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

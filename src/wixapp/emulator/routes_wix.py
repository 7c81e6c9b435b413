"""The emulated Wix endpoints (spec §2 to §6), with call counting, faults and rate limiting.

Every endpoint runs the same pipeline: count the call, read the body, apply the injected
faults (latency, then hang / reset / error status / malformed body), then the handler, which
checks the rate limit once it knows the call's app instance. Handlers raise
``WixHTTPError``; the pipeline renders it as Wix would.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from wixapp.emulator.faults import EmulatedConnectionReset, FaultPlan
from wixapp.emulator.protojson import FieldConflict, snake_fields
from wixapp.emulator.records import (
    APP_TOKEN_LIFETIME,
    Endpoint,
    Installation,
    RegisteredApp,
    Site,
)
from wixapp.emulator.timekeeping import wix_time
from wixapp.emulator.tokens import TokenClaims
from wixapp.emulator.wix_errors import WixHTTPError
from wixapp.emulator.world import EmulatorState
from wixapp.models import SubjectType
from wixapp.protocol import ENDPOINT_PATHS, strip_bearer

__all__ = ["state_of", "wix_routes"]

_FAULT_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    428: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
}
_POLL_SECONDS = 0.05

Handler = Callable[[Request, EmulatorState], Awaitable[Response]]


def state_of(request: Request) -> EmulatorState:
    return cast(EmulatorState, request.app.state.emulator)


def wix_routes() -> list[Route]:
    return [
        Route(
            ENDPOINT_PATHS[Endpoint.TOKEN_INFO],
            _pipeline(Endpoint.TOKEN_INFO, _token_info),
            methods=["POST"],
        ),
        Route(
            ENDPOINT_PATHS[Endpoint.TOKEN],
            _pipeline(Endpoint.TOKEN, _token, oauth=True),
            methods=["POST"],
        ),
        Route(
            ENDPOINT_PATHS[Endpoint.INSTANCE],
            _pipeline(Endpoint.INSTANCE, _instance),
            methods=["GET"],
        ),
    ]


# ---- the pipeline


def _pipeline(
    endpoint: Endpoint, handler: Handler, *, oauth: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        state = state_of(request)
        state.count_call(endpoint.value)
        await request.body()  # read now, so watching for a disconnect cannot eat it
        plan = state.plan_faults(endpoint.value)
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.hang:
            return await _hang(request, state)
        if plan.reset:
            return _ResetConnection()
        if plan.status is not None and not plan.malformed:
            return _injected_error(plan)
        response = await _answer(request, state, handler, oauth=oauth)
        return _truncated(response, plan.status) if plan.malformed else response

    return run


async def _answer(
    request: Request, state: EmulatorState, handler: Handler, *, oauth: bool
) -> Response:
    try:
        return await handler(request, state)
    except WixHTTPError as error:
        return error.response(oauth=oauth and state.behaviour.token_error_style == "oauth")


async def _hang(request: Request, state: EmulatorState) -> Response:
    """Hold the call until the client leaves, faults are cleared, or ``hang_seconds`` pass."""
    deadline = time.monotonic() + state.hang_seconds
    generation = state.faults.generation
    while time.monotonic() < deadline and state.faults.generation == generation:
        if await request.is_disconnected():
            break
        await asyncio.sleep(_POLL_SECONDS)
    return WixHTTPError(504, "", "").response()


class _ResetConnection(Response):
    """Starts a 200 answer, then drops the connection before its body.

    Raising after the start is what makes both transports see a broken connection: uvicorn
    closes the socket mid-answer (the client reads a truncated response), and
    ``httpx.ASGITransport`` re-raises the error, an ``httpx.RemoteProtocolError``.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _quiet_served_resets()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise EmulatedConnectionReset()


class _DropResets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], EmulatedConnectionReset))


_DROP_RESETS = _DropResets()


def _quiet_served_resets() -> None:
    """uvicorn logs every exception an app raises with its traceback; a reset is on purpose."""
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if _DROP_RESETS not in uvicorn_errors.filters:
        uvicorn_errors.addFilter(_DROP_RESETS)


def _injected_error(plan: FaultPlan) -> Response:
    status = cast(int, plan.status)
    code = _FAULT_CODES.get(status, "UNKNOWN")
    error = WixHTTPError(status, code, "Injected by the emulator.", retry_after=plan.retry_after)
    return error.response()


def _truncated(response: Response, status: int | None) -> Response:
    body = bytes(response.body)
    return Response(
        body[: len(body) // 2],
        status_code=status or response.status_code,
        media_type="application/json",
    )


# ---- POST /oauth2/token-info (spec §2)


async def _token_info(request: Request, state: EmulatorState) -> Response:
    token = (await _json_object(request)).get("token")
    if not isinstance(token, str) or not token:
        raise WixHTTPError(400, "INVALID_ARGUMENT", "token is required.", field="token")
    _throttle(state, state.peek(token))
    claims = state.introspect(token)
    if claims is not None:
        body = _token_info_body(claims, state)
        installation = state.installation(claims.instance_id)
        if not installation.is_free and installation.package_name:
            body["vendorProductId"] = installation.package_name  # the paid plan
        return JSONResponse(body)
    if state.behaviour.token_info_invalid == "inactive":
        return JSONResponse(_styled({"active": False}, state))
    raise WixHTTPError(401, "UNAUTHENTICATED", "The token is invalid, expired or revoked.")


def _token_info_body(claims: TokenClaims, state: EmulatorState) -> dict[str, Any]:
    body: dict[str, Any] = {
        "active": True,
        "subjectType": claims.subject_type.value,
        "subjectId": claims.subject_id,
        "exp": claims.exp,
        "iat": claims.iat,
        "clientId": claims.client_id,
        "accountId": claims.account_id,
        "siteId": claims.site_id,
        "instanceId": claims.instance_id,
    }
    return _styled({key: value for key, value in body.items() if value is not None}, state)


def _styled(body: dict[str, Any], state: EmulatorState) -> dict[str, Any]:
    """The documentation example sends every value as a string; the SDK typings do not."""
    if state.behaviour.value_style == "native":
        return body
    return {key: _as_string(value) for key, value in body.items()}


def _as_string(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


# ---- POST /oauth2/token (spec §3, §11): the grant decides which fields are needed


async def _token(request: Request, state: EmulatorState) -> Response:
    body = await _token_body(request)
    grant_type = _required(body, "grant_type")  # first, so a refusal names the real cause
    if grant_type == "client_credentials":
        return _client_credentials(body, state)
    if grant_type == "strip_bound_session":
        return _strip_bound_session(body, state)
    raise WixHTTPError(
        400,
        "UNSUPPORTED_GRANT_TYPE",
        "grant_type must be client_credentials or strip_bound_session.",
        oauth_error="unsupported_grant_type",
        field="grant_type",
    )


def _client_credentials(body: dict[str, Any], state: EmulatorState) -> Response:
    client_id, client_secret, instance_id = (
        _required(body, name) for name in ("client_id", "client_secret", "instance_id")
    )
    _authenticate_client(state, client_id, client_secret)
    installation = state.find_installation(instance_id)
    _throttle_instance(state, installation.instance_id if installation else None)
    if installation is None or not installation.installed or installation.app_id != client_id:
        raise WixHTTPError(
            400,
            "INVALID_INSTANCE_ID",
            "instance_id is not an installation of this app.",
            oauth_error="invalid_grant",
            field="instance_id",
        )
    minted = state.mint_token(instance_id, SubjectType.APP, lifetime=APP_TOKEN_LIFETIME)
    return JSONResponse(
        {"access_token": minted.token, "token_type": "Bearer", "expires_in": APP_TOKEN_LIFETIME}
    )


def _strip_bound_session(body: dict[str, Any], state: EmulatorState) -> Response:
    """The caller's token, unbound from its browser session: same subject and instance.

    @wix/sdk sends ``client_secret`` and ``access_token`` only (no ``client_id``): the app
    is the one the token was issued to, and the secret must be that app's.
    """
    client_secret, access_token = (
        _required(body, name) for name in ("client_secret", "access_token")
    )
    claims = state.introspect(access_token)
    _throttle_instance(state, claims.instance_id if claims else None)
    if claims is None:
        raise WixHTTPError(
            401,
            "UNAUTHENTICATED",
            "access_token is invalid, expired or revoked.",
            oauth_error="invalid_grant",
        )
    client_id = body.get("client_id")
    if client_id is not None and client_id != claims.client_id:
        raise WixHTTPError(
            401,
            "UNAUTHENTICATED",
            "access_token was not issued to client_id.",
            oauth_error="invalid_grant",
        )
    _authenticate_client(state, claims.client_id, client_secret)
    unbound = state.unbind_token(access_token)
    return JSONResponse(
        {"access_token": unbound.token, "expires_in": unbound.exp - int(state.now())}
    )


def _required(body: dict[str, Any], name: str) -> str:
    """A string field under its snake_case name or its lowerCamelCase one: Wix's gateway
    parses bodies the protobuf-JSON way (spec §11; Wix's own guide sends ``instanceId``)."""
    value = body.get(name)
    if value is None:
        head, *rest = name.split("_")
        value = body.get(head + "".join(part.capitalize() for part in rest))
    if isinstance(value, str) and value:
        return value
    raise WixHTTPError(
        400, "INVALID_ARGUMENT", f"{name} is required.", oauth_error="invalid_request", field=name
    )


def _authenticate_client(state: EmulatorState, client_id: str, client_secret: str) -> None:
    app = state.find_app(client_id)
    expected = app.app_secret if app else ""
    if app is None or not hmac.compare_digest(expected.encode(), client_secret.encode()):
        raise WixHTTPError(
            401,
            "UNAUTHENTICATED",
            "Unknown client_id or wrong client_secret.",
            oauth_error="invalid_client",
        )


# ---- GET /apps/v1/instance (spec §4)

# Wix's docs list the app identity and a Wix user (the owner, in a dashboard page) as the
# identities that may call Get App Instance; a visitor or member must elevate first.
_READS_INSTANCE = frozenset({SubjectType.APP, SubjectType.USER})


async def _instance(request: Request, state: EmulatorState) -> Response:
    token = strip_bearer(request.headers.get("authorization", ""))
    if not token:
        raise WixHTTPError(401, "UNAUTHENTICATED", "Send an access token in Authorization.")
    _throttle(state, state.peek(token))
    claims = state.introspect(token)
    if claims is None:
        raise WixHTTPError(401, "UNAUTHENTICATED", "The token is invalid, expired or revoked.")
    installation = state.installation(claims.instance_id)
    if claims.subject_type not in _READS_INSTANCE or claims.client_id != installation.app_id:
        raise WixHTTPError(
            403,
            "PERMISSION_DENIED",
            "Only the app itself or a Wix user of the site may read its instance.",
        )
    site = state.site(installation.site_id)
    app = state.app(installation.app_id)
    return JSONResponse({"instance": _instance_body(installation, app), "site": _site_body(site)})


def _instance_body(installation: Installation, app: RegisteredApp) -> dict[str, Any]:
    copied = installation.origin_instance_id is not None
    body: dict[str, Any] = {
        "appName": app.name,
        "appVersion": app.version,
        "instanceId": installation.instance_id,
        "isFree": installation.is_free,
        "permissions": list(app.permissions),
        "availablePlans": [{"packageName": plan, "source": "APP"} for plan in app.plans],
        "copiedFromTemplate": copied,
        "isOriginSiteTemplate": copied,  # deprecated twin of copiedFromTemplate
        "freeTrialAvailable": installation.free_trial_available,
    }
    if copied:
        body["originInstanceId"] = installation.origin_instance_id
    if not installation.is_free and installation.package_name is not None:
        body["billing"] = _billing_body(installation)
    return body


def _billing_body(installation: Installation) -> dict[str, Any]:
    """Billing as documented; ``expirationDate`` only for yearly and longer cycles."""
    cycle = installation.billing_cycle or "NO_CYCLE"
    billing: dict[str, Any] = {
        "billingCycle": cycle,
        "packageName": installation.package_name,
        "source": installation.coupon_name or "",
        "autoRenewing": installation.auto_renewing,
        "invoiceId": installation.invoice_id,
    }
    if installation.purchased_at is not None:
        billing["timeStamp"] = wix_time(installation.purchased_at)
    if installation.expires_at is not None and cycle not in ("MONTHLY", "ONE_TIME"):
        billing["expirationDate"] = wix_time(installation.expires_at)
    if installation.free_trial_status is not None:
        billing["freeTrialInfo"] = {"status": installation.free_trial_status}
    return {key: value for key, value in billing.items() if value is not None}


def _site_body(site: Site) -> dict[str, Any]:
    body: dict[str, Any] = {
        "locale": site.locale,
        "multilingual": {"isMultiLingual": False, "supportedLanguages": []},
        "paymentCurrency": site.payment_currency,
        "siteDisplayName": site.display_name,
        "url": site.url,
        "description": site.description,
        "installedWixApps": list(site.installed_wix_apps),
        "ownerEmail": site.owner_email,
        "ownerInfo": {"email": site.owner_email, "emailStatus": "VERIFIED_OPT_IN"},
        "siteId": site.site_id,
        "siteUserType": site.site_user_type,
    }
    return body


# ---- shared


_FORM = "application/x-www-form-urlencoded"


async def _token_body(request: Request) -> dict[str, Any]:
    """``/oauth2/token`` takes a JSON object or, as an OAuth token endpoint, a form body."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM:
        return await _json_object(request)
    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return _snake_object({name: values[0] for name, values in form.items()})


async def _json_object(request: Request) -> dict[str, Any]:
    """The body's fields under their snake_case names, read as Wix's gateway reads them."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise WixHTTPError(
            400, "INVALID_ARGUMENT", "Send a JSON object body.", oauth_error="invalid_request"
        )
    return _snake_object(body)


def _snake_object(body: dict[str, Any]) -> dict[str, Any]:
    try:
        return snake_fields(body)
    except FieldConflict as conflict:
        raise WixHTTPError(
            400,
            "INVALID_ARGUMENT",
            str(conflict),
            oauth_error="invalid_request",
            field=conflict.field,
        ) from None


def _throttle(state: EmulatorState, claims: TokenClaims | None) -> None:
    _throttle_instance(state, claims.instance_id if claims else None)


def _throttle_instance(state: EmulatorState, instance_id: str | None) -> None:
    wait = state.throttle(instance_id)
    if wait is not None:
        raise WixHTTPError(
            429,
            "RESOURCE_EXHAUSTED",
            "Too many requests for this app instance; retry later.",
            retry_after=max(wait, 1.0),
        )

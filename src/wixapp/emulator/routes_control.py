"""The control API under ``/_emulator/``: set up the emulated world and steer its behaviour.

JSON in and out, camelCase, kept apart from the Wix routes so nothing a backend calls can
ever hit it by accident. Every route is a thin translation to an ``EmulatorState`` method.
Errors answer ``{"error": code, "detail": sentence}`` with the status of the EmulatorError.
An absent or null field takes ``EmulatorState``'s default, except the legacy instance's
``permissions``, where null means "no permissions" (a visitor).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wixapp.emulator.protojson import FieldConflict, snake_fields
from wixapp.emulator.requests import (
    AdvanceClock,
    BehaviourChange,
    CancelAutoRenewal,
    CreateSite,
    DuplicateSite,
    FaultSpec,
    Install,
    MintToken,
    RegisterApp,
    ReleaseWebhooks,
    SetPlan,
    SignLegacyInstance,
    TokenRef,
    WebhookConfig,
)
from wixapp.emulator.routes_wix import state_of
from wixapp.emulator.wix_errors import EmulatorError
from wixapp.emulator.world import EmulatorState

__all__ = ["CONTROL_PREFIX", "control_routes"]

CONTROL_PREFIX = "/_emulator"

BodyT = TypeVar("BodyT", bound=BaseModel)
Action = Callable[[Request, EmulatorState], Awaitable[Any]]


def control_routes() -> list[Route]:
    return [
        Route("/apps", _route(_register_app), methods=["POST"]),
        Route("/sites", _route(_create_site), methods=["POST"]),
        Route("/sites/{site_id}/duplicate", _route(_duplicate_site), methods=["POST"]),
        Route("/installations", _route(_install), methods=["POST"]),
        Route("/installations/{instance_id}", _route(_get_installation), methods=["GET"]),
        Route("/installations/{instance_id}", _route(_uninstall), methods=["DELETE"]),
        Route("/installations/{instance_id}/plan", _route(_set_plan), methods=["PUT"]),
        Route(
            "/installations/{instance_id}/plan/cancel-auto-renewal",
            _route(_cancel_auto_renewal),
            methods=["POST"],
        ),
        Route("/tokens", _route(_mint_token), methods=["POST"]),
        Route("/tokens/revoke", _route(_revoke_token), methods=["POST"]),
        Route("/legacy-instances", _route(_legacy_instance), methods=["POST"]),
        Route("/clock", _route(_clock), methods=["GET"]),
        Route("/clock/advance", _route(_advance_clock), methods=["POST"]),
        Route("/calls", _route(_calls), methods=["GET"]),
        Route("/calls", _route(_reset_calls), methods=["DELETE"]),
        Route("/faults", _route(_faults), methods=["GET"]),
        Route("/faults", _route(_add_fault), methods=["POST"]),
        Route("/faults", _route(_clear_faults), methods=["DELETE"]),
        Route("/behaviour", _route(_behaviour), methods=["GET"]),
        Route("/behaviour", _route(_set_behaviour), methods=["PATCH"]),
        Route("/events", _route(_events), methods=["GET"]),
        Route("/webhooks/public-key", _webhook_public_key, methods=["GET"]),
        Route("/webhooks/config", _route(_configure_webhooks), methods=["POST"]),
        Route("/webhooks/deliveries", _route(_deliveries), methods=["GET"]),
        Route("/webhooks/deliveries/{delivery_id}", _route(_delivery), methods=["GET"]),
        Route(
            "/webhooks/deliveries/{delivery_id}/redeliver",
            _route(_redeliver),
            methods=["POST"],
        ),
        Route("/webhooks/hold", _route(_hold_webhooks), methods=["POST"]),
        Route("/webhooks/release", _route(_release_webhooks), methods=["POST"]),
        Route("/webhooks/flush", _route(_flush_webhooks), methods=["POST"]),
        Route("/reset", _route(_reset), methods=["POST"]),
    ]


def _route(action: Action) -> Callable[[Request], Awaitable[Response]]:
    """Run an action; None answers 204, anything else is JSON; errors get a status."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await action(request, state_of(request))
        except EmulatorError as error:
            return _error(error.status, error.code, error.detail)
        except ValidationError as error:
            return _error(400, "emulator_invalid_body", _describe(error))
        return Response(status_code=204) if result is None else JSONResponse(result)

    return endpoint


async def _parse(request: Request, model: type[BodyT]) -> BodyT:
    """The body, each field under its camelCase or snake_case name (as Wix's gateway reads
    them: see ``protojson``); both, with different values, is refused."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        raise EmulatorError("Send a JSON object body.") from None
    if not isinstance(data, dict):
        raise EmulatorError("Send a JSON object body.")
    try:
        fields = snake_fields(data)
    except FieldConflict as conflict:
        raise EmulatorError(str(conflict), code="emulator_invalid_body") from None
    return model.model_validate(fields)


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _describe(error: ValidationError) -> str:
    problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()]
    return "; ".join(problems)


# ---- actions


async def _register_app(request: Request, state: EmulatorState) -> Any:
    arguments = (await _parse(request, RegisterApp)).arguments()
    app_id, app_secret = arguments.pop("app_id", None), arguments.pop("app_secret", None)
    return state.register_app(app_id, app_secret, **arguments).to_wire()


async def _create_site(request: Request, state: EmulatorState) -> Any:
    body = await _parse(request, CreateSite)
    return state.create_site(**body.arguments()).to_wire()


async def _duplicate_site(request: Request, state: EmulatorState) -> Any:
    body = await _parse(request, DuplicateSite)
    site, installations = state.duplicate_site(
        request.path_params["site_id"], display_name=body.display_name
    )
    return {"site": site.to_wire(), "installations": [each.to_wire() for each in installations]}


async def _install(request: Request, state: EmulatorState) -> Any:
    arguments = (await _parse(request, Install)).arguments()
    app_id, site_id = arguments.pop("app_id"), arguments.pop("site_id")
    return state.install(app_id, site_id, **arguments).to_wire()


async def _get_installation(request: Request, state: EmulatorState) -> Any:
    return state.installation(request.path_params["instance_id"]).to_wire()


async def _uninstall(request: Request, state: EmulatorState) -> Any:
    return state.uninstall(request.path_params["instance_id"]).to_wire()


async def _set_plan(request: Request, state: EmulatorState) -> Any:
    arguments = (await _parse(request, SetPlan)).arguments()
    return state.set_plan(
        request.path_params["instance_id"],
        package_name=arguments.pop("package_name", None),
        billing_cycle=arguments.pop("billing_cycle", None),
        **arguments,
    ).to_wire()


async def _cancel_auto_renewal(request: Request, state: EmulatorState) -> Any:
    arguments = (await _parse(request, CancelAutoRenewal)).arguments()
    return state.cancel_auto_renewal(request.path_params["instance_id"], **arguments).to_wire()


async def _mint_token(request: Request, state: EmulatorState) -> Any:
    arguments = (await _parse(request, MintToken)).arguments()
    return state.mint_token(arguments.pop("instance_id"), **arguments).to_wire()


async def _revoke_token(request: Request, state: EmulatorState) -> Any:
    state.revoke_token((await _parse(request, TokenRef)).token)


async def _legacy_instance(request: Request, state: EmulatorState) -> Any:
    body = await _parse(request, SignLegacyInstance)
    value = state.sign_legacy_instance(
        body.instance_id,
        permissions=body.permissions,
        uid=body.uid,
        site_member_id=body.site_member_id,
    )
    return {"instance": value}


async def _clock(request: Request, state: EmulatorState) -> Any:
    return {"now": state.now()}


async def _advance_clock(request: Request, state: EmulatorState) -> Any:
    return {"now": state.advance_clock((await _parse(request, AdvanceClock)).seconds)}


async def _calls(request: Request, state: EmulatorState) -> Any:
    return state.calls()


async def _reset_calls(request: Request, state: EmulatorState) -> Any:
    state.reset_calls()


async def _faults(request: Request, state: EmulatorState) -> Any:
    return {fault_id: spec.to_wire() for fault_id, spec in state.faults.active().items()}


async def _add_fault(request: Request, state: EmulatorState) -> Any:
    return {"faultId": state.add_fault_spec(await _parse(request, FaultSpec))}


async def _clear_faults(request: Request, state: EmulatorState) -> Any:
    state.clear_faults()


async def _behaviour(request: Request, state: EmulatorState) -> Any:
    return state.behaviour.to_wire()


async def _set_behaviour(request: Request, state: EmulatorState) -> Any:
    return state.set_behaviour(**(await _parse(request, BehaviourChange)).arguments()).to_wire()


async def _events(request: Request, state: EmulatorState) -> Any:
    return [event.to_wire() for event in state.events]


async def _reset(request: Request, state: EmulatorState) -> Any:
    state.reset()


# ---- webhooks (spec §7; see emulator.delivery)


async def _webhook_public_key(request: Request) -> Response:
    pem = state_of(request).webhook_public_key()
    return Response(pem, media_type="application/x-pem-file")


async def _configure_webhooks(request: Request, state: EmulatorState) -> Any:
    body = await _parse(request, WebhookConfig)
    state.configure_webhooks(body.app_id, body.url)
    return {"appId": body.app_id, "url": state.webhooks.url_for(body.app_id)}


async def _deliveries(request: Request, state: EmulatorState) -> Any:
    return [delivery.to_wire() for delivery in state.webhooks.deliveries()]


async def _delivery(request: Request, state: EmulatorState) -> Any:
    return state.webhooks.delivery(request.path_params["delivery_id"]).to_wire()


async def _redeliver(request: Request, state: EmulatorState) -> Any:
    return state.webhooks.redeliver(request.path_params["delivery_id"]).to_wire()


async def _hold_webhooks(request: Request, state: EmulatorState) -> Any:
    state.webhooks.hold()


async def _release_webhooks(request: Request, state: EmulatorState) -> Any:
    body = await _parse(request, ReleaseWebhooks)
    return [delivery.to_wire() for delivery in await state.webhooks.release(body.order)]


async def _flush_webhooks(request: Request, state: EmulatorState) -> Any:
    return [delivery.to_wire() for delivery in await state.webhooks.flush()]

"""The control API, declared once: one ``Operation`` per operation. ``routes_control`` serves
each as a route and ``EmulatorControl`` (which inherits this table) calls each as a method
of the same name, with the signature of the state function that performs it."""

from __future__ import annotations

from typing import Any

from wixapp.emulator.control_api import (
    InField,
    InFields,
    JSONOf,
    NoContent,
    Operation,
    PemText,
    awaited,
)
from wixapp.emulator.delivery import WebhookDelivery, WebhookTarget
from wixapp.emulator.records import (
    Behaviour,
    FaultSpec,
    Installation,
    LifecycleEvent,
    MintedToken,
    RegisteredApp,
    Site,
)
from wixapp.emulator.requests import (
    AdvanceClock,
    BehaviourChange,
    CancelAutoRenewal,
    CreateSite,
    DuplicateSite,
    EmitEvent,
    Install,
    MintToken,
    RegisterApp,
    ReleaseWebhooks,
    SetPlan,
    SignLegacyInstance,
    SignWebhook,
    TokenRef,
    WebhookConfig,
)
from wixapp.emulator.world import EmulatorState

__all__ = ["ControlOperations", "operations"]

_INSTALLATION = "/installations/{instance_id}"
_DELIVERY = "/webhooks/deliveries/{delivery_id}"


def _behaviour(state: EmulatorState) -> Behaviour:
    return state.behaviour


def _events(state: EmulatorState) -> list[LifecycleEvent]:
    return list(state.events)


class ControlOperations:
    """The table. Paths are under ``CONTROL_PREFIX``."""

    # ---- apps, sites, installations
    register_app = Operation(
        "POST", "/apps", EmulatorState.register_app, JSONOf(RegisteredApp), body=RegisterApp
    )
    create_site = Operation(
        "POST", "/sites", EmulatorState.create_site, JSONOf(Site), body=CreateSite
    )
    duplicate_site = Operation(
        "POST",
        "/sites/{site_id}/duplicate",
        EmulatorState.duplicate_site,
        InFields(("site", "installations"), tuple[Site, list[Installation]]),
        body=DuplicateSite,
    )
    install = Operation(
        "POST", "/installations", EmulatorState.install, JSONOf(Installation), body=Install
    )
    installation = Operation("GET", _INSTALLATION, EmulatorState.installation, JSONOf(Installation))
    uninstall = Operation("DELETE", _INSTALLATION, EmulatorState.uninstall, JSONOf(Installation))
    set_plan = Operation(
        "PUT", f"{_INSTALLATION}/plan", EmulatorState.set_plan, JSONOf(Installation), body=SetPlan
    )
    cancel_auto_renewal = Operation(
        "POST",
        f"{_INSTALLATION}/plan/cancel-auto-renewal",
        EmulatorState.cancel_auto_renewal,
        JSONOf(Installation),
        body=CancelAutoRenewal,
    )

    # ---- tokens
    mint_token = Operation(
        "POST", "/tokens", EmulatorState.mint_token, JSONOf(MintedToken), body=MintToken
    )
    revoke_token = Operation(
        "POST", "/tokens/revoke", EmulatorState.revoke_token, NoContent(), body=TokenRef
    )
    sign_legacy_instance = Operation(
        "POST",
        "/legacy-instances",
        EmulatorState.sign_legacy_instance,
        InField("instance", str),
        body=SignLegacyInstance,
    )

    # ---- clock
    now = Operation("GET", "/clock", EmulatorState.now, InField("now", float))
    advance_clock = Operation(
        "POST",
        "/clock/advance",
        EmulatorState.advance_clock,
        InField("now", float),
        body=AdvanceClock,
    )

    # ---- observation, faults, behaviour
    calls = Operation("GET", "/calls", EmulatorState.calls, JSONOf(dict[str, int]))
    reset_calls = Operation("DELETE", "/calls", EmulatorState.reset_calls, NoContent())
    active_faults = Operation(
        "GET", "/faults", EmulatorState.active_faults, JSONOf(dict[str, FaultSpec])
    )
    add_fault = Operation(
        "POST",
        "/faults",
        EmulatorState.add_fault_spec,
        InField("faultId", str),
        body=FaultSpec,
        body_argument="fault",
    )
    clear_faults = Operation("DELETE", "/faults", EmulatorState.clear_faults, NoContent())
    behaviour = Operation("GET", "/behaviour", _behaviour, JSONOf(Behaviour))
    set_behaviour = Operation(
        "PATCH", "/behaviour", EmulatorState.set_behaviour, JSONOf(Behaviour), body=BehaviourChange
    )
    events = Operation("GET", "/events", _events, JSONOf(list[LifecycleEvent]))
    reset = Operation("POST", "/reset", EmulatorState.reset, NoContent())

    # ---- webhooks
    webhook_public_key = Operation(
        "GET", "/apps/{app_id}/webhook-public-key", EmulatorState.webhook_public_key, PemText()
    )
    configure_webhooks = Operation(
        "POST",
        "/webhooks/config",
        EmulatorState.configure_webhooks,
        JSONOf(WebhookTarget),
        body=WebhookConfig,
    )
    webhook_deliveries = Operation(
        "GET",
        "/webhooks/deliveries",
        EmulatorState.webhook_deliveries,
        JSONOf(list[WebhookDelivery]),
    )
    webhook_delivery = Operation(
        "GET", _DELIVERY, EmulatorState.webhook_delivery, JSONOf(WebhookDelivery)
    )
    redeliver_webhook = Operation(
        "POST", f"{_DELIVERY}/redeliver", EmulatorState.redeliver_webhook, JSONOf(WebhookDelivery)
    )
    hold_webhooks = Operation("POST", "/webhooks/hold", EmulatorState.hold_webhooks, NoContent())
    release_webhooks = Operation(
        "POST",
        "/webhooks/release",
        awaited(EmulatorState.release_webhooks),
        JSONOf(list[WebhookDelivery]),
        body=ReleaseWebhooks,
    )
    emit_event = Operation(
        "POST",
        f"{_INSTALLATION}/events",
        EmulatorState.emit_event,
        JSONOf(LifecycleEvent),
        body=EmitEvent,
    )
    sign_webhook = Operation(
        "POST", "/webhooks/sign", EmulatorState.sign_webhook, InField("body", str), body=SignWebhook
    )
    flush_webhooks = Operation(
        "POST",
        "/webhooks/flush",
        awaited(EmulatorState.flush_webhooks),
        JSONOf(list[WebhookDelivery]),
    )


def operations() -> list[Operation[Any, Any]]:
    return [each for each in vars(ControlOperations).values() if isinstance(each, Operation)]

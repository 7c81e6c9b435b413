"""``EmulatorState``: the emulated Wix, composed of its parts.

- ``registry`` (``registry``): apps, sites, installations and their plans;
- ``tokens`` (``tokens``): access tokens and legacy ``instance`` values;
- ``traffic`` (``traffic``): call counts, injected faults, behaviours, the rate limit;
- ``event_log`` (``event_log``) and ``webhooks`` (``delivery``): lifecycle events and their
  signed deliveries.

Each method of the state is performed by one part (``Forward``); the HTTP routes (Wix's and
the control API's) only translate to and from them, so in-process tests may call these
methods directly or go through ``EmulatorControl``: both do the same thing.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable
from typing import Any, Concatenate, Generic, NamedTuple, ParamSpec, TypeVar, overload

from wixapp.emulator.delivery import WebhookDeliverer, WebhookTarget
from wixapp.emulator.domain_events import domain_event_data
from wixapp.emulator.event_log import EventLog, LifecycleListener
from wixapp.emulator.faults import FaultBook
from wixapp.emulator.ratelimit import SlidingWindowLimiter
from wixapp.emulator.records import Behaviour, LifecycleEvent
from wixapp.emulator.registry import Registry
from wixapp.emulator.timekeeping import Clock, wix_time
from wixapp.emulator.tokens import TokenAuthority, TokenSigner
from wixapp.emulator.traffic import Traffic
from wixapp.emulator.wix_errors import EmulatorError
from wixapp.protocol import split_domain_event_type

__all__ = ["EmulatorState", "Forward"]

PartT = TypeVar("PartT")
P = ParamSpec("P")
R = TypeVar("R")


class Forward(Generic[PartT, P, R]):
    """A method of ``EmulatorState`` that one of its parts performs, with that part's
    signature: declared once, on the part. On the class it is a plain function taking the
    state first (what the control API's table refers to)."""

    def __init__(self, part: str, method: Callable[Concatenate[PartT, P], R]) -> None:
        self._part = part
        self._method = method

        def on_state(state: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return method(getattr(state, part), *args, **kwargs)

        functools.update_wrapper(on_state, method)
        self._on_state: Callable[Concatenate[Any, P], R] = on_state

    @overload
    def __get__(self, state: None, owner: type[Any]) -> Callable[Concatenate[Any, P], R]: ...

    @overload
    def __get__(self, state: object, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, state: object | None, owner: type[Any]) -> Callable[..., R]:
        if state is None:
            return self._on_state
        return functools.partial(self._method, getattr(state, self._part))


class EventFields(NamedTuple):
    """What a request for an event names (``EmulatorState.emit_event``)."""

    data: dict[str, Any] | None
    entity: dict[str, Any] | None
    modified_fields: dict[str, Any] | None
    action_body: dict[str, Any] | None
    identity: dict[str, Any] | None
    account_info: dict[str, Any] | None


class EmulatorState:
    """The emulated Wix. ``seed`` makes generated IDs, secrets and the signing key repeatable.

    There is no lock: every operation is a few dict updates, meant for the event loop that
    serves the app. From another thread (an ``EmulatorServer`` test) prefer the control API.
    """

    hang_seconds = 60.0  # how long a "hang" fault holds a call: longer than any client waits

    def __init__(self, *, seed: int | None = None, rate_limit: bool = False) -> None:
        self._seed = seed
        # What reset() goes back to: Wix's rate limit on or off (see create_emulator).
        self._default_behaviour = Behaviour(rate_limit=rate_limit)
        self.event_log = EventLog()
        # Webhooks of lifecycle events, signed and delivered as Wix does (emulator.delivery).
        self.webhooks = WebhookDeliverer(clock=self.now)
        self.event_log.subscribe(self.webhooks.notify)
        self.reset()

    def reset(self) -> None:
        """Back to a clean state: no apps, sites, faults or counts; default behaviour.

        Lifecycle listeners stay subscribed: they are wiring, not state.
        """
        self._rng: random.Random = (
            random.SystemRandom() if self._seed is None else random.Random(self._seed)
        )
        signer = TokenSigner(self._rng.randbytes(64))
        self.clock = Clock()
        now = self.clock.now
        self.traffic = Traffic(now=now, behaviour=self._default_behaviour)
        self.registry = Registry(new_id=self._uuid, now=now, emit=self.event_log.emit)
        self.tokens = TokenAuthority(
            registry=self.registry, signer=signer, new_id=self._uuid, now=now
        )
        self.event_log.clear()
        self.webhooks.reset()

    def subscribe(self, listener: LifecycleListener) -> Callable[[], None]:
        """Call ``listener`` on every lifecycle event; returns the unsubscribe."""
        return self.event_log.subscribe(listener)

    @property
    def events(self) -> list[LifecycleEvent]:
        return self.event_log.events

    # ---- apps, sites, installations

    register_app = Forward("registry", Registry.register_app)
    create_site = Forward("registry", Registry.create_site)
    install = Forward("registry", Registry.install)
    duplicate_site = Forward("registry", Registry.duplicate_site)
    uninstall = Forward("registry", Registry.uninstall)
    set_plan = Forward("registry", Registry.set_plan)
    cancel_auto_renewal = Forward("registry", Registry.cancel_auto_renewal)
    app = Forward("registry", Registry.app)
    site = Forward("registry", Registry.site)
    installation = Forward("registry", Registry.installation)
    all_apps = Forward("registry", Registry.all_apps)
    all_sites = Forward("registry", Registry.all_sites)
    all_installations = Forward("registry", Registry.all_installations)
    find_app = Forward("registry", Registry.find_app)
    find_installation = Forward("registry", Registry.find_installation)

    # ---- tokens

    mint_token = Forward("tokens", TokenAuthority.mint_token)
    unbind_token = Forward("tokens", TokenAuthority.unbind_token)
    revoke_token = Forward("tokens", TokenAuthority.revoke_token)
    sign_legacy_instance = Forward("tokens", TokenAuthority.sign_legacy_instance)
    introspect = Forward("tokens", TokenAuthority.introspect)
    peek = Forward("tokens", TokenAuthority.peek)

    # ---- clock

    def now(self) -> float:
        return self.clock.now()

    def advance_clock(self, seconds: float) -> float:
        now = self.clock.advance(seconds)
        self.webhooks.clock_moved()  # webhook retries may be due now
        return now

    # ---- observation and control of the Wix routes

    @property
    def behaviour(self) -> Behaviour:
        return self.traffic.behaviour

    @property
    def faults(self) -> FaultBook:
        return self.traffic.faults

    @property
    def rate_limiter(self) -> SlidingWindowLimiter:
        return self.traffic.rate_limiter

    count_call = Forward("traffic", Traffic.count_call)
    calls = Forward("traffic", Traffic.calls)
    reset_calls = Forward("traffic", Traffic.reset_calls)
    add_fault = Forward("traffic", Traffic.add_fault)
    add_fault_spec = Forward("traffic", Traffic.add_fault_spec)
    active_faults = Forward("traffic", Traffic.active_faults)
    clear_faults = Forward("traffic", Traffic.clear_faults)
    plan_faults = Forward("traffic", Traffic.plan_faults)
    set_behaviour = Forward("traffic", Traffic.set_behaviour)
    throttle = Forward("traffic", Traffic.throttle)

    # ---- webhooks (the delivery log, holds and duplicates: ``self.webhooks``)

    def webhook_public_key(self, app_id: str) -> str:
        """The PEM public key the app's webhooks verify with (its WIX_APP_PUBLIC_KEY): a key
        per app, as Wix has."""
        self.registry.app(app_id)
        return self.webhooks.public_key_pem(app_id)

    def configure_webhooks(self, app_id: str, url: str | None) -> WebhookTarget:
        """Deliver the app's lifecycle events to ``url``; None stops delivering."""
        self.registry.app(app_id)
        self.webhooks.configure(app_id, url)
        return WebhookTarget(app_id=app_id, url=self.webhooks.url_for(app_id))

    webhook_deliveries = Forward("webhooks", WebhookDeliverer.deliveries)
    webhook_delivery = Forward("webhooks", WebhookDeliverer.delivery)
    redeliver_webhook = Forward("webhooks", WebhookDeliverer.redeliver)
    hold_webhooks = Forward("webhooks", WebhookDeliverer.hold)
    release_webhooks = Forward("webhooks", WebhookDeliverer.release)
    flush_webhooks = Forward("webhooks", WebhookDeliverer.flush)

    # ---- events on request: domain events, or any event without a change of state

    def emit_event(
        self,
        instance_id: str,
        event_type: str,
        *,
        data: dict[str, Any] | None = None,
        entity: dict[str, Any] | None = None,
        modified_fields: dict[str, Any] | None = None,
        action_body: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
        account_info: dict[str, Any] | None = None,
    ) -> LifecycleEvent:
        """Send ``event_type`` for an installed instance to its app's webhook URL, signed,
        logged and retried as every webhook: a domain event built from the name
        (``wix.contacts.v4.contact_created`` with ``entity``; ``_updated`` with
        ``modified_fields``; ``_deleted``; any other slug an action with ``action_body``)
        or, given ``data``, any event as it is. The emulated state does not change."""
        installation = self.registry.installation(instance_id)
        event = self._requested_event(
            installation.app_id,
            instance_id,
            event_type,
            EventFields(data, entity, modified_fields, action_body, identity, account_info),
        )
        self.event_log.emit(event)
        return event

    def sign_webhook(
        self,
        instance_id: str,
        event_type: str,
        *,
        data: dict[str, Any] | None = None,
        entity: dict[str, Any] | None = None,
        modified_fields: dict[str, Any] | None = None,
        action_body: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
        account_info: dict[str, Any] | None = None,
        app_id: str | None = None,
    ) -> str:
        """The body ``emit_event`` would POST now, signed with the key of the instance's app,
        for any instance ID: one not installed is signed with ``app_id``'s key. Nothing is
        delivered or logged."""
        return self.webhooks.sign_now(
            self._requested_event(
                self._signing_app(instance_id, app_id),
                instance_id,
                event_type,
                EventFields(data, entity, modified_fields, action_body, identity, account_info),
            )
        )

    def _signing_app(self, instance_id: str, app_id: str | None) -> str:
        installation = self.registry.find_installation(instance_id)
        if installation is not None:
            return installation.app_id
        if app_id is None:
            raise EmulatorError(
                f"No installation {instance_id!r}: name the app whose key signs (app_id)."
            )
        return self.registry.app(app_id).app_id

    def _requested_event(
        self, app_id: str, instance_id: str, event_type: str, fields: EventFields
    ) -> LifecycleEvent:
        domain = split_domain_event_type(event_type) is not None
        at = self.now()  # one moment: the event's and its domain event's eventTime
        data = fields.data
        if data is None:
            data = self._domain_data(event_type, fields, at) if domain else {}
        account_info = fields.account_info
        if account_info is None and domain:
            account_info = self._account_of(instance_id)
        return LifecycleEvent(
            event_type=event_type,
            instance_id=instance_id,
            app_id=app_id,
            data=data,
            at=at,
            identity=fields.identity or {"identityType": "APP"},
            account_info=account_info,
        )

    def _domain_data(self, event_type: str, fields: EventFields, at: float) -> dict[str, Any]:
        return domain_event_data(
            event_type,
            event_id=self._uuid(),
            event_time=wix_time(at),
            entity=fields.entity,
            modified_fields=fields.modified_fields,
            action_body=fields.action_body,
        )

    def _account_of(self, instance_id: str) -> dict[str, Any] | None:
        installation = self.registry.find_installation(instance_id)
        if installation is None:
            return None
        site = self.registry.site(installation.site_id)
        return {"accountId": site.owner_id, "siteId": site.site_id}

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

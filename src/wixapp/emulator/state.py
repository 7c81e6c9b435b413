"""Everything the emulator knows: apps, sites, installations, tokens, clock, faults, counts.

``EmulatorState`` is the one place that holds and changes it. The HTTP routes (Wix's and
the control API's) only translate to and from it, so in-process tests may call these plain
methods directly or go through ``EmulatorControl``: both do the same thing.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from wixapp.emulator.delivery import WebhookDeliverer
from wixapp.emulator.faults import FaultBook, FaultPlan
from wixapp.emulator.instance_param import LegacyValue, read_unverified, sign_instance
from wixapp.emulator.ratelimit import SlidingWindowLimiter
from wixapp.emulator.records import (
    APP_TOKEN_LIFETIME,
    DEFAULT_CURRENCY,
    DEFAULT_DESCRIPTION,
    DEFAULT_LOCALE,
    DEFAULT_OWNER_EMAIL,
    DEFAULT_SITE_NAME,
    ENDPOINTS,
    Behaviour,
    FaultSpec,
    Installation,
    LifecycleEvent,
    MintedToken,
    RegisteredApp,
    Site,
    TokenErrorStyle,
    TokenInfoInvalid,
    ValueStyle,
    build,
)
from wixapp.emulator.tokens import TokenClaims, TokenSigner
from wixapp.emulator.wix_errors import EmulatorConflictError, EmulatorError, EmulatorNotFoundError
from wixapp.models import SubjectType

__all__ = ["Clock", "EmulatorState", "LifecycleListener", "wix_time"]

_SUBJECT_NAMESPACE = uuid.UUID("5f0e7a52-3c1e-4a8e-9b0e-7d1f2b6f4c11")

LifecycleListener = Callable[[LifecycleEvent], None]


class Clock:
    """Wall time plus an offset that only moves forward, so tokens can be aged at will."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise EmulatorError("The emulator clock only moves forward; pass seconds >= 0.")
        self.offset += seconds
        return self.now()


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
        self._listeners: list[LifecycleListener] = []
        # Webhooks of lifecycle events, signed and delivered as Wix does (emulator.delivery).
        self.webhooks = WebhookDeliverer(clock=self.now)
        self._listeners.append(self.webhooks.notify)
        self.reset()

    # ---- lifecycle of the whole emulator

    def reset(self) -> None:
        """Back to a clean state: no apps, sites, faults or counts; default behaviour.

        Lifecycle listeners stay subscribed: they are wiring, not state.
        """
        self._rng: random.Random = (
            random.SystemRandom() if self._seed is None else random.Random(self._seed)
        )
        self._signer = TokenSigner(self._rng.randbytes(64))
        self.clock = Clock()
        self.behaviour = self._default_behaviour
        self.faults = FaultBook()
        self.rate_limiter = SlidingWindowLimiter()
        self.events: list[LifecycleEvent] = []
        self._apps: dict[str, RegisteredApp] = {}
        self._sites: dict[str, Site] = {}
        self._installations: dict[str, Installation] = {}
        self._by_app_site: dict[tuple[str, str], str] = {}
        self._generations: dict[str, int] = {}
        self._revoked: set[str] = set()
        self._calls: Counter[str] = Counter()
        self._fault_ids = 0
        self.webhooks.reset()

    def subscribe(self, listener: LifecycleListener) -> Callable[[], None]:
        """Call ``listener`` on every lifecycle event (webhook delivery hooks in here)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ---- apps, sites, installations

    def register_app(
        self,
        app_id: str | None = None,
        app_secret: str | None = None,
        *,
        name: str | None = None,
        version: str | None = None,
        permissions: Iterable[str] | None = None,
        plans: Iterable[str] | None = None,
    ) -> RegisteredApp:
        """An app as its dashboard defines it; Get App Instance reports its name, version,
        permissions and ``plans`` (as ``availablePlans``). None takes the default."""
        optional = {"name": name, "version": version, "permissions": permissions, "plans": plans}
        app = build(
            RegisteredApp,
            app_id=app_id or self._uuid(),
            app_secret=app_secret or self._uuid(),
            **{key: value for key, value in optional.items() if value is not None},
        )
        if app.app_id in self._apps:
            raise EmulatorConflictError(f"App {app.app_id} is already registered.")
        self._apps[app.app_id] = app
        return app

    def create_site(
        self,
        *,
        display_name: str = DEFAULT_SITE_NAME,
        url: str | None = None,
        locale: str = DEFAULT_LOCALE,
        site_id: str | None = None,
        owner_email: str = DEFAULT_OWNER_EMAIL,
        payment_currency: str = DEFAULT_CURRENCY,
        description: str = DEFAULT_DESCRIPTION,
        installed_wix_apps: Iterable[str] = (),
        site_user_type: str | None = None,
        owner_id: str | None = None,
    ) -> Site:
        site = Site(
            site_id=site_id or self._uuid(),
            display_name=display_name,
            url=url or _site_url(owner_email, display_name),
            locale=locale,
            owner_email=owner_email,
            owner_id=owner_id or self._uuid(),
            payment_currency=payment_currency,
            description=description,
            installed_wix_apps=tuple(installed_wix_apps),
            site_user_type=site_user_type,
        )
        if site.site_id in self._sites:
            raise EmulatorConflictError(f"Site {site.site_id} already exists.")
        self._sites[site.site_id] = site
        return site

    def install(
        self,
        app_id: str,
        site_id: str,
        *,
        is_free: bool = True,
        package_name: str | None = None,
        billing_cycle: str | None = None,
        instance_id: str | None = None,
        free_trial_available: bool = False,
        installed_by: str | None = None,
    ) -> Installation:
        """Install an app on a site. Reinstalling keeps the instanceId (spec §7).

        ``installed_by`` is the Wix user the AppInstalled webhook names (the site owner by
        default); ``free_trial_available`` makes the instance offer a trial not yet used.
        """
        self.app(app_id)
        self.site(site_id)
        known = self._by_app_site.get((app_id, site_id))
        if instance_id and known and instance_id != known:
            raise EmulatorConflictError(f"This app already has instance {known} on this site.")
        if known is None and instance_id in self._installations:
            raise EmulatorConflictError(f"Instance {instance_id} belongs to another install.")
        current = self._installations.get(known or "")
        if current is not None and current.installed:
            return current
        installation = Installation(
            instance_id=known or instance_id or self._uuid(),
            app_id=app_id,
            site_id=site_id,
            is_free=is_free,
            package_name=package_name,
            billing_cycle=billing_cycle,
            free_trial_available=free_trial_available,
            installed_by=installed_by or self.site(site_id).owner_id,
        )
        if not is_free:
            installation = installation.model_copy(update=self._plan_terms(billing_cycle))
        self._store(installation)
        self._generations.setdefault(installation.instance_id, 0)
        self._emit("AppInstalled", installation, {"appId": app_id})
        return installation

    def duplicate_site(
        self, site_id: str, *, display_name: str | None = None
    ) -> tuple[Site, list[Installation]]:
        """Copy a site, as a Wix user duplicating it does: every app installed on it gets a
        new instance on the copy, with ``originInstanceId`` naming the original, and an
        AppInstalled webhook saying so. Paid plans stay with the original."""
        source = self.site(site_id)
        name = display_name or f"{source.display_name} (copy)"
        copy = self.create_site(
            display_name=name,
            locale=source.locale,
            owner_email=source.owner_email,
            owner_id=source.owner_id,
            payment_currency=source.payment_currency,
            description=source.description,
            installed_wix_apps=source.installed_wix_apps,
            site_user_type=source.site_user_type,
        )
        originals = [
            each
            for each in self._installations.values()
            if each.site_id == site_id and each.installed
        ]
        copies = [self._install_copy(original, copy) for original in originals]
        return copy, copies

    def _install_copy(self, original: Installation, site: Site) -> Installation:
        installation = Installation(
            instance_id=self._uuid(),
            app_id=original.app_id,
            site_id=site.site_id,
            origin_instance_id=original.instance_id,
            installed_by=site.owner_id,
        )
        self._store(installation)
        self._generations.setdefault(installation.instance_id, 0)
        data = {"appId": installation.app_id, "originInstanceId": original.instance_id}
        self._emit("AppInstalled", installation, data)
        return installation

    def uninstall(self, instance_id: str) -> Installation:
        """Remove the app; every token of that instance stops working."""
        installation = self.installation(instance_id)
        if not installation.installed:
            raise EmulatorConflictError(f"Instance {instance_id} is not installed.")
        removed = installation.model_copy(update={"installed": False})
        self._store(removed)
        self._generations[instance_id] += 1
        self._emit("AppRemoved", removed, {"appId": removed.app_id})
        return removed

    def set_plan(
        self,
        instance_id: str,
        *,
        package_name: str | None,
        billing_cycle: str | None,
        is_free: bool = False,
        coupon_name: str | None = None,
        invoice_id: str | None = None,
        auto_renewing: bool = True,
        free_trial: bool = False,
        buyer_id: str | None = None,
    ) -> Installation:
        """Buy (or change) a plan: PaidPlanPurchased from free, PaidPlanChanged otherwise.

        The plan starts now; its cycle ends one period later (``billing.expirationDate``,
        the webhook's ``expiresOn``). ``invoice_id`` defaults to a fresh one; ``free_trial``
        starts the plan in a free trial (``freeTrialInfo.status`` IN_PROGRESS);
        ``buyer_id`` is the Wix user the webhook names (the site owner by default).
        """
        before = self.installation(instance_id)
        if not before.installed:
            raise EmulatorConflictError(f"Instance {instance_id} is not installed.")
        if is_free:
            after = before.model_copy(update={**_NO_PLAN, "package_name": package_name})
            self._store(after)
            return after
        terms = self._plan_terms(billing_cycle)
        after = before.model_copy(
            update={
                **terms,
                "package_name": package_name,
                "billing_cycle": billing_cycle,
                "is_free": False,
                "auto_renewing": auto_renewing,
                "invoice_id": invoice_id or self._uuid(),
                "coupon_name": coupon_name,
                "free_trial_status": "IN_PROGRESS" if free_trial else "NOT_AVAILABLE",
                "free_trial_available": before.free_trial_available and not free_trial,
            }
        )
        self._store(after)
        self._emit_plan_event(before, after, buyer_id)
        return after

    def cancel_auto_renewal(
        self,
        instance_id: str,
        *,
        cancel_reason: str = "USER_CANCEL",
        user_reason: str | None = None,
        buyer_id: str | None = None,
    ) -> Installation:
        """The Wix user turns auto-renewal off: the plan runs to the end of its cycle."""
        before = self.installation(instance_id)
        if not before.installed or before.is_free:
            raise EmulatorConflictError(f"Instance {instance_id} has no paid plan to cancel.")
        after = before.model_copy(update={"auto_renewing": False})
        self._store(after)
        during_trial = before.free_trial_status == "IN_PROGRESS"
        data = {
            "operationTimeStamp": wix_time(self.now()),
            "vendorProductId": after.package_name,
            "cycle": after.billing_cycle,
            "cancelReason": cancel_reason,
            "userReason": user_reason,
            "subscriptionCancellationType": "AT_END_OF_PERIOD",
            "cancelledDuringFreeTrial": (
                "DURING_FREE_TRIAL" if during_trial else "NOT_DURING_FREE_TRIAL"
            ),
        }
        present = {key: value for key, value in data.items() if value is not None}
        self._emit("PaidPlanAutoRenewalCancelled", after, present, self._wix_user(after, buyer_id))
        return after

    def _plan_terms(self, billing_cycle: str | None) -> dict[str, Any]:
        now = self.now()
        period = _CYCLE_SECONDS.get(billing_cycle or "")
        return {"purchased_at": now, "expires_at": now + period if period else None}

    def app(self, app_id: str) -> RegisteredApp:
        try:
            return self._apps[app_id]
        except KeyError:
            raise EmulatorNotFoundError(f"No app {app_id}; register it first.") from None

    def site(self, site_id: str) -> Site:
        try:
            return self._sites[site_id]
        except KeyError:
            raise EmulatorNotFoundError(f"No site {site_id}; create it first.") from None

    def installation(self, instance_id: str) -> Installation:
        try:
            return self._installations[instance_id]
        except KeyError:
            raise EmulatorNotFoundError(f"No instance {instance_id}; install first.") from None

    def all_apps(self) -> list[RegisteredApp]:
        return list(self._apps.values())

    def all_sites(self) -> list[Site]:
        return list(self._sites.values())

    def all_installations(self) -> list[Installation]:
        return list(self._installations.values())

    def find_app(self, app_id: str) -> RegisteredApp | None:
        return self._apps.get(app_id)

    def find_installation(self, instance_id: str) -> Installation | None:
        return self._installations.get(instance_id)

    # ---- tokens

    def mint_token(
        self,
        instance_id: str,
        subject_type: SubjectType | str = SubjectType.VISITOR,
        *,
        lifetime: float = float(APP_TOKEN_LIFETIME),
        subject_id: str | None = None,
        app_id: str | None = None,
    ) -> MintedToken:
        """A token for this instance, as a widget (VISITOR/MEMBER), panel (USER) or app gets.

        ``app_id`` makes a token that names another app as clientId: what a token minted
        for a different app looks like (spec §2 trust rules).
        """
        installation = self.installation(instance_id)
        if not installation.installed:
            raise EmulatorConflictError(f"Instance {instance_id} is not installed.")
        subject = _subject_type(subject_type)
        client_id = self.app(app_id).app_id if app_id else installation.app_id
        site = self.site(installation.site_id)
        iat = int(self.now())
        claims = TokenClaims(
            token_id=self._uuid(),
            instance_id=instance_id,
            client_id=client_id,
            subject_type=subject,
            subject_id=subject_id or self._subject_id(subject, installation, site),
            site_id=site.site_id,
            account_id=site.owner_id if subject is SubjectType.USER else None,
            iat=iat,
            exp=int(self.now() + lifetime),
            generation=self._generations[instance_id],
        )
        token = self._signer.sign(claims)
        return MintedToken(
            token=token,
            exp=claims.exp,
            subject_type=subject,
            subject_id=claims.subject_id,
            instance_id=instance_id,
        )

    def unbind_token(self, token: str) -> MintedToken:
        """A new token for the same caller and instance (``strip_bound_session``).

        It lives as long as the token it replaces (Wix does not document the lifetime),
        and dies with the installation, as every token of the instance does.
        """
        claims = self.introspect(token)
        if claims is None:
            raise EmulatorError("That token is not active: it cannot be unbound.")
        unbound = replace(claims, token_id=self._uuid(), iat=int(self.now()))
        return MintedToken(
            token=self._signer.sign(unbound),
            exp=unbound.exp,
            subject_type=unbound.subject_type,
            subject_id=unbound.subject_id,
            instance_id=unbound.instance_id,
        )

    def revoke_token(self, token: str) -> None:
        claims = self._signer.read(token)
        if claims is None:
            raise EmulatorError("That is not a token this emulator issued.")
        self._revoked.add(claims.token_id)

    def sign_legacy_instance(
        self,
        instance_id: str,
        *,
        permissions: str | None = "OWNER",
        uid: str | None = None,
        site_member_id: str | None = None,
    ) -> str:
        """A legacy ``instance`` parameter value (spec §8) signed with the app's secret."""
        installation = self.installation(instance_id)
        site = self.site(installation.site_id)
        data = {
            "instanceId": instance_id,
            "appDefId": installation.app_id,
            "signDate": wix_time(self.now()),
            "uid": uid or (site.owner_id if permissions == "OWNER" else None),
            "permissions": permissions,
            "siteOwnerId": site.owner_id,
            "siteMemberId": site_member_id,
            "vendorProductId": installation.package_name,
            "aid": self._uuid(),
            "demoMode": False,
        }
        present = {key: value for key, value in data.items() if value is not None}
        return sign_instance(present, self.app(installation.app_id).app_secret)

    def introspect(self, token: str) -> TokenClaims | None:
        """The claims of a token that is active right now (on the emulator clock), else None."""
        claims = self.peek(token)
        if claims is None or claims.token_id in self._revoked or self.now() >= claims.exp:
            return None
        installation = self._installations.get(claims.instance_id)
        if installation is None or not installation.installed:
            return None
        return claims if claims.generation == self._generations[claims.instance_id] else None

    def peek(self, token: str) -> TokenClaims | None:
        """What a token or legacy value claims, verified but whatever its state."""
        claims = self._signer.read(token)
        return claims if claims is not None else self._read_legacy(token)

    # ---- clock

    def now(self) -> float:
        return self.clock.now()

    def advance_clock(self, seconds: float) -> float:
        now = self.clock.advance(seconds)
        self.webhooks.clock_moved()  # webhook retries may be due now
        return now

    # ---- webhooks (the delivery log, holds and duplicates: ``self.webhooks``)

    def webhook_public_key(self) -> str:
        """The PEM public key the emulator's webhooks verify with (WIX_APP_PUBLIC_KEY)."""
        return self.webhooks.public_key_pem

    def configure_webhooks(self, app_id: str, url: str | None) -> None:
        """Deliver the app's lifecycle events to ``url``; None stops delivering."""
        self.app(app_id)
        self.webhooks.configure(app_id, url)

    # ---- observation and control of the Wix routes

    def count_call(self, endpoint: str) -> None:
        self._calls[endpoint] += 1

    def calls(self) -> dict[str, int]:
        return {endpoint: self._calls[endpoint] for endpoint in ENDPOINTS}

    def reset_calls(self) -> None:
        self._calls.clear()

    def add_fault(
        self,
        endpoint: str = "*",
        *,
        share: float = 1.0,
        count: int | None = None,
        latency: float = 0.0,
        status: int | None = None,
        retry_after: float | None = None,
        hang: bool = False,
        malformed: bool = False,
        reset: bool = False,
    ) -> str:
        """Inject a fault on one Wix endpoint ("token-info", "token", "instance") or "*".

        ``latency`` delays the answer; ``status`` answers that error (Wix's envelope, plus
        Retry-After when ``retry_after`` is set); ``hang`` holds the call ``hang_seconds``
        (until the client gives up, or ``clear_faults``); ``malformed`` truncates the body;
        ``reset`` drops the connection mid-answer (the client sees a transport error).
        ``share`` of the matching calls are hit, evenly spread; ``count`` caps the hits.
        """
        spec = build(
            FaultSpec,
            endpoint=endpoint,
            share=share,
            count=count,
            latency=latency,
            status=status,
            retry_after=retry_after,
            hang=hang,
            malformed=malformed,
            reset=reset,
        )
        return self.add_fault_spec(spec)

    def add_fault_spec(self, spec: FaultSpec) -> str:
        self._fault_ids += 1
        fault_id = f"fault-{self._fault_ids}"
        self.faults.add(fault_id, spec)
        return fault_id

    def clear_faults(self) -> None:
        self.faults.clear()

    def plan_faults(self, endpoint: str) -> FaultPlan:
        return self.faults.plan(endpoint)

    def set_behaviour(
        self,
        *,
        token_info_invalid: TokenInfoInvalid | None = None,
        value_style: ValueStyle | None = None,
        token_error_style: TokenErrorStyle | None = None,
        rate_limit: bool | None = None,
    ) -> Behaviour:
        """Choose how the UNCONFIRMED behaviours are played; None leaves one unchanged."""
        changes = {
            "token_info_invalid": token_info_invalid,
            "value_style": value_style,
            "token_error_style": token_error_style,
            "rate_limit": rate_limit,
        }
        merged = {
            **self.behaviour.model_dump(),
            **{k: v for k, v in changes.items() if v is not None},
        }
        self.behaviour = build(Behaviour, **merged)
        if not self.behaviour.rate_limit:
            self.rate_limiter.clear()
        return self.behaviour

    def throttle(self, instance_id: str | None) -> float | None:
        """Seconds to wait if this call is over Wix's rate limit for its instance, else None."""
        if not self.behaviour.rate_limit or instance_id is None:
            return None
        return self.rate_limiter.hit(instance_id, self.now())

    # ---- helpers

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _store(self, installation: Installation) -> None:
        self._installations[installation.instance_id] = installation
        key = (installation.app_id, installation.site_id)
        self._by_app_site[key] = installation.instance_id

    def _subject_id(self, subject: SubjectType, installation: Installation, site: Site) -> str:
        if subject is SubjectType.APP:  # stable per instance, like Wix's app identity
            return str(uuid.uuid5(_SUBJECT_NAMESPACE, f"app:{installation.instance_id}"))
        if subject is SubjectType.USER:
            return site.owner_id
        return self._uuid()

    def _read_legacy(self, value: str) -> TokenClaims | None:
        legacy = read_unverified(value)
        if legacy is None:
            return None
        app = self._apps.get(legacy.app_id or "")
        installation = self._installations.get(legacy.instance_id)
        if app is None or installation is None or installation.app_id != app.app_id:
            return None
        return (
            self._legacy_claims(legacy, installation)
            if legacy.signed_with(app.app_secret)
            else None
        )

    def _legacy_claims(self, legacy: LegacyValue, installation: Installation) -> TokenClaims:
        """The caller the value names. Legacy values carry no expiry: signDate + 4 h here."""
        site = self.site(installation.site_id)
        signed = legacy.signed_at
        iat = int(signed) if signed is not None else int(self.now())
        subject = legacy.subject_type
        return TokenClaims(
            token_id="",
            instance_id=installation.instance_id,
            client_id=installation.app_id,
            subject_type=subject,
            subject_id=legacy.subject_id or self._subject_id(subject, installation, site),
            site_id=site.site_id,
            account_id=site.owner_id if subject is SubjectType.USER else None,
            iat=iat,
            exp=iat + APP_TOKEN_LIFETIME,
            generation=self._generations[installation.instance_id],
        )

    def _emit_plan_event(
        self, before: Installation, after: Installation, buyer_id: str | None
    ) -> None:
        data: dict[str, Any] = {
            "operationTimeStamp": wix_time(self.now()),
            "vendorProductId": after.package_name,
            "cycle": after.billing_cycle,
        }
        if before.is_free:
            data["expiresOn"] = wix_time(after.expires_at) if after.expires_at else None
            event_type = "PaidPlanPurchased"
        else:
            data["previousVendorProductId"] = before.package_name
            data["previousCycle"] = before.billing_cycle
            event_type = "PaidPlanChanged"
        data["couponName"] = after.coupon_name
        data["invoiceId"] = after.invoice_id
        present = {key: value for key, value in data.items() if value is not None}
        self._emit(event_type, after, present, self._wix_user(after, buyer_id))

    def _wix_user(self, installation: Installation, user_id: str | None) -> dict[str, Any]:
        """A webhook's identity: the Wix user who acted (the site owner unless named)."""
        owner = self.site(installation.site_id).owner_id
        return {"identityType": "WIX_USER", "wixUserId": user_id or owner}

    def _emit(
        self,
        event_type: str,
        installation: Installation,
        data: dict[str, Any],
        identity: dict[str, Any] | None = None,
    ) -> None:
        event = LifecycleEvent(
            event_type=event_type,
            instance_id=installation.instance_id,
            app_id=installation.app_id,
            data=data,
            at=self.now(),
            identity=identity or self._wix_user(installation, installation.installed_by),
        )
        self.events.append(event)
        for listener in list(self._listeners):
            listener(event)


_DAY = 86_400
_CYCLE_SECONDS = {
    "MONTHLY": 30 * _DAY,
    "YEARLY": 365 * _DAY,
    "TWO_YEARS": 730 * _DAY,
    "THREE_YEARS": 1095 * _DAY,
    "FOUR_YEARS": 1460 * _DAY,
    "FIVE_YEARS": 1825 * _DAY,
}
"""How long each billing cycle runs; ONE_TIME and NO_CYCLE have no end."""

_NO_PLAN: dict[str, Any] = {
    "is_free": True,
    "billing_cycle": None,
    "purchased_at": None,
    "expires_at": None,
    "auto_renewing": None,
    "invoice_id": None,
    "coupon_name": None,
    "free_trial_status": None,
}


def _subject_type(value: SubjectType | str) -> SubjectType:
    try:
        return SubjectType(str(value).upper())
    except ValueError:
        names = ", ".join(SubjectType)
        raise EmulatorError(f"subject_type must be one of {names}.") from None


def wix_time(timestamp: float) -> str:
    """Wix's timestamp format: ``YYYY-MM-DDThh:mm:ss.sssZ`` (billing, webhooks, signDate)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _site_url(owner_email: str, display_name: str) -> str:
    account = _slug(owner_email.partition("@")[0]) or "owner"
    return f"https://{account}.wixsite.com/{_slug(display_name) or 'site'}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

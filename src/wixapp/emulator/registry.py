"""The registry of the emulated Wix: apps, sites, installations and their plans.

Every change of an installation emits the lifecycle event Wix would (``emit``), which the
webhook deliverer turns into deliveries. An uninstall bumps the instance's generation:
tokens minted before it stop working (see ``tokens``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from wixapp.emulator.records import (
    DEFAULT_CURRENCY,
    DEFAULT_DESCRIPTION,
    DEFAULT_LOCALE,
    DEFAULT_OWNER_EMAIL,
    DEFAULT_SITE_NAME,
    DEFAULT_SITE_USER_TYPE,
    Installation,
    LifecycleEvent,
    RegisteredApp,
    Site,
    build,
)
from wixapp.emulator.timekeeping import wix_time
from wixapp.emulator.wix_errors import EmulatorConflictError, EmulatorNotFoundError

__all__ = ["Registry"]


class Registry:
    def __init__(
        self,
        *,
        new_id: Callable[[], str],
        now: Callable[[], float],
        emit: Callable[[LifecycleEvent], None],
    ) -> None:
        self._new_id = new_id
        self._now = now
        self._emit_event = emit
        self._apps: dict[str, RegisteredApp] = {}
        self._sites: dict[str, Site] = {}
        self._installations: dict[str, Installation] = {}
        self._by_app_site: dict[tuple[str, str], str] = {}
        self._generations: dict[str, int] = {}

    def generation(self, instance_id: str) -> int:
        """How many times the instance was uninstalled: a token names the one it was for."""
        return self._generations[instance_id]

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
            app_id=app_id or self._new_id(),
            app_secret=app_secret or self._new_id(),
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
        site_user_type: str = DEFAULT_SITE_USER_TYPE,
        owner_id: str | None = None,
    ) -> Site:
        site = Site(
            site_id=site_id or self._new_id(),
            display_name=display_name,
            url=url or _site_url(owner_email, display_name),
            locale=locale,
            owner_email=owner_email,
            owner_id=owner_id or self._new_id(),
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
            instance_id=known or instance_id or self._new_id(),
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
            instance_id=self._new_id(),
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
                "invoice_id": invoice_id or self._new_id(),
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
            "operationTimeStamp": wix_time(self._now()),
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
        now = self._now()
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

    def _store(self, installation: Installation) -> None:
        self._installations[installation.instance_id] = installation
        key = (installation.app_id, installation.site_id)
        self._by_app_site[key] = installation.instance_id

    def _emit_plan_event(
        self, before: Installation, after: Installation, buyer_id: str | None
    ) -> None:
        data: dict[str, Any] = {
            "operationTimeStamp": wix_time(self._now()),
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
            at=self._now(),
            identity=identity or self._wix_user(installation, installation.installed_by),
        )
        self._emit_event(event)


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


def _site_url(owner_email: str, display_name: str) -> str:
    account = _slug(owner_email.partition("@")[0]) or "owner"
    return f"https://{account}.wixsite.com/{_slug(display_name) or 'site'}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

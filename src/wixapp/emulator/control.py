"""``EmulatorControl``: a typed async client for the emulator's control API.

It wraps any ``httpx.AsyncClient``, so the same code drives an in-process emulator (through
``httpx.ASGITransport``) or one served on a port. Methods mirror ``EmulatorState`` and
return the same record types; a refusal raises ``EmulatorError`` with the server's detail.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import BaseModel
from starlette.types import ASGIApp

from wixapp.emulator.delivery import WebhookDelivery
from wixapp.emulator.records import (
    APP_TOKEN_LIFETIME,
    DEFAULT_CURRENCY,
    DEFAULT_DESCRIPTION,
    DEFAULT_LOCALE,
    DEFAULT_OWNER_EMAIL,
    DEFAULT_SITE_NAME,
    Behaviour,
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
from wixapp.emulator.routes_control import CONTROL_PREFIX
from wixapp.emulator.wix_errors import EmulatorConflictError, EmulatorError, EmulatorNotFoundError
from wixapp.models import SubjectType

__all__ = ["EMULATOR_BASE_URL", "EmulatorControl"]

EMULATOR_BASE_URL = "http://wix-emulator.invalid"
"""The base URL of an in-process emulator (reached through ``httpx.ASGITransport``)."""

_ERRORS: dict[int, type[EmulatorError]] = {404: EmulatorNotFoundError, 409: EmulatorConflictError}


class EmulatorControl:
    """Drive an emulator over HTTP. Closes the client only if it created it."""

    def __init__(self, client: httpx.AsyncClient, *, prefix: str = CONTROL_PREFIX) -> None:
        self._client = client
        self._prefix = prefix.rstrip("/")
        self._owns_client = False

    @classmethod
    def for_app(cls, app: ASGIApp, *, base_url: str = EMULATOR_BASE_URL) -> Self:
        """In-process: talk to the ASGI app directly, no socket."""
        transport = httpx.ASGITransport(app=app)
        return cls._owning(httpx.AsyncClient(transport=transport, base_url=base_url))

    @classmethod
    def for_url(cls, base_url: str, *, timeout: float = 10.0) -> Self:
        """An emulator served on a port, e.g. ``http://127.0.0.1:8765``."""
        return cls._owning(httpx.AsyncClient(base_url=base_url, timeout=timeout))

    @classmethod
    def _owning(cls, client: httpx.AsyncClient) -> Self:
        control = cls(client)
        control._owns_client = True
        return control

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- apps, sites, installations

    async def register_app(
        self,
        app_id: str | None = None,
        app_secret: str | None = None,
        *,
        name: str | None = None,
        version: str | None = None,
        permissions: list[str] | None = None,
        plans: list[str] | None = None,
    ) -> RegisteredApp:
        request = build(
            RegisterApp,
            app_id=app_id,
            app_secret=app_secret,
            name=name,
            version=version,
            permissions=permissions,
            plans=plans,
        )
        return RegisteredApp.model_validate(await self._call("POST", "/apps", request))

    async def create_site(
        self,
        *,
        display_name: str = DEFAULT_SITE_NAME,
        url: str | None = None,
        locale: str = DEFAULT_LOCALE,
        site_id: str | None = None,
        owner_email: str = DEFAULT_OWNER_EMAIL,
        payment_currency: str = DEFAULT_CURRENCY,
        description: str = DEFAULT_DESCRIPTION,
        installed_wix_apps: list[str] | None = None,
        site_user_type: str | None = None,
    ) -> Site:
        request = build(
            CreateSite,
            display_name=display_name,
            url=url,
            locale=locale,
            site_id=site_id,
            owner_email=owner_email,
            payment_currency=payment_currency,
            description=description,
            installed_wix_apps=installed_wix_apps,
            site_user_type=site_user_type,
        )
        return Site.model_validate(await self._call("POST", "/sites", request))

    async def duplicate_site(
        self, site_id: str, *, display_name: str | None = None
    ) -> tuple[Site, list[Installation]]:
        """Copy a site: its apps get new instances with ``originInstanceId``."""
        request = build(DuplicateSite, display_name=display_name)
        body = await self._call("POST", f"/sites/{site_id}/duplicate", request)
        installations = [Installation.model_validate(each) for each in body["installations"]]
        return Site.model_validate(body["site"]), installations

    async def install(
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
        request = build(
            Install,
            app_id=app_id,
            site_id=site_id,
            is_free=is_free,
            package_name=package_name,
            billing_cycle=billing_cycle,
            instance_id=instance_id,
            free_trial_available=free_trial_available,
            installed_by=installed_by,
        )
        return Installation.model_validate(await self._call("POST", "/installations", request))

    async def installation(self, instance_id: str) -> Installation:
        body = await self._call("GET", f"/installations/{instance_id}")
        return Installation.model_validate(body)

    async def uninstall(self, instance_id: str) -> Installation:
        body = await self._call("DELETE", f"/installations/{instance_id}")
        return Installation.model_validate(body)

    async def set_plan(
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
        request = build(
            SetPlan,
            package_name=package_name,
            billing_cycle=billing_cycle,
            is_free=is_free,
            coupon_name=coupon_name,
            invoice_id=invoice_id,
            auto_renewing=auto_renewing,
            free_trial=free_trial,
            buyer_id=buyer_id,
        )
        body = await self._call("PUT", f"/installations/{instance_id}/plan", request)
        return Installation.model_validate(body)

    async def cancel_auto_renewal(
        self,
        instance_id: str,
        *,
        cancel_reason: str = "USER_CANCEL",
        user_reason: str | None = None,
        buyer_id: str | None = None,
    ) -> Installation:
        request = build(
            CancelAutoRenewal,
            cancel_reason=cancel_reason,
            user_reason=user_reason,
            buyer_id=buyer_id,
        )
        path = f"/installations/{instance_id}/plan/cancel-auto-renewal"
        return Installation.model_validate(await self._call("POST", path, request))

    # ---- tokens

    async def mint_token(
        self,
        instance_id: str,
        subject_type: SubjectType | str = SubjectType.VISITOR,
        *,
        lifetime: float = float(APP_TOKEN_LIFETIME),
        subject_id: str | None = None,
        app_id: str | None = None,
    ) -> MintedToken:
        request = build(
            MintToken,
            instance_id=instance_id,
            subject_type=str(subject_type),
            lifetime=lifetime,
            subject_id=subject_id,
            app_id=app_id,
        )
        return MintedToken.model_validate(await self._call("POST", "/tokens", request))

    async def revoke_token(self, token: str) -> None:
        await self._call("POST", "/tokens/revoke", build(TokenRef, token=token))

    async def sign_legacy_instance(
        self,
        instance_id: str,
        *,
        permissions: str | None = "OWNER",
        uid: str | None = None,
        site_member_id: str | None = None,
    ) -> str:
        request = build(
            SignLegacyInstance,
            instance_id=instance_id,
            permissions=permissions,
            uid=uid,
            site_member_id=site_member_id,
        )
        body = await self._call("POST", "/legacy-instances", request)
        return str(body["instance"])

    # ---- clock

    async def advance_clock(self, seconds: float) -> float:
        body = await self._call("POST", "/clock/advance", build(AdvanceClock, seconds=seconds))
        return float(body["now"])

    async def now(self) -> float:
        return float((await self._call("GET", "/clock"))["now"])

    # ---- observation, faults, behaviour

    async def calls(self) -> dict[str, int]:
        body = await self._call("GET", "/calls")
        return {str(name): int(count) for name, count in body.items()}

    async def reset_calls(self) -> None:
        await self._call("DELETE", "/calls")

    async def add_fault(self, fault: FaultSpec) -> str:
        """Inject ``fault`` (see ``EmulatorState.add_fault`` for each field). Returns its id."""
        return str((await self._call("POST", "/faults", fault))["faultId"])

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def set_behaviour(
        self,
        *,
        token_info_invalid: TokenInfoInvalid | None = None,
        value_style: ValueStyle | None = None,
        token_error_style: TokenErrorStyle | None = None,
        rate_limit: bool | None = None,
    ) -> Behaviour:
        request = build(
            BehaviourChange,
            token_info_invalid=token_info_invalid,
            value_style=value_style,
            token_error_style=token_error_style,
            rate_limit=rate_limit,
        )
        return Behaviour.model_validate(await self._call("PATCH", "/behaviour", request))

    async def behaviour(self) -> Behaviour:
        return Behaviour.model_validate(await self._call("GET", "/behaviour"))

    async def events(self) -> list[LifecycleEvent]:
        body = await self._call("GET", "/events")
        return [LifecycleEvent.model_validate(item) for item in body]

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    # ---- webhooks

    async def webhook_public_key(self) -> str:
        """The PEM public key the emulator signs webhooks for (WIX_APP_PUBLIC_KEY)."""
        response = await self._client.get(self._prefix + "/webhooks/public-key")
        if response.status_code >= 400:
            raise _error(response)
        return response.text

    async def configure_webhooks(self, app_id: str, url: str | None) -> None:
        """Deliver the app's lifecycle events to ``url``; None stops delivering."""
        await self._call("POST", "/webhooks/config", build(WebhookConfig, app_id=app_id, url=url))

    async def webhook_deliveries(self) -> list[WebhookDelivery]:
        return _deliveries(await self._call("GET", "/webhooks/deliveries"))

    async def webhook_delivery(self, delivery_id: str) -> WebhookDelivery:
        body = await self._call("GET", f"/webhooks/deliveries/{delivery_id}")
        return WebhookDelivery.model_validate(body)

    async def redeliver_webhook(self, delivery_id: str) -> WebhookDelivery:
        """Send a delivery's event again, as a new delivery (a duplicate)."""
        body = await self._call("POST", f"/webhooks/deliveries/{delivery_id}/redeliver")
        return WebhookDelivery.model_validate(body)

    async def hold_webhooks(self) -> None:
        """Keep new deliveries back until ``release_webhooks``."""
        await self._call("POST", "/webhooks/hold")

    async def release_webhooks(self, order: list[str] | None = None) -> list[WebhookDelivery]:
        """Send the held deliveries, those in ``order`` first; returns them, attempted."""
        request = build(ReleaseWebhooks, order=order)
        return _deliveries(await self._call("POST", "/webhooks/release", request))

    async def flush_webhooks(self) -> list[WebhookDelivery]:
        """Attempt every delivery due now, wait for them; returns the whole log."""
        return _deliveries(await self._call("POST", "/webhooks/flush"))

    # ---- transport

    async def _call(self, method: str, path: str, request: BaseModel | None = None) -> Any:
        payload = None if request is None else _wire(request)
        if payload is None and method in ("POST", "PUT", "PATCH"):
            payload = {}  # the control API takes only JSON bodies, even empty ones
        response = await self._client.request(method, self._prefix + path, json=payload)
        if response.status_code >= 400:
            raise _error(response)
        return None if response.status_code == 204 else response.json()


def _wire(request: BaseModel) -> dict[str, Any]:
    return request.model_dump(mode="json", by_alias=True)


def _deliveries(body: Any) -> list[WebhookDelivery]:
    return [WebhookDelivery.model_validate(item) for item in body]


def _error(response: httpx.Response) -> EmulatorError:
    try:
        body = response.json()
        detail, code = str(body["detail"]), str(body["error"])
    except (ValueError, KeyError, TypeError):
        detail, code = f"The emulator answered HTTP {response.status_code}.", None
    return _ERRORS.get(response.status_code, EmulatorError)(detail, code=code)

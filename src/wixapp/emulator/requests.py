"""The control API's request bodies, declared once: the routes validate what arrives with
them and ``EmulatorControl`` builds what it sends with them (camelCase on the wire)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from wixapp.emulator.records import FaultSpec, TokenErrorStyle, TokenInfoInvalid, ValueStyle

__all__ = [
    "AdvanceClock",
    "BehaviourChange",
    "CancelAutoRenewal",
    "ControlRequest",
    "CreateSite",
    "DuplicateSite",
    "EmitEvent",
    "FaultSpec",
    "Install",
    "MintToken",
    "RegisterApp",
    "ReleaseWebhooks",
    "SetPlan",
    "SignLegacyInstance",
    "SignWebhook",
    "TokenRef",
    "WebhookConfig",
]


class ControlRequest(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    nullable: ClassVar[frozenset[str]] = frozenset()
    """Fields whose null is passed on as None rather than taking the state's default."""

    def arguments(self) -> dict[str, Any]:
        """The fields the caller sent, so defaults live in one place: ``EmulatorState``."""
        fields = self.model_dump()
        return {k: v for k, v in fields.items() if v is not None or k in self.nullable}


class RegisterApp(ControlRequest):
    app_id: str | None = None
    app_secret: str | None = None
    name: str | None = None
    version: str | None = None
    permissions: list[str] | None = None
    plans: list[str] | None = None


class CreateSite(ControlRequest):
    display_name: str | None = None
    url: str | None = None
    locale: str | None = None
    site_id: str | None = None
    owner_email: str | None = None
    payment_currency: str | None = None
    description: str | None = None
    installed_wix_apps: list[str] | None = None
    site_user_type: str | None = None
    owner_id: str | None = None


class DuplicateSite(ControlRequest):
    display_name: str | None = None


class Install(ControlRequest):
    app_id: str
    site_id: str
    is_free: bool | None = None
    package_name: str | None = None
    billing_cycle: str | None = None
    instance_id: str | None = None
    free_trial_available: bool | None = None
    installed_by: str | None = None


class SetPlan(ControlRequest):
    nullable = frozenset({"package_name", "billing_cycle"})

    package_name: str | None = None
    billing_cycle: str | None = None
    is_free: bool = False
    coupon_name: str | None = None
    invoice_id: str | None = None
    auto_renewing: bool | None = None
    free_trial: bool | None = None
    buyer_id: str | None = None


class CancelAutoRenewal(ControlRequest):
    cancel_reason: str | None = None
    user_reason: str | None = None
    buyer_id: str | None = None


class MintToken(ControlRequest):
    instance_id: str
    subject_type: str | None = None
    lifetime: float | None = None
    subject_id: str | None = None
    app_id: str | None = None


class TokenRef(ControlRequest):
    token: str


class SignLegacyInstance(ControlRequest):
    nullable = frozenset({"permissions"})  # null: no permissions, a visitor

    instance_id: str
    permissions: str | None = "OWNER"
    uid: str | None = None
    site_member_id: str | None = None


class AdvanceClock(ControlRequest):
    seconds: float


class WebhookConfig(ControlRequest):
    nullable = frozenset({"url"})  # null: stop delivering

    app_id: str
    url: str | None = None


class EmitEvent(ControlRequest):
    event_type: str
    data: dict[str, Any] | None = None
    entity: dict[str, Any] | None = None
    modified_fields: dict[str, Any] | None = None
    action_body: dict[str, Any] | None = None
    identity: dict[str, Any] | None = None
    account_info: dict[str, Any] | None = None


class SignWebhook(EmitEvent):
    instance_id: str
    app_id: str | None = None  # whose key signs, for an instance not installed


class ReleaseWebhooks(ControlRequest):
    order: list[str] | None = None


class BehaviourChange(ControlRequest):
    token_info_invalid: TokenInfoInvalid | None = None
    value_style: ValueStyle | None = None
    token_error_style: TokenErrorStyle | None = None
    rate_limit: bool | None = None

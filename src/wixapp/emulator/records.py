"""The emulator's value types: what the control API takes and returns, camelCase on the wire.

Results are frozen pydantic models so the in-process ``EmulatorState`` and the HTTP
``EmulatorControl`` hand back the very same types. Secrets and tokens are kept out of
``repr`` so a failing assertion never prints them.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from wixapp.emulator.wix_errors import EmulatorError
from wixapp.models import SubjectType
from wixapp.protocol import Endpoint

__all__ = [
    "APP_TOKEN_LIFETIME",
    "DEFAULT_APP_NAME",
    "DEFAULT_APP_VERSION",
    "DEFAULT_CURRENCY",
    "DEFAULT_DESCRIPTION",
    "DEFAULT_LOCALE",
    "DEFAULT_OWNER_EMAIL",
    "DEFAULT_PERMISSIONS",
    "DEFAULT_SITE_NAME",
    "DEFAULT_SITE_USER_TYPE",
    "ENDPOINTS",
    "Behaviour",
    "Endpoint",
    "FaultSpec",
    "Installation",
    "LifecycleEvent",
    "MintedToken",
    "RegisteredApp",
    "Site",
    "TokenErrorStyle",
    "TokenInfoInvalid",
    "ValueStyle",
    "build",
]

DEFAULT_SITE_NAME = "My Wix Site"
DEFAULT_LOCALE = "en"
DEFAULT_OWNER_EMAIL = "site-owner@example.com"
DEFAULT_CURRENCY = "USD"
DEFAULT_DESCRIPTION = "A site played by the wixapp emulator"
DEFAULT_SITE_USER_TYPE = "Channel DIY"  # a site its owner builds alone (spec §4)
APP_TOKEN_LIFETIME = 14_400  # seconds: Wix's app tokens live 4 hours (spec §3)
DEFAULT_APP_NAME = "WIXAPP_EMULATED_APP"
DEFAULT_APP_VERSION = "1.0.0"
DEFAULT_PERMISSIONS = (
    "WIX_DEVELOPERS.CREATE_CHECKOUT",
    "WIX_DEVELOPERS.MANAGE_APP_INSTANCE",
    "WIX_DEVELOPERS.MANAGE_CHARGE",
)

TokenInfoInvalid = Literal["status", "inactive"]
ValueStyle = Literal["string", "native"]
TokenErrorStyle = Literal["wix", "oauth"]


ENDPOINTS: tuple[str, ...] = tuple(endpoint.value for endpoint in Endpoint)

RecordT = TypeVar("RecordT", bound=BaseModel)


def build(model: type[RecordT], **fields: Any) -> RecordT:
    """Validate a record from Python arguments; bad values raise EmulatorError, not pydantic's."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise EmulatorError(f"Invalid {model.__name__}: {problems}.") from None


class Record(BaseModel):
    """A result: camelCase JSON, unknown fields ignored so older clients keep working."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class RegisteredApp(Record):
    """An app as its dashboard defines it: credentials, name, version, permissions, plans."""

    app_id: str
    app_secret: str = Field(repr=False)
    name: str = DEFAULT_APP_NAME
    version: str = DEFAULT_APP_VERSION
    permissions: tuple[str, ...] = DEFAULT_PERMISSIONS
    plans: tuple[str, ...] = ()  # package names the app sells (``availablePlans``)


class Site(Record):
    site_id: str
    display_name: str
    url: str
    locale: str
    owner_email: str
    owner_id: str
    payment_currency: str
    description: str
    installed_wix_apps: tuple[str, ...] = ()  # apps made by Wix on the site
    site_user_type: str = DEFAULT_SITE_USER_TYPE  # or "Channel DIFM", "Enterprise"


class Installation(Record):
    """An app on a site, with its plan. Times are on the emulator clock (epoch seconds)."""

    instance_id: str
    app_id: str
    site_id: str
    installed: bool = True
    is_free: bool = True
    package_name: str | None = None
    billing_cycle: str | None = None
    purchased_at: float | None = None  # billing.timeStamp: bought, or trial started
    expires_at: float | None = None  # the current billing cycle's end
    auto_renewing: bool | None = None
    invoice_id: str | None = None
    coupon_name: str | None = None
    free_trial_status: str | None = None  # IN_PROGRESS, ENDED or NOT_AVAILABLE
    free_trial_available: bool = False
    origin_instance_id: str | None = None  # set on a duplicated site's copy
    installed_by: str | None = None  # the Wix user who installed it


class MintedToken(Record):
    token: str = Field(repr=False)
    exp: int
    subject_type: SubjectType
    subject_id: str
    instance_id: str


class Behaviour(Record):
    """The switchable UNCONFIRMED behaviours of spec §2, §3 and §6, defaults first."""

    token_info_invalid: TokenInfoInvalid = "status"
    value_style: ValueStyle = "string"
    token_error_style: TokenErrorStyle = "wix"
    rate_limit: bool = False


class FaultSpec(Record):
    """One injected fault; see ``EmulatorState.add_fault`` for the meaning of each field."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Literal["token-info", "token", "instance", "*"] = "*"
    share: float = Field(default=1.0, gt=0.0, le=1.0)
    count: int | None = Field(default=None, ge=1)
    latency: float = Field(default=0.0, ge=0.0)
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0.0)
    hang: bool = False
    malformed: bool = False
    reset: bool = False


class LifecycleEvent(Record):
    """An app lifecycle change (spec §7), or an event sent on request (``emit_event``: a
    domain event), recorded for the webhook delivery to come."""

    event_type: str
    instance_id: str
    app_id: str
    data: dict[str, Any]
    at: float
    identity: dict[str, Any] = Field(default_factory=lambda: {"identityType": "APP"})
    account_info: dict[str, Any] | None = None  # the envelope's accountInfo (domain events)

"""The emulator's value types: what the control API takes and returns, camelCase on the wire.

Results are frozen pydantic models so the in-process ``EmulatorState`` and the HTTP
``EmulatorControl`` hand back the very same types. Secrets and tokens are kept out of
``repr`` so a failing assertion never prints them.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from wixapp.emulator.errors import EmulatorError
from wixapp.models import SubjectType
from wixapp.protocol import Endpoint

__all__ = [
    "APP_TOKEN_LIFETIME",
    "DEFAULT_CURRENCY",
    "DEFAULT_DESCRIPTION",
    "DEFAULT_LOCALE",
    "DEFAULT_OWNER_EMAIL",
    "DEFAULT_SITE_NAME",
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
APP_TOKEN_LIFETIME = 14_400  # seconds: Wix's app tokens live 4 hours (spec §3)

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
    app_id: str
    app_secret: str = Field(repr=False)


class Site(Record):
    site_id: str
    display_name: str
    url: str
    locale: str
    owner_email: str
    owner_id: str
    payment_currency: str
    description: str


class Installation(Record):
    instance_id: str
    app_id: str
    site_id: str
    installed: bool = True
    is_free: bool = True
    package_name: str | None = None
    billing_cycle: str | None = None


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
    """An app lifecycle change (spec §7), recorded for the webhook delivery to come."""

    event_type: str
    instance_id: str
    app_id: str
    data: dict[str, Any]
    at: float

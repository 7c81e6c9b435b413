"""Typed shapes of what Wix sends, parsed tolerantly.

Wix documents some values both as native JSON and as strings (``"active": "true"``,
``"exp": "1715096067"``); every model here accepts both, ignores unknown fields, and treats
every documented field as optional, as the spec says they may all be absent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "AppInstance",
    "AppInstanceData",
    "AppToken",
    "Billing",
    "Caller",
    "FreeTrialInfo",
    "Multilingual",
    "OwnerInfo",
    "SiteInfo",
    "SubjectType",
    "TokenInfo",
]


class SubjectType(StrEnum):
    APP = "APP"
    USER = "USER"
    MEMBER = "MEMBER"
    VISITOR = "VISITOR"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> SubjectType:
        """Any unknown or missing value is UNKNOWN, never an error (spec §2)."""
        if isinstance(value, str):
            try:
                return cls(value.strip().upper())
            except ValueError:
                return cls.UNKNOWN
        return cls.UNKNOWN


def _parse_bool(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no", ""}:
            return False
    return value


def _parse_int(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            return int(float(text))  # "1715096067.0"; a non-number still raises here
    if isinstance(value, float):
        return int(value)
    return value


def _parse_subject_type(value: object) -> SubjectType:
    return SubjectType.parse(value)


LooseBool = Annotated[bool, BeforeValidator(_parse_bool)]
LooseInt = Annotated[int | None, BeforeValidator(_parse_int)]
LooseSubject = Annotated[SubjectType, BeforeValidator(_parse_subject_type)]


class WixModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class TokenInfo(WixModel):
    """The answer of ``POST /oauth2/token-info`` (spec §2)."""

    active: LooseBool = False
    subject_type: LooseSubject = SubjectType.UNKNOWN
    subject_id: str | None = None
    exp: LooseInt = None
    iat: LooseInt = None
    client_id: str | None = None
    account_id: str | None = None
    site_id: str | None = None
    instance_id: str | None = None
    vendor_product_id: str | None = None


class AppToken(BaseModel):
    """An app-identity token from ``POST /oauth2/token`` (client_credentials, spec §3)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: str = Field(repr=False)
    token_type: str = "Bearer"
    expires_in: LooseInt = 14400
    obtained_at: float = Field(default_factory=time.time)

    @property
    def expires_at(self) -> float:
        return self.obtained_at + float(self.expires_in or 0)

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        current = time.time() if now is None else now
        return self.expires_at - seconds <= current


class FreeTrialInfo(WixModel):
    status: str | None = None
    end_date: str | None = None


class Billing(WixModel):
    package_name: str | None = None
    billing_cycle: str | None = None
    time_stamp: str | None = None
    expiration_date: str | None = None
    auto_renewing: LooseBool | None = None
    invoice_id: str | None = None
    source: str | None = None
    free_trial_info: FreeTrialInfo | None = None


class AvailablePlan(WixModel):
    package_name: str | None = None
    source: str | None = None


class AppInstanceData(WixModel):
    instance_id: str | None = None
    app_name: str | None = None
    app_version: str | None = None
    is_free: LooseBool | None = None
    billing: Billing | None = None
    permissions: list[str] = Field(default_factory=list)
    available_plans: list[AvailablePlan] = Field(default_factory=list)
    origin_instance_id: str | None = None
    copied_from_template: LooseBool | None = None
    is_origin_site_template: LooseBool | None = None
    free_trial_available: LooseBool | None = None


class Multilingual(WixModel):
    is_multi_lingual: LooseBool | None = Field(
        default=None, validation_alias=AliasChoices("isMultiLingual", "isMultilingual")
    )
    supported_languages: list[Any] = Field(default_factory=list)


class OwnerInfo(WixModel):
    email: str | None = None
    email_status: str | None = None


class SiteInfo(WixModel):
    site_display_name: str | None = None
    locale: str | None = None
    payment_currency: str | None = None
    multilingual: Multilingual | None = None
    url: str | None = None
    description: str | None = None
    installed_wix_apps: list[str] = Field(default_factory=list)
    owner_email: str | None = None
    owner_info: OwnerInfo | None = None
    site_id: str | None = None
    site_user_type: str | None = None


class AppInstance(WixModel):
    """The answer of ``GET /apps/v1/instance`` (spec §4)."""

    instance: AppInstanceData = Field(default_factory=AppInstanceData)
    site: SiteInfo = Field(default_factory=SiteInfo)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling the backend, as established through token-info and the trust rules."""

    instance_id: str
    subject_type: SubjectType
    subject_id: str | None
    site_id: str | None
    expires_at: float | None

    @property
    def is_user(self) -> bool:
        return self.subject_type is SubjectType.USER

    def public(self) -> dict[str, str | None]:
        """The ``/get-instance`` answer body."""
        return {
            "instanceId": self.instance_id,
            "subjectType": self.subject_type.value,
            "subjectId": self.subject_id,
            "siteId": self.site_id,
        }


# --- tolerant field parsing -------------------------------------------------------------


def to_datetime(value: object) -> datetime | None:
    """Read a timestamp tolerantly: ISO 8601 (``Z`` or offset), or epoch seconds or ms.

    Anything else is ``None``: a strange timestamp must not make an event unreadable.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return from_epoch(float(value))
    if isinstance(value, str):
        return _from_text(value.strip())
    return None


def from_epoch(seconds: float) -> datetime | None:
    if abs(seconds) > 1e11:  # 1e11 s is the year 5138: this must be milliseconds
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_text(text: str) -> datetime | None:
    try:
        return from_epoch(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_str(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


LooseDatetime = Annotated[datetime | None, BeforeValidator(to_datetime)]
LooseStr = Annotated[str | None, BeforeValidator(to_str)]

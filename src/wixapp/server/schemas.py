"""The shapes the backend accepts and answers, validated by pydantic.

``WidgetSettings`` validates every settings write. The other models only document answers in
the OpenAPI schema (``/openapi.json``); the routes build their bodies directly.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wixapp.config import DEFAULT_VISITOR_INSTANCE_FIELDS

__all__ = [
    "DEFAULT_SETTINGS",
    "CallerBody",
    "ErrorBody",
    "Problem",
    "SettingsBody",
    "WidgetSettings",
]


class WidgetSettings(BaseModel):
    """A widget's settings, as the settings panel saves them. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    greeting: str = Field(default="Hello from wixapp!", min_length=0, max_length=280)
    accent_color: str = Field(default="#116dff", alias="accentColor", pattern=r"^#[0-9a-fA-F]{6}$")
    show_instance_id: bool = Field(default=True, alias="showInstanceId")
    theme: str = Field(default="light", pattern=r"^(light|dark)$")

    @field_validator("greeting")
    @classmethod
    def _encodable(cls, value: str) -> str:
        # JSON may escape a lone UTF-16 surrogate ("\\ud800"): Python decodes it into a str
        # no database, and no JSON answer, can encode.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no unpaired surrogates)") from None
        return value

    def document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


DEFAULT_SETTINGS = WidgetSettings().document()


class Problem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    """Every error answer: a stable machine-readable code and a sentence saying what to do."""

    error: str = Field(description="machine-readable code, e.g. invalid_token")
    detail: str = Field(description="what went wrong and what to do next")
    problems: list[Problem] = Field(
        default_factory=list, description="the fields at fault (422 answers only)"
    )


class CallerBody(BaseModel):
    """``GET /get-instance``: who is calling."""

    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instanceId")
    subject_type: str = Field(alias="subjectType", description="VISITOR, MEMBER, USER or APP")
    subject_id: str | None = Field(alias="subjectId")
    site_id: str | None = Field(alias="siteId")
    instance: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "with ?include=instance: Wix's instance and site data (Get App Instance). USER "
            "callers get all of it; VISITOR and MEMBER callers only the fields listed in "
            "WIXAPP_VISITOR_INSTANCE_FIELDS, by default "
            + ", ".join(DEFAULT_VISITOR_INSTANCE_FIELDS)
            + ": never the owner's e-mail or owner info, billing, invoice or plan details"
        ),
    )
    instance_stale: bool = Field(
        default=False,
        alias="instanceStale",
        description="with ?include=instance: true when Wix was unavailable and the data is old",
    )


class SettingsBody(BaseModel):
    """``GET`` and ``PUT /api/settings``: the instance's settings and their version."""

    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instanceId")
    settings: WidgetSettings
    version: int = Field(ge=0, description='0 before the first save; the ETag is "v<version>"')

"""The shapes the backend accepts and answers, validated by pydantic."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_SETTINGS", "WidgetSettings"]


class WidgetSettings(BaseModel):
    """A widget's settings, as the settings panel saves them. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    greeting: str = Field(default="Hello from wixapp!", min_length=0, max_length=280)
    accent_color: str = Field(default="#116dff", alias="accentColor", pattern=r"^#[0-9a-fA-F]{6}$")
    show_instance_id: bool = Field(default=True, alias="showInstanceId")
    theme: str = Field(default="light", pattern=r"^(light|dark)$")

    def document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


DEFAULT_SETTINGS = WidgetSettings().document()

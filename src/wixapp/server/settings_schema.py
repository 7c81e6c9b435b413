"""The schema of the per-instance settings document: wixapp's ``WidgetSettings`` by default,
or a pydantic model the app defines (``create_app(settings_model=...)``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from wixapp.errors import ConfigurationError, InvalidRequestError
from wixapp.server.schemas import WidgetSettings

__all__ = ["SettingsSchema"]

_COMPONENTS = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class SettingsSchema:
    """Validates a settings write into the stored document; ``encoded_defaults`` is what
    ``GET /api/settings`` answers before the first save."""

    model: type[BaseModel]
    encoded_defaults: orjson.Fragment

    @classmethod
    def of(cls, model: type[BaseModel] | None = None) -> SettingsSchema:
        model = model or WidgetSettings
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigurationError(f"settings_model must be a pydantic model, not {model!r}")
        try:
            defaults = _document(model())
        except ValidationError:
            raise ConfigurationError(
                f"settings_model {model.__name__}: give every field a default (GET "
                "/api/settings answers the defaults before the first save)"
            ) from None
        return cls(model, orjson.Fragment(orjson.dumps(defaults)))

    def validate(self, raw: Any) -> dict[str, Any]:
        """The stored document for a settings write; a mismatch is a 422 listing the fields."""
        try:
            return _document(self.model.model_validate(raw))
        except ValidationError as error:
            raise InvalidRequestError(
                error.errors(),
                code="invalid_settings",
                detail="The settings do not match the schema; fix the fields listed.",
            ) from None

    def openapi(self, generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        """``app.openapi`` describing this model in ``PUT /api/settings`` and its answers."""
        if self.model is WidgetSettings:
            return generate

        def described() -> dict[str, Any]:
            schema = generate()
            refs, extra = models_json_schema([(self.model, "validation")], ref_template=_COMPONENTS)
            reference = refs[(self.model, "validation")]
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(extra.get("$defs", {}))
            put = schema["paths"]["/api/settings"]["put"]
            put["requestBody"]["content"]["application/json"]["schema"] = reference
            components["SettingsBody"]["properties"]["settings"] = reference
            return schema

        return described


def _document(settings: BaseModel) -> dict[str, Any]:
    document: dict[str, Any] = settings.model_dump(mode="json", by_alias=True)
    return document

"""Errors: those the emulator's Wix routes answer with, and those its control API raises.

``WixHTTPError`` renders as Wix's error envelope (spec §6), or for ``/oauth2/token`` in the
RFC 6749 style when that behaviour is chosen. ``EmulatorError`` is for misuse of the
control API (unknown app, conflicting install…) and joins wixapp's one exception tree.
"""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.responses import JSONResponse

from wixapp.errors import WixAppError
from wixapp.protocol import retry_after_seconds

__all__ = [
    "EmulatorConflictError",
    "EmulatorError",
    "EmulatorNotFoundError",
    "WixHTTPError",
    "retry_after_header",
]


class EmulatorError(WixAppError):
    """The emulator's control API refused a request; ``detail`` says what to change."""

    status_code: ClassVar[int] = 400
    default_code = "emulator_bad_request"
    default_detail = "The emulator refused this control request."


class EmulatorNotFoundError(EmulatorError):
    status_code = 404
    default_code = "emulator_not_found"


class EmulatorConflictError(EmulatorError):
    status_code = 409
    default_code = "emulator_conflict"


class WixHTTPError(Exception):
    """An error answer of an emulated Wix endpoint, as data."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        *,
        oauth_error: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.oauth_error = oauth_error  # the RFC 6749 ``error`` for /oauth2/token
        self.field = field  # set: a validationError envelope naming this field
        self.retry_after = retry_after

    def envelope(self) -> dict[str, Any]:
        if self.status >= 500:
            return {"message": "", "details": {}}
        if self.field is not None:
            violation = {
                "field": self.field,
                "description": self.description,
                "violatedRule": "OTHER",
                "ruleName": self.code,
                "data": {},
            }
            return {
                "message": self.description,
                "details": {"validationError": {"fieldViolations": [violation]}},
            }
        error = {"code": self.code, "description": self.description, "data": {}}
        return {"message": self.description, "details": {"applicationError": error}}

    def oauth_body(self) -> dict[str, Any]:
        return {
            "error": self.oauth_error or "invalid_request",
            "error_description": self.description,
        }

    def response(self, *, oauth: bool = False) -> JSONResponse:
        body = self.oauth_body() if oauth and self.oauth_error else self.envelope()
        headers = retry_after_header(self.retry_after)
        return JSONResponse(body, status_code=self.status, headers=headers)


def retry_after_header(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": str(retry_after_seconds(seconds))}

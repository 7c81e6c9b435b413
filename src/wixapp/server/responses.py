"""JSON error bodies: ``{"error": code, "detail": what to do}``, one shape everywhere."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

from wixapp.errors import WixAppError

__all__ = ["error_response", "response_for"]


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extra: object
) -> JSONResponse:
    body: dict[str, object] = {"error": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def response_for(error: WixAppError) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.status, headers=error.headers())

"""JSON error bodies: ``{"error": code, "detail": what to do}``, one shape everywhere."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from wixapp.errors import WixAppError

__all__ = ["ErrorJSONResponse", "error_response", "response_for"]


class ErrorJSONResponse(JSONResponse):
    """ASCII-only JSON: an error may quote what the client sent (a field name, say), and a
    lone surrogate in it must not turn a 4xx into a failure to encode the answer."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extra: object
) -> JSONResponse:
    body: dict[str, object] = {"error": code, "detail": detail, **extra}
    return ErrorJSONResponse(body, status_code=status, headers=dict(headers or {}))


def response_for(error: WixAppError) -> JSONResponse:
    return ErrorJSONResponse(error.to_dict(), status_code=error.status, headers=error.headers())

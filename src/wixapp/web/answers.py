"""Error answers, one shape and one log for every front door.

``{"error": code, "detail": what to do}`` (``WixAppError.to_dict``), with the error's status
and headers. :func:`error_answer` is what every door renders a ``WixAppError`` with: a 5xx
is logged there, at most once a minute per code (during a Wix outage fifty failed requests
are one line, whichever door they came through). :class:`Answer` carries a Starlette
response into a framework that builds its own response objects (Flask, Django).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from wixapp.errors import WixAppError
from wixapp.logs import LogLimiter

__all__ = [
    "Answer",
    "ErrorJSONResponse",
    "error_answer",
    "error_response",
    "response_for",
    "unexpected_answer",
]

logger = logging.getLogger("wixapp.web")

ANSWERED_5XX_LOG_INTERVAL = 60.0
_answered_5xx = LogLimiter(interval=ANSWERED_5XX_LOG_INTERVAL)


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
    """The error's JSON answer, not logged (for refusals the caller logs its own way)."""
    return ErrorJSONResponse(error.to_dict(), status_code=error.status, headers=error.headers())


def error_answer(error: WixAppError) -> JSONResponse:
    """The answer to a request that failed with ``error``; a 5xx is logged (rate-limited)."""
    if error.status >= 500:
        status, code, detail = error.status, error.code, error.detail
        _log_5xx(logging.WARNING, code, "answering %d %s: %s", status, code, detail)
    return response_for(error)


def unexpected_answer(error: BaseException) -> JSONResponse:
    """A 500 for an exception nobody expected; its type is logged (rate-limited), never
    its message, which may quote a credential."""
    kind = type(error).__name__
    _log_5xx(logging.ERROR, kind, "unexpected %s while answering a request", kind)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def _log_5xx(level: int, key: str, message: str, *args: object) -> None:
    _answered_5xx.log(logger, level, key, message, *args)


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP answer, for frameworks that build their own response objects."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    media_type: str | None = None

    @classmethod
    def of(cls, response: Response) -> Answer:
        headers = [
            (name, value)
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        ]
        content_type = response.headers.get("content-type")
        return cls(response.status_code, headers, bytes(response.body), content_type)

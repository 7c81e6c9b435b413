"""Answers the sync adapters (Flask, Django) take from the backend's own code.

wixapp's JSON errors (``response_for``), CORS preflights (``CorsPolicy``) and webhook
receipts are Starlette responses; :class:`Answer` carries one into a framework's own
response object, so a Flask or Django app answers exactly as wixapp's backend does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.responses import Response

from wixapp.errors import WixAppError
from wixapp.server.responses import response_for

__all__ = ["Answer", "error_answer"]

logger = logging.getLogger("wixapp.adapters")


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


def error_answer(error: WixAppError) -> Answer:
    """wixapp's JSON error for ``error``: ``{"error": code, "detail": …}`` and its headers."""
    if error.status >= 500:
        logger.warning("answering %d %s: %s", error.status, error.code, error.detail)
    return Answer.of(response_for(error))

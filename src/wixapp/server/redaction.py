"""Keep credentials out of the access log.

The legacy signed ``instance`` parameter (``GET /get-instance?instance=…``) is a credential
that never expires, and uvicorn's access log writes every request's query string. A filter
on the ``uvicorn.access`` logger replaces its value with ``[redacted]``; the rest of the line
is unchanged. (Tokens travel in the Authorization header, which no access log writes.)
"""

from __future__ import annotations

import logging
import re

__all__ = ["ACCESS_LOGGER", "RedactQueryCredentials", "redact", "redact_access_log"]

ACCESS_LOGGER = "uvicorn.access"
_CREDENTIAL = re.compile(r"(?i)((?:^|[?&])instance=)[^&#\s]*")


def redact(text: str) -> str:
    return _CREDENTIAL.sub(r"\1[redacted]", text)


class RedactQueryCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log() -> None:
    """Install the filter once (each ``create_app`` calls this)."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(each, RedactQueryCredentials) for each in access.filters):
        access.addFilter(RedactQueryCredentials())

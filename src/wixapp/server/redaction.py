"""Keep credentials out of the access log.

The legacy signed ``instance`` parameter (``GET /get-instance?instance=…``) is a credential,
and uvicorn's access log writes every request's query string. A filter on the
``uvicorn.access`` logger replaces its value with ``[redacted]``; the rest of the line is
unchanged. Parameter names are compared after percent-decoding, as the server reads them,
so ``?%69nstance=`` is redacted too. (Tokens travel in the Authorization header, which no
access log writes.)
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

__all__ = ["ACCESS_LOGGER", "RedactQueryCredentials", "redact", "redact_access_log"]

ACCESS_LOGGER = "uvicorn.access"
CREDENTIAL_PARAMETERS = frozenset({"instance"})
_PARAMETER = re.compile(r"([?&;])([^=&;#\s]*)=([^&;#\s]*)")


def redact(text: str) -> str:
    if "=" not in text:
        return text
    return _PARAMETER.sub(_redacted, text)


def _redacted(match: re.Match[str]) -> str:
    name = unquote_plus(match.group(2)).strip().lower()
    if name not in CREDENTIAL_PARAMETERS:
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}=[redacted]"


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

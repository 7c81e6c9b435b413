"""wixapp's log lines: time, level and logger name on every line, under any server.

- ``wixapp serve`` and ``wixapp demo`` configure logging with :func:`logging_config` and hand
  the same configuration to uvicorn, so every worker process and uvicorn's own lines (access
  lines included) look alike.
- Under a server that configures only its own loggers (plain ``uvicorn myapp:app``,
  gunicorn), ``create_app`` calls :func:`ensure_wixapp_logging`: the ``wixapp`` loggers get a
  handler of their own, at INFO, in the same format, but only while no handler would print
  their records. An app that configures logging itself (``logging.basicConfig``,
  ``dictConfig`` with a root handler) keeps full control: wixapp then adds nothing.
- Alembic's INFO lines (one per migration step) are left out unless ``verbose``.
- :class:`LogLimiter` bounds lines an outsider can trigger (refused webhooks, unreadable
  cache entries, answers that are not Wix's) to one per interval, or one ever.
- :func:`redact_access_logs` keeps the legacy signed ``instance`` parameter (a credential:
  an OWNER value is a USER caller for a day) out of the access logs of the servers in front
  of any door: uvicorn, gunicorn, werkzeug (Flask's development server) and Django's
  runserver. Every front door installs it; :class:`RedactCredentials` is the filter, for
  other loggers. Parameter names are compared after percent-decoding, as servers read them,
  so ``?%69nstance=`` is redacted too. (Tokens travel in the Authorization header, which no
  access log writes.)
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import unquote_plus

__all__ = [
    "ACCESS_LOGGERS",
    "LOG_FORMAT",
    "LogLimiter",
    "RedactCredentials",
    "ensure_wixapp_logging",
    "logging_config",
    "redact",
    "redact_access_logs",
]

ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access", "werkzeug", "django.server")
"""The loggers that write request lines, query strings included."""
CREDENTIAL_PARAMETERS = frozenset({"instance"})
# A parameter after ?, & or ; (a request line, a URL), or first in a bare query string.
_PARAMETER = re.compile(r"(^|[?&;])([^=&;#?/\s]*)=([^&;#\s\"]*)")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "wixapp-default"


def logging_config(*, level: str = "INFO", verbose: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary (also uvicorn's ``log_config``): one
    stderr handler on the root logger, uvicorn's loggers routed to it."""
    quiet = "INFO" if verbose else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"wixapp": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "wixapp",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own handlers would print the same lines twice: they propagate instead.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
            "httpx": {"level": "WARNING"},  # one line per request is noise
            "alembic": {"level": quiet},  # one line per migration step
        },
    }


def ensure_wixapp_logging(level: int = logging.INFO) -> None:
    """Give the ``wixapp`` loggers a formatted stderr handler if nothing would print their
    records (no handler on them or on the root); otherwise leave logging alone."""
    logger = logging.getLogger("wixapp")
    if logger.hasHandlers():
        return
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(level)


class LogLimiter:
    """Lines an outsider (or a broken dependency) can trigger, without letting them flood.

    ``allow(key)`` says whether to write a line now: the first occurrence of each key always,
    then at most one per ``interval`` seconds (never again with ``interval=None``: log once).
    The value is how many occurrences were left out since the last line (None: stay quiet).
    ``log`` writes the line itself, with that count.
    """

    def __init__(
        self,
        *,
        interval: float | None,
        max_keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._max_keys = max_keys
        self._clock = clock
        self._last: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()

    def allow(self, key: Hashable = None) -> int | None:
        now = self._clock()
        seen = self._last.get(key)
        if seen is not None:
            logged_at, skipped = seen
            if self._interval is None or now - logged_at < self._interval:
                self._last[key] = (logged_at, skipped + 1)
                return None
        self._last[key] = (now, 0)
        self._last.move_to_end(key)
        while len(self._last) > self._max_keys:
            self._last.popitem(last=False)
        return 0 if seen is None else seen[1]

    def log(
        self, logger: logging.Logger, level: int, key: Hashable, message: str, *args: object
    ) -> None:
        """``logger.log(level, message, *args)`` if ``allow(key)`` says so, saying how many
        occurrences were left out since the last line."""
        skipped = self.allow(key)
        if skipped is None:
            return
        if skipped:
            message += " (%d more since the last line)"
            args = (*args, skipped)
        logger.log(level, message, *args)


def redact(text: str) -> str:
    """``text`` with the value of every credential parameter replaced by ``[redacted]``."""
    if "=" not in text:
        return text
    return _PARAMETER.sub(_redacted, text)


def _redacted(match: re.Match[str]) -> str:
    name = unquote_plus(match.group(2)).strip().lower()
    if name not in CREDENTIAL_PARAMETERS:
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}=[redacted]"


class RedactCredentials(logging.Filter):
    """Redacts the message and its arguments (a tuple, or gunicorn's mapping of atoms)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redact_any(each) for each in args)
        elif isinstance(args, dict):
            record.args = {key: _redact_any(value) for key, value in args.items()}
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def _redact_any(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


def redact_access_logs(*loggers: str) -> None:
    """Install :class:`RedactCredentials` on ``loggers`` (default: :data:`ACCESS_LOGGERS`),
    once each. Under another server, pass its access logger's name."""
    for name in loggers or ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(each, RedactCredentials) for each in logger.filters):
            logger.addFilter(RedactCredentials())

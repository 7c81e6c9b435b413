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
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["LOG_FORMAT", "ensure_wixapp_logging", "logging_config"]

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

"""Why the database refused a request: the answer's detail and one log line naming the cause.

Every refusal is a retryable 503 ``store_unavailable`` with ``Retry-After``; the transaction
was rolled back, so a refused write saved nothing and the client was told so. What differs
is the cause the operator reads in the log, at most once a minute per cause:

- SQLite is busy: it has one writer at a time, and a write waited for the lock longer than
  ``busy_timeout`` (``WIXAPP_SQLITE_BUSY_TIMEOUT``). That is load, not a fault: the writes
  queued behind each other for longer than the server waits.
- The connection pool had no free connection within its timeout.
- Anything else the driver raised (the database is down, the disk is full, …).
"""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from wixapp.errors import StoreUnavailableError
from wixapp.logs import LogLimiter

__all__ = ["UNAVAILABLE_LOG_INTERVAL", "unavailable"]

logger = logging.getLogger("wixapp.store")

UNAVAILABLE_LOG_INTERVAL = 60.0
_logged = LogLimiter(interval=UNAVAILABLE_LOG_INTERVAL)

_BUSY_DETAIL = (
    "The database is busy: other requests held it longer than the server waits. Nothing "
    "was saved; retry after the Retry-After delay."
)
_SQLITE_BUSY_CAUSE = (
    "SQLite database is locked: a write waited for the write lock longer than busy_timeout "
    "(%s; its transaction had run %.1f s) and was refused with 503 store_unavailable, "
    "nothing saved. SQLite has one writer at a time, so under this write load writes queue "
    "for longer than that: use PostgreSQL (WIXAPP_DATABASE_URL) for several workers or heavy "
    "writes, or raise WIXAPP_SQLITE_BUSY_TIMEOUT"
)
_SQLITE_SNAPSHOT_CAUSE = (
    "SQLite database is locked (SQLITE_BUSY_SNAPSHOT): a transaction read, then tried to "
    "write after another connection had written; SQLite refuses that at once, without "
    "waiting busy_timeout. Answered 503 store_unavailable, nothing saved; make the "
    "transaction's first statement its write"
)
_POOL_CAUSE = (
    "no database connection was free within the pool's timeout (%s; its transaction had run "
    "%.1f s): requests hold connections longer than usual (a slow or locked database) or "
    "more run at once than the pool allows. Answered 503 store_unavailable, nothing saved"
)
_OTHER_CAUSE = "the database failed (%s): answered 503 store_unavailable"


def unavailable(
    error: DBAPIError | PoolTimeoutError,
    *,
    waited: float,
    busy_timeout: float | None,
    pool_status: str,
) -> StoreUnavailableError:
    """The 503 for ``error`` (raise it ``from error``), its cause logged at most once a minute.

    ``waited``: seconds since the transaction (or connection) was asked for; ``busy_timeout``:
    the SQLite engine's, None for PostgreSQL; ``pool_status``: the pool's own summary.
    """
    timeout = "as set on the engine" if busy_timeout is None else f"{busy_timeout:g} s"
    if isinstance(error, PoolTimeoutError):
        _log("pool_timeout", _POOL_CAUSE, pool_status, waited)
        return StoreUnavailableError(_BUSY_DETAIL)
    name = _sqlite_error_name(error)
    if name == "SQLITE_BUSY_SNAPSHOT":
        _log(name, _SQLITE_SNAPSHOT_CAUSE)
        return StoreUnavailableError(_BUSY_DETAIL)
    if name is not None and name.startswith("SQLITE_BUSY"):
        _log("SQLITE_BUSY", _SQLITE_BUSY_CAUSE, timeout, waited)
        return StoreUnavailableError(_BUSY_DETAIL)
    cause = _driver_cause(error)
    _log(cause, _OTHER_CAUSE, cause)
    return StoreUnavailableError()


def _sqlite_error_name(error: DBAPIError) -> str | None:
    if not isinstance(error.orig, sqlite3.Error):
        return None
    return getattr(error.orig, "sqlite_errorname", None) or "SQLITE_ERROR"


def _driver_cause(error: DBAPIError) -> str:
    """The driver's error class and first line, never the statement or its parameters."""
    orig = error.orig
    first_line = (str(orig).strip().splitlines() or [""])[0][:200]
    name = _sqlite_error_name(error) or getattr(orig, "sqlstate", None)
    label = f"{type(orig).__name__} {name}" if name else type(orig).__name__
    return f"{label}: {first_line}" if first_line else label


def _log(key: str, message: str, *args: object) -> None:
    _logged.log(logger, logging.WARNING, key, message, *args)

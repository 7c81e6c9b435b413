"""A legacy ``instance`` value (a credential) never reaches the access logs of the servers
in front of wixapp's doors, each called the way that server logs a request."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from wixapp import redact_access_logs
from wixapp.logs import ACCESS_LOGGERS

SECRET = "c2lnbmF0dXJl.eyJpbnN0YW5jZUlkIjoiaSJ9"
LINE = f"GET /api/settings?lang=en&instance={SECRET} HTTP/1.1"


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    loggers = [logging.getLogger(name) for name in ACCESS_LOGGERS]
    saved = [(each.level, each.filters[:]) for each in loggers]
    for each in loggers:
        each.filters.clear()
        each.addHandler(handler)
        each.setLevel(logging.INFO)
    yield handler
    for each, (level, filters) in zip(loggers, saved, strict=True):
        each.removeHandler(handler)
        each.setLevel(level)
        each.filters[:] = filters


def uvicorn_line() -> None:  # uvicorn's h11/httptools access line
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", LINE.split()[1], "1.1", 200
    )


def gunicorn_line() -> None:  # gunicorn's access(): one mapping of atoms
    atoms = {"h": "1.2.3.4", "r": LINE, "q": f"lang=en&instance={SECRET}", "s": "200"}
    logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s q=%(q)s', atoms)


def werkzeug_line() -> None:  # werkzeug's WSGIRequestHandler.log_request
    from werkzeug._internal import _log

    _log("info", '1.2.3.4 - - [01/Jan/2025 00:00:00] "%s" %s %s', LINE, "200", "-")


def django_line() -> None:  # django.core.servers.basehttp.WSGIRequestHandler.log_message
    logging.getLogger("django.server").info('"%s" %s %s', LINE, "200", "17")


@pytest.mark.parametrize(
    "log_request",
    [uvicorn_line, gunicorn_line, werkzeug_line, django_line],
    ids=["uvicorn", "gunicorn", "werkzeug", "django"],
)
def test_no_legacy_value_in_any_servers_access_log(
    captured: Captured, log_request: Callable[[], None]
) -> None:
    log_request()
    assert SECRET in captured.lines[-1]  # the line as each server writes it, unfiltered
    redact_access_logs()
    log_request()
    assert SECRET not in captured.lines[-1]
    assert "instance=[redacted]" in captured.lines[-1]
    assert "lang=en" in captured.lines[-1]

"""LogLimiter: lines an outsider can trigger are bounded, and the next line says how many
were left out (an injected clock, no waiting)."""

from __future__ import annotations

import logging

import pytest

from wixapp.logs import LogLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_and_the_next_counts_the_ones_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    limiter = LogLimiter(interval=60.0, clock=clock)
    logger = logging.getLogger("wixapp.test.limiter")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for _ in range(3):
            limiter.log(logger, logging.WARNING, "busy", "store busy: %s", "locked")
        clock.now += 59.9
        limiter.log(logger, logging.WARNING, "busy", "store busy: %s", "locked")
        clock.now += 0.2
        limiter.log(logger, logging.WARNING, "busy", "store busy: %s", "locked")
        limiter.log(logger, logging.ERROR, "other", "another key")

    lines = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert lines == [
        (logging.WARNING, "store busy: locked"),
        (logging.WARNING, "store busy: locked (3 more since the last line)"),
        (logging.ERROR, "another key"),
    ]


def test_without_an_interval_a_key_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = LogLimiter(interval=None, clock=clock)
    logger = logging.getLogger("wixapp.test.limiter")
    with caplog.at_level(logging.INFO, logger=logger.name):
        limiter.log(logger, logging.INFO, "missing", "table %s is missing", "notes")
        clock.now += 10_000
        limiter.log(logger, logging.INFO, "missing", "table %s is missing", "notes")

    assert [record.getMessage() for record in caplog.records] == ["table notes is missing"]

"""`wixapp emulator` logs in wixapp's format (uvicorn's own lines too), as `wixapp serve`."""

from __future__ import annotations

from typing import Any

import pytest

import wixapp.emulator
from wixapp.cli import main
from wixapp.logs import logging_config


def test_the_emulator_is_served_with_wixapps_log_format(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(wixapp.emulator, "serve", lambda **options: served.update(options))

    assert main(["emulator", "--port", "8765"]) == 0

    assert served["log_config"] == logging_config(level="INFO", verbose=False)
    formats = {f.get("format") for f in served["log_config"]["formatters"].values()}
    assert formats  # uvicorn's loggers get wixapp's formatter
    assert None not in formats

"""The pytest plugin loads in every pytest run wherever wixapp is installed: importing it
must not drag in the emulator or the server's frameworks."""

from __future__ import annotations

import json
import subprocess
import sys

import wixapp.testing

HEAVY = ("wixapp.emulator", "fastapi", "sqlalchemy", "starlette", "uvicorn")


def test_importing_the_plugin_loads_no_heavy_module() -> None:
    code = (
        "import json, sys, wixapp.testing.plugin; "
        f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert json.loads(result.stdout) == []


def test_every_testing_helper_resolves() -> None:
    for name in wixapp.testing.__all__:
        assert getattr(wixapp.testing, name) is not None, name

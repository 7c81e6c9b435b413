"""Each example in examples/ runs with its one command against the emulator, and answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["fastapi", "starlette", "flask", "django"])
def test_the_example_serves_each_site_its_own_notes_and_takes_webhooks(framework: str) -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "run.py"), framework, "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "'notes': ['hello from Bakery']" in run.stdout
    assert "'notes': ['hello from Florist']" in run.stdout
    assert "no token: 401 missing_token" in run.stdout
    assert "webhook AppRemoved: delivered (HTTP 200)" in run.stdout
    assert "Florist legacy value: 200" in run.stdout
    assert "Florist after removal: token 401 app_removed, legacy value 401 app_removed" in (
        run.stdout
    )

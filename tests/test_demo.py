"""``wixapp demo --once`` runs the whole flow against real loopback servers and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wixapp.cli",
            "demo",
            "--once",
            "--port",
            "0",
            "--emulator-port",
            "0",
            "--database-url",
            f"sqlite:///{tmp_path / 'demo.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "the backend identified instance" in out
    assert "greeting: 'Welcome to the Bakery!'" in out
    assert "403 user_required" in out
    assert "401 malformed_token" in out
    assert "{'token-info': 3, 'token': 1, 'instance': 1}" in out
    # --once has stopped the servers: no links to pages that no longer answer.
    assert "--once stops both servers" in out
    assert "http://" not in out.split("Wix calls made by the backend")[1]
    # Migrations are quiet unless asked (-v): no Alembic lines before the story starts.
    assert "alembic" not in result.stderr
    assert "Running upgrade" not in result.stderr
    assert "Wix rate limit: on, 200 calls a minute per instance" in out


async def test_the_control_api_links_the_demo_prints_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    import httpx

    from wixapp.demo import _banner
    from wixapp.emulator import create_emulator

    emulator_url = "http://127.0.0.1:8765"
    _banner(emulator_url, "http://127.0.0.1:8000", "app-id", True)
    printed = capsys.readouterr().out
    paths = re.findall(r"(?<=[ ,])(?:" + re.escape(emulator_url) + r")?(/_emulator/\w+)", printed)
    assert len(paths) >= 2, printed
    transport = httpx.ASGITransport(app=create_emulator())
    async with httpx.AsyncClient(transport=transport, base_url=emulator_url) as client:
        for path in paths:
            assert (await client.get(path)).status_code == 200, path

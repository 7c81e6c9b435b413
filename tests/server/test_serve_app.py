"""Serving an app of one's own: ``wixapp serve --app`` (with workers) and plain uvicorn, both
with wixapp's log lines formatted (time, level, logger on every line)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from wixapp.testing import port_or_free

FORMATTED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO wixapp\.server: backend ready")

APP_MODULE = """
from wixapp.server import create_app


def build():
    app = create_app()

    @app.patch("/api/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "patched"}

    return app
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "my_app.py").write_text(textwrap.dedent(APP_MODULE))
    return tmp_path


def _environment(project: Path) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if not name.startswith("WIX")}
    return {
        **keep,
        "WIX_APP_ID": "my-app",
        "WIX_APP_SECRET": "my-secret",
        "WIXAPP_DATABASE_URL": f"sqlite:///{project / 'app.db'}",
    }


@pytest.fixture
def run(project: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()  # uvicorn's supervisor stops its workers on SIGTERM
        process.communicate(timeout=30)


def _start(run: list[subprocess.Popen[str]], project: Path, *command: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        command,
        cwd=project,
        env=_environment(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run.append(process)
    return process


def _lines_until(process: subprocess.Popen[str], pattern: str, count: int = 1) -> list[str]:
    """The output lines up to the ``count``-th one containing ``pattern``."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while sum(pattern in line for line in lines) < count:
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            pytest.fail(f"no {pattern!r} in the output:\n{''.join(lines)}")
        lines.append(line)
    return lines


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    return rest


@pytest.mark.slow
def test_wixapp_serve_runs_the_apps_factory_on_workers_with_wixapps_log_format(
    project: Path, run: list[subprocess.Popen[str]]
) -> None:
    port = port_or_free()
    serve = [sys.executable, "-m", "wixapp", "serve", "--app", "my_app:build", "--factory"]
    process = _start(run, project, *serve, "--workers", "2", "--port", str(port))

    lines = _lines_until(process, "backend ready", count=2)  # one per worker

    assert len([line for line in lines if FORMATTED.match(line)]) == 2
    answer = httpx.patch(f"http://127.0.0.1:{port}/api/hello")
    assert answer.json() == {"hello": "patched"}
    assert "Traceback" not in "".join(lines)


SERVERS = {
    "uvicorn": ["-m", "uvicorn", "my_app:build", "--factory", "--port", "0"],
    "gunicorn": [
        "-m",
        "gunicorn",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "my_app:build()",
        "--bind",
        "127.0.0.1:0",
        "--no-control-socket",
        "--graceful-timeout",
        "2",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("server", SERVERS)
def test_a_plain_server_prints_wixapps_lines_formatted(
    project: Path, run: list[subprocess.Popen[str]], server: str
) -> None:
    """uvicorn and gunicorn configure only their own loggers: create_app formats wixapp's."""
    process = _start(run, project, sys.executable, *SERVERS[server])

    lines = _lines_until(process, "Application startup complete")
    _stop(process)

    ready = [line for line in lines if "backend ready" in line]
    assert len(ready) == 1
    assert FORMATTED.match(ready[0]), ready[0]


def test_serve_names_an_app_it_cannot_import_in_one_line(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wixapp", "serve", "--app", "my_app:nothing_here"],
        cwd=project,
        env=_environment(project),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("wixapp: --app my_app:nothing_here:")
    assert "Traceback" not in result.stderr

"""``wixapp dev`` in a generated project: the app answers, a Python edit and a frontend edit
are served without a restart, the printed pages open, and Ctrl-C leaves no process behind.

Like tests/test_scaffold.py it reuses this checkout's virtual environment (the project's
sources on PYTHONPATH) and npm's cache.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from wixapp.testing import port_or_free

BIN = Path(sys.executable).parent
START_SECONDS = 60.0  # the emulator, the app's migrations, esbuild's first build
CHANGE_SECONDS = 30.0  # a reload or a rebuild
STOP_SECONDS = 20.0

pytestmark = pytest.mark.slow


def _run(*command: str, cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``wixapp new dev-board`` with its npm packages, and a route the test edits."""
    parent = tmp_path_factory.mktemp("dev")
    _run(str(BIN / "wixapp"), "new", "dev-board", cwd=parent)
    folder = parent / "dev-board"
    npm_ci = ("npm", "ci", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund")
    _run(*npm_ci, cwd=folder / "frontend")
    main = folder / "src/dev_board/main.py"
    probe = '    app.get("/api/probe")(lambda: {"answer": "first"})\n'
    main.write_text(main.read_text().replace("    return app\n", probe + "    return app\n"))
    return folder


class DevProcess:
    def __init__(self, process: subprocess.Popen[bytes], log: Path, backend_url: str) -> None:
        self.process = process
        self.log = log
        self.backend_url = backend_url

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(self.backend_url + path, timeout=5)
        except httpx.HTTPError:
            return None  # reloading

    def wait_for(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert self.process.poll() is None, f"wixapp dev exited:\n{self.output()[-4000:]}"
            late = f"{what} within {seconds}s:\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, late
            time.sleep(0.2)

    def answers(self, path: str, text: str) -> Callable[[], bool]:
        def check() -> bool:
            response = self.get(path)
            return response is not None and response.status_code == 200 and text in response.text

        return check


@pytest.fixture
def dev(project: Path, tmp_path: Path) -> Iterator[DevProcess]:
    port = port_or_free()
    log = tmp_path / "dev.log"
    command = [
        str(BIN / "wixapp"),
        "dev",
        "--app",
        "dev_board.main:create_app",
        "--factory",
        *("--port", str(port), "--emulator-port", str(port_or_free())),
        *("--dashboard-port", str(port_or_free())),
        *("--widget-tag", "dev-board-widget", "--widget-script", "/assets/widget.js"),
        *("--panel", "/assets/panel.html", "--dashboard-page", "/assets/dashboard.html"),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(  # its own process group: the test's Ctrl-C
            command,
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(project / "src")},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = DevProcess(process, log, f"http://127.0.0.1:{port}")
    try:
        yield running
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the whole group, as a terminal sends it; SIGKILL only if it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_SECONDS
    while _group_alive(process.pid) and time.monotonic() < deadline:
        process.poll()  # reap the leader
        time.sleep(0.1)
    if _group_alive(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"wixapp dev's process group outlived Ctrl-C by {STOP_SECONDS}s")


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_serves_python_and_frontend_changes_without_a_restart(
    dev: DevProcess, project: Path
) -> None:
    dev.wait_for(dev.answers("/api/probe", '"first"'), START_SECONDS, "the app answering")
    output = dev.output()
    for surface in ("site", "editor", "dashboard"):
        assert len(re.findall(rf"(?:Bakery|Bike Shop)\s+{surface}\s+: \S+", output)) == 2, output
    site_page = re.search(r"Bakery\s+site\s+: (\S+)", output)
    assert site_page is not None
    assert httpx.get(site_page[1], timeout=5).status_code == 200

    main = project / "src/dev_board/main.py"
    main.write_text(main.read_text().replace('"first"', '"second"'))
    dev.wait_for(dev.answers("/api/probe", '"second"'), CHANGE_SECONDS, "the edited route")

    widget = project / "frontend/src/widget.js"
    widget.write_text(widget.read_text() + '\nconsole.info("dev loop rebuilt me");\n')
    dev.wait_for(
        dev.answers("/assets/widget.js", "dev loop rebuilt me"), CHANGE_SECONDS, "the new bundle"
    )
    assert dev.process.poll() is None  # the same process served all three


def test_sigint_stops_every_process_of_the_loop(dev: DevProcess) -> None:
    dev.wait_for(dev.answers("/healthz", ""), START_SECONDS, "the app answering")
    started = time.monotonic()
    _stop_group(dev.process)
    assert time.monotonic() - started < STOP_SECONDS
    assert dev.process.wait(1) == 0, dev.output()[-3000:]
    assert "Traceback" not in dev.output(), dev.output()[-3000:]

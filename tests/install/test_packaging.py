"""The package as users get it: an sdist carrying the frontend sources, its lock file and the
built bundles; a wheel built from that sdist with no Node on the PATH; the wheel installed in
a fresh virtual environment (no dev extras, no Node) serving the bundles and host pages."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from wixapp.testing import port_or_free

from .conftest import Venv

BUNDLES = ("static/widget.js", "static/panel.js", "static/widget-react.js")
HOST_BUNDLE = "emulator/pages/editor-host.js"

pytestmark = pytest.mark.slow


def _run(*command: str | Path, cwd: Path, path: str, check: bool = True) -> str:
    """Run ``command`` with only ``path`` on PATH; its output (stdout and stderr)."""
    env = {**os.environ, "PATH": path}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        pytest.fail(f"{command} failed ({result.returncode}):\n{output[-4000:]}")
    return output


@pytest.fixture(scope="module")
def unpacked_sdist(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as archive:
        archive.extractall(target, filter="data")
    (root,) = target.iterdir()
    return root


@pytest.fixture(scope="module")
def plain(fresh_venv: Callable[..., Venv]) -> Venv:
    return fresh_venv("wixapp")


def test_the_sdist_carries_the_frontend_its_lock_the_bundles_and_the_licence(
    sdist: Path,
) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    expected = {
        "LICENSE",
        "CHANGELOG.md",
        "setup.py",
        "frontend/package.json",
        "frontend/package-lock.json",
        "frontend/build.mjs",
        "frontend/src/widget.js",
        "frontend/src/host/editor-host.js",
        *(f"src/wixapp/{name}" for name in (*BUNDLES, HOST_BUNDLE)),
    }
    assert expected <= names
    assert not [name for name in names if "node_modules" in name]


def test_a_wheel_built_from_the_sdist_without_node_carries_the_bundles(
    wixapp_wheel: Path,
) -> None:
    with zipfile.ZipFile(wixapp_wheel) as archive:
        names = set(archive.namelist())
        sizes = {name: archive.getinfo(name).file_size for name in names}
    for name in (*BUNDLES, HOST_BUNDLE):
        assert sizes[f"wixapp/{name}"] > 10_000, name
    assert "wixapp-0.1.0.dist-info/licenses/LICENSE" in names or any(
        name.endswith("licenses/LICENSE") for name in names
    )
    assert "wixapp/scaffold/template/frontend/package-lock.json" in names


def test_an_sdist_without_bundles_and_without_node_refuses_clearly(
    unpacked_sdist: Path, no_node_path: str, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    _run("/bin/cp", "-r", unpacked_sdist, bare, cwd=tmp_path, path=os.environ["PATH"])
    (bare / "src/wixapp/static/widget.js").unlink()

    output = _run(
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--outdir",
        tmp_path,
        bare,
        cwd=tmp_path,
        path=no_node_path,
        check=False,
    )

    assert "the browser bundles are missing (src/wixapp/static/widget.js)" in output
    assert "Node.js is not on PATH" in output
    assert not list(tmp_path.glob("*.whl"))


@pytest.fixture
def served(plain: Venv, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``wixapp serve`` and ``wixapp emulator`` from the fresh venv, with no Node on PATH."""
    backend_port, emulator_port = port_or_free(), port_or_free()
    env = {
        "PATH": str(plain.path / "bin"),
        "WIX_APP_ID": "app-1",
        "WIX_APP_SECRET": "secret-1",
        "WIXAPP_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
    }
    commands = [
        ["wixapp", "serve", "--port", str(backend_port)],
        ["wixapp", "emulator", "--port", str(emulator_port)],
    ]
    processes = [
        subprocess.Popen(
            [str(plain.bin(command[0])), *command[1:]],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for command in commands
    ]
    urls = (f"http://127.0.0.1:{backend_port}", f"http://127.0.0.1:{emulator_port}")
    try:
        for url in urls:
            _wait_for(url, processes)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def _wait_for(url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert all(process.poll() is None for process in processes), "a server exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within 60 s")


def test_the_installed_wheel_serves_the_bundles_and_host_pages_without_node(
    served: tuple[str, str],
) -> None:
    backend, emulator = served
    for url, kind in [
        (f"{backend}/static/widget.js", "javascript"),
        (f"{backend}/static/panel.js", "javascript"),
        (f"{backend}/static/widget-react.js", "javascript"),
        (f"{backend}/panel", "html"),
        (f"{emulator}/site", "html"),
        (f"{emulator}/editor", "html"),
        (f"{emulator}/_host/site-host.js", "javascript"),
        (f"{emulator}/_host/editor-host.js", "javascript"),
        (f"{emulator}/", "html"),
    ]:
        answer = httpx.get(url)
        assert answer.status_code == 200, url
        assert kind in answer.headers["content-type"], url
        assert len(answer.content) > 500, url

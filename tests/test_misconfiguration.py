"""A misconfigured deployment says what is wrong in one line naming the variable, and
``wixapp serve`` guards its connections (slow senders are cut off, connections capped)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from wixapp.config import RedisClusterURL, load_settings
from wixapp.errors import ConfigurationError

BASE = {"WIX_APP_ID": "app-id", "WIX_APP_SECRET": "secret"}


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"WIX_APP_SECRET": ""}, "WIX_APP_SECRET"),
        ({"WIX_APP_SECRET": "   "}, "WIX_APP_SECRET"),
        ({"WIXAPP_REDIS_URL": "htp://localhost:6379"}, "WIXAPP_REDIS_URL"),
        ({"WIXAPP_REDIS_URL": "redis://:hunter2@"}, "WIXAPP_REDIS_URL"),
        ({"WIXAPP_REDIS_URL": "redis+cluster://:hunter2@"}, "WIXAPP_REDIS_URL"),
        ({"WIXAPP_REDIS_URL": "redis+cluster://:hunter2@a:7000,b:x"}, "WIXAPP_REDIS_URL"),
        ({"WIXAPP_REDIS_URL": "redis+cluster://:hunter2@a:7000/2"}, "WIXAPP_REDIS_URL"),
        ({"WIXAPP_REDIS_URL": "unix+cluster:///tmp/redis.sock"}, "WIXAPP_REDIS_URL"),
        ({"WIXAPP_REDIS_PREFIX": "app{1}"}, "WIXAPP_REDIS_PREFIX"),
        ({"WIX_API_BASE_URL": "www.wixapis.com"}, "WIX_API_BASE_URL"),
        ({"WIX_API_BASE_URL": "ftp://www.wixapis.com"}, "WIX_API_BASE_URL"),
        ({"WIXAPP_CORS_ORIGINS": "https://*.wixsite.com/"}, "WIXAPP_CORS_ORIGINS"),
        ({"WIXAPP_CORS_ORIGINS": "*.wixsite.com"}, "WIXAPP_CORS_ORIGINS"),
        ({"WIXAPP_FRAME_ANCESTORS": "https://a.example/path"}, "WIXAPP_FRAME_ANCESTORS"),
        ({"WIXAPP_CSP_EXTRA": "style src https://a.example"}, "WIXAPP_CSP_EXTRA"),
        ({"WIXAPP_SQLITE_BUSY_TIMEOUT": "0"}, "WIXAPP_SQLITE_BUSY_TIMEOUT"),
        ({"WIXAPP_CSP_EXTRA": "img-src a,b"}, "WIXAPP_CSP_EXTRA"),
        ({"WIXAPP_CSP_EXTRA": "script-src 'unsafe-inline"}, "WIXAPP_CSP_EXTRA"),
        ({"WIXAPP_TOKEN_INFO_PER_INSTANCE": "250"}, "WIXAPP_TOKEN_INFO_PER_INSTANCE"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in {**BASE, **variables}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    message = refused.value.detail
    assert named in message
    assert "\n" not in message
    assert "hunter2" not in message


def test_good_settings_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        **BASE,
        "WIXAPP_REDIS_URL": "rediss://:pw@cache.example:6380/1",
        "WIX_API_BASE_URL": "http://127.0.0.1:8765/",
        "WIXAPP_CORS_ORIGINS": "https://*.wixsite.com,https://editor.wix.com,*",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.api_base_url == "http://127.0.0.1:8765"


def test_a_cluster_url_names_its_nodes_each_with_the_credentials_and_options() -> None:
    url = "rediss+cluster://user:pw@10.0.0.1:7000,[::1]:7001,cache.example/0?ssl_cert_reqs=none"
    settings = load_settings(**BASE, WIXAPP_REDIS_URL=url)
    cluster = RedisClusterURL.parse(settings.redis_url or "")
    assert cluster is not None
    assert cluster.nodes == (("10.0.0.1", 7000), ("::1", 7001), ("cache.example", 6379))
    assert cluster.node_url("::1", 7001) == "rediss://user:pw@[::1]:7001/0?ssl_cert_reqs=none"
    assert RedisClusterURL.parse("redis://cache.example:6379/0") is None  # one server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(**variables: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WIX_", "WIXAPP_"))}
    return {**base, **BASE, **variables}


def _serve(
    tmp_path: Path, port: int, *, stack: str = "uvloop", **variables: str
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "wixapp", "serve", "--port", str(port), "--stack", stack]
    return subprocess.Popen(
        command,
        env=_environment(**variables),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"WIX_APP_SECRET": ""}, "WIX_APP_SECRET"),
        ({"WIXAPP_REDIS_URL": "htp://localhost"}, "WIXAPP_REDIS_URL"),
        ({"WIX_API_BASE_URL": "wixapis.com"}, "WIX_API_BASE_URL"),
        (
            {"WIXAPP_DATABASE_URL": "postgresql://postgres@127.0.0.1:{closed}/x"},
            "WIXAPP_DATABASE_URL",
        ),
    ],
)
def test_wixapp_serve_refuses_to_start_with_one_line(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    closed = _free_port()
    variables = {name: value.format(closed=closed) for name, value in variables.items()}
    process = _serve(tmp_path, _free_port(), **variables)
    output, _ = process.communicate(timeout=60)
    lines = [line for line in output.decode().splitlines() if line.strip()]
    assert process.returncode != 0
    mentions = [line for line in lines if named in line]
    assert len(mentions) == 1, lines
    assert "Traceback" not in output.decode()
    problems = [line for line in lines if " INFO " not in line and not line.startswith("INFO")]
    assert len(problems) <= 2, lines  # the line, and uvicorn's "startup failed" at most


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    with _served(
        tmp_path,
        WIXAPP_HEADER_TIMEOUT="0.5",
        WIXAPP_BODY_TIMEOUT="0.5",
        WIXAPP_MAX_CONNECTIONS="20",
    ) as running:
        yield running


@contextlib.contextmanager
def _served(
    tmp_path: Path, *, stack: str = "uvloop", **variables: str
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = _free_port()
    database = f"sqlite:///{tmp_path / 'w.db'}"
    process = _serve(tmp_path, port, stack=stack, WIXAPP_DATABASE_URL=database, **variables)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "wixapp serve exited"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield port, process
    finally:
        process.terminate()
        process.communicate(timeout=10)  # reads (and closes) its output


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection (recv returns b"" or resets) in time."""
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_headers_and_bodies_are_cut_off_and_connections_capped(
    served: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, _ = served
    slow_headers = socket.create_connection(("127.0.0.1", port))
    slow_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never ends its headers
    slow_body = socket.create_connection(("127.0.0.1", port))
    slow_body.sendall(b'PUT /api/settings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a"')
    silent = socket.create_connection(("127.0.0.1", port))  # says nothing at all
    try:
        for sock in (slow_headers, slow_body, silent):
            assert _closed_within(sock, 5.0)
    finally:
        for sock in (slow_headers, slow_body, silent):
            sock.close()
    # The cap: 20 connections held open, then a request over a new one is refused.
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.1)
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert answer.status_code == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.6)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _send_head(port: int, head: bytes) -> bytes:
    """Send a request head (as much of it as the server takes) and read the answer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(head)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


def _head(*, filler: int = 0, headers: int = 0) -> bytes:
    lines = [b"GET /healthz HTTP/1.1", b"Host: x", b"Connection: close"]
    lines += [b"X-Pad: " + b"a" * filler] if filler else []
    lines += [b"X-N%d: 1" % index for index in range(headers)]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize("stack", ["uvloop", "asyncio"])  # httptools and h11
def test_oversized_or_too_many_headers_are_answered_431_and_memory_stays_flat(
    tmp_path: Path, stack: str
) -> None:
    with _served(tmp_path, stack=stack) as (port, process):
        assert _send_head(port, _head(filler=60_000)).startswith(b"HTTP/1.1 200")
        assert _send_head(port, _head(headers=95)).startswith(b"HTTP/1.1 200")
        for refused in (_head(filler=70_000), _head(headers=101)):
            answer = _send_head(port, refused)
            assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
            assert b'"error": "request_headers_too_large"' in answer
        before = _rss_mib(process.pid)
        huge = _head(filler=8 * 1024 * 1024)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: _send_head(port, huge), range(24)))
        after = _rss_mib(process.pid)
        assert _send_head(port, _head()).startswith(b"HTTP/1.1 200")
    print(f"{stack}: worker RSS {before:.1f} MiB before, {after:.1f} MiB after 24 x 8 MiB heads")
    assert all(answer.startswith(b"HTTP/1.1 431") or answer == b"" for answer in answers)
    assert after - before < 16

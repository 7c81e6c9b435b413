"""`wixapp serve`'s server stack: uvloop + httptools by default, and no keep-alive stall with
several workers on either stack (the asyncio + h11 fallback needed TCP_NODELAY set by hand:
without it each keep-alive answer waited ~40 ms for a delayed ACK)."""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scale.harness import LOOPBACK, free_port, worker_environment
from wixapp.server.stack import STACKS, choose_stack
from wixapp.store import migrate

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]

KEEPALIVE_REQUESTS = 30
STALL_MS = 40.0


def test_the_default_stack_is_uvloop_and_httptools() -> None:
    assert choose_stack("auto") == STACKS["uvloop"]  # uvicorn[standard] installs both
    # h11 with TCP_NODELAY (and the header and body deadlines of server/protocol.py).
    assert choose_stack("asyncio").http.endswith(":GuardedH11Protocol")


@contextlib.contextmanager
def serve(tmp_path: Path, *options: str) -> Iterator[int]:
    """`wixapp serve --workers 2 ...` on a free loopback port, until the block ends."""
    database_url = f"sqlite:///{tmp_path / 'wixapp.db'}"
    migrate(database_url)  # once, so the two workers do not race to migrate
    port = free_port()
    env = worker_environment(
        {
            "WIX_APP_ID": "keepalive-app",
            "WIX_APP_SECRET": "keepalive-secret",
            "WIX_API_BASE_URL": f"http://{LOOPBACK}:9",  # never called: /healthz only
            "WIXAPP_DATABASE_URL": database_url,
        }
    )
    command = [sys.executable, "-m", "wixapp.cli", "-q", "serve", "--no-migrate"]
    command += ["--host", LOOPBACK, "--port", str(port), "--workers", "2", *options]
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(port, process, log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.05)
    raise RuntimeError(f"wixapp serve did not start:\n{log.read_text(errors='replace')}")


def keepalive_latencies_ms(port: int, count: int) -> list[float]:
    """Sequential GET /healthz on one keep-alive connection; each answer's latency."""
    request = f"GET /healthz HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n\r\n".encode()
    latencies = []
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        for _ in range(count):
            started = time.perf_counter()
            sock.sendall(request)
            _read_answer(sock)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += _recv(sock)
    return body


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the keep-alive connection")
    return chunk


@pytest.mark.parametrize("stack", ["auto", "asyncio"])
def test_two_workers_answer_keepalive_requests_without_a_stall(tmp_path: Path, stack: str) -> None:
    with serve(tmp_path, "--stack", stack) as port:
        latencies = keepalive_latencies_ms(port, KEEPALIVE_REQUESTS)
    # The stall delayed every answer by the delayed-ACK timer (>= 40 ms), so even the
    # fastest answers showed it; a busy machine only slows some of them.
    steady = sorted(latencies[5:])  # the first requests may meet a cold worker
    assert steady[len(steady) // 4] < STALL_MS / 4, latencies
    assert statistics.median(steady) < STALL_MS, latencies

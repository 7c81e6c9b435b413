"""Scale-out test harness: a private redis-server, backend worker processes, key clean-up.

Everything here binds to 127.0.0.1, is bounded in time, and is torn down in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

LOOPBACK = "127.0.0.1"
# The shared Redis the tests use (each under a prefix of its own, deleted after): set
# WIXAPP_TEST_REDIS_URL to run them against another server or DB number.
LOCAL_REDIS_URL = os.environ.get("WIXAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 60.0  # several processes importing at once on a busy 2-core machine


def unique_prefix() -> str:
    return f"wixapp-test-{uuid.uuid4().hex[:12]}"


def delete_prefix(url: str, prefix: str) -> None:
    """Remove every key a test wrote under its prefix (best effort: Redis may be gone)."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if names:
            client.delete(*names)
    except redis.RedisError:
        pass
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes], *, timeout: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class RedisServer:
    """A throwaway ``redis-server`` (no persistence) on its own port; stop/start at will."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", LOOPBACK]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self._directory)]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        client = redis.Redis(host=LOOPBACK, port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    if time.monotonic() > deadline or self._process.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, *, save: bool = False) -> None:
        """Stop it; ``save`` keeps the data for the next start (a restart, not a wipe)."""
        if self._process is None:
            return
        if save:
            client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=5)
            with contextlib.suppress(redis.ConnectionError):
                client.shutdown(save=True)
            client.close()
        _stop(self._process)
        self._process = None


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Emulator:
    """The Wix emulator in a process of its own (``wixapp emulator``), steered over HTTP."""

    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def emulator_process(directory: Path) -> Iterator[Emulator]:
    port = free_port()
    command = [sys.executable, "-m", "wixapp.cli", "-q", "emulator", "--port", str(port)]
    command.append("--no-rate-limit")  # these tests count cache behaviour, not throttling
    with (directory / "emulator.log").open("ab") as sink:
        process = subprocess.Popen(
            command, env=worker_environment({}), stdout=sink, stderr=subprocess.STDOUT
        )
    emulator = Emulator(f"http://{LOOPBACK}:{port}", process)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(base_url=emulator.url, timeout=1.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/_emulator/calls").status_code == 200:
                        break
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the emulator did not start")
                time.sleep(0.05)
        yield emulator
    finally:
        _stop(process)


@dataclass
class Worker:
    """One backend process (``uvicorn wixapp.server:create_app --factory``)."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def worker_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without any WIX_/WIXAPP_ variable, plus ``settings``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WIX_", "WIXAPP_"))}
    return {**base, **settings}


@contextlib.contextmanager
def workers(count: int, settings: Mapping[str, str], directory: Path) -> Iterator[list[Worker]]:
    """Start ``count`` backend processes on loopback ports; stop them all at the end."""
    started: list[Worker] = []
    try:
        for index in range(count):
            started.append(_spawn(f"worker-{index}", settings, directory))
        for index, worker in enumerate(started):
            if not _wait_healthy(worker):  # its port was taken meanwhile: once more
                _stop(worker.process)
                started[index] = _spawn(worker.name, settings, directory)
                if not _wait_healthy(started[index]):
                    raise RuntimeError(f"{worker.name} did not start:\n{worker.log_text()}")
        yield started
    finally:
        for worker in started:
            _stop(worker.process)


def _spawn(name: str, settings: Mapping[str, str], directory: Path) -> Worker:
    port = free_port()
    log = directory / f"{name}.log"
    command = [sys.executable, "-m", "uvicorn", "wixapp.server:create_app", "--factory"]
    command += ["--host", LOOPBACK, "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, env=worker_environment(settings), stdout=sink, stderr=subprocess.STDOUT
        )
    return Worker(name, f"http://{LOOPBACK}:{port}", process, log)


def _wait_healthy(worker: Worker) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer"
    with httpx.Client(base_url=worker.url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                answer = client.get("/readyz")
                last = f"{answer.status_code} {answer.text[:200]}"
                if answer.status_code == 200:
                    return True
            time.sleep(0.05)
    raise RuntimeError(f"{worker.name} did not become ready ({last}):\n{worker.log_text()}")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text page (0 if absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        series, _, rest = sample.partition("{")
        if series != name:
            continue
        found = ",".join(sorted(part for part in rest.rstrip("}").split(",") if part))
        if found == wanted:
            return float(value)
    return 0.0

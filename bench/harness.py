"""Processes and plumbing for the bench: the emulator, the servers, wrk, the load generator.

Every process is started in its own session (process group) and remembered; ``Processes``
kills exactly those groups, by id, when the bench ends, however it ends. Traffic goes to
127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LOOPBACK = "127.0.0.1"
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"the bench only talks to {LOOPBACK}: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Processes:
    """Starts long-running processes in their own process groups; stops all of them."""

    log_dir: Path
    started: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path = ROOT
    ) -> Proc:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: we kill exactly that group
            )
        proc = Proc(name, popen, log)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 5.0) -> None:
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.popen.wait(timeout)
        # workers may outlive a supervisor that died: sweep the group whatever happened
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.started)):
            self.stop(proc)


def wait_ready(proc: Proc, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited at start:\n{proc.tail()}")
        with contextlib.suppress(OSError):
            status, _ = http_get(url, timeout=1.0)
            if status < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} was not ready after {timeout:.0f}s:\n{proc.tail()}")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without any WIX_/WIXAPP_ setting, plus ``extra``."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("WIX_", "WIXAPP_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# ---- CPU accounting: /proc/<pid>/stat of a process and all its descendants


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, cpu seconds) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    ppid, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
    return ppid, (utime + stime) / CLOCK_TICKS


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def tree_cpu_seconds(root: int) -> float:
    total = 0.0
    for pid in tree_pids(root):
        stat = _stat(pid)
        if stat is not None:
            total += stat[1]
    return total


def server_worker_pids(root: int) -> list[int]:
    """The processes that serve requests: the workers under a supervisor, else the root."""
    pids = tree_pids(root)
    if len(pids) == 1:
        return pids
    # uvicorn --workers N: a supervisor, maybe a resource tracker, N workers.
    workers = [pid for pid in pids[1:] if "uvicorn" in _cmdline(pid) or "spawn" in _cmdline(pid)]
    return workers or pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# ---- wrk


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
    return path


def run_wrk(
    *,
    url: str,
    path: str,
    tokens_file: Path,
    duration: float,
    connections: int,
    threads: int = 1,
    timeout: float = 5.0,
    delay_ms: int | None = None,
) -> dict[str, Any]:
    """One wrk run; returns what tokens.lua's done() printed, plus wall time. ``delay_ms``
    paces each connection (a pause before each request)."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError("wrk is pointed at loopback only")
    argv = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={max(1, round(timeout))}s",
        "-s",
        str(BENCH_DIR / "lua" / "tokens.lua"),
        url,
    ]
    env = {**os.environ, "BENCH_PATH": path, "BENCH_TOKENS": str(tokens_file)}
    if delay_ms is not None:
        env["BENCH_DELAY_MS"] = str(delay_ms)
    started = time.monotonic()
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    wall = time.monotonic() - started
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
            result["wall_seconds"] = wall
            return result
    raise RuntimeError(
        f"wrk printed no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    )


# ---- the Python load generator (bench/loadgen.py), in its own process


def run_loadgen(spec: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, str(BENCH_DIR / "loadgen.py")],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# ---- small statistics helpers


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    started = time.monotonic()
    try:
        yield box
    finally:
        box["seconds"] = time.monotonic() - started


def gather_limited(coros: Sequence[Any], limit: int) -> Any:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return asyncio.gather(*(one(c) for c in coros))


def served_requests(base_url: str) -> int:
    """Requests the server has answered, from its /metrics (wixapp_request_seconds_count),
    not counting /metrics and /healthz. Exact with one worker; with several, /metrics is
    answered by whichever worker takes the connection, so callers use wrk's count then."""
    status, body = http_get(f"{base_url}/metrics", timeout=5.0)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("wixapp_request_seconds_count{") and not any(
            f'route="{skip}"' in line for skip in ("/metrics", "/healthz")
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


# ---- memory and PostgreSQL


def rss_mib(pid: int) -> float | None:
    """Resident memory of one process (VmRSS), in MiB; None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def worker_rss_mib(root: int) -> list[float]:
    """RSS of each process that serves requests under ``root`` (see server_worker_pids)."""
    found = (rss_mib(pid) for pid in server_worker_pids(root))
    return [round(value, 1) for value in found if value is not None]


def postgres_admin(admin_url: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the PostgreSQL server, autocommit."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement.encode())


def migrate(database_url: str) -> None:
    """Bring a database's schema up to date (``wixapp migrate``), in its own process."""
    done = subprocess.run(
        [PYTHON, "-m", "wixapp.cli", "-q", "migrate", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrating {database_url} failed:\n{done.stderr[-2000:]}")

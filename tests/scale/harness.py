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
import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.exceptions import RedisClusterException

from wixapp.config import RedisClusterURL

LOOPBACK = "127.0.0.1"
# The shared Redis the tests use (each under a prefix of its own, deleted after): set
# WIXAPP_TEST_REDIS_URL to run them against another server or DB number.
LOCAL_REDIS_URL = os.environ.get("WIXAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 60.0  # several processes importing at once on a busy 2-core machine


def unique_prefix() -> str:
    return f"wixapp-test-{uuid.uuid4().hex[:12]}"


# A shared-tier test's parameters: the local Redis, then the test cluster (the session's
# ``redis_cluster`` fixture, started by the first test that needs it).
REDIS_KINDS = ["redis", pytest.param("cluster", marks=pytest.mark.cluster)]


def redis_url_for(request: pytest.FixtureRequest) -> str:
    """The WIXAPP_REDIS_URL for a fixture parametrized with ``REDIS_KINDS``."""
    if request.param == "cluster":
        cluster: RedisClusterServers = request.getfixturevalue("redis_cluster")
        return cluster.url
    return LOCAL_REDIS_URL


def raw_client(url: str) -> aioredis.Redis | RedisCluster:
    """A plain client of the Redis (or cluster) at a WIXAPP_REDIS_URL, to look under wixapp."""
    cluster = RedisClusterURL.parse(url)
    if cluster is None:
        return aioredis.Redis.from_url(url, socket_timeout=2)
    nodes = [ClusterNode(host, port) for host, port in cluster.nodes]
    return RedisCluster(startup_nodes=nodes, socket_timeout=2)


def delete_prefix(url: str, prefix: str) -> None:
    """Remove every key a test wrote under its prefix (best effort: Redis may be gone)."""
    cluster = RedisClusterURL.parse(url)
    try:
        if cluster is None:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        else:  # scans every node; deletes slot by slot
            nodes = [SyncClusterNode(host, port) for host, port in cluster.nodes]
            client = SyncRedisCluster(startup_nodes=nodes, socket_timeout=2)
    except (redis.RedisError, RedisClusterException):
        return
    try:
        names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if names:
            client.delete(*names)
    except (redis.RedisError, RedisClusterException):
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

    def __init__(self, directory: Path, *, cluster: bool = False) -> None:
        self.port = free_cluster_port() if cluster else free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self._directory = directory
        self._cluster = cluster
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None

    @contextlib.contextmanager
    def client(self) -> Iterator[redis.Redis]:
        client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=5)
        try:
            yield client
        finally:
            client.close()

    def start(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", LOOPBACK]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self._directory)]
        if self._cluster:  # its nodes.conf stays in its directory: a restart rejoins
            command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            command += ["--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS)]
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


CLUSTER_SLOTS = 16_384
CLUSTER_NODE_TIMEOUT_MS = 2_000  # a stopped node is marked failed this soon


def free_cluster_port() -> int:
    """A free loopback port whose cluster bus port (+10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind((LOOPBACK, port + 10_000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of loopback ports for a cluster node")


class RedisClusterServers:
    """A Redis Cluster of ``masters`` throwaway ``redis-server`` processes (no replicas, no
    persistence) on loopback ports, its slots spread evenly; stop or restart a node at will.

    ``url`` is the ``redis+cluster://`` URL wixapp reads from WIXAPP_REDIS_URL."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        self.nodes = [
            RedisServer(directory / f"node-{index}", cluster=True) for index in range(masters)
        ]
        hosts = ",".join(f"{LOOPBACK}:{node.port}" for node in self.nodes)
        self.url = f"redis+cluster://{hosts}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        first = self.nodes[0]
        share = CLUSTER_SLOTS // len(self.nodes)
        for index, node in enumerate(self.nodes):
            low = index * share
            high = CLUSTER_SLOTS - 1 if index == len(self.nodes) - 1 else low + share - 1
            with node.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
                if node is not first:
                    client.execute_command("CLUSTER", "MEET", LOOPBACK, first.port)
        self.wait_until_ok()

    def wait_until_ok(self) -> None:
        """Poll every running node until it says ``cluster_state:ok`` and knows every node."""
        deadline = time.monotonic() + START_TIMEOUT
        for node in self.nodes:
            if not node.running:
                continue
            with node.client() as client:
                while not _cluster_ok(client, len(self.nodes)):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the cluster did not form: {client.cluster('info')}")
                    time.sleep(0.05)

    def node_of(self, key: str) -> int:
        """The index of the node that holds ``key``'s slot."""
        with self.nodes[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        share = CLUSTER_SLOTS // len(self.nodes)
        return min(slot // share, len(self.nodes) - 1)

    def keys(self, pattern: str) -> dict[int, list[str]]:
        """The keys matching ``pattern`` on each running node, by node index."""
        found: dict[int, list[str]] = {}
        for index, node in enumerate(self.nodes):
            if node.running:
                with node.client() as client:
                    found[index] = [name.decode() for name in client.scan_iter(match=pattern)]
        return found

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _cluster_ok(client: redis.Redis, nodes: int) -> bool:
    info = client.execute_command("CLUSTER", "INFO").decode()
    fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
    return fields.get("cluster_state") == "ok" and fields.get("cluster_known_nodes") == str(nodes)


@contextlib.contextmanager
def redis_cluster_servers(directory: Path, masters: int = 3) -> Iterator[RedisClusterServers]:
    cluster = RedisClusterServers(directory, masters)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


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

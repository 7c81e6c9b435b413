"""Suite-wide fixtures: a clean environment, and the database every backend test runs on."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dbutil import DATABASE_PARAMS, make_database_url
from scale.harness import REDIS_KINDS, RedisClusterServers, redis_cluster_servers, redis_url_for
from wixapp.store import migrate


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may depend on the developer's own WIX_* / WIXAPP_* variables."""
    for name in list(os.environ):
        if name.startswith(("WIX_", "WIXAPP_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session", params=DATABASE_PARAMS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database per engine (SQLite, PostgreSQL), shared by the session.

    Tests keep apart by using fresh instance IDs, as tenants do.
    """
    with make_database_url(request.param) as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A Redis Cluster of three masters (redis-server processes on loopback ports), started
    when a test first asks for it and stopped, by PID, at the end of the session."""
    with redis_cluster_servers(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(params=REDIS_KINDS)
def shared_redis_url(request: pytest.FixtureRequest) -> str:
    """The WIXAPP_REDIS_URL of a shared-tier test: the local Redis, then the test cluster."""
    return redis_url_for(request)

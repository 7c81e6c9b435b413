from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from dbutil import DATABASE_PARAMS, make_database_url
from wixapp.store import Store


@pytest.fixture(params=DATABASE_PARAMS)
def empty_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own, not migrated, for tests of the migrations themselves."""
    with make_database_url(request.param) as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with await Store.open(database_url) as opened:
        yield opened


@pytest.fixture
def instance_id() -> str:
    return f"inst-{uuid.uuid4()}"


@pytest.fixture
def other_instance_id() -> str:
    return f"other-{uuid.uuid4()}"

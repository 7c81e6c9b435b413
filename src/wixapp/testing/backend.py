"""Open an ASGI app in-process (its lifespan running) behind an ``httpx.AsyncClient``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

import httpx

if TYPE_CHECKING:
    from wixapp.emulator import Installation

__all__ = ["InstallFactory", "TokenFactory", "open_backend"]


class InstallFactory(Protocol):
    def __call__(self, *, display_name: str = ..., **install: Any) -> Installation: ...


class TokenFactory(Protocol):
    def __call__(
        self,
        instance_id: str,
        subject_type: str = ...,
        *,
        lifetime: float = ...,
        app_id: str | None = ...,
    ) -> str: ...


@contextlib.asynccontextmanager
async def open_backend(
    app: Any, *, base_url: str = "http://backend.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and yield an ``httpx.AsyncClient`` that calls it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client

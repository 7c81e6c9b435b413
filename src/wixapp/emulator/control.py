"""``EmulatorControl``: a typed async client for the emulator's control API.

It wraps any ``httpx.AsyncClient``, so the same code drives an in-process emulator (through
``httpx.ASGITransport``) or one served on a port. Methods mirror ``EmulatorState`` and
return the same record types; a refusal raises ``EmulatorError`` with the server's detail.
The methods are the table of ``operations``, so each has its state function's signature.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx
from starlette.types import ASGIApp

from wixapp.emulator.control_api import CONTROL_PREFIX
from wixapp.emulator.operations import ControlOperations
from wixapp.emulator.wix_errors import (
    EmulatorConflictError,
    EmulatorError,
    EmulatorNotFoundError,
)

__all__ = ["EMULATOR_BASE_URL", "EmulatorControl"]

EMULATOR_BASE_URL = "http://wix-emulator.invalid"
"""The base URL of an in-process emulator (reached through ``httpx.ASGITransport``)."""

_ERRORS: dict[int, type[EmulatorError]] = {404: EmulatorNotFoundError, 409: EmulatorConflictError}


class EmulatorControl(ControlOperations):
    """Drive an emulator over HTTP: every operation of ``ControlOperations`` is a method.
    Closes the client only if it created it."""

    def __init__(self, client: httpx.AsyncClient, *, prefix: str = CONTROL_PREFIX) -> None:
        self._client = client
        self._prefix = prefix.rstrip("/")
        self._owns_client = False

    @classmethod
    def for_app(cls, app: ASGIApp, *, base_url: str = EMULATOR_BASE_URL) -> Self:
        """In-process: talk to the ASGI app directly, no socket."""
        transport = httpx.ASGITransport(app=app)
        return cls._owning(httpx.AsyncClient(transport=transport, base_url=base_url))

    @classmethod
    def for_url(cls, base_url: str, *, timeout: float = 10.0) -> Self:
        """An emulator served on a port, e.g. ``http://127.0.0.1:8765``."""
        return cls._owning(httpx.AsyncClient(base_url=base_url, timeout=timeout))

    @classmethod
    def _owning(cls, client: httpx.AsyncClient) -> Self:
        control = cls(client)
        control._owns_client = True
        return control

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        """One control request; a refusal raises the EmulatorError the server named."""
        response = await self._client.request(method, self._prefix + path, json=body)
        if response.status_code >= 400:
            raise _error(response)
        return response


def _error(response: httpx.Response) -> EmulatorError:
    try:
        body = response.json()
        detail, code = str(body["detail"]), str(body["error"])
    except (ValueError, KeyError, TypeError):
        detail, code = f"The emulator answered HTTP {response.status_code}.", None
    return _ERRORS.get(response.status_code, EmulatorError)(detail, code=code)

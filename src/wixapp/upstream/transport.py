"""How WixClient's requests reach Wix: aiohttp by default, through httpx when one is given.

httpx's request and response model costs more CPU per call than aiohttp's whole round
trip (``bench/client_cpu.py``), and a cold identify is one such call. So WixClient speaks
to a :class:`Sender`: :class:`AiohttpSender` unless the caller hands in an httpx client or
transport (the emulator in-process through ``httpx.ASGITransport``, a mock, a shared
pool), which :class:`HttpxSender` drives unchanged. Both answer an :class:`Answer` and
fail with ``TimeoutError`` or :class:`SendError`, so the client's rules see no difference.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import orjson

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpSender", "Answer", "HttpxSender", "SendError", "Sender"]


@dataclass(frozen=True, slots=True)
class Answer:
    """Wix's answer, read whole. ``headers`` look names up case-insensitively."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON; a ValueError when it is not."""
        return orjson.loads(self.content)


class SendError(Exception):
    """The request did not reach Wix, or its answer did not come back whole."""


class Sender(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> Answer: ...

    async def aclose(self) -> None: ...


class HttpxSender:
    """Requests through an ``httpx.AsyncClient``: closes it only if ``owned``."""

    def __init__(self, client: httpx.AsyncClient, *, owned: bool) -> None:
        self._client = client
        self._owned = owned

    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> Answer:
        try:
            response = await self._client.request(method, url, json=json, headers=headers)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.TransportError as exc:
            raise SendError(type(exc).__name__) from None
        return Answer(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


_JSON_BODY = {"Content-Type": "application/json"}


class AiohttpSender:
    """Requests through one ``aiohttp.ClientSession`` per event loop, made on first use.

    A session belongs to the loop it was made on; a client used from another loop (a
    test's, a sync facade's) gets one of its own there. Proxies and CA bundles are found
    as httpx finds them (``HTTPS_PROXY`` and the like, certifi), so switching changes no
    deployment.
    """

    def __init__(self, *, timeout: float, max_connections: int) -> None:
        self._timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> Answer:
        import aiohttp

        body = None if json is None else orjson.dumps(json)
        if body is not None:
            headers = {**_JSON_BODY, **headers} if headers else _JSON_BODY
        try:
            async with self._current_session().request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return Answer(response.status, response.headers, await response.read())
        except aiohttp.ClientError as exc:
            raise SendError(type(exc).__name__) from None

    def _current_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._session, self._loop = self._new_session(), loop
        return self._session

    def _new_session(self) -> aiohttp.ClientSession:
        import aiohttp  # here: importing wixapp (the adapters, the CLI) stays light

        connector = aiohttp.TCPConnector(
            limit=self._max_connections, ssl=httpx.create_ssl_context(trust_env=True)
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            cookie_jar=aiohttp.DummyCookieJar(),  # Wix's API sets none worth keeping
            # aiohttp looks proxies up on a thread for every request when trusting the
            # environment: only worth it when the environment names one.
            trust_env=bool(urllib.request.getproxies()),
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()

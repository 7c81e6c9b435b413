"""Client CPU per upstream call, for each HTTP client candidate, side by side in one run.

A raw ASGI app answering token-info's JSON runs in a child process (uvicorn, uvloop +
httptools) on a loopback port; this process sends sequential JSON POSTs on one keep-alive
connection and counts its own CPU (every thread, so clients that work on threads of their
own pay for them). Rounds alternate between the candidates so that drift hits all alike;
the median round per candidate is printed.

    .venv/bin/python bench/client_cpu.py                 # every installed candidate
    .venv/bin/python bench/client_cpu.py --calls 500 --rounds 3 --loop asyncio

A candidate whose package is not installed is skipped (named on stderr): httpx and aiohttp
are wixapp's; ``pip install httpx-aiohttp pyreqwest niquests`` adds the others.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from wixapp.testing.loopback import port_or_free

BODY = {"token": "x" * 400}  # a Wix access token's order of size

SERVER = """
import sys, uvicorn
ANSWER = (b'{"active": true, "subjectType": "USER", "subjectId": "u-1", "exp": "1900000000",'
          b' "iat": "1700000000", "clientId": "c-1", "accountId": "a-1", "siteId": "s-1",'
          b' "instanceId": "i-1", "vendorProductId": null}')
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"x-wix-request-id", b"r-1"),
        (b"content-length", str(len(ANSWER)).encode())]})
    await send({"type": "http.response.body", "body": ANSWER})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            log_level="warning", access_log=False)
"""

Call = Callable[[], Awaitable[None]]
Candidate = Callable[[str], contextlib.AbstractAsyncContextManager[Call]]


@contextlib.asynccontextmanager
async def _httpx_client(
    url: str, transport: httpx.AsyncBaseTransport | None
) -> AsyncIterator[Call]:
    async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:

        async def call() -> None:
            response = await client.post(url, json=BODY)
            assert response.json()["active"] is True

        yield call


def httpx_default(url: str) -> contextlib.AbstractAsyncContextManager[Call]:
    return _httpx_client(url, None)


def httpx_aiohttp(url: str) -> contextlib.AbstractAsyncContextManager[Call]:
    from httpx_aiohttp import AiohttpTransport

    return _httpx_client(url, AiohttpTransport())


def httpx_pyreqwest(url: str) -> contextlib.AbstractAsyncContextManager[Call]:
    from pyreqwest.compatibility.httpx import HttpxTransport

    return _httpx_client(url, HttpxTransport())


@contextlib.asynccontextmanager
async def wixapp_sender(url: str) -> AsyncIterator[Call]:
    """What WixClient sends through when no transport is given."""
    from wixapp.upstream.transport import AiohttpSender

    sender = AiohttpSender(timeout=5.0, max_connections=100)

    async def call() -> None:
        answer = await sender.send("POST", url, json=BODY, headers=None)
        assert answer.json()["active"] is True

    yield call
    await sender.aclose()


@contextlib.asynccontextmanager
async def aiohttp_plain(url: str) -> AsyncIterator[Call]:
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def call() -> None:
            async with session.post(url, json=BODY) as response:
                assert (await response.json())["active"] is True

        yield call


@contextlib.asynccontextmanager
async def pyreqwest_plain(url: str) -> AsyncIterator[Call]:
    from pyreqwest.client import ClientBuilder

    async with ClientBuilder().build() as client:

        async def call() -> None:
            response = await client.post(url).body_json(BODY).build().send()
            assert (await response.json())["active"] is True

        yield call


@contextlib.asynccontextmanager
async def niquests_plain(url: str) -> AsyncIterator[Call]:
    import niquests

    async with niquests.AsyncSession() as session:

        async def call() -> None:
            response = await session.post(url, json=BODY)
            assert response.json()["active"] is True

        yield call


CANDIDATES: dict[str, Candidate] = {
    "httpx (httpcore)": httpx_default,
    "httpx + httpx-aiohttp": httpx_aiohttp,
    "httpx + pyreqwest": httpx_pyreqwest,
    "aiohttp": aiohttp_plain,
    "wixapp AiohttpSender": wixapp_sender,
    "pyreqwest": pyreqwest_plain,
    "niquests": niquests_plain,
}


async def _cpu_per_call(call: Call, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls * 1e6


async def measure(url: str, calls: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, Call] = {}
        for name, candidate in CANDIDATES.items():
            try:
                clients[name] = await stack.enter_async_context(candidate(url))
            except ImportError as missing:
                print(f"skipped {name}: {missing}", file=sys.stderr)
        for call in clients.values():
            for _ in range(50):  # connect, warm caches
                await call()
        for _ in range(rounds):
            for name, call in clients.items():
                results.setdefault(name, []).append(await _cpu_per_call(call, calls))
    return results


def _serve(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            httpx.post(f"http://127.0.0.1:{port}/", json=BODY)
            return server
        time.sleep(0.05)
    server.kill()
    raise RuntimeError("the answering server did not start")


def _run(coroutine: Awaitable[Any], loop: str) -> Any:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coroutine)  # type: ignore[arg-type]
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    port = port_or_free()
    server = _serve(port)
    try:
        results = _run(measure(f"http://127.0.0.1:{port}/", args.calls, args.rounds), args.loop)
    finally:
        server.terminate()
        server.wait()
    baseline = statistics.median(results["httpx (httpcore)"])
    print(f"client CPU per JSON POST ({args.loop}, {args.calls} calls × {args.rounds} rounds)")
    for name, rounds in results.items():
        median = statistics.median(rounds)
        print(
            f"  {name:24} {median:7.1f} µs  (min {min(rounds):.1f}, max {max(rounds):.1f})"
            f"  {median / baseline:5.2f}× httpx"
        )


if __name__ == "__main__":
    main()

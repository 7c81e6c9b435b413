"""A loopback TCP proxy in front of Redis that delays every reply: a slow Redis on demand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio.connection import parse_url


@asynccontextmanager
async def slow_redis(upstream_url: str, delay: float) -> AsyncIterator[str]:
    """A ``redis://`` URL whose replies come ``delay`` seconds after Redis sent them
    (requests pass at once; pipelined replies each keep their own delay)."""
    target = parse_url(upstream_url)
    host, port, db = str(target.get("host")), int(target.get("port", 6379)), target.get("db", 0)
    links: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, port)
        both = (_pipe(reader, up_writer, 0.0), _pipe(up_reader, writer, delay))
        task = asyncio.ensure_future(asyncio.gather(*both, return_exceptions=True))
        links.add(task)  # type: ignore[arg-type]
        task.add_done_callback(links.discard)  # type: ignore[arg-type]

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    proxy_port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{proxy_port}/{db}"
    finally:
        server.close()
        for task in list(links):
            task.cancel()
        await asyncio.gather(*links, return_exceptions=True)
        await server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            at, chunk = await due.get()
            await asyncio.sleep(max(0.0, at - loop.time()))
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while chunk := await reader.read(65536):
            await due.put((loop.time() + delay, chunk))
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        writer.close()

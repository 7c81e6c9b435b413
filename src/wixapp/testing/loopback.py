"""Run ASGI apps on loopback ports from async code: for the demo and for tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

__all__ = ["LOOPBACK", "port_or_free", "serving"]

LOOPBACK = "127.0.0.1"

logger = logging.getLogger("wixapp.serving")


def port_or_free(preferred: int = 0, *, host: str = LOOPBACK) -> int:
    """``preferred`` if it is free (stable URLs across runs), else any free port, saying so.

    The probe sets SO_REUSEADDR as uvicorn does, so the port of a run stopped a moment ago
    (its connections still in TIME_WAIT) counts as free, as it is for the server.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, preferred))
        except OSError as error:
            sock.bind((host, 0))
            logger.warning(
                "port %d on %s is taken (%s): using %d instead; stop what holds it, or pick"
                " another port",
                preferred,
                host,
                error.strerror,
                sock.getsockname()[1],
            )
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(app: Any, *, port: int = 0, host: str = LOOPBACK) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn until the block ends; yields its base URL."""
    port = port or port_or_free(host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise RuntimeError(f"could not serve on {host}:{port}: {task.exception()!r}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task

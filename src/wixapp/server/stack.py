"""The server stack ``wixapp serve`` runs the backend on: uvicorn with uvloop and httptools.

``uvicorn[standard]`` (a dependency) brings uvloop and httptools, about twice the requests a
second of the pure-Python pair on the same worker. Where they are not installed (uvloop has
no Windows build) or when asked (``wixapp serve --stack asyncio``), the fallback is the
asyncio loop with h11.

The fallback needs one repair. With ``--workers N`` uvicorn binds the listening socket itself
(``socket.socket(AF_INET)``, protocol 0) and hands it to the workers; asyncio turns off
Nagle's algorithm only on sockets whose protocol says TCP, so every keep-alive answer then
waits for the client's delayed ACK (~40 ms). :class:`NoDelayH11Protocol` sets TCP_NODELAY on
each connection itself. uvloop always sets it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from dataclasses import dataclass
from typing import Any, Literal

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["STACKS", "NoDelayH11Protocol", "ServerStack", "StackName", "choose_stack"]

StackName = Literal["auto", "uvloop", "asyncio"]


@dataclass(frozen=True, slots=True)
class ServerStack:
    """uvicorn's ``loop`` and ``http`` options."""

    name: str
    loop: str
    http: str


STACKS = {
    # Both protocols are guarded: slow headers and bodies are cut off (server/protocol.py).
    "uvloop": ServerStack(
        "uvloop", loop="uvloop", http="wixapp.server.guarded_protocols:GuardedHttpToolsProtocol"
    ),
    "asyncio": ServerStack(
        "asyncio", loop="asyncio", http="wixapp.server.guarded_protocols:GuardedH11Protocol"
    ),
}


def choose_stack(name: StackName = "auto") -> ServerStack:
    """uvloop + httptools when installed (``auto``), else the asyncio + h11 fallback."""
    if name == "auto":
        installed = all(importlib.util.find_spec(m) for m in ("uvloop", "httptools"))
        return STACKS["uvloop" if installed else "asyncio"]
    return STACKS[name]


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY on every connection (see the module's doc)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport.get_extra_info("socket"))
        super().connection_made(transport)


def _no_delay(sock: Any) -> None:
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # not a TCP socket after all: nothing to repair
        return

"""What a request carries to identify its caller, read the same way by every front door."""

from __future__ import annotations

from typing import NamedTuple

from starlette.datastructures import QueryParams
from starlette.types import Scope

__all__ = ["Credentials", "scope_client", "scope_header"]


class Credentials(NamedTuple):
    """A request's ``Authorization`` header, its legacy signed ``instance`` query value and
    the client's address (for the token-check budget); each None when absent. ``method``
    decides whether the legacy value may count (a read only: see ``Edge.identify``). A
    named tuple: built on every request, and a tuple is the cheapest immutable record."""

    authorization: str | None
    instance: str | None
    client: str | None
    method: str = "GET"

    @classmethod
    def from_scope(cls, scope: Scope, query: QueryParams | None = None) -> Credentials:
        """From an ASGI HTTP scope, without building a request object (the hot path);
        ``query``: its query string, if the caller has parsed it already."""
        if query is None and scope.get("query_string"):
            query = QueryParams(scope["query_string"])
        instance = query.get("instance") if query is not None else None
        header = scope_header(scope, b"authorization")
        return cls(header, instance, scope_client(scope), scope["method"])

    @property
    def safe(self) -> bool:
        """A read (GET, HEAD): the only requests a legacy ``instance`` value may identify."""
        return self.method in ("GET", "HEAD")


def scope_header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (names are lower-case in ASGI)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def scope_client(scope: Scope) -> str | None:
    """The client's address, for the token-check budget."""
    client = scope.get("client")
    return str(client[0]) if client else None

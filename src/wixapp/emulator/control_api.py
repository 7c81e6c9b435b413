"""How a control operation travels: ``Operation`` declares one (HTTP method and path, body
model, the ``EmulatorState`` function that performs it, the answer's shape) and is both the
route's logic and, read through an ``EmulatorControl``, that client's method."""

from __future__ import annotations

import inspect
import string
from collections.abc import Awaitable, Callable, Mapping
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    TypeVar,
    cast,
    overload,
)

import httpx
from pydantic import BaseModel, TypeAdapter
from starlette.responses import JSONResponse, Response

from wixapp.emulator.records import build
from wixapp.emulator.requests import ControlRequest

if TYPE_CHECKING:
    from wixapp.emulator.world import EmulatorState

__all__ = [
    "CONTROL_PREFIX",
    "Answer",
    "InField",
    "InFields",
    "JSONOf",
    "NoContent",
    "Operation",
    "PemText",
    "awaited",
]

CONTROL_PREFIX = "/_emulator"

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
_WITH_BODY = ("POST", "PUT", "PATCH")


class Answer(Protocol[T]):
    """How a result goes on the wire (``encode``) and comes back from it (``decode``)."""

    def encode(self, result: T) -> Response: ...

    def decode(self, response: httpx.Response) -> T: ...


class JSONOf(Generic[T]):
    """The result as JSON: a record, a list or a mapping of them (camelCase)."""

    def __init__(self, kind: Any) -> None:
        self._adapter: TypeAdapter[T] = TypeAdapter(kind)

    def encode(self, result: T) -> Response:
        return JSONResponse(self._adapter.dump_python(result, mode="json", by_alias=True))

    def decode(self, response: httpx.Response) -> T:
        return self._adapter.validate_python(response.json())


class InField(Generic[T]):
    """The result under one key: ``{"now": 12.5}``."""

    def __init__(self, key: str, kind: type[T]) -> None:
        self._key = key
        self._adapter = TypeAdapter(kind)

    def encode(self, result: T) -> Response:
        return JSONResponse({self._key: self._adapter.dump_python(result, mode="json")})

    def decode(self, response: httpx.Response) -> T:
        return self._adapter.validate_python(response.json()[self._key])


class InFields(Generic[T]):
    """A tuple result, one key per item: ``{"site": {...}, "installations": [...]}``."""

    def __init__(self, keys: tuple[str, ...], kind: Any) -> None:
        self._keys = keys
        self._adapter: TypeAdapter[T] = TypeAdapter(kind)

    def encode(self, result: T) -> Response:
        items = self._adapter.dump_python(result, mode="json", by_alias=True)
        return JSONResponse(dict(zip(self._keys, items, strict=True)))

    def decode(self, response: httpx.Response) -> T:
        body = response.json()
        return self._adapter.validate_python([body[key] for key in self._keys])


class NoContent:
    def encode(self, result: None) -> Response:
        return Response(status_code=204)

    def decode(self, response: httpx.Response) -> None:
        return None


class PemText:
    def encode(self, result: str) -> Response:
        return Response(result, media_type="application/x-pem-file")

    def decode(self, response: httpx.Response) -> str:
        return response.text


class ControlClient(Protocol):
    async def send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response: ...


def awaited(
    perform: Callable[Concatenate[EmulatorState, P], Awaitable[R]],
) -> Callable[Concatenate[EmulatorState, P], R]:
    """An async state function for ``Operation``: the route awaits what it returns (the
    cast only tells the client's typing that it answers with the awaited result)."""
    return cast(Callable[Concatenate["EmulatorState", P], R], perform)


class Operation(Generic[P, R]):
    """One control operation. ``body`` validates the request body (camelCase or snake_case);
    its fields are ``perform``'s keyword arguments, or with ``body_argument`` the body is
    that one argument. Path parameters (``{instance_id}``) are arguments too."""

    def __init__(
        self,
        method: str,
        path: str,
        perform: Callable[Concatenate[EmulatorState, P], R],
        answer: Answer[R],
        *,
        body: type[BaseModel] | None = None,
        body_argument: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.answer = answer
        self._perform: Callable[..., Any] = perform
        self._body_argument = body_argument
        self._signature = inspect.signature(perform)
        self._path_names = [name for _, name, _, _ in string.Formatter().parse(path) if name]

    # ---- the route's side

    async def perform(
        self, state: EmulatorState, path_params: Mapping[str, str], body: BaseModel | None
    ) -> R:
        arguments: dict[str, Any] = dict(path_params)
        if self._body_argument:
            arguments[self._body_argument] = body
        elif isinstance(body, ControlRequest):
            arguments |= body.arguments()
        result = self._perform(state, **arguments)
        return cast(R, await result if inspect.isawaitable(result) else result)

    # ---- the client's side

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Operation[P, R]: ...

    @overload
    def __get__(self, client: ControlClient, owner: type[Any]) -> Callable[P, Awaitable[R]]: ...

    def __get__(self, client: ControlClient | None, owner: type[Any]) -> Any:
        if client is None:
            return self

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            path, body = self._request(args, kwargs)
            return self.answer.decode(await client.send(self.method, path, body))

        call.__signature__ = self._signature.replace(  # type: ignore[attr-defined]
            parameters=list(self._signature.parameters.values())[1:]
        )
        call.__doc__ = self._perform.__doc__
        return call

    def _request(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        bound = self._signature.bind(None, *args, **kwargs).arguments
        arguments = dict(list(bound.items())[1:])  # the first is the state
        path = self.path.format(**{name: arguments.pop(name) for name in self._path_names})
        if self.body is None:
            return path, ({} if self.method in _WITH_BODY else None)
        if self._body_argument:
            request: BaseModel = arguments[self._body_argument]
        else:
            request = build(self.body, **arguments)
        return path, request.model_dump(mode="json", by_alias=True, exclude_unset=True)

"""The control API under ``/_emulator/``: set up the emulated world and steer its behaviour.

JSON in and out, camelCase, kept apart from the Wix routes so nothing a backend calls can
ever hit it by accident. Every route is an ``Operation`` of the table in ``operations``.
Errors answer ``{"error": code, "detail": sentence}`` with the status of the EmulatorError.
An absent or null field takes ``EmulatorState``'s default, except the legacy instance's
``permissions``, where null means "no permissions" (a visitor).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wixapp.emulator.control_api import CONTROL_PREFIX, Operation
from wixapp.emulator.operations import operations
from wixapp.emulator.protojson import FieldConflict, snake_fields
from wixapp.emulator.routes_wix import state_of
from wixapp.emulator.wix_errors import EmulatorError

__all__ = ["CONTROL_PREFIX", "control_routes"]

BodyT = TypeVar("BodyT", bound=BaseModel)


def control_routes() -> list[Route]:
    return [Route(op.path, _endpoint(op), methods=[op.method]) for op in operations()]


def _endpoint(operation: Operation[Any, Any]) -> Callable[[Request], Awaitable[Response]]:
    """Perform the operation; a refusal answers with the EmulatorError's status."""

    async def endpoint(request: Request) -> Response:
        try:
            body = None if operation.body is None else await _parse(request, operation.body)
            result = await operation.perform(state_of(request), request.path_params, body)
        except EmulatorError as error:
            return _error(error.status, error.code, error.detail)
        except ValidationError as error:
            return _error(400, "emulator_invalid_body", _describe(error))
        return operation.answer.encode(result)

    return endpoint


async def _parse(request: Request, model: type[BodyT]) -> BodyT:
    """The body, each field under its camelCase or snake_case name (as Wix's gateway reads
    them: see ``protojson``); both, with different values, is refused."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        raise EmulatorError("Send a JSON object body.") from None
    if not isinstance(data, dict):
        raise EmulatorError("Send a JSON object body.")
    try:
        fields = snake_fields(data)
    except FieldConflict as conflict:
        raise EmulatorError(str(conflict), code="emulator_invalid_body") from None
    return model.model_validate(fields)


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _describe(error: ValidationError) -> str:
    problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()]
    return "; ".join(problems)

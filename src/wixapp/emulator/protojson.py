"""Request JSON field names as Wix's API gateway reads them (protobuf-JSON).

Each field of a request is accepted under its original snake_case name and under its
lowerCamelCase name: Wix's own guide sends ``instanceId`` where the REST reference writes
``instance_id``. When a body holds both spellings of one field with different values,
protobuf-JSON refuses it; so does the emulator (``FieldConflict``). Top-level fields only:
the bodies the emulator takes are flat.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FieldConflict", "snake_case", "snake_fields"]

_CAPITAL = re.compile(r"(?<=[a-z0-9])([A-Z])")


class FieldConflict(ValueError):
    """Both spellings of one field, with different values."""

    def __init__(self, field: str, spellings: tuple[str, str]) -> None:
        first, second = spellings
        super().__init__(
            f"{first} and {second} are the same field with different values; send one."
        )
        self.field = field
        self.spellings = spellings


def snake_case(name: str) -> str:
    """``instanceId`` → ``instance_id``; a snake_case name stays as it is."""
    return _CAPITAL.sub(r"_\1", name).lower()


def snake_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The body with every key in snake_case; raises ``FieldConflict`` on a disagreement."""
    fields: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in body.items():
        name = snake_case(key)
        if name in fields and fields[name] != value:
            raise FieldConflict(name, (spelled[name], key))
        fields[name] = value
        spelled.setdefault(name, key)
    return fields

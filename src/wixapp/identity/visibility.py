"""What each role may see of an instance's data (``GET /get-instance?include=instance``).

Get App Instance answers with the site owner's e-mail and contact details and the app's
billing (plan, invoice, payment source). A USER caller (the site owner or a collaborator,
in the editor or dashboard) sees all of it. Anyone else (VISITOR, MEMBER: every visitor's
browser holds such a token) sees only the allow-listed fields
(``WIXAPP_VISITOR_INSTANCE_FIELDS``, dotted paths into the answer; the default is
:data:`wixapp.config.DEFAULT_VISITOR_INSTANCE_FIELDS`, which holds no personal or billing
data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wixapp.models import Caller

__all__ = ["visible_instance"]


def visible_instance(
    document: Mapping[str, Any], caller: Caller, visitor_fields: Iterable[str]
) -> dict[str, Any]:
    """The part of ``document`` (the answer, by alias) the caller may see."""
    if caller.is_user:
        return dict(document)
    visible: dict[str, Any] = {}
    for path in visitor_fields:
        _copy(document, visible, path.split("."))
    return visible


def _copy(source: Mapping[str, Any], target: dict[str, Any], path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if head not in source:
        return
    value = source[head]
    if not rest:
        target[head] = value
    elif isinstance(value, Mapping):
        _copy(value, target.setdefault(head, {}), rest)

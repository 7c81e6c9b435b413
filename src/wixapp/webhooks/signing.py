"""Sign a webhook exactly as Wix does (the emulator and tests are the senders)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Final

import jwt

from wixapp.webhooks.keys import load_private_key
from wixapp.webhooks.verify import ALGORITHM, DEFAULT_IDENTITY

DEFAULT_TTL: Final = 3600
"""Lifetime ``sign_webhook`` gives a webhook without ``exp`` (Wix's own is undocumented)."""


def sign_webhook(
    event_type: str,
    instance_id: str,
    data: Mapping[str, Any],
    *,
    private_key_pem: str,
    identity: Mapping[str, Any] | None = None,
    iat: float | None = None,
    exp: float | None = None,
    account_info: Mapping[str, Any] | None = None,
) -> str:
    """Sign a webhook body exactly as Wix does (tests and the emulator).

    ``identity`` defaults to ``{"identityType": "APP"}``; ``exp`` to ``iat + DEFAULT_TTL``;
    ``account_info`` (an object beside ``eventType``, as domain events carry it) is left out
    unless given.
    """
    issued = int(time.time() if iat is None else iat)
    envelope: dict[str, Any] = {
        "eventType": event_type,
        "instanceId": instance_id,
        "data": _compact(data),
        "identity": _compact(DEFAULT_IDENTITY if identity is None else identity),
    }
    if account_info is not None:
        envelope["accountInfo"] = dict(account_info)
    expires = int(issued + DEFAULT_TTL if exp is None else exp)
    claims = {"data": _compact(envelope), "iat": issued, "exp": expires}
    return jwt.encode(claims, load_private_key(private_key_pem), algorithm=ALGORITHM)


def _compact(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), separators=(",", ":"))

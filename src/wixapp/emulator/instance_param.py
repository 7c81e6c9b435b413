"""The legacy signed ``instance`` parameter (spec §8), as the emulator issues and reads it.

Written apart from the library's codec (``wixapp.identity.legacy``) on purpose: the emulator
signs, the library verifies, so a bug in either shows up as a disagreement in the tests.
A value is ``<signature>.<data>``, both base64url without padding; the signature is
HMAC-SHA256 over the data part, keyed with the app secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from wixapp.models import SubjectType

__all__ = ["LegacyValue", "read_unverified", "sign_instance"]


def sign_instance(payload: Mapping[str, Any], app_secret: str) -> str:
    """A value carrying ``payload``, signed with ``app_secret`` as Wix does."""
    data = _encode(json.dumps(dict(payload), separators=(",", ":")).encode())
    return f"{_encode(_mac(app_secret, data))}.{data}"


class LegacyValue:
    """A value's fields, read before its signature is checked (``signed_with`` checks it):
    the emulator serves many apps and must first learn which app's secret applies."""

    def __init__(self, signature: bytes, data: str, fields: dict[str, Any]) -> None:
        self._signature = signature
        self._data = data
        self.fields = fields

    def signed_with(self, app_secret: str) -> bool:
        return hmac.compare_digest(self._signature, _mac(app_secret, self._data))

    @property
    def instance_id(self) -> str:
        return str(self.fields["instanceId"])

    @property
    def app_id(self) -> str | None:
        return _text(self.fields.get("appDefId"))

    @property
    def subject_type(self) -> SubjectType:
        """The owner (``permissions: OWNER``) is a Wix user, a ``siteMemberId`` a member,
        anyone else a visitor."""
        if self.fields.get("permissions") == "OWNER":
            return SubjectType.USER
        return SubjectType.MEMBER if self.fields.get("siteMemberId") else SubjectType.VISITOR

    @property
    def subject_id(self) -> str | None:
        """``uid`` (else ``siteOwnerId``) for the owner, ``siteMemberId`` for a member,
        ``aid`` for a visitor."""
        if self.subject_type is SubjectType.USER:
            names = ("uid", "siteOwnerId")
        else:
            names = ("siteMemberId", "aid")
        return next((text for name in names if (text := _text(self.fields.get(name)))), None)

    @property
    def signed_at(self) -> float | None:
        """``signDate`` as epoch seconds, None if absent or unreadable."""
        try:
            return datetime.fromisoformat(str(self.fields["signDate"])).timestamp()
        except (KeyError, ValueError):
            return None


def read_unverified(value: str) -> LegacyValue | None:
    """The value's parts and fields, or None for anything not shaped like a value."""
    signature, dot, data = value.strip().partition(".")
    if not dot or "." in data:
        return None
    try:
        fields = json.loads(_decode(data))
        mac = _decode(signature)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(fields, dict) or not fields.get("instanceId"):
        return None
    return LegacyValue(mac, data, fields)


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _mac(app_secret: str, data: str) -> bytes:
    return hmac.new(app_secret.encode(), data.encode("ascii"), hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

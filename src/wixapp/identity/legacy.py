"""The legacy signed ``instance`` parameter of Wix iframes and external dashboards (spec §8).

The value is ``<signature>.<data>``, both base64url without padding; the signature is
HMAC-SHA256 over the data part exactly as received, keyed with the app secret. Only the MAC
makes it trustworthy: nothing in it is read before the MAC matches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from wixapp.errors import ConfigurationError, InvalidInstanceError
from wixapp.models import Caller, LooseBool, LooseDatetime, LooseStr, SubjectType, WixModel

__all__ = [
    "LegacyInstance",
    "decode_instance_param",
    "sign_instance_param",
    "verify_instance_param",
]

# Standard-alphabet characters are tolerated too: Wix's own samples decode with a decoder
# that accepts both, so a value re-encoded on the way must not fail on that alone.
_BASE64 = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")


class LegacyInstance(WixModel):
    """The decoded data part. Field list from public code (UNCONFIRMED officially)."""

    instance_id: str = Field(min_length=1)
    sign_date: LooseDatetime = None
    uid: LooseStr = None
    permissions: LooseStr = None  # e.g. "OWNER"
    vendor_product_id: LooseStr = None
    site_owner_id: LooseStr = None
    aid: LooseStr = None
    site_member_id: LooseStr = None
    demo_mode: LooseBool | None = None
    origin_instance_id: LooseStr = None
    expiration_date: LooseDatetime = None
    app_def_id: LooseStr = None

    @property
    def subject_type(self) -> SubjectType:
        """``permissions: OWNER`` is the site's owner, a Wix user (USER); a ``siteMemberId``
        is a logged-in site member (MEMBER); anyone else is a VISITOR. The emulator reads
        values with this same rule."""
        if self.permissions == "OWNER":
            return SubjectType.USER
        return SubjectType.MEMBER if self.site_member_id else SubjectType.VISITOR

    def caller(self) -> Caller:
        """The caller this value identifies: subjectId is ``uid`` (else ``siteOwnerId``) for
        the owner, ``siteMemberId`` for a member, ``aid`` for a visitor. It names no site
        and no expiry."""
        if self.subject_type is SubjectType.USER:
            subject_id = self.uid or self.site_owner_id
        else:
            subject_id = self.site_member_id or self.aid
        return Caller(
            instance_id=self.instance_id,
            subject_type=self.subject_type,
            subject_id=subject_id,
            site_id=None,
            expires_at=None,
        )


def verify_instance_param(
    value: str,
    app_secret: str,
    *,
    max_age: float | None = None,
    now: float | None = None,
) -> LegacyInstance:
    """Check the HMAC of an ``instance`` value and decode it.

    Raises ``InvalidInstanceError`` (401) for a bad signature, bad base64 or JSON, a missing
    instanceId, or (with ``max_age`` seconds) a ``signDate`` that is too old or absent.
    """
    signature, data = _split(value)
    _check_signature(signature, data, _secret_bytes(app_secret))
    instance = decode_instance_param(value)
    if max_age is not None:
        _check_age(instance, max_age, time.time() if now is None else now)
    return instance


def decode_instance_param(value: str) -> LegacyInstance:
    """The data of an ``instance`` value WITHOUT checking its signature: only for choosing
    which app's secret to verify it with (the emulator serves many apps). Raises
    ``InvalidInstanceError`` for a value that is not shaped like one."""
    return _parse(_decode(_split(value)[1], "data"))


def sign_instance_param(payload: Mapping[str, Any], app_secret: str) -> str:
    """Sign a payload as Wix does (tests and the emulator)."""
    data = _encode(json.dumps(dict(payload), separators=(",", ":")).encode())
    mac = hmac.new(_secret_bytes(app_secret), data.encode("ascii"), hashlib.sha256)
    return f"{_encode(mac.digest())}.{data}"


def _secret_bytes(app_secret: str) -> bytes:
    if not app_secret:
        raise ConfigurationError("WIX_APP_SECRET is empty; the instance cannot be verified.")
    return app_secret.encode()


def _split(value: str) -> tuple[str, str]:
    parts = value.strip().split(".")
    if len(parts) != 2 or not all(map(_BASE64.fullmatch, parts)):
        raise InvalidInstanceError(
            "The instance parameter is not '<signature>.<data>' in base64url; pass it unmodified."
        )
    return parts[0], parts[1]


def _check_signature(signature: str, data: str, secret: bytes) -> None:
    given = _decode(signature, "signature")
    # The MAC covers the data part as received; a copy padded on the way is also tried
    # unpadded, which is how Wix signs it. Both are HMACs over the same data, so no weaker.
    candidates = dict.fromkeys((data, data.rstrip("=")))
    matches = [hmac.compare_digest(given, _mac(secret, text)) for text in candidates]
    if not any(matches):
        raise InvalidInstanceError(
            "The instance signature does not match; check that WIX_APP_SECRET is this app's "
            "secret and that the value is passed unmodified."
        )


def _mac(secret: bytes, text: str) -> bytes:
    return hmac.new(secret, text.encode("ascii"), hashlib.sha256).digest()


def _decode(part: str, what: str) -> bytes:
    stripped = part.rstrip("=").translate(str.maketrans("+/", "-_"))
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInstanceError(f"The instance {what} part is not valid base64url.") from None


def _parse(raw: bytes) -> LegacyInstance:
    try:
        payload = json.loads(raw)
    except ValueError:
        raise InvalidInstanceError("The instance data part is not valid JSON.") from None
    if not isinstance(payload, dict) or not payload.get("instanceId"):
        raise InvalidInstanceError("The instance data has no instanceId.")
    try:
        return LegacyInstance.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(str(error["loc"][0]) for error in exc.errors() if error["loc"])
        raise InvalidInstanceError(f"The instance data has invalid fields: {fields}.") from None


def _check_age(instance: LegacyInstance, max_age: float, now: float) -> None:
    if instance.sign_date is None:
        raise InvalidInstanceError(
            "The instance has no readable signDate, so its age cannot be checked.",
            code="instance_expired",
        )
    if now - instance.sign_date.timestamp() > max_age:
        raise InvalidInstanceError(
            "The instance was signed too long ago; reload the page to get a fresh one.",
            code="instance_expired",
        )


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

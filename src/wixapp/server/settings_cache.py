"""The widget settings cache: ``GET /api/settings`` without a database read per page view.

Built on :meth:`wixapp.WixApp.instance_cache` (the same tool a user's own per-instance reads
get): each process keeps the settings of the instances it served, Redis holds them for all
processes when configured, and ``PUT /api/settings`` invalidates them everywhere after its
compare-and-swap in the database. ``WIXAPP_SETTINGS_CACHE_TTL`` bounds how long any copy
lives (0 turns the cache off: every read goes to the database).
"""

from __future__ import annotations

from datetime import datetime

import orjson

from wixapp.app import WixApp
from wixapp.cache import InstanceCache
from wixapp.config import Settings
from wixapp.store import SettingsRecord, Store

__all__ = ["NAMESPACE", "SettingsCodec", "settings_cache"]

NAMESPACE = "settings"


class SettingsCodec:
    """A settings record (or None: never saved) as JSON for the shared tier."""

    def encode(self, key: str, value: SettingsRecord | None) -> bytes:
        if value is None:
            return b"null"
        return orjson.dumps(
            {
                "document": value.document,
                "version": value.version,
                "updatedAt": value.updated_at.isoformat(),
                "updatedBy": value.updated_by,
            }
        )

    def decode(self, key: str, data: bytes) -> SettingsRecord | None:
        body = orjson.loads(data)
        if body is None:
            return None
        return SettingsRecord(
            instance_id=key,
            document=dict(body["document"]),
            version=int(body["version"]),
            updated_at=datetime.fromisoformat(body["updatedAt"]),
            updated_by=body["updatedBy"],
        )

    def tag(self, value: SettingsRecord | None) -> str:
        return ""


def settings_cache(
    wix: WixApp, store: Store, settings: Settings
) -> InstanceCache[SettingsRecord | None]:
    return wix.instance_cache(
        NAMESPACE, store.get_settings, SettingsCodec(), ttl=settings.settings_cache_ttl
    )

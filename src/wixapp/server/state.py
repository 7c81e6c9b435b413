"""What the routes reach: the one typed object the backend's lifespan opens and closes."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from wixapp.app import WixApp
from wixapp.cache import InstanceCache
from wixapp.config import Settings
from wixapp.server.seen import LastSeenRecorder
from wixapp.server.settings_schema import SettingsSchema
from wixapp.store import SettingsRecord, Store
from wixapp.web import Edge, Lifecycle, WebhookReceiver
from wixapp.webhooks import WebhookRouter

__all__ = ["ServerState", "server_state"]


@dataclass
class ServerState:
    """What the routes reach through ``request.app.state.wixapp``."""

    settings: Settings
    wix: WixApp
    store: Store
    seen: LastSeenRecorder
    edge: Edge
    settings_cache: InstanceCache[SettingsRecord | None]
    settings_schema: SettingsSchema = field(default_factory=SettingsSchema.of)

    @property
    def lifecycle(self) -> Lifecycle:
        return self.edge.lifecycle

    @property
    def webhooks(self) -> WebhookRouter:
        return self.edge.webhooks

    @property
    def webhook_receiver(self) -> WebhookReceiver:
        return self.edge.receiver


def server_state(request: Request) -> ServerState:
    """The running backend's state (set by the lifespan ``create_app`` installs)."""
    state: ServerState = request.app.state.wixapp
    return state

"""wixapp: identify Wix app instances from Python, with an offline Wix emulator.

The public API. ``WixApp`` identifies callers and reads instance data; ``create_app`` (in
:mod:`wixapp.server`) builds the ready backend on it; the emulator is :mod:`wixapp.emulator`.
"""

from typing import Any

from wixapp.__version__ import __version__
from wixapp.app import WixApp
from wixapp.cache import InstanceCache
from wixapp.config import Settings, load_settings
from wixapp.errors import (
    AppCredentialsError,
    AuthenticationError,
    ConfigurationError,
    ExpiredTokenError,
    InstanceRemovedError,
    InvalidInstanceError,
    InvalidRequestError,
    InvalidTokenError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    ProtocolError,
    RateLimitedError,
    RetryAfterError,
    SchemaNotReadyError,
    StoreUnavailableError,
    TokenCheckBudgetError,
    UpstreamUnavailableError,
    WebhookError,
    WebhookSignatureError,
    WixAPIError,
    WixAppError,
    WixRequestError,
    renamed,
)
from wixapp.identity import InstanceData, LegacyInstance, trust_token_info, verify_instance_param
from wixapp.logs import RedactCredentials, redact_access_logs
from wixapp.models import AppInstance, AppToken, Caller, SiteInfo, SubjectType, TokenInfo
from wixapp.webhooks import (
    DispatchResult,
    EventType,
    WebhookEvent,
    WebhookRouter,
    sign_webhook,
    verify_webhook,
)

__all__ = [
    "AppCredentialsError",
    "AppInstance",
    "AppToken",
    "AuthenticationError",
    "Caller",
    "ConfigurationError",
    "DispatchResult",
    "EventType",
    "ExpiredTokenError",
    "InstanceCache",
    "InstanceData",
    "InstanceRemovedError",
    "InvalidInstanceError",
    "InvalidRequestError",
    "InvalidTokenError",
    "LegacyInstance",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "ProtocolError",
    "RateLimitedError",
    "RedactCredentials",
    "RetryAfterError",
    "SchemaNotReadyError",
    "Settings",
    "SiteInfo",
    "StoreUnavailableError",
    "SubjectType",
    "TokenCheckBudgetError",
    "TokenInfo",
    "UpstreamUnavailableError",
    "WebhookError",
    "WebhookEvent",
    "WebhookRouter",
    "WebhookSignatureError",
    "WixAPIError",
    "WixApp",
    "WixAppError",
    "WixRequestError",
    "__version__",
    "load_settings",
    "redact_access_logs",
    "sign_webhook",
    "trust_token_info",
    "verify_instance_param",
    "verify_webhook",
]

# Public names belong to the package: users and tracebacks see `wixapp.WixApp`, never a
# private module path (as httpx does).
for _name in __all__:
    if not _name.startswith("__"):
        globals()[_name].__module__ = "wixapp"
del _name


def __getattr__(name: str) -> Any:
    """Renamed errors under their old names, with a DeprecationWarning."""
    return renamed(__name__, name)

"""wixapp: identify Wix app instances from Python, with an offline Wix emulator."""

from wixapp.errors import (
    AppCredentialsError,
    AuthenticationError,
    ConfigurationError,
    InvalidInstanceError,
    InvalidTokenError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    TokenCheckBudgetError,
    UpstreamUnavailableError,
    WebhookError,
    WebhookSignatureError,
    WixAPIError,
    WixAppError,
    WixRequestError,
)
from wixapp.legacy import LegacyInstance, verify_instance_param
from wixapp.models import AppInstance, AppToken, Caller, SiteInfo, SubjectType, TokenInfo
from wixapp.webhooks import EventType, WebhookEvent, WebhookRouter, verify_webhook

__version__ = "0.1.0"

__all__ = [
    "AppCredentialsError",
    "AppInstance",
    "AppToken",
    "AuthenticationError",
    "Caller",
    "ConfigurationError",
    "EventType",
    "InvalidInstanceError",
    "InvalidTokenError",
    "LegacyInstance",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "SiteInfo",
    "SubjectType",
    "TokenCheckBudgetError",
    "TokenInfo",
    "UpstreamUnavailableError",
    "WebhookError",
    "WebhookEvent",
    "WebhookRouter",
    "WebhookSignatureError",
    "WixAPIError",
    "WixAppError",
    "WixRequestError",
    "__version__",
    "verify_instance_param",
    "verify_webhook",
]

"""wixapp: identify Wix app instances from Python, with an offline Wix emulator."""

from wixapp.errors import (
    AppCredentialsError,
    AuthenticationError,
    ConfigurationError,
    InvalidTokenError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    UpstreamUnavailableError,
    WixAPIError,
    WixAppError,
    WixRequestError,
)
from wixapp.models import AppInstance, AppToken, Caller, SiteInfo, SubjectType, TokenInfo

__version__ = "0.1.0"

__all__ = [
    "AppCredentialsError",
    "AppInstance",
    "AppToken",
    "AuthenticationError",
    "Caller",
    "ConfigurationError",
    "InvalidTokenError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "SiteInfo",
    "SubjectType",
    "TokenInfo",
    "UpstreamUnavailableError",
    "WixAPIError",
    "WixAppError",
    "WixRequestError",
    "__version__",
]

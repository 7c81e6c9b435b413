"""The one exception tree of wixapp.

Every error carries, as data, the HTTP status the backend answers with, a stable
machine-readable ``code`` and a ``detail`` sentence that says what to do next, so one
handler renders them all. Foreign errors (httpx, JSON, pydantic) are translated at the
boundary where they happen and never escape as themselves.

    WixAppError
    ├── AuthenticationError        401  the caller's token is missing, malformed, invalid…
    │   ├── InvalidTokenError      401  …or Wix says it is not (or no longer) valid
    │   │   └── ExpiredTokenError  401  …because it has expired
    │   ├── InvalidInstanceError   401  a legacy `instance` parameter fails its HMAC check
    │   └── InstanceRemovedError   401  the app was removed from this site
    ├── PermissionDeniedError      403  the identity may not do this
    ├── PreconditionFailedError    412  If-Match does not name the stored settings' version
    ├── PayloadTooLargeError       413  the request body is over a limit
    ├── InvalidRequestError        422  the request does not match the schema (``problems``)
    ├── StoreUnavailableError      503  the database is down or busy (with Retry-After)
    │   └── SchemaNotReadyError    503  …or its schema is not migrated yet
    ├── RetryAfterError                 (mixin) carries ``retry_after``, sent as Retry-After
    ├── TokenCheckBudgetError      429  too many unknown tokens to check with Wix
    ├── WixAPIError                     Wix (or the network to it) failed us
    │   ├── RateLimitedError       429  Wix throttled this instance; see ``retry_after``
    │   ├── UpstreamUnavailableError 503 5xx, timeout, connection error, open circuit
    │   ├── ProtocolError          502  Wix answered something we cannot parse
    │   ├── AppCredentialsError    502  Wix refused our app ID / secret (misconfiguration)
    │   └── WixRequestError        4xx  any other refusal, with Wix's status and code
    ├── ConfigurationError              a required setting is missing or invalid
    └── WebhookError               400  the webhook body is not a well-formed Wix webhook
        └── WebhookSignatureError  401  …or is not signed with the app's key, or expired
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

from wixapp.protocol import retry_after_seconds

__all__ = [
    "AppCredentialsError",
    "AuthenticationError",
    "ConfigurationError",
    "ExpiredTokenError",
    "InstanceRemovedError",
    "InvalidInstanceError",
    "InvalidRequestError",
    "InvalidTokenError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "ProtocolError",
    "RateLimitedError",
    "RetryAfterError",
    "SchemaNotReadyError",
    "StoreUnavailableError",
    "TokenCheckBudgetError",
    "UpstreamUnavailableError",
    "WebhookError",
    "WebhookSignatureError",
    "WixAPIError",
    "WixAppError",
    "WixRequestError",
]


class WixAppError(Exception):
    """Root of every error wixapp raises on purpose."""

    status_code: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    default_detail: ClassVar[str] = "An unexpected error occurred."

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = detail or self.default_detail
        self.code = code or self.default_code
        super().__init__(self.detail)

    @property
    def status(self) -> int:
        return self.status_code

    def headers(self) -> dict[str, str]:
        """Extra response headers the backend should send with this error."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail}


class AuthenticationError(WixAppError):
    status_code = 401
    default_code = "invalid_token"
    default_detail = "Send a valid Wix access token in the Authorization header."

    def headers(self) -> dict[str, str]:
        desc = self.detail.replace('"', "'")
        return {"WWW-Authenticate": f'Bearer error="{self.code}", error_description="{desc}"'}


class InvalidTokenError(AuthenticationError):
    default_detail = "Wix does not recognise this access token; get a fresh one and retry."


class ExpiredTokenError(InvalidTokenError):
    """The token has expired (its own ``exp``, or token-info's, is past)."""

    default_code = "expired_token"
    default_detail = "This Wix access token has expired; get a fresh one."


class InvalidInstanceError(AuthenticationError):
    default_code = "invalid_instance"
    default_detail = (
        "The Wix `instance` parameter is not signed with this app's secret; pass it unmodified "
        "and check WIX_APP_SECRET."
    )


class InstanceRemovedError(AuthenticationError):
    """The app was removed from the caller's site: nothing is served for it until a reinstall."""

    default_code = "app_removed"
    default_detail = (
        "The app was removed from this site; nothing is served for it until it is installed again."
    )


class PermissionDeniedError(WixAppError):
    status_code = 403
    default_code = "permission_denied"
    default_detail = "This identity is not allowed to do that."


class RetryAfterError(WixAppError):
    """An error that tells the client when to retry: ``retry_after`` seconds, sent as the
    ``Retry-After`` header (rounded up; ``default_retry_after`` when unknown)."""

    default_retry_after: ClassVar[int] = 1

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(retry_after_seconds(self.retry_after, self.default_retry_after))}


class TokenCheckBudgetError(RetryAfterError):
    """wixapp's own refusal: the budget of token-info calls (per client or overall) is spent.

    Only tokens it has not seen are refused; see :mod:`wixapp.identity.budget`.
    """

    status_code = 429
    default_code = "token_check_budget_exhausted"
    default_detail = "Too many unknown access tokens were checked; retry after the given delay."


class WixAPIError(WixAppError):
    """Wix, or the way to it, failed. ``wix_status`` is Wix's HTTP status when it answered.

    ``request_id`` is Wix's ``x-wix-request-id`` of that answer (not a secret): it is also
    in ``detail``, so whoever sees the error can quote it to Wix support.
    """

    status_code = 502
    default_code = "upstream_error"
    default_detail = "Wix answered with an error."
    request_id: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        wix_status: int | None = None,
        wix_code: str | None = None,
    ) -> None:
        super().__init__(detail, code=code)
        self.wix_status = wix_status
        self.wix_code = wix_code

    def with_request_id(self, request_id: str | None) -> Self:
        """Attach Wix's request id of the answer this error comes from (None: no change)."""
        if request_id and self.request_id is None:
            self.request_id = request_id
            self.detail = f"{self.detail} (Wix request id: {request_id})"
            self.args = (self.detail,)
        return self


class RateLimitedError(RetryAfterError, WixAPIError):
    """Wix answered 429 for this instance (``wix_status`` is 429 unless told otherwise)."""

    status_code = 429
    default_code = "rate_limited"
    default_detail = "Wix is throttling this app instance; retry after the given delay."

    def __init__(self, *args: Any, wix_status: int | None = 429, **kwargs: Any) -> None:
        super().__init__(*args, wix_status=wix_status, **kwargs)


class UpstreamUnavailableError(RetryAfterError, WixAPIError):
    status_code = 503
    default_code = "upstream_unavailable"
    default_detail = "Wix is unavailable right now; retry in a few seconds."
    default_retry_after = 5


class ProtocolError(WixAPIError):
    default_code = "upstream_protocol_error"
    default_detail = "Wix answered in a form wixapp does not understand."


class AppCredentialsError(WixAPIError):
    default_code = "app_credentials_rejected"
    default_detail = "Wix refused the app's credentials: check WIX_APP_ID and WIX_APP_SECRET."


class WixRequestError(WixAPIError):
    default_code = "upstream_rejected"
    default_detail = "Wix refused the request."


class PreconditionFailedError(WixAppError):
    """If-Match did not match the stored settings; ``current_etag`` is None if none exist."""

    status_code = 412
    default_code = "precondition_failed"

    def __init__(self, *, current_etag: str | None) -> None:
        super().__init__(_precondition_detail(current_etag))
        self.current_etag = current_etag

    def headers(self) -> dict[str, str]:
        return {"ETag": self.current_etag} if self.current_etag else {}


def _precondition_detail(current_etag: str | None) -> str:
    if current_etag is None:
        return "No settings exist for this instance yet; send the write without If-Match."
    return (
        f"The settings changed since you read them (now {current_etag}); "
        "fetch them again and retry with the new ETag."
    )


class PayloadTooLargeError(WixAppError):
    """The request body is over a limit (the server's, or a route's tighter one)."""

    status_code = 413
    default_code = "payload_too_large"

    def __init__(self, max_bytes: int, what: str = "The request body") -> None:
        super().__init__(f"{what} is over the limit of {max_bytes} bytes; send less.")
        self.max_bytes = max_bytes


class InvalidRequestError(WixAppError):
    """The request does not match its schema; ``problems`` names each field at fault.

    Built from pydantic's errors (``ValidationError.errors()`` or FastAPI's), so the words
    are pydantic's and no door has its own copy of them; ``location`` prefixes each field
    (``query``), and a problem with no field is the whole ``(body)``.
    """

    status_code = 422
    default_code = "invalid_request"
    default_detail = "The request does not match the schema."

    def __init__(
        self,
        errors: Iterable[Mapping[str, Any]],
        *,
        location: tuple[str, ...] = (),
        detail: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail, code=code)
        self.problems = [
            {
                "field": ".".join(str(part) for part in (*location, *error["loc"])) or "(body)",
                "problem": str(error["msg"]),
            }
            for error in errors
        ]

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "problems": self.problems}


class StoreUnavailableError(RetryAfterError):
    """The database could not be reached or is busy; the original error is the __cause__.

    A retryable 503 (``Retry-After``): the transaction was rolled back, so a write refused
    because SQLite was busy saved nothing."""

    status_code = 503
    default_code = "store_unavailable"
    default_detail = (
        "The database is unavailable; retry shortly. Operators: check WIXAPP_DATABASE_URL, "
        "that the database is up, and that `wixapp migrate` has run."
    )


class SchemaNotReadyError(StoreUnavailableError):
    """The database answers but its schema is behind this version (migrations pending)."""

    default_code = "migrations_pending"
    default_detail = (
        "The database schema is behind this version of the app (a migration has not run). "
        "Operators: run `wixapp migrate` against WIXAPP_DATABASE_URL, with WIXAPP_MIGRATIONS "
        "naming the app's own migrations."
    )


class ConfigurationError(WixAppError):
    default_code = "configuration_error"
    default_detail = "wixapp is not configured correctly."


class WebhookError(WixAppError):
    """The body is not a webhook in Wix's format at all: a malformed request, not a forgery."""

    status_code = 400
    default_code = "invalid_webhook"
    default_detail = "The request body is not a Wix webhook (a JWT in Wix's three-layer format)."


class WebhookSignatureError(WebhookError):
    """The body is not signed by Wix with this app's key, or its ``exp`` has passed."""

    status_code = 401
    default_code = "invalid_webhook_signature"
    default_detail = (
        "The webhook is not signed with this app's key; check WIX_APP_PUBLIC_KEY against the "
        "app dashboard."
    )


_RENAMED = {"PreconditionFailed": "PreconditionFailedError"}


def renamed(module: str, name: str) -> Any:
    """An old name of an error, with a DeprecationWarning (a module's ``__getattr__``)."""
    new = _RENAMED.get(name)
    if new is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(f"{module}.{name} is deprecated; use {new}", DeprecationWarning, stacklevel=3)
    return globals()[new]


def __getattr__(name: str) -> Any:
    return renamed(__name__, name)

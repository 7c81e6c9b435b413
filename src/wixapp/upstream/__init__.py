"""The Wix side of the wire: :class:`WixClient` (token-info, token, app instance) behind a
:class:`CircuitBreaker`, with bounded retries, a deadline and typed errors."""

from wixapp.breaker import CircuitBreaker
from wixapp.upstream.client import RetryPolicy, WixClient

__all__ = ["CircuitBreaker", "RetryPolicy", "WixClient"]

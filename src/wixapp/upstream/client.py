"""WixClient: the three Wix endpoints of the identification flow, and nothing else.

It speaks the shapes of the spec, tolerates every documented variant of them, retries what
is worth retrying (429, 5xx, connection errors and timeouts) a bounded number of times with
jittered exponential backoff that honours ``Retry-After``, and turns every failure into one
of the errors of :mod:`wixapp.errors`. It never logs a token or a secret.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from wixapp.breaker import CircuitBreaker
from wixapp.config import DEFAULT_WIX_API_BASE_URL
from wixapp.errors import (
    AppCredentialsError,
    InvalidTokenError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    UpstreamUnavailableError,
    WixAPIError,
    WixAppError,
    WixRequestError,
)
from wixapp.logs import LogLimiter
from wixapp.models import AppInstance, AppToken, TokenInfo
from wixapp.protocol import ENDPOINT_PATHS, REQUEST_ID_HEADER, Endpoint, parse_retry_after
from wixapp.upstream.transport import AiohttpSender, Answer, HttpxSender, Sender, SendError

__all__ = ["CallObserver", "RetryPolicy", "WixClient"]

logger = logging.getLogger("wixapp.upstream.client")

CallObserver = Callable[[Endpoint, str, float], None]
"""Told of every upstream attempt: endpoint, outcome ("ok", "429", "5xx", "timeout", …), seconds."""

_M = TypeVar("_M", TokenInfo, AppToken, AppInstance)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries: ``retries`` more attempts after the first, never longer than needed.

    A ``Retry-After`` above ``max_retry_after`` is not waited for: the error goes to the
    caller at once with the delay attached, so a request is never parked for minutes.
    """

    retries: int = 2
    base_delay: float = 0.1
    max_delay: float = 2.0
    max_retry_after: float = 5.0
    jitter: float = 0.5

    def backoff(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``; None means do not retry."""
        if attempt >= self.retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        delay = min(self.max_delay, self.base_delay * (2.0**attempt))
        return delay * (1 - self.jitter * random.random())


class _Retryable(Exception):
    """An attempt failed in a way worth retrying; carries the error to raise if we stop."""

    def __init__(self, error: WixAPIError, retry_after: float | None = None) -> None:
        super().__init__(error.detail)
        self.error = error
        self.retry_after = retry_after


class _CircuitOpen(Exception):
    """Not admitted by the breaker: no call went out, so the breaker hears nothing back."""

    def __init__(self, error: UpstreamUnavailableError) -> None:
        self.error = error


class WixClient:
    """Async client for token-info, client_credentials and Get App Instance.

    Pass ``http`` to share an httpx connection pool, or ``transport`` to plug in an httpx
    transport (``httpx.ASGITransport(app=create_emulator())`` runs everything in-process);
    without either, calls go through aiohttp, the cheaper client (``upstream/transport.py``).
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_WIX_API_BASE_URL,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 100,
        deadline: float | None = None,
        breaker: CircuitBreaker | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self._sender = _sender(http, transport, timeout, max_concurrency)
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._slots = asyncio.Semaphore(max_concurrency)
        # The whole call, retries and waits for a free slot included, ends by this deadline.
        self._deadline = deadline if deadline is not None else 2 * timeout
        self._breaker = breaker or CircuitBreaker()
        self._observer = observer

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    async def __aenter__(self) -> WixClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._sender.aclose()

    # -- the three endpoints ------------------------------------------------------------

    async def token_info(self, token: str) -> TokenInfo:
        """Ask Wix who ``token`` belongs to. Raises InvalidTokenError unless it is active."""
        response = await self._call(Endpoint.TOKEN_INFO, "POST", json={"token": token})
        if response.status_code >= 400:
            raise self._token_info_error(response)
        info = self._parse(TokenInfo, response)
        if not info.active:
            raise InvalidTokenError("Wix says this access token is not active; get a fresh one.")
        return info

    async def create_app_token(
        self, *, client_id: str, client_secret: str, instance_id: str
    ) -> AppToken:
        """Elevate: mint an app-identity token for ``instance_id`` (client_credentials)."""
        body = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "instance_id": instance_id,
        }
        return await self._token(body, self._token_error)

    async def strip_bound_session(
        self, *, client_id: str, client_secret: str, access_token: str
    ) -> AppToken:
        """Unbind a caller's token from its browser session (``strip_bound_session``).

        The answer keeps the caller's identity and instance; it is what @wix/sdk's
        ``AppStrategy({accessToken})`` sends with calls made as the caller. The body is
        the SDK's, plus ``client_id`` (Wix's gateway takes it; the emulator checks it).
        """
        body = {
            "grant_type": "strip_bound_session",
            "client_id": client_id,
            "client_secret": client_secret,
            "access_token": access_token,
        }
        return await self._token(body, self._strip_error)

    async def _token(
        self,
        body: Mapping[str, str],
        refusal: Callable[[Answer], WixAppError],
    ) -> AppToken:
        """One call to Wix's token endpoint (``POST /oauth2/token``), whatever the grant."""
        response = await self._call(Endpoint.TOKEN, "POST", json=body)
        if response.status_code >= 400:
            raise refusal(response)
        token = _parse(AppToken, response)
        if not token.access_token:
            raise ProtocolError(
                f"Wix answered {body['grant_type']} without an access_token."
            ).with_request_id(request_id(response))
        return token

    async def get_app_instance(self, app_token: str) -> AppInstance:
        """Read the app instance and site data with an app-identity token."""
        response = await self._call(Endpoint.INSTANCE, "GET", headers={"Authorization": app_token})
        if response.status_code >= 400:
            raise self._instance_error(response)
        return self._parse(AppInstance, response)

    # -- plumbing -----------------------------------------------------------------------

    async def _call(
        self,
        endpoint: Endpoint,
        method: str,
        *,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        url = self._base_url + ENDPOINT_PATHS[endpoint]
        try:
            async with asyncio.timeout(self._deadline):
                return await self._with_retries(endpoint, method, url, json=json, headers=headers)
        except TimeoutError:
            raise UpstreamUnavailableError(
                f"Wix did not answer within {self._deadline:g}s.", code="upstream_timeout"
            ) from None

    async def _with_retries(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> Answer:
        attempt = 0
        while True:
            try:
                return await self._attempt(endpoint, method, url, json=json, headers=headers)
            except _Retryable as failure:
                delay = self._retry.backoff(attempt, failure.retry_after)
                if delay is None:
                    raise failure.error from None
                logger.info(
                    "wix %s failed (%s); retry in %.2fs", endpoint, failure.error.code, delay
                )
                await asyncio.sleep(delay)
                attempt += 1

    async def _attempt(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> Answer:
        started = time.perf_counter()
        outcome = "error"
        try:
            async with self._slots:
                self._admit()
                response = await self._send(method, url, json=json, headers=headers)
            outcome = _outcome(response.status_code)
            self._tell_breaker(response.status_code)
            if response.status_code >= 400:
                _log_refusal(endpoint, response)
            _raise_if_retryable(response)
            return response
        except _Retryable as failure:
            outcome = _failure_outcome(failure, outcome)
            if outcome in ("timeout", "connection_error"):
                self._breaker.failed(outcome)
            raise
        except _CircuitOpen as refused:
            outcome = "circuit_open"
            raise refused.error from None
        except BaseException:
            self._breaker.released()
            raise
        finally:
            self._observe(endpoint, outcome, time.perf_counter() - started)

    def _admit(self) -> None:
        if not self._breaker.allow():
            raise _CircuitOpen(
                UpstreamUnavailableError(
                    "Wix is failing; wixapp paused calls to it for a few seconds. Retry later.",
                    code="circuit_open",
                    retry_after=self._breaker.retry_after,
                )
            )

    def _tell_breaker(self, status: int) -> None:
        if status >= 500:
            self._breaker.failed(f"Wix answered {status}")
        elif status == 429:  # one instance throttled says nothing about Wix's health
            self._breaker.released()
        else:
            self._breaker.succeeded()

    async def _send(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> Answer:
        try:
            # This bounds the whole attempt (in-process transports honour no other timeout).
            async with asyncio.timeout(self._timeout):
                return await self._sender.send(method, url, json=json, headers=headers)
        except TimeoutError:
            raise _Retryable(
                UpstreamUnavailableError("Wix did not answer in time.", code="upstream_timeout")
            ) from None
        except SendError as exc:
            self._log_unreachable(exc)
            raise _Retryable(UpstreamUnavailableError(f"Could not reach Wix ({exc}).")) from None

    def _log_unreachable(self, error: SendError) -> None:
        # Once per URL: a wrong WIX_API_BASE_URL fails every call the same way.
        if _unreachable_logged.allow(self._base_url) is not None:
            logger.error(
                "could not reach Wix at WIX_API_BASE_URL (%s): %s; check WIX_API_BASE_URL and "
                "the network (logged once)",
                self._base_url,
                error,  # the transport's exception class: never a URL's secrets or a body
            )

    def _observe(self, endpoint: Endpoint, outcome: str, seconds: float) -> None:
        if self._observer is not None:
            self._observer(endpoint, outcome, seconds)

    # -- error mapping ------------------------------------------------------------------

    def _token_info_error(self, response: Answer) -> WixAPIError | InvalidTokenError:
        # Any 4xx from token-info means "this token is not valid" (spec §2, UNCONFIRMED form),
        # when it comes from Wix: an HTML page or a 404 without Wix's envelope comes from
        # something else at WIX_API_BASE_URL, and must not make every caller a 401.
        if not _looks_like_wix(response):
            return self._not_wix(response)
        if 400 <= response.status_code < 500:
            return InvalidTokenError()
        return _unexpected(response)

    def _parse(self, model: type[_M], response: Answer) -> _M:
        # An answer carrying Wix's request id is Wix's, however unreadable.
        if request_id(response) is None and not isinstance(_json_body(response), dict):
            raise self._not_wix(response)
        return _parse(model, response)  # Wix's own answer, unreadable: keep its request id

    def _not_wix(self, response: Answer) -> ProtocolError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        detail = (
            f"The server at WIX_API_BASE_URL ({self._base_url}) answered {response.status_code} "
            f"{kind}, which is not Wix's API: check WIX_API_BASE_URL."
        )
        if _not_wix_logged.allow(self._base_url) is not None:
            logger.error("%s (logged once)", detail)
        return ProtocolError(detail).with_request_id(request_id(response))

    @staticmethod
    def _token_error(response: Answer) -> WixAPIError:
        code, message = _error_fields(response)
        rid = request_id(response)
        if response.status_code in (400, 401, 403) and _is_credentials_error(code, message):
            return AppCredentialsError(
                wix_status=response.status_code, wix_code=code
            ).with_request_id(rid)
        if response.status_code in (401, 403):
            return AppCredentialsError(
                wix_status=response.status_code, wix_code=code
            ).with_request_id(rid)
        return WixRequestError(
            f"Wix refused client_credentials for this instance: {message or code or 'no reason'}.",
            wix_status=response.status_code,
            wix_code=code,
        ).with_request_id(rid)

    @staticmethod
    def _strip_error(response: Answer) -> WixAppError:
        if 400 <= response.status_code < 500:
            return InvalidTokenError(
                "Wix refused to let this app call it as the caller: the caller's token is "
                "invalid, expired, revoked or another app's (if every caller is refused, "
                "check WIX_APP_SECRET)."
            )
        return _unexpected(response)

    @staticmethod
    def _instance_error(response: Answer) -> WixAppError:
        code, message = _error_fields(response)
        if response.status_code == 401:
            return InvalidTokenError("Wix refused the app token; mint a new one.")
        if response.status_code == 403:
            return PermissionDeniedError(
                "Wix refused to read the app instance with this token: it needs an app "
                "identity (elevation) and the 'Manage Your App' permission."
            )
        return WixRequestError(
            f"Wix refused Get App Instance: {message or code or 'no reason'}.",
            wix_status=response.status_code,
            wix_code=code,
        ).with_request_id(request_id(response))


def _sender(
    http: httpx.AsyncClient | None,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
    max_concurrency: int,
) -> Sender:
    if http is not None:
        return HttpxSender(http, owned=False)
    if transport is not None:
        client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout))
        return HttpxSender(client, owned=True)
    return AiohttpSender(timeout=timeout, max_connections=max_concurrency)


def _log_refusal(endpoint: Endpoint, response: Answer) -> None:
    """One line per error answer with Wix's request id (never a token: no body, no headers
    but the id). 4xx from token-info is an everyday invalid token: info, not warning."""
    level = (
        logging.INFO
        if response.status_code < 500 and response.status_code != 429
        else logging.WARNING
    )
    logger.log(
        level,
        "wix %s answered %d (Wix request id: %s)",
        endpoint,
        response.status_code,
        request_id(response) or "none",
    )


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 429:
        return "429"
    return "5xx" if status >= 500 else "4xx"


def _failure_outcome(failure: _Retryable, outcome: str) -> str:
    if failure.error.code == "upstream_timeout":
        return "timeout"
    return outcome if outcome != "error" else "connection_error"


def _raise_if_retryable(response: Answer) -> None:
    status = response.status_code
    if status != 429 and status < 500:
        return
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    error: WixAPIError
    if status == 429:
        error = RateLimitedError(retry_after=retry_after, wix_code=_error_fields(response)[0])
    else:
        error = UpstreamUnavailableError(
            f"Wix answered {status}; retry in a few seconds.",
            retry_after=retry_after,
            wix_status=status,
        )
    raise _Retryable(error.with_request_id(request_id(response)), retry_after)


def _unexpected(response: Answer) -> WixAPIError:
    code, message = _error_fields(response)
    return WixRequestError(
        f"Wix answered {response.status_code}: {message or code or 'no reason given'}.",
        wix_status=response.status_code,
        wix_code=code,
    ).with_request_id(request_id(response))


def _json_body(response: Answer) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_fields(response: Answer) -> tuple[str | None, str | None]:
    """(code, message) from either the Wix envelope or an RFC 6749 error body."""
    body = _json_body(response)
    if not isinstance(body, dict):
        return None, None
    if "error" in body and isinstance(body["error"], str):
        return body["error"], _str_or_none(body.get("error_description"))
    details = body.get("details")
    app_error = details.get("applicationError") if isinstance(details, dict) else None
    code = app_error.get("code") if isinstance(app_error, dict) else None
    message = _str_or_none(body.get("message"))
    if isinstance(app_error, dict) and not message:
        message = _str_or_none(app_error.get("description"))
    return _str_or_none(code), message


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_credentials_error(code: str | None, message: str | None) -> bool:
    text = f"{code or ''} {message or ''}".lower()
    return any(word in text for word in ("invalid_client", "client", "secret", "unauthenticated"))


_not_wix_logged = LogLimiter(interval=None)
_unreachable_logged = LogLimiter(interval=None)


def _looks_like_wix(response: Answer) -> bool:
    """Wix answers errors as JSON objects (its envelope or RFC 6749's); a 404 or 405 only
    with its envelope (an unknown path elsewhere is a 404 too)."""
    body = _json_body(response)
    if not isinstance(body, dict):
        return response.status_code >= 500  # a bare 5xx is an outage, not a wrong server
    if response.status_code in (404, 405):
        return "details" in body or "message" in body
    return True


def _parse(model: type[_M], response: Answer) -> _M:
    body = _json_body(response)
    rid = request_id(response)
    if not isinstance(body, dict):
        raise ProtocolError(
            f"Wix answered {response.status_code} without a JSON object."
        ).with_request_id(rid)
    try:
        return model.model_validate(body)
    except ValidationError:
        raise ProtocolError(
            f"Wix answered a {model.__name__} that does not parse."
        ).with_request_id(rid) from None


def request_id(response: Answer) -> str | None:
    """Wix's id of this answer (``x-wix-request-id``), to quote to Wix support."""
    return response.headers.get(REQUEST_ID_HEADER) or None

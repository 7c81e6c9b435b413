"""wixapp for Flask (``pip install 'wixapp[flask]'``).

    wix = WixFlask()
    app = Flask(__name__)
    app.config.from_prefixed_env()        # or app.config["WIX_APP_ID"] = …; else the environment
    wix.init_app(app)

    @app.get("/api/hello")
    @wix.caller_required
    def hello():
        return {"instance": g.wix_caller.instance_id}

``init_app`` reads the same variables as the backend (``WIX_APP_ID``, ``WIX_APP_SECRET``,
``WIX_APP_PUBLIC_KEY``, ``WIXAPP_*``) from ``app.config`` first, then the environment; it
renders every ``WixAppError`` as wixapp's JSON error, answers widget CORS, and mounts the
webhook route (``POST /webhooks``, applied to wixapp's store, then ``webhooks``' handlers).
The async core runs on one background loop per app (:class:`SyncWixApp`): call
``wix.sync`` for ``instance``, ``elevated_client`` and the rest.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar, cast

import flask
import httpx
from flask import Flask, g, request

from wixapp.adapters._config import settings_from
from wixapp.adapters._http import Answer, error_answer
from wixapp.adapters.sync import SyncWixApp
from wixapp.errors import WixAppError
from wixapp.models import Caller
from wixapp.server.cors import CorsPolicy, policy_for_any_routes
from wixapp.webhooks import WebhookRouter

__all__ = ["WixFlask", "current_caller"]

P = ParamSpec("P")
R = TypeVar("R")

EXTENSION = "wixapp"


def current_caller() -> Caller:
    """The caller identified for this request (``g.wix_caller``)."""
    caller = g.get("wix_caller")
    if not isinstance(caller, Caller):
        raise LookupError("No wixapp caller: decorate the view with @wix.caller_required.")
    return caller


class WixFlask:
    """The Flask extension: identification on ``flask.g``, JSON errors, CORS, webhooks.

    ``guard``: path prefixes whose every request is identified before its view (a
    ``before_request`` hook); the ``caller_required`` decorator does the same per view.
    ``legacy``: accept the signed ``instance`` query parameter when there is no
    ``Authorization`` header. ``webhook_path``: where Wix posts webhooks (``None``: no route).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        guard: Iterable[str] = (),
        legacy: bool = True,
        webhook_path: str | None = "/webhooks",
        webhooks: WebhookRouter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.guard = tuple(guard)
        self.legacy = legacy
        self.webhook_path = webhook_path
        self.webhooks = webhooks if webhooks is not None else WebhookRouter()
        self._transport = transport
        self._clock = clock
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        settings = settings_from(app.config)
        facade = SyncWixApp(
            settings, transport=self._transport, clock=self._clock, webhooks=self.webhooks
        )
        app.extensions[EXTENSION] = _State(facade, policy_for_any_routes(settings))
        app.register_error_handler(WixAppError, _render_error)
        app.before_request(self._before_request)
        app.after_request(_add_cors)
        if self.webhook_path is not None:
            app.add_url_rule(
                self.webhook_path, "wixapp_webhook", _receive_webhook, methods=["POST"]
            )

    def close(self, app: Flask) -> None:
        """Close the app's wixapp (also done at interpreter exit)."""
        state = app.extensions.pop(EXTENSION, None)
        if isinstance(state, _State):
            state.wix.close()

    @property
    def sync(self) -> SyncWixApp:
        """The current app's :class:`SyncWixApp` (``instance``, ``elevated_client``, …)."""
        return _state().wix

    def sync_for(self, app: Flask) -> SyncWixApp:
        """``app``'s :class:`SyncWixApp`, outside a request (CLI commands, jobs)."""
        return _state(app).wix

    def caller_required(self, view: Callable[P, R]) -> Callable[P, R]:
        """Identify the caller before the view runs; it is then ``g.wix_caller``.

        A caller who cannot be identified gets wixapp's JSON error (401, 429, 503, …).
        """

        if inspect.iscoroutinefunction(view):
            # Flask runs an async view on a loop of its own in the request's thread: the
            # identification blocks that thread as it would for a sync view.
            @functools.wraps(view)
            async def identified_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                self.identify()
                return await view(*args, **kwargs)

            return cast("Callable[P, R]", identified_async)

        @functools.wraps(view)
        def identified(*args: P.args, **kwargs: P.kwargs) -> R:
            self.identify()
            return view(*args, **kwargs)

        return identified

    def identify(self) -> Caller:
        """Identify this request's caller (once) and put it on ``g.wix_caller``."""
        caller = g.get("wix_caller")
        if isinstance(caller, Caller):
            return caller
        instance = request.args.get("instance") if self.legacy else None
        caller = _state().wix.identify_request(
            request.headers.get("Authorization"),
            instance=instance,
            client=request.remote_addr,
        )
        g.wix_caller = caller
        return caller

    def _before_request(self) -> flask.Response | None:
        preflight = _state().cors.preflight(request.method, request.headers.items())
        if preflight is not None:
            g.wix_preflight = True  # answered in full: _add_cors leaves it alone
            return _response(Answer.of(preflight))
        if self.guard and request.method != "OPTIONS" and request.path.startswith(self.guard):
            self.identify()
        return None


class _State:
    def __init__(self, wix: SyncWixApp, cors: CorsPolicy) -> None:
        self.wix = wix
        self.cors = cors


def _state(app: Flask | None = None) -> _State:
    state = (app or flask.current_app).extensions.get(EXTENSION)
    if not isinstance(state, _State):
        raise RuntimeError("wixapp is not set up on this Flask app: call WixFlask().init_app(app)")
    return state


def _render_error(error: WixAppError) -> flask.Response:
    return _response(error_answer(error))


def _add_cors(response: flask.Response) -> flask.Response:
    if "Origin" in request.headers and not g.get("wix_preflight"):
        headers = _state().cors.headers_for(request.headers.items(), response.headers.items())
        response.headers.clear()
        response.headers.extend(headers)
    return response


def _receive_webhook() -> flask.Response:
    answer = _state().wix.receive_webhook(request.get_data(cache=False))
    return _response(Answer.of(answer))


def _response(answer: Answer) -> flask.Response:
    response = flask.Response(answer.body, status=answer.status, content_type=answer.media_type)
    response.headers.extend(answer.headers)
    return response

"""wixapp for Flask (``pip install 'wixapp[flask]'``).

    wix = WixFlask()
    app = Flask(__name__)
    app.config.from_prefixed_env()        # or app.config["WIX_APP_ID"] = …; else the environment
    wix.init_app(app)

    @app.get("/api/hello")
    @wix.caller_required                  # or WIXAPP_GUARD_PATHS="/api/" for every view there
    def hello():
        return {"instance": g.wix_caller.instance_id}

The app's own tables: ``wix.instance_db()`` in a view is the request's connection bound to
the caller's instance (one transaction on ``WIXAPP_DATABASE_URL``; ``db.select``,
``db.insert``, ``db.update``, ``db.delete`` carry the instance filter), committed when the
view answers below 400 and rolled back otherwise; ``wix.sync.instance_transaction(id)`` is
the same outside a request (jobs, an ``AppRemoved`` handler purging the instance's rows).

``init_app`` reads the backend's variables (``WIX_APP_ID``, ``WIXAPP_*``) from ``app.config``
first, then the environment. What happens is the shared edge's (:class:`wixapp.web.Edge`,
on one background loop per app: :class:`SyncWixApp`, also ``wix.sync``): the guarded paths
identified (or ``@wix.caller_required`` per view), wixapp's JSON errors, widget CORS, and
``POST /webhooks`` applied to wixapp's store, then ``webhooks``' handlers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar, cast

import flask
import httpx
from flask import Flask, g, request

from wixapp.adapters._config import settings_from
from wixapp.adapters.sync import SyncWixApp
from wixapp.errors import WixAppError
from wixapp.models import Caller
from wixapp.store import SyncInstanceConnection
from wixapp.web import Answer, Credentials, Guard, error_answer
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
    """The Flask extension. ``guard``, ``legacy``: see :class:`wixapp.web.Edge`;
    ``webhook_path``: where Wix posts webhooks (``None``: no route)."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        guard: Iterable[str] | Guard | None = None,
        legacy: bool | None = None,
        webhook_path: str | None = "/webhooks",
        webhooks: WebhookRouter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.webhook_path = webhook_path
        self.webhooks = webhooks if webhooks is not None else WebhookRouter()
        self._options: dict[str, Any] = {
            "guard": guard,
            "legacy": legacy,
            "transport": transport,
            "clock": clock,
        }
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        facade = SyncWixApp(settings_from(app.config), webhooks=self.webhooks, **self._options)
        app.extensions[EXTENSION] = facade
        app.register_error_handler(WixAppError, _render_error)
        app.before_request(_before_request)
        app.after_request(_add_cors)
        app.after_request(_end_instance_db)
        app.teardown_request(_discard_instance_db)
        if self.webhook_path is not None:
            app.add_url_rule(self.webhook_path, "wixapp_webhook", _webhook, methods=["POST"])

    def close(self, app: Flask) -> None:
        """Close the app's wixapp (also done at interpreter exit)."""
        facade = app.extensions.pop(EXTENSION, None)
        if isinstance(facade, SyncWixApp):
            facade.close()

    @property
    def sync(self) -> SyncWixApp:
        """The current app's :class:`SyncWixApp` (``instance``, ``elevated_client``, …)."""
        return _facade()

    def sync_for(self, app: Flask) -> SyncWixApp:
        """``app``'s :class:`SyncWixApp`, outside a request (CLI commands, jobs)."""
        return _facade(app)

    def caller_required(self, view: Callable[P, R]) -> Callable[P, R]:
        """Identify the caller before the view runs (``g.wix_caller``), on any path."""
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
        return _identify()

    def instance_db(self) -> SyncInstanceConnection:
        """This request's connection to the app's own tables, bound to the caller's instance
        (identified first), in one transaction: committed when the view answers below 400
        (before the answer goes out, so a failed commit is the request's error), rolled back
        otherwise. The statements built by ``db.select``, ``db.insert``, ``db.update`` and
        ``db.delete`` carry the instance filter."""
        db = g.get("wix_db")
        if not isinstance(db, SyncInstanceConnection):
            caller = _identify()
            connection = _facade().database_engine.connect()
            connection.begin()
            db = g.wix_db = SyncInstanceConnection(connection, caller.instance_id, caller)
        return db


def _identify() -> Caller:
    caller = g.get("wix_caller")
    if not isinstance(caller, Caller):
        credentials = Credentials(
            request.headers.get("Authorization"),
            request.args.get("instance"),
            request.remote_addr,
            request.method,
        )
        caller = g.wix_caller = _facade().identify_credentials(credentials)
    return caller


def _facade(app: Flask | None = None) -> SyncWixApp:
    facade = (app or flask.current_app).extensions.get(EXTENSION)
    if not isinstance(facade, SyncWixApp):
        raise RuntimeError("wixapp is not set up on this Flask app: call WixFlask().init_app(app)")
    return facade


def _before_request() -> flask.Response | None:
    edge = _facade().edge
    preflight = edge.cors.preflight(request.method, request.headers.items())
    if preflight is not None:
        g.wix_preflight = True  # answered in full: _add_cors leaves it alone
        return _response(Answer.of(preflight))
    if edge.guards(request.method, request.path):
        _identify()
    return None


def _render_error(error: WixAppError) -> flask.Response:
    return _response(Answer.of(error_answer(error)))


def _add_cors(response: flask.Response) -> flask.Response:
    if "Origin" in request.headers and not g.get("wix_preflight"):
        cors = _facade().edge.cors
        headers = cors.headers_for(request.headers.items(), response.headers.items())
        response.headers.clear()
        response.headers.extend(headers)
    return response


def _end_instance_db(response: flask.Response) -> flask.Response:
    _close_instance_db(commit=response.status_code < 400)
    return response


def _discard_instance_db(_error: BaseException | None) -> None:
    _close_instance_db(commit=False)  # the answer never came: whatever was written is undone


def _close_instance_db(*, commit: bool) -> None:
    db = g.pop("wix_db", None)
    if isinstance(db, SyncInstanceConnection):
        try:
            if commit:
                db.connection.commit()
            else:
                db.connection.rollback()
        finally:
            db.connection.close()


def _webhook() -> flask.Response:
    return _response(Answer.of(_facade().receive_webhook(request.get_data(cache=False))))


def _response(answer: Answer) -> flask.Response:
    response = flask.Response(answer.body, status=answer.status, content_type=answer.media_type)
    response.headers.extend(answer.headers)
    return response

"""wixapp for Django (``pip install 'wixapp[django]'``), sync and async views alike.

    # settings.py
    MIDDLEWARE = ["wixapp.adapters.django.WixMiddleware", *MIDDLEWARE]
    WIX_APP_ID = "…"; WIX_APP_SECRET = "…"    # or the environment, as for the backend
    WIXAPP_GUARD_PATHS = ["/api/"]              # identified before the view
    WIXAPP_WEBHOOK_HANDLERS = "myapp.hooks.router"   # optional: a WebhookRouter's path

    # urls.py
    path("webhooks", wix_webhook)

    # views.py
    @wix_caller_required
    async def hello(request):                  # or a plain def
        return JsonResponse({"instance": request.wix_caller.instance_id})

    # models.py: the app's own rows, each belonging to one app instance
    class Note(models.Model):
        instance_id = models.CharField(max_length=128, db_index=True)
        text = models.TextField()
        objects = TenantManager()

    Note.objects.for_caller(request).create(text="rye")   # instance_id filled in
    Note.objects.for_instance(event.instance_id).delete()  # an AppRemoved handler

Settings are the backend's variables (``WIX_APP_ID``, ``WIXAPP_*``) read from Django's
settings first, then the environment. The middleware answers widget CORS preflights, adds
CORS headers, identifies the guarded paths (``request.wix_caller``) and renders every
``WixAppError`` a view raises as wixapp's JSON error. ``wix_webhook`` verifies Wix's
webhooks, applies them to wixapp's store, then runs the handlers. The async core runs on
one background loop per process (:func:`get_wix`); async views await it without blocking.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from wixapp.adapters._config import SETTING_NAMES, settings_from
from wixapp.adapters.sync import SyncWixApp
from wixapp.errors import ConfigurationError, WixAppError
from wixapp.models import Caller
from wixapp.web import Answer, Credentials, error_answer
from wixapp.webhooks import WebhookRouter

__all__ = [
    "TenantManager",
    "TenantQuerySet",
    "WixMiddleware",
    "close_wix",
    "get_wix",
    "wix_caller_required",
    "wix_webhook",
]

View = Callable[..., HttpResponse]
AsyncView = Callable[..., Awaitable[HttpResponse]]

_lock = threading.Lock()
_current: SyncWixApp | None = None


def get_wix() -> SyncWixApp:
    """This process's :class:`SyncWixApp`, built from Django's settings on first use."""
    global _current
    with _lock:
        if _current is None:
            settings = settings_from(_django_settings())
            _current = SyncWixApp(settings, webhooks=_handlers(), **_options())
        return _current


def close_wix() -> None:
    """Close this process's wixapp (the next use builds a new one from the settings)."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None:
        current.close()


def _django_settings() -> dict[str, Any]:
    return {
        name: getattr(django_settings, name)
        for name in SETTING_NAMES
        if hasattr(django_settings, name)
    }


def _handlers() -> WebhookRouter | None:
    path = getattr(django_settings, "WIXAPP_WEBHOOK_HANDLERS", None)
    if path is None:
        return None
    try:
        router = import_string(path) if isinstance(path, str) else path
    except ImportError:
        router = None
    if not isinstance(router, WebhookRouter):
        raise ConfigurationError(
            f"WIXAPP_WEBHOOK_HANDLERS must be the dotted path of a wixapp.WebhookRouter, "
            f"not {path!r}."
        )
    return router


def _options() -> dict[str, Any]:
    """Keyword arguments for the core (``transport``, ``clock``): tests point it at an
    in-process emulator with them."""
    return dict(getattr(django_settings, "WIXAPP_OPTIONS", {}))


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting.startswith(("WIX_", "WIXAPP_")):
        close_wix()


setting_changed.connect(_on_setting_changed)


# -- identification


def _credentials(request: HttpRequest) -> Credentials:
    return Credentials(
        request.headers.get("Authorization"),
        request.GET.get("instance"),
        request.META.get("REMOTE_ADDR"),
        request.method or "GET",
    )


def _identify(request: HttpRequest) -> Caller:
    caller = getattr(request, "wix_caller", None)
    if not isinstance(caller, Caller):
        caller = request.wix_caller = get_wix().identify_credentials(_credentials(request))
    return caller


async def _aidentify(request: HttpRequest) -> Caller:
    caller = getattr(request, "wix_caller", None)
    if not isinstance(caller, Caller):
        caller = await get_wix().aidentify_credentials(_credentials(request))
        request.wix_caller = caller
    return caller


def wix_caller_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Identify the caller before the view (sync or async) runs: ``request.wix_caller``.

    A caller that cannot be identified gets wixapp's JSON error, middleware or not.
    """
    if iscoroutinefunction(view):
        async_view = cast(AsyncView, view)

        @functools.wraps(view)
        async def identified_async(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                await _aidentify(request)
            except WixAppError as error:
                return render_error(error)
            return await async_view(request, *args, **kwargs)

        return identified_async

    @functools.wraps(view)
    def identified(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            _identify(request)
        except WixAppError as error:
            return render_error(error)
        response: HttpResponse = view(request, *args, **kwargs)
        return response

    return identified


# -- the middleware


class WixMiddleware:
    """CORS for widgets, identification of ``WIXAPP_GUARD_PATHS``, wixapp's JSON errors."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        preflight = _preflight(request)
        if preflight is not None:
            return preflight
        try:
            if get_wix().edge.guards(request.method or "", request.path):
                _identify(request)
        except WixAppError as error:
            return _with_cors(request, render_error(error))
        return _with_cors(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        preflight = _preflight(request)
        if preflight is not None:
            return preflight
        try:
            if get_wix().edge.guards(request.method or "", request.path):
                await _aidentify(request)
        except WixAppError as error:
            return _with_cors(request, render_error(error))
        return _with_cors(request, await self.get_response(request))

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return render_error(exception) if isinstance(exception, WixAppError) else None


def _preflight(request: HttpRequest) -> HttpResponse | None:
    answer = get_wix().edge.cors.preflight(request.method or "", request.headers.items())
    return None if answer is None else _response(Answer.of(answer))


def _with_cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if "Origin" in request.headers:
        cors = get_wix().edge.cors
        for name, value in cors.headers_for(request.headers.items(), response.items()):
            response[name] = value
    return response


# -- webhooks


def _receive_webhook(request: HttpRequest) -> HttpResponse:
    try:
        answer = get_wix().receive_webhook(request.body)
    except WixAppError as error:
        return render_error(error)
    return _response(Answer.of(answer))


wix_webhook: View = csrf_exempt(require_POST(_receive_webhook))
"""The webhook view (``path("webhooks", wix_webhook)``): Wix's webhooks verified, applied
to wixapp's store, then the handlers run. POST only, exempt from CSRF (Wix signs it)."""


def render_error(error: WixAppError) -> HttpResponse:
    """wixapp's JSON error as a Django response."""
    return _response(Answer.of(error_answer(error)))


def _response(answer: Answer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.media_type)
    for name, value in answer.headers:
        response[name] = value
    return response


# -- the app's own models, per instance


class TenantQuerySet(models.QuerySet):  # type: ignore[misc]  # Django ships no types
    """A model's rows confined to one app instance (``TenantManager.for_caller``).

    Every query is filtered by the instance; ``create`` (hence ``get_or_create``,
    ``update_or_create`` and their async forms) and ``bulk_create`` fill ``instance_id``,
    and ``update`` never moves a row to another instance.
    """

    _tenant: str | None = None

    def _clone(self) -> TenantQuerySet:
        clone: TenantQuerySet = super()._clone()
        clone._tenant = self._tenant
        return clone

    def create(self, **fields: Any) -> Any:
        return super().create(**self._owned(fields))

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        objs = list(objs)
        for obj in objs:
            obj.instance_id = self._owned({"instance_id": obj.instance_id})["instance_id"]
        return super().bulk_create(objs, *args, **kwargs)

    def update(self, **fields: Any) -> int:
        return int(super().update(**self._owned(fields)))

    def _owned(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self._tenant is None:
            return fields
        given = fields.get("instance_id")
        if given and given != self._tenant:
            raise ValueError("A row of one app instance cannot be written for another.")
        return {**fields, "instance_id": self._tenant}


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """The manager of a model with an ``instance_id`` field: ``for_caller(request)`` and
    ``for_instance(instance_id)`` give querysets confined to one app instance. (The
    manager's own ``all()`` spans every instance: admin and maintenance only.)"""

    def for_instance(self, instance_id: str) -> TenantQuerySet:
        queryset: TenantQuerySet = self.get_queryset().filter(
            instance_id=_checked_instance_id(instance_id)
        )
        queryset._tenant = instance_id
        return queryset

    def for_caller(self, request: HttpRequest) -> TenantQuerySet:
        """The rows of the request's caller's instance. The request must be identified
        first (``WIXAPP_GUARD_PATHS`` or ``@wix_caller_required``)."""
        caller = getattr(request, "wix_caller", None)
        if not isinstance(caller, Caller):
            raise LookupError(
                "No wixapp caller on this request: guard its path (WIXAPP_GUARD_PATHS) or "
                "decorate the view with @wix_caller_required."
            )
        return self.for_instance(caller.instance_id)


def _checked_instance_id(instance_id: str) -> str:
    if not isinstance(instance_id, str) or not instance_id:
        raise ValueError("instance_id must be a non-empty string")
    return instance_id

"""A Django site for the adapter tests: settings, URLs and views in one module."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from wixapp.adapters.django import get_wix, wix_caller_required, wix_webhook
from wixapp.webhooks import WebhookEvent, WebhookRouter

from .apps import Notes

NOTES = Notes()
ROUTER: WebhookRouter | None = None  # named by its path in a test


def configure() -> None:
    """Configure Django once per test session (its settings are process-wide)."""
    from django.conf import settings

    if settings.configured:
        return
    folder = tempfile.mkdtemp(prefix="wixapp-django-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    settings.configure(
        DEBUG=False,
        SECRET_KEY="wixapp-tests-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["wixapp.adapters.django.WixMiddleware"],
        WIXAPP_GUARD_PATHS=["/api/"],
        INSTALLED_APPS=[],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(Path(folder) / "django.sqlite3"),
            }
        },
        USE_TZ=True,
    )
    import django

    django.setup()
    _create_tables()


def _create_tables() -> None:
    from django.db import connection

    from .django_models import Record

    with connection.schema_editor() as editor:
        editor.create_model(Record)
    connection.close()


def purge_records_on_removal(router: WebhookRouter) -> None:
    """The app's AppRemoved handler: the instance's records deleted (in a worker thread,
    whose database connection is closed after)."""
    from django.db import connections

    from .django_models import Record

    @router.on("AppRemoved")
    def purge_records(event: WebhookEvent) -> None:
        try:
            Record.objects.for_instance(event.instance_id).delete()
        finally:
            connections.close_all()


def whoami(request: HttpRequest) -> HttpResponse:
    return JsonResponse(request.wix_caller.public())  # type: ignore[attr-defined]


async def notes(request: HttpRequest) -> HttpResponse:
    caller = request.wix_caller  # type: ignore[attr-defined]
    if request.method == "POST":
        text = str(json.loads(request.body)["text"])
        return JsonResponse({"notes": NOTES.add(caller.instance_id, text)})
    return JsonResponse({"instanceId": caller.instance_id, "notes": NOTES.of(caller.instance_id)})


@wix_caller_required
def decorated(request: HttpRequest) -> HttpResponse:
    return JsonResponse(request.wix_caller.public())  # type: ignore[attr-defined]


@wix_caller_required
async def decorated_async(request: HttpRequest) -> HttpResponse:
    return JsonResponse(request.wix_caller.public())  # type: ignore[attr-defined]


async def records(request: HttpRequest) -> HttpResponse:
    from .django_models import Record

    mine = Record.objects.for_caller(request)
    if request.method == "POST":
        text = str(json.loads(request.body)["text"])
        return JsonResponse({"id": (await mine.acreate(text=text)).id})
    texts = [text async for text in mine.order_by("id").values_list("text", flat=True)]
    return JsonResponse({"instanceId": request.wix_caller.instance_id, "records": texts})


def record(request: HttpRequest, record_id: int) -> HttpResponse:
    from .django_models import Record

    deleted, _ = Record.objects.for_caller(request).filter(id=record_id).delete()
    return HttpResponse(status=204) if deleted else JsonResponse({"error": "not_found"}, status=404)


def site(request: HttpRequest) -> HttpResponse:
    data = get_wix().instance(request.wix_caller.instance_id)  # Wix down: raises
    return JsonResponse({"name": data.data.site.site_display_name})


urlpatterns: list[Any] = [
    path("api/site", site),
    path("api/whoami", whoami),
    path("api/notes", notes),
    path("api/records", records),
    path("api/records/<int:record_id>", record),
    path("decorated/whoami", decorated),
    path("decorated/async-whoami", decorated_async),
    path("webhooks", wix_webhook),
]

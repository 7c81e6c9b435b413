"""A Django site for the adapter tests: settings, URLs and views in one module."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from wixapp.adapters.django import get_wix, wix_caller_required, wix_webhook
from wixapp.webhooks import WebhookRouter

from .apps import Notes

NOTES = Notes()
ROUTER: WebhookRouter | None = None  # named by its path in a test


def configure() -> None:
    """Configure Django once per test session (its settings are process-wide)."""
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="wixapp-tests-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["wixapp.adapters.django.WixMiddleware"],
        WIXAPP_GUARD_PATHS=["/api/"],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
    )
    import django

    django.setup()


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


def site(request: HttpRequest) -> HttpResponse:
    data = get_wix().instance(request.wix_caller.instance_id)  # Wix down: raises
    return JsonResponse({"name": data.data.site.site_display_name})


urlpatterns: list[Any] = [
    path("api/site", site),
    path("api/whoami", whoami),
    path("api/notes", notes),
    path("decorated/whoami", decorated),
    path("decorated/async-whoami", decorated_async),
    path("webhooks", wix_webhook),
]

"""Per-instance notes on Django (a one-file project) with wixapp's middleware and decorator.

Run against the emulator: ``python examples/run.py django``; against Wix: set WIX_APP_ID and
WIX_APP_SECRET (or put them in the settings below), then ``python examples/django/app.py``.
"""

from __future__ import annotations

import json
import os
import sys

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret"),
    MIDDLEWARE=["wixapp.adapters.django.WixMiddleware"],  # CORS, JSON errors, /api/* guard
    WIXAPP_GUARD_PATHS=["/api/"],
    # WIX_APP_ID = "…", WIX_APP_SECRET = "…" here, or in the environment
)

from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

from wixapp.adapters.django import wix_webhook  # noqa: E402

notes: dict[str, list[str]] = {}  # a real app keeps these in its database, by instance_id


async def notes_view(request: HttpRequest) -> JsonResponse:
    caller = request.wix_caller  # type: ignore[attr-defined]  # set by the middleware
    if request.method == "POST":
        text = str(json.loads(request.body)["text"])[:200]
        notes.setdefault(caller.instance_id, []).append(text)
    return JsonResponse(
        {"instanceId": caller.instance_id, "notes": notes.get(caller.instance_id, [])}
    )


urlpatterns = [path("api/notes", notes_view), path("webhooks", wix_webhook)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    port = os.environ.get("PORT", "8000")
    execute_from_command_line([sys.argv[0], "runserver", "--noreload", f"127.0.0.1:{port}"])

"""The Django site's model (imported once Django is set up: see django_site.configure)."""

from __future__ import annotations

from django.db import models

from wixapp.adapters.django import TenantManager


class Record(models.Model):  # type: ignore[misc]  # Django ships no types
    instance_id = models.CharField(max_length=128, db_index=True)
    text = models.TextField()

    objects = TenantManager()

    class Meta:
        app_label = "wixapp_tests"
        db_table = "records"

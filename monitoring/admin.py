"""Telemetry records are written only by the ingest path: the admin shows them read-only.

Editing a rollup by hand would make it disagree with its histogram and the raw events.
"""

from django.contrib import admin

from console.admin import ReadOnlyAdmin as ConsoleReadOnlyAdmin
from monitoring.models import Event, Install, Rollup, RollupBucket, VitalLast


class ReadOnlyAdmin(ConsoleReadOnlyAdmin):
    allow_delete = True  # raw telemetry may be removed; rollups are pruned by time anyway


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "channel", "version", "install_id", "type", "name", "value"]
    list_filter = ["type", "device"]
    search_fields = ["install_id", "version", "name"]
    list_select_related = ["channel__app"]
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow


@admin.register(Install)
class InstallAdmin(ReadOnlyAdmin):
    list_display = ["install_id", "channel", "version", "first_seen"]
    search_fields = ["install_id", "version"]
    list_select_related = ["channel__app"]


@admin.register(Rollup)
class RollupAdmin(ReadOnlyAdmin):
    list_display = ["minute", "channel", "version", "metric", "device", "count", "errors"]
    list_filter = ["metric", "device"]
    search_fields = ["version"]
    list_select_related = ["channel__app"]


@admin.register(RollupBucket)
class RollupBucketAdmin(ReadOnlyAdmin):
    list_display = ["minute", "channel", "version", "metric", "device", "bucket", "count"]
    list_filter = ["metric", "device"]
    search_fields = ["version"]
    list_select_related = ["channel__app"]


@admin.register(VitalLast)
class VitalLastAdmin(ReadOnlyAdmin):
    list_display = ["install_id", "channel", "name", "metric_id", "value", "version", "minute"]
    list_filter = ["name"]
    search_fields = ["install_id", "metric_id"]
    list_select_related = ["channel__app"]

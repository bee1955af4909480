from django.contrib import admin

from console.admin import ReadOnlyAdmin
from flags.models import Flag, FlagApproval, FlagEvent, FlagMeasurement

# Flags change through flags.ramp and the audited pages (compare-and-set, a generation bump for
# the update answer); the admin shows them and changes nothing.


@admin.register(Flag)
class FlagAdmin(ReadOnlyAdmin):
    list_display = ["key", "app", "channel", "state", "percent", "killed", "min_version"]
    list_filter = ["state", "killed", "app"]
    search_fields = ["key", "description"]


@admin.register(FlagEvent)
class FlagEventAdmin(ReadOnlyAdmin):
    list_display = ["flag", "action", "actor_label", "at"]
    list_filter = ["action"]
    search_fields = ["flag__key", "reason"]


@admin.register(FlagMeasurement)
class FlagMeasurementAdmin(ReadOnlyAdmin):
    list_display = ["flag", "attempt", "phase", "metric", "outcome", "value", "baseline", "at"]
    list_filter = ["outcome", "kind"]


@admin.register(FlagApproval)
class FlagApprovalAdmin(ReadOnlyAdmin):
    list_display = ["flag", "attempt", "phase", "user", "decision", "at"]
    list_filter = ["decision"]

from django.contrib import admin

from console.admin import ReadOnlyAdmin
from dbhealth.models import Action, IndexSnapshot, Report


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ("target", "status", "started_at", "finished_at", "requested_by", "run_ref")
    list_filter = ("status", "vendor", "target")
    date_hierarchy = "started_at"


@admin.register(Action)
class ActionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "target", "kind", "status", "schema", "index", "table", "created_at")
    list_filter = ("kind", "status", "target")
    search_fields = ("index", "table", "definition")


@admin.register(IndexSnapshot)
class IndexSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("target", "taken_on", "schema", "table", "index", "idx_scan")
    list_filter = ("target", "taken_on")
    search_fields = ("index", "table")

"""Admin for the records. Runs are read-only here: their state moves only through
``maintenance.runs`` (compare-and-set plus the audit row), never through a form."""

from django.contrib import admin

from console.admin import ReadOnlyAdmin
from maintenance.models import (
    Checklist,
    ChecklistItem,
    ChecklistTemplate,
    DispatchLock,
    Job,
    MaintenancePlan,
    Occurrence,
    Run,
    Window,
)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "job_type",
        "schedule",
        "timezone",
        "priority",
        "enabled",
        "next_due_at",
    ]
    list_filter = ["job_type", "enabled"]
    search_fields = ["name", "description"]
    filter_horizontal = ["depends_on"]
    readonly_fields = ["next_due_at", "created_at", "updated_at"]


class RunInline(admin.TabularInline):
    model = Run
    fields = ["state", "attempt", "started_at", "finished_at", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Occurrence)
class OccurrenceAdmin(admin.ModelAdmin):
    list_display = ["job", "scheduled_for", "trigger", "plan"]
    list_filter = ["trigger"]
    date_hierarchy = "scheduled_for"
    inlines = [RunInline]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "job", "state", "attempt", "priority", "started_at", "finished_at"]
    list_filter = ["state"]
    search_fields = ["job__name", "reason", "summary"]
    list_select_related = ["job"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Window)
class WindowAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "schedule", "duration", "timezone", "scope", "enabled"]
    list_filter = ["kind", "scope", "enabled"]


@admin.register(MaintenancePlan)
class MaintenancePlanAdmin(admin.ModelAdmin):
    list_display = ["name", "max_parallel"]
    filter_horizontal = ["jobs"]


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "cadence", "assignee", "enabled"]


class ChecklistItemInline(admin.TabularInline):
    model = ChecklistItem
    extra = 0
    readonly_fields = ["ticked_by", "ticked_at"]


@admin.register(Checklist)
class ChecklistAdmin(admin.ModelAdmin):
    list_display = ["title", "period_start", "due_on", "assignee"]
    inlines = [ChecklistItemInline]


@admin.register(DispatchLock)
class DispatchLockAdmin(ReadOnlyAdmin):
    """The dispatchers' lock row: shown for completeness, never edited."""

    list_display = ["pk", "held_by", "at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = ["text", "checklist", "ticked_by", "ticked_at"]
    list_select_related = ["checklist", "ticked_by"]

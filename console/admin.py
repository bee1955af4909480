from django.contrib import admin

from console.models import Heartbeat, WorkerProbe


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that change only through their audited functions (transitions, ingest, the
    audit writer): the admin shows them and changes nothing. ``allow_delete`` keeps deletion for
    records whose removal loses nothing others depend on."""

    allow_delete = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.allow_delete and super().has_delete_permission(request, obj)


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["kind", "name", "seen_at", "started_at"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(WorkerProbe)
class WorkerProbeAdmin(admin.ModelAdmin):
    list_display = ["pk", "sent_at", "answered_at"]

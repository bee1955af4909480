from django.contrib import admin

from console.models import Heartbeat, WorkerProbe


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["kind", "name", "seen_at", "started_at"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(WorkerProbe)
class WorkerProbeAdmin(admin.ModelAdmin):
    list_display = ["pk", "sent_at", "answered_at"]

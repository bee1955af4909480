from django.contrib import admin

from console.admin import ReadOnlyAdmin
from fleet.models import Fleet, Host, HostStep, RollingDeployment

# Fleets, hosts and deployments change on the console's audited pages; the admin shows them.


@admin.register(Fleet)
class FleetAdmin(ReadOnlyAdmin):
    list_display = ["name", "app", "channel", "batch_size", "failure_budget", "host_timeout"]


@admin.register(Host)
class HostAdmin(ReadOnlyAdmin):
    list_display = ["name", "fleet", "agent_url", "reported_version", "last_seen_at"]
    list_filter = ["fleet"]
    exclude = ["secret"]


@admin.register(RollingDeployment)
class RollingDeploymentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "fleet", "release", "state", "hosts_done", "hosts_total", "failures"]
    list_filter = ["state"]


@admin.register(HostStep)
class HostStepAdmin(ReadOnlyAdmin):
    list_display = ["deployment", "host_name", "batch", "state", "started_at", "finished_at"]
    list_filter = ["state"]

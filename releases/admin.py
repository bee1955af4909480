from django.contrib import admin

from console.admin import ReadOnlyAdmin
from releases.models import (
    App,
    Channel,
    Release,
    Rollout,
    RolloutApproval,
    RolloutEvent,
    RolloutMeasurement,
    SwitchCheck,
    SwitchProbe,
)

# Everything that changes update answers or approvals (and so needs the answer cache bumped and
# an audit row) is changed on the console's channel pages, never here.
CHANNEL_READ_ONLY = [
    "client_key",
    "previous_client_key",
    "previous_key_expires_at",
    "tester_install_ids",
    "upload_policy",
    "approvals_required",
    "release_gate",
    "is_production",
]


class ChannelInline(admin.TabularInline):
    """Read-only: channels are created and changed on the console's audited pages."""

    model = Channel
    extra = 0
    readonly_fields = CHANNEL_READ_ONLY

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [ChannelInline]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["app", "name", "upload_policy", "is_production", "approvals_required"]
    list_filter = ["upload_policy", "is_production"]
    search_fields = ["app__slug", "name"]
    readonly_fields = CHANNEL_READ_ONLY

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    """Read-only: releases are immutable and their few changes (disable, budget override) go
    through audited functions on the release page and in Approvals."""

    list_display = ["app", "version", "channel", "released_at", "budget_verdict", "disabled_at"]
    list_filter = ["budget_verdict", "mandatory"]
    search_fields = ["app__slug", "version", "bundle_sha256"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Rollout)
class RolloutAdmin(ReadOnlyAdmin):
    list_display = ["pk", "app", "channel", "release", "state", "phase", "started_at"]
    list_filter = ["state"]
    search_fields = ["app__slug", "release__version"]


@admin.register(RolloutEvent)
class RolloutEventAdmin(ReadOnlyAdmin):
    list_display = ["rollout", "at", "action", "actor_label", "reason"]
    list_filter = ["action"]


@admin.register(RolloutMeasurement)
class RolloutMeasurementAdmin(ReadOnlyAdmin):
    list_display = ["rollout", "phase", "metric", "kind", "outcome", "value", "samples", "at"]
    list_filter = ["kind", "outcome", "metric"]


@admin.register(RolloutApproval)
class RolloutApprovalAdmin(ReadOnlyAdmin):
    list_display = ["rollout", "phase", "user", "decision", "at"]


@admin.register(SwitchCheck)
class SwitchCheckAdmin(ReadOnlyAdmin):
    list_display = ["rollout", "attempt", "started_at", "finished_at", "passed", "bundle_ok"]
    list_filter = ["passed"]


@admin.register(SwitchProbe)
class SwitchProbeAdmin(ReadOnlyAdmin):
    list_display = ["check_run", "url", "ok", "status", "latency_ms"]
    list_filter = ["ok"]

from django.contrib import admin

from audit.models import Approval, AuditEvent, ChainHead, ChangeRequest
from console.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "at", "actor_label", "action", "object_type", "object_id", "ip"]
    list_filter = ["actor_kind", "object_type", "at"]
    search_fields = ["action", "actor_label", "object_id", "object_repr", "request_id"]
    ordering = ["-seq"]

    # The trail is append-only: the admin shows it and can change nothing.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    can_delete = False
    readonly_fields = ["approver", "version", "decision", "comment", "at", "payload_hash"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    list_display = ["pk", "title", "kind", "status", "requested_by", "created_at", "expires_at"]
    list_filter = ["status", "kind"]
    search_fields = ["title", "target_repr", "requested_by__username"]
    inlines = [ApprovalInline]

    # Decisions go through the approvals pages, which enforce four-eyes.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = ["change_request", "approver", "decision", "version", "at"]
    list_filter = ["decision"]
    search_fields = ["approver__username", "change_request__title"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(ChainHead)
class ChainHeadAdmin(ReadOnlyAdmin):
    list_display = ["seq", "row_hash"]

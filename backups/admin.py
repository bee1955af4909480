from django.contrib import admin

from backups.models import Backup, Lease, Restore, RetentionRun, Source, VerifyRun
from console.admin import ReadOnlyAdmin


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "location",
        "app",
        "production",
        "schedule_hours",
        "proven_restorable_at",
    )
    list_filter = ("kind", "production")
    search_fields = ("name", "location")
    # The sealed DSN never appears; the location shown is already redacted.
    exclude = ("dsn_sealed",)

    def has_add_permission(self, request):
        return False  # sources are added on the Backups page or with manage.py backup_source

    def save_model(self, request, obj, form, change):
        from django.db import transaction

        from audit.trail import record, snapshot

        with transaction.atomic():
            before = snapshot(Source.objects.get(pk=obj.pk), form.changed_data)
            super().save_model(request, obj, form, change)
            record(
                "backups.source.changed",
                obj,
                before=before,
                after=snapshot(obj, form.changed_data),
                reason="Django admin",
            )

    readonly_fields = (
        "kind",
        "location",
        "last_drill_at",
        "last_drill_ok",
        "last_drill_detail",
        "proven_restorable_at",
        "created_at",
    )


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "source",
        "type",
        "status",
        "trigger",
        "finished_at",
        "source_bytes",
        "new_bytes",
        "structure_verified_at",
        "data_verified_at",
        "pinned",
    )
    list_filter = ("status", "type", "trigger", "source")


@admin.register(Restore)
class RestoreAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "backup",
        "target",
        "status",
        "drill",
        "pre_restore_backup",
        "finished_at",
    )
    list_filter = ("status", "drill")


@admin.register(VerifyRun)
class VerifyRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "source", "level", "slice_k", "slice_t", "status", "finished_at")


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "source", "at", "dry_run", "removed", "bytes_freed")


@admin.register(Lease)
class LeaseAdmin(ReadOnlyAdmin):
    list_display = ("source", "holder", "token", "expires_at", "heartbeat_at")

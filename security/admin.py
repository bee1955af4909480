"""Admin for the records, read-only: findings and scans change only through
``security.findings`` / ``security.scanning``, advisories only through an OSV import, security
patches only through ``security.patches``."""

from django.contrib import admin

from console.admin import ReadOnlyAdmin
from security.models import (
    Advisory,
    AdvisoryAlias,
    AdvisoryRecord,
    AffectedPackage,
    Finding,
    OsvImport,
    Scan,
    ScanPackage,
    SecurityPatch,
)


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ["pk", "app", "ecosystem", "package", "advisory", "severity", "state", "due_at"]
    list_filter = ["state", "severity", "ecosystem"]
    search_fields = ["package", "advisory__key"]
    list_select_related = ["app", "advisory"]


@admin.register(Scan)
class ScanAdmin(ReadOnlyAdmin):
    list_display = ["pk", "app", "release", "source", "status", "packages_checked", "finished_at"]
    list_filter = ["status", "source"]
    list_select_related = ["app", "release"]


@admin.register(Advisory)
class AdvisoryAdmin(ReadOnlyAdmin):
    list_display = ["key", "severity", "source", "modified"]
    list_filter = ["severity", "source"]
    search_fields = ["key", "aliases__alias"]


@admin.register(AdvisoryRecord)
class AdvisoryRecordAdmin(ReadOnlyAdmin):
    list_display = ["osv_id", "ecosystem", "severity", "modified"]
    list_filter = ["ecosystem", "severity"]
    search_fields = ["osv_id"]


@admin.register(OsvImport)
class OsvImportAdmin(ReadOnlyAdmin):
    list_display = ["at", "filename", "status", "imported_by"]


@admin.register(AdvisoryAlias)
class AdvisoryAliasAdmin(ReadOnlyAdmin):
    list_display = ["alias", "advisory"]
    search_fields = ["alias"]
    list_select_related = ["advisory"]


@admin.register(AffectedPackage)
class AffectedPackageAdmin(ReadOnlyAdmin):
    list_display = ["ecosystem", "name", "record"]
    list_filter = ["ecosystem"]
    search_fields = ["name"]
    list_select_related = ["record"]


@admin.register(ScanPackage)
class ScanPackageAdmin(ReadOnlyAdmin):
    list_display = ["scan", "ecosystem", "name", "version", "status", "skip_reason"]
    list_filter = ["status", "ecosystem"]
    search_fields = ["name"]


@admin.register(SecurityPatch)
class SecurityPatchAdmin(ReadOnlyAdmin):
    list_display = ["pk", "app", "channel", "version", "state", "created_at", "finished_at"]
    list_filter = ["state"]
    list_select_related = ["app", "channel"]

"""Baselines, bundle reports and candidates are written only by performance.baselines and
performance.resources (each with an audit row): the admin shows them read-only."""

from django.contrib import admin

from console.admin import ReadOnlyAdmin
from performance.models import Baseline, BundleReport, Candidate


@admin.register(Baseline)
class BaselineAdmin(ReadOnlyAdmin):
    list_display = ["taken_at", "channel", "version", "source", "taken_by", "previous"]
    list_filter = ["source"]
    search_fields = ["version"]
    list_select_related = ["channel__app", "taken_by", "previous"]


@admin.register(BundleReport)
class BundleReportAdmin(ReadOnlyAdmin):
    list_display = ["bundle_sha256", "measured_at"]
    search_fields = ["bundle_sha256"]


@admin.register(Candidate)
class CandidateAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "source", "release", "created_by"]
    list_select_related = ["source__app", "release", "created_by"]

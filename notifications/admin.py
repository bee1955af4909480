from django.contrib import admin
from django.db import models

from console.admin import ReadOnlyAdmin as ConsoleReadOnlyAdmin
from notifications.models import Delivery, EmailPreference, Notification, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "enabled", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "url"]
    # The secret is shown once in the console (create or "New secret"), never here.
    exclude = ["secret"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(EmailPreference)
class EmailPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "event", "enabled", "updated_at"]
    list_filter = ["enabled", "event"]
    search_fields = ["user__username", "user__email", "event"]
    list_select_related = ["user"]


class ReadOnlyAdmin(ConsoleReadOnlyAdmin):
    """Written only by notifications.dispatch; the admin shows them (and may delete old ones)."""

    allow_delete = True


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "subject", "dedup_key"]
    list_filter = ["event", "created_at"]
    search_fields = ["subject", "dedup_key", "event"]
    date_hierarchy = "created_at"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "notification",
        "channel",
        "target",
        "status",
        "attempts",
        "last_status_code",
        "duration_ms",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status", "channel", "notification__event"]
    search_fields = [
        "address",
        "endpoint__name",
        "endpoint_url",
        "notification__subject",
        "last_error",
    ]
    list_select_related = ["notification", "endpoint"]
    date_hierarchy = "created_at"

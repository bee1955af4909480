from django.contrib import admin

from releases.models import App, Channel


class ChannelInline(admin.TabularInline):
    model = Channel
    extra = 0
    readonly_fields = ["client_key", "previous_client_key", "previous_key_expires_at"]


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
    readonly_fields = ["client_key", "previous_client_key", "previous_key_expires_at"]

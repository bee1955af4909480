from django.contrib import admin

from accounts.models import ApiToken, LoginFailure


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "created_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["digest", "prefix", "created_at", "last_used_at", "last_used_ip"]


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    list_display = ["username", "ip", "at"]
    list_filter = ["at"]
    search_fields = ["username", "ip"]

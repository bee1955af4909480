from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People, roles and API tokens"

    def ready(self) -> None:
        # Registers the "accounts.grant_admin" change kind with the approvals primitive.
        from accounts import (
            actions,  # noqa: F401
            dashboard,
            ratelimit,
        )
        from console import controller
        from console import dashboard as console_dashboard

        console_dashboard.register("people", "accounts.manage_users", dashboard.card)
        controller.register(
            "accounts.prune_login_failures", lambda now: ratelimit.prune(), every_seconds=300
        )

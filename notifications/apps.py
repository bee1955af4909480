from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Email and webhook notifications"

    def ready(self) -> None:
        from console import controller
        from console import dashboard as console_dashboard
        from notifications import dashboard, dispatch
        from notifications.events import register_foundation_events

        register_foundation_events()
        controller.register("notifications.retry", dispatch.retry_due, every_seconds=5)
        console_dashboard.register("notifications", "accounts.view_console", dashboard.card)

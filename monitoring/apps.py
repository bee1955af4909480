from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Client telemetry and release health"

    def ready(self) -> None:
        from console import controller, navigation
        from console import dashboard as console_dashboard
        from monitoring import dashboard, retention

        controller.register("monitoring.prune", retention.prune_events, every_seconds=60)
        navigation.register(
            navigation.NavItem(
                "Health", "monitoring:index", "accounts.view_console", "/monitoring/"
            ),
            before="Approvals",
        )
        console_dashboard.register("monitoring", "accounts.view_console", dashboard.card)

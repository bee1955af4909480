from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = "Maintenance jobs, windows and checklists"

    def ready(self) -> None:
        from console import dashboard, navigation
        from maintenance import alerts, dispatcher, runners, views

        runners.register_types()
        alerts.register_events()
        dispatcher.register_hooks()
        navigation.register(
            navigation.NavItem(
                "Maintenance", "maintenance:jobs", "accounts.view_console", "/maintenance/"
            ),
            before="Approvals",
        )
        dashboard.register("maintenance", "accounts.view_console", views.dashboard_card)

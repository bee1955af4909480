from django.apps import AppConfig


class DbhealthConfig(AppConfig):
    name = "dbhealth"
    verbose_name = "Database upkeep: indexes, statistics, integrity"

    def ready(self) -> None:
        from console import controller, dashboard, navigation
        from dbhealth import actions, alerts, analysis, jobs, views

        alerts.register_events()
        jobs.register_types()
        actions.register_approval_kind()
        navigation.register(
            navigation.NavItem("Database", "dbhealth:index", views.VIEW, "/dbhealth/"),
            before="Approvals",
        )
        # Hourly is plenty: it only reads when a PostgreSQL target has no reading for today.
        controller.register("dbhealth.snapshot", analysis.snapshot_due, every_seconds=3600)
        controller.register("dbhealth.reap", actions.reap_lost, every_seconds=30)
        dashboard.register("dbhealth", views.VIEW, views.dashboard_card)

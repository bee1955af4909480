from django.apps import AppConfig


class PerformanceConfig(AppConfig):
    name = "performance"
    verbose_name = "Performance and resource optimisation"

    def ready(self) -> None:
        from console import dashboard, navigation
        from maintenance import jobtypes
        from performance import baselines, jobs, views

        baselines.register_events()
        jobtypes.register(
            "performance_analysis",
            "Performance analysis",
            validate=jobs.validate,
            runner=jobs.run,
            description="Baselines of every release with telemetry (p75 vitals per device, API "
            "latency, crash-free), regressions against the previous release, measured bundle "
            "savings.",
            owner_area="performance",
        )
        navigation.register(
            navigation.NavItem(
                "Performance", "performance:index", "accounts.view_console", "/performance/"
            ),
            before="Approvals",
        )
        dashboard.register("performance", "accounts.view_console", views.dashboard_card)

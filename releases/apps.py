from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases, channels, bundles and rollouts"

    def ready(self) -> None:
        from console import controller, dashboard, navigation
        from releases import bundles, exposure, publishing, rollout_views, rollouts, views

        publishing.register_approval_kind()
        rollouts.register_events()
        exposure.register(rollouts.exposure_provider)
        navigation.register(
            navigation.NavItem("Releases", "releases:apps", "accounts.view_console", "/releases/"),
            before="Approvals",
        )
        navigation.register(
            navigation.NavItem(
                "Rollouts", "releases:rollouts", "accounts.view_console", "/releases/rollouts/"
            ),
            before="Approvals",
        )
        dashboard.register("releases", "accounts.view_console", views.dashboard_card)
        dashboard.register("rollouts", "accounts.view_console", rollout_views.dashboard_card)
        controller.register("releases.sweep_uploads", bundles.sweep_temporary, every_seconds=3600)
        controller.register("releases.rollouts", rollouts.tick, every_seconds=5)

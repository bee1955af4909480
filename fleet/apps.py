from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "fleet"
    verbose_name = "Rolling deployments to server fleets"

    def ready(self) -> None:
        from console import controller, dashboard, navigation
        from fleet import driver, liveness, views
        from notifications.events import register_event

        register_event(
            "fleet.deployment_failed",
            "Rolling deployment failed",
            "More hosts failed than the fleet's failure budget allows; the hosts that got the "
            "release are being rolled back.",
            default_email=True,
        )
        register_event(
            "fleet.rollback_failed",
            "Rolling deployment rollback incomplete",
            "Some hosts could not be rolled back and need a person.",
            default_email=True,
        )
        controller.register("fleet.resume", driver.resume_stalled, every_seconds=10)
        # Each host is probed at most every FLEET_PROBE_SECONDS; the hook only looks for due ones.
        controller.register("fleet.probe", liveness.probe_due, every_seconds=10)
        navigation.register(
            navigation.NavItem("Fleet", "fleet:fleets", "accounts.view_console", "/fleet/"),
            before="Approvals",
        )
        dashboard.register("fleet", "accounts.view_console", views.dashboard_card)

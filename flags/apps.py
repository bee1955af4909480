from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "flags"
    verbose_name = "Feature flags evaluated in the update answer"

    def ready(self) -> None:
        from console import controller, dashboard, navigation
        from flags import ramp, views

        ramp.register_events()
        navigation.register(
            navigation.NavItem("Flags", "flags:list", "accounts.view_console", "/flags/"),
            before="Approvals",
        )
        dashboard.register("flags", "accounts.view_console", views.dashboard_card)
        controller.register("flags.ramp", ramp.tick, every_seconds=5)

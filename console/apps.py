from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from console import checks, controller, liveness  # noqa: F401 (checks register)

        controller.register("liveness.probe_worker", liveness.probe_worker, every_seconds=2)
        controller.register("liveness.alert", liveness.alert_if_down, every_seconds=15)

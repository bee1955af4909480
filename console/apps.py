from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from console import controller, liveness

        controller.register("liveness.probe_worker", liveness.probe_worker, every_seconds=2)
        controller.register("liveness.alert", liveness.alert_if_down, every_seconds=15)

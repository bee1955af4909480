from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from console import controller, liveness

        controller.register("liveness.probe_worker", liveness.probe_worker, every_seconds=2)

from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups, verification and restores"

    def ready(self) -> None:
        from backups import restores
        from console import controller
        from notifications.events import register_event

        register_event(
            "backups.failed", "Backup failed", "A backup could not be completed (with the reason)."
        )
        register_event(
            "backups.corruption",
            "Backup verification found problems",
            "Missing or corrupted repository objects, with the affected backups.",
        )
        register_event(
            "backups.restore_rolled_back",
            "Restore rolled back",
            "A restore failed a step; its target was left as it was.",
        )
        register_event(
            "backups.drill_failed",
            "Restore drill failed",
            "The scheduled proof that a source's backups restore did not pass.",
        )
        restores.register_approval_kind()

        from backups import jobs

        controller.register("backups.reap", jobs.reap, every_seconds=15)
        controller.register("backups.schedule", jobs.schedule_due, every_seconds=30)
        from backups import ui

        ui.register()
        from backups import maintenance_jobs

        maintenance_jobs.register_types()

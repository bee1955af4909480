from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail and approvals"

    def ready(self) -> None:
        from audit import approvals, dashboard
        from console import controller
        from console import dashboard as console_dashboard

        controller.register("approvals.expire", approvals.expire_overdue, every_seconds=30)
        console_dashboard.register("audit", "accounts.view_console", dashboard.card)

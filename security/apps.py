from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = "Security findings and dependency audits"

    def ready(self) -> None:
        from console import controller, dashboard, navigation
        from maintenance import jobtypes
        from notifications.events import register_event
        from security import findings, jobs, patches, views

        findings.register_approval_kind()
        jobtypes.register(
            jobs.NAME,
            "Dependency audit",
            validate=jobs.validate,
            runner=jobs.run_dependency_audit,
            description="Audit the packages a release ships (package-lock.json, "
            "requirements*.txt) against imported OSV data; default: the latest release of "
            "every channel of the app.",
            owner_area="security",
        )
        register_event(
            "security.finding_new",
            "New or regressed critical/high security finding",
            "A dependency audit found a critical or high vulnerability (or one came back).",
            default_email=True,
        )
        register_event(
            "security.patch_failed",
            "Security patch failed or rolled back",
            "A security patch stopped (a backup failed, the publish was refused) or failed its "
            "checks and was rolled back.",
            default_email=True,
        )
        controller.register(
            "security.expire_suppressions", findings.expire_suppressions, every_seconds=60
        )
        controller.register("security.patches", patches.requeue, every_seconds=60)
        navigation.register(
            navigation.NavItem(
                "Security", "security:findings", "accounts.view_console", "/security/"
            ),
            before="Approvals",
        )
        dashboard.register("security", "accounts.view_console", views.dashboard_card)

"""Navigation item and dashboard card (registered from AppConfig.ready)."""

from __future__ import annotations

from django.urls import reverse


def register() -> None:
    from console import dashboard, navigation

    navigation.register(
        navigation.NavItem("Backups", "backups:sources", "accounts.view_console", "/backups/"),
        before="Approvals",
    )
    dashboard.register("backups", "accounts.view_console", card)


def card(request):
    from backups import health
    from backups.models import Backup, Source
    from console.dashboard import Card

    sources = list(Source.objects.all())
    if not sources:
        return Card(
            "Backups",
            reverse("backups:sources"),
            empty="Open Backups: the console's own database is registered there.",
        )
    latest = {}
    for b in Backup.objects.filter(source__in=sources).order_by("-created_at", "-pk")[:500]:
        latest.setdefault(b.source_id, []).append(b)
    rows = [health.for_source(s, latest.get(s.pk, [])) for s in sources]
    bad = sum(1 for r in rows if r["tone"] == "bad")
    warn = sum(1 for r in rows if r["tone"] in ("warn", "unknown"))
    proven = [s.proven_restorable_at for s in sources if s.proven_restorable_at]
    status, label = (
        ("bad", f"{bad} failing")
        if bad
        else (("warn", f"{warn} need attention") if warn else ("ok", "all verified"))
    )
    return Card(
        "Backups",
        reverse("backups:sources"),
        stats=[
            ("Sources", len(sources)),
            ("Healthy", sum(1 for r in rows if r["tone"] == "ok")),
            (
                "Last proven restorable",
                min(proven).strftime("%Y-%m-%d %H:%M") if proven else "never",
            ),
        ],
        status=status,
        status_label=label,
    )

"""JSON shapes of apps, channels and releases (the CI API and the update endpoint share them)."""

from __future__ import annotations

from releases.models import App, Channel, Release
from releases.update import bundle_url


def app_json(app: App, channels: list[Channel] | None = None) -> dict:
    data = {
        "slug": app.slug,
        "name": app.name,
        "created_at": app.created_at,
        "budgets": {
            "main_kib": app.main_budget_kib,
            "subpackage_kib": app.subpackage_budget_kib,
            "total_kib": app.total_budget_kib,
            "growth_pct": app.growth_budget_pct,
        },
    }
    if channels is not None:
        data["channels"] = [channel_json(c) for c in channels]
    return data


def channel_json(channel: Channel) -> dict:
    return {
        "name": channel.name,
        "client_key": channel.client_key,
        "previous_key_valid_until": channel.previous_key_expires_at,
        "upload_policy": channel.upload_policy,
        "is_production": channel.is_production,
        "release_gate": channel.release_gate,
        "testers": len(channel.tester_install_ids),
    }


def analysis_summary(analysis: dict) -> dict:
    """The analysis without its per-file list (the release page shows that)."""
    return {k: v for k, v in analysis.items() if k != "files"}


def release_json(release: Release, request=None, *, with_analysis: bool = False) -> dict:
    url = bundle_url(release.bundle_sha256)
    data = {
        "version": release.version,
        "sha256": release.bundle_sha256,
        "size": release.bundle_size,
        "url": request.build_absolute_uri(url) if request is not None else url,
        "channel": release.channel.name if release.channel_id else None,
        "released_at": release.released_at,
        "author": release.author.get_username() if release.author_id else None,
        "previous": release.previous.version if release.previous_id else None,
        "changes": release.changes,
        "notes": release.notes,
        "compatibility": release.compatibility,
        "deprecated": release.deprecated,
        "runtime": release.runtime_range,
        "mandatory": release.mandatory,
        "rollback_target": release.rollback_target.version if release.rollback_target_id else None,
        "disabled": release.is_disabled,
        "budget": {
            "verdict": release.budget_verdict,
            "findings": release.budget_findings,
            "override": release.budget_override_at is not None,
        },
    }
    if with_analysis:
        data["analysis"] = analysis_summary(release.analysis)
    return data

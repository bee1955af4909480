"""Pages: sources with health, backup and restore detail (live progress), restore wizard,
retention preview. Views orchestrate; the decisions live in jobs.py, restores.py, retention.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.approvals import ApprovalError
from audit.trail import transition
from backups import health, jobs, registry, restores
from backups.forms import BackupForm, RestoreForm, SourceForm, VerifyForm
from backups.models import Backup, Restore, RetentionRun, Source, VerifyRun
from backups.repository import RepositoryError
from console.tasks import enqueue

view_console = permission_required("accounts.view_console", raise_exception=True)
run_backups = permission_required("accounts.run_backups", raise_exception=True)
restore_perm = permission_required("accounts.restore_nonproduction", raise_exception=True)


def _source(pk: int) -> Source:
    return get_object_or_404(Source.objects.select_related("app"), pk=pk)


def _backup(pk: int) -> Backup:
    return get_object_or_404(
        Backup.objects.select_related("source", "parent", "requested_by"), pk=pk
    )


@view_console
def sources(request: HttpRequest) -> HttpResponse:
    registry.ensure_console_source()
    # The newest 30 per source are enough for health and the trend (a window query, not N+1).
    recent = Prefetch(
        "backups",
        queryset=Backup.objects.order_by("-created_at", "-pk")[:30],
        to_attr="all_backups",
    )
    rows = [
        health.for_source(s, s.all_backups)
        for s in Source.objects.select_related("app").prefetch_related(recent)
    ]
    return render(
        request,
        "backups/sources.html",
        {"rows": rows, "can_run": request.user.has_perm("accounts.run_backups")},
    )


@run_backups
def source_add(request: HttpRequest) -> HttpResponse:
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            source = registry.add_source(
                name=data["name"],
                kind=data["kind"],
                location=data["location"].strip(),
                app=data["app"],
                production=data["production"],
                schedule_hours=data["schedule_hours"],
                next_run_at=timezone.now() if data["schedule_hours"] else None,
            )
        except registry.SourceInvalid as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Source {source.name} added.")
            return redirect("backups:source", source.pk)
    return render(
        request, "backups/source_add.html", {"form": form}, status=400 if form.errors else 200
    )


@view_console
def source(request: HttpRequest, pk: int) -> HttpResponse:
    src = _source(pk)
    backups = list(src.backups.select_related("parent").order_by("-created_at", "-pk")[:50])
    context = {
        "source": src,
        "health": health.for_source(src, backups),
        "backups": backups,
        "restores": Restore.objects.filter(backup__source=src).select_related(
            "backup", "pre_restore_backup"
        )[:20],
        "verify_runs": VerifyRun.objects.filter(source=src)[:10],
        "retention_runs": RetentionRun.objects.filter(source=src)[:5],
        "backup_form": BackupForm(),
        "verify_form": VerifyForm(),
        "can_run": request.user.has_perm("accounts.run_backups"),
        "chart": health.size_chart(backups),
    }
    return render(request, "backups/source.html", context)


@require_POST
@run_backups
def source_backup(request: HttpRequest, pk: int) -> HttpResponse:
    src = _source(pk)
    form = BackupForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose full, differential or incremental.")
        return redirect("backups:source", src.pk)
    backup = jobs.request_backup(src, backup_type=form.cleaned_data["type"], user=request.user)
    messages.success(request, f"Backup #{backup.pk} queued.")
    return redirect("backups:backup", backup.pk)


@require_POST
@run_backups
def source_verify(request: HttpRequest, pk: int) -> HttpResponse:
    src = _source(pk)
    form = VerifyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(e for errs in form.errors.values() for e in errs))
        return redirect("backups:source", src.pk)
    k, t = form.cleaned_data["slice"]
    jobs.request_verify(src, level=form.cleaned_data["level"], slice_k=k, slice_t=t)
    messages.success(request, "Verification queued.")
    return redirect("backups:source", src.pk)


@require_POST
@run_backups
def source_drill(request: HttpRequest, pk: int) -> HttpResponse:
    src = _source(pk)
    with transaction.atomic():
        enqueue("backups.tasks.run_drill", src.pk)
    messages.success(request, "Restore drill queued.")
    return redirect("backups:source", src.pk)


@view_console
def retention(request: HttpRequest, pk: int) -> HttpResponse:
    src = _source(pk)
    decisions = jobs.preview_retention(src)
    return render(
        request,
        "backups/retention.html",
        {
            "source": src,
            "decisions": decisions,
            "policy": src.retention_policy(),
            "removing": sum(1 for d in decisions if not d["keep"]),
            "can_run": request.user.has_perm("accounts.run_backups"),
        },
    )


@require_POST
@run_backups
def retention_apply(request: HttpRequest, pk: int) -> HttpResponse:
    src = _source(pk)
    with transaction.atomic():
        enqueue("backups.tasks.run_retention", src.pk)
    messages.success(request, "Retention queued; the result appears under Retention runs.")
    return redirect("backups:source", src.pk)


def _manifest_summary(backup: Backup) -> dict:
    if backup.status != Backup.Status.COMPLETE:
        return {}
    try:
        manifest = jobs.repository_for(backup.source).read_manifest(backup.manifest_name)
    except (RepositoryError, ValueError) as exc:
        return {"error": str(exc)}
    entries = manifest.get("entries", [])
    return {
        "files": sum(1 for e in entries if e["type"] == "file"),
        "dirs": sum(1 for e in entries if e["type"] == "dir"),
        "symlinks": sum(1 for e in entries if e["type"] == "symlink"),
        "tree_hash": manifest.get("tree_hash", ""),
        "database": manifest.get("database"),
        "skipped": manifest.get("skipped", []),
        "unchanged": manifest.get("files_unchanged"),
        "reread": manifest.get("files_reread_by_guard"),
        "first": entries[:20],
    }


@view_console
def backup(request: HttpRequest, pk: int) -> HttpResponse:
    b = _backup(pk)
    if request.htmx:
        return render(request, "backups/backup.html#progress", {"backup": b})
    return render(
        request,
        "backups/backup.html",
        {
            "backup": b,
            "manifest": _manifest_summary(b),
            "verify_runs": VerifyRun.objects.filter(source=b.source_id).order_by("-created_at")[
                :10
            ],
            "restores": b.restores.select_related("pre_restore_backup")[:10],
            "can_run": request.user.has_perm("accounts.run_backups"),
            "can_restore": request.user.has_perm("accounts.restore_nonproduction")
            and b.status == Backup.Status.COMPLETE,
        },
    )


@require_POST
@run_backups
def backup_pin(request: HttpRequest, pk: int) -> HttpResponse:
    b = _backup(pk)
    pinned = request.POST.get("pinned") == "1"
    transition(
        b,
        action="backups.backup.pinned" if pinned else "backups.backup.unpinned",
        expect={"pinned": b.pinned},
        changes={"pinned": pinned},
    )
    return redirect("backups:backup", b.pk)


@restore_perm
def restore_new(request: HttpRequest, pk: int) -> HttpResponse:
    """The wizard: choose a target, see exactly what will happen, confirm."""
    b = _backup(pk)
    if b.status != Backup.Status.COMPLETE:
        messages.error(request, "Only a complete backup can be restored.")
        return redirect("backups:backup", b.pk)
    form = RestoreForm(request.POST or request.GET or None)
    preview = None
    status = 200
    if form.is_bound and form.is_valid():
        try:
            preview = restores.describe(b, form.cleaned_data["target"].strip())
        except (restores.sources.SourceError, ValueError) as exc:
            form.add_error("target", str(exc))
        if preview and request.method == "POST" and form.cleaned_data["confirm"]:
            if preview["needs_approval"] and not request.user.has_perm(
                "accounts.request_production_restore"
            ):
                raise PermissionDenied
            try:
                restore = restores.request_restore(b, target=preview["target"], user=request.user)
            except (restores.RestoreRefused, ApprovalError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    "Restore queued."
                    if restore.status == "queued"
                    else "Restore waits for a second person's approval.",
                )
                return redirect("backups:restore", restore.pk)
        elif request.method == "POST":
            form.add_error("confirm", "Tick the box to confirm after reading the preview.")
    if form.errors:
        status = 400
    return render(
        request,
        "backups/restore_new.html",
        {"backup": b, "form": form, "preview": preview},
        status=status,
    )


@view_console
def restore(request: HttpRequest, pk: int) -> HttpResponse:
    r = get_object_or_404(
        Restore.objects.select_related(
            "backup__source", "pre_restore_backup", "change_request", "requested_by"
        ),
        pk=pk,
    )
    if request.htmx:
        return render(request, "backups/restore.html#progress", {"restore": r})
    return render(request, "backups/restore.html", {"restore": r})

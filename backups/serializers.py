"""Plain dicts of backups rows for the command line's ``--json`` output."""

from __future__ import annotations


def _iso(value):
    return value.isoformat() if value else None


def source_dict(source) -> dict:
    return {
        "id": source.pk,
        "name": source.name,
        "kind": source.kind,
        "location": source.location,
        "app": source.app.slug if source.app_id else None,
        "production": source.production,
        "last_drill_at": _iso(source.last_drill_at),
        "last_drill_ok": source.last_drill_ok,
        "proven_restorable_at": _iso(source.proven_restorable_at),
    }


def backup_dict(b) -> dict:
    return {
        "id": b.pk,
        "uuid": str(b.uuid),
        "source": b.source.name,
        "type": b.type,
        "requested_type": b.requested_type,
        "parent": b.parent_id,
        "status": b.status,
        "trigger": b.trigger,
        "created_at": _iso(b.created_at),
        "started_at": _iso(b.started_at),
        "finished_at": _iso(b.finished_at),
        "error": b.error,
        "pinned": b.pinned,
        "source_bytes": b.source_bytes,
        "new_bytes": b.new_bytes,
        "files": b.files,
        "objects": b.objects_total,
        "objects_new": b.objects_new,
        "duration_seconds": b.duration_seconds,
        "dedup_ratio": b.dedup_ratio,
        "structure_verified_at": _iso(b.structure_verified_at),
        "data_verified_at": _iso(b.data_verified_at),
        "verify_problem": b.verify_problem,
    }


def restore_dict(r) -> dict:
    return {
        "id": r.pk,
        "backup": r.backup_id,
        "target": r.target,
        "status": r.status,
        "drill": r.drill,
        "pre_restore_backup": r.pre_restore_backup_id,
        "change_request": r.change_request_id,
        "error": r.error,
        "checks": r.checks,
        "started_at": _iso(r.started_at),
        "finished_at": _iso(r.finished_at),
    }


def verify_dict(v) -> dict:
    return {
        "id": v.pk,
        "source": v.source.name,
        "backup": v.backup_id,
        "level": v.level,
        "slice": f"{v.slice_k}/{v.slice_t}",
        "status": v.status,
        "objects_checked": v.objects_checked,
        "packs": v.packs_total,
        "problems": v.problems,
        "error": v.error,
    }


def retention_dict(r) -> dict:
    return {
        "source": r.source.name,
        "dry_run": r.dry_run,
        "removed": r.removed,
        "bytes_freed": r.bytes_freed,
        "packs_removed": r.packs_removed,
        "packs_rewritten": r.packs_rewritten,
        "decisions": r.decisions,
        "error": r.error,
    }

"""manage.py backup run|list|verify|restore|retention|drill — everything the pages do.

``--wait`` runs the job in this process and reports its outcome; without it the job is queued
for a worker. verify, retention and drill always run here. Failures exit non-zero with the
reason on stderr.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.context import Actor, acting_as
from backups import jobs, restores
from backups.models import Backup, Restore, Source
from backups.serializers import backup_dict, restore_dict, retention_dict, verify_dict


class Command(BaseCommand):
    help = "Run, list, verify and restore backups; apply retention; run restore drills."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run")
        run.add_argument("source")
        run.add_argument("--type", default="incremental", choices=Backup.Type.values)
        run.add_argument("--wait", action="store_true")
        ls = sub.add_parser("list")
        ls.add_argument("--source")
        verify = sub.add_parser("verify")
        verify.add_argument("id", type=int)
        verify.add_argument("--data", action="store_true")
        verify.add_argument("--slice", default="1/1")
        restore = sub.add_parser("restore")
        restore.add_argument("id", type=int)
        restore.add_argument("--target", default="")
        restore.add_argument("--wait", action="store_true")
        retention = sub.add_parser("retention")
        retention.add_argument("source")
        retention.add_argument("--dry-run", action="store_true")
        drill = sub.add_parser("drill")
        drill.add_argument("source")
        for p in (run, ls, verify, restore, retention, drill):
            p.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        with acting_as(Actor.system(f"manage.py backup {options['action']}")):
            return getattr(self, f"_{options['action']}")(options)

    def _emit(self, options, data, text: str) -> None:
        self.stdout.write(json.dumps(data) if options["json"] else text)

    @staticmethod
    def _source(name: str) -> Source:
        source = Source.objects.filter(name=name).first()
        if source is None:
            raise CommandError(f"no source named {name!r}")
        return source

    @staticmethod
    def _backup(pk: int) -> Backup:
        backup = Backup.objects.select_related("source").filter(pk=pk).first()
        if backup is None:
            raise CommandError(f"no backup #{pk}")
        return backup

    def _run(self, options):
        source = self._source(options["source"])
        backup = jobs.request_backup(
            source, backup_type=options["type"], trigger="command", enqueue=not options["wait"]
        )
        if options["wait"]:
            backup = jobs.run_backup(backup.pk)
        self._emit(
            options, backup_dict(backup), f"backup #{backup.pk} of {source.name}: {backup.status}"
        )
        if backup.status in (Backup.Status.FAILED, Backup.Status.SKIPPED):
            raise CommandError(backup.error or backup.status)

    def _list(self, options):
        rows = Backup.objects.select_related("source").order_by("-created_at", "-pk")
        if options.get("source"):
            rows = rows.filter(source=self._source(options["source"]))
        data = [backup_dict(b) for b in rows[:500]]
        self._emit(
            options,
            data,
            "\n".join(
                f"{b['id']:>5}  {b['source']:<20} {b['type']:<12} {b['status']:<9} "
                f"{b['finished_at'] or '-'}"
                for b in data
            ),
        )

    def _verify(self, options):
        backup = self._backup(options["id"])
        try:
            k, t = (int(x) for x in options["slice"].split("/"))
            run = jobs.request_verify(
                backup.source,
                level="data" if options["data"] else "structure",
                slice_k=k,
                slice_t=t,
                backup=backup,
                enqueue=False,
            )
        except ValueError as exc:
            raise CommandError(f"--slice must look like K/T: {exc}") from None
        run = jobs.run_verify(run.pk)
        self._emit(options, verify_dict(run), f"{run}: {run.get_status_display()}")
        if run.status != run.Status.PASSED:
            reasons = "; ".join(f"{p['problem']} {p.get('paths', [])}" for p in run.problems[:5])
            raise CommandError(reasons or run.error or run.status)

    def _restore(self, options):
        backup = self._backup(options["id"])
        try:
            with transaction.atomic():
                restore = restores.request_restore(
                    backup, target=options["target"], enqueue=not options["wait"]
                )
        except restores.RestoreRefused as exc:
            raise CommandError(str(exc)) from None
        if options["wait"] and restore.status == Restore.Status.QUEUED:
            restore = restores.run_restore(restore.pk)
        self._emit(
            options,
            restore_dict(restore),
            f"restore #{restore.pk} → {restore.target}: {restore.status}",
        )
        if restore.status == Restore.Status.ROLLED_BACK:
            raise CommandError(restore.error)

    def _retention(self, options):
        run = jobs.run_retention(self._source(options["source"]).pk, dry_run=options["dry_run"])
        self._emit(
            options,
            retention_dict(run),
            "\n".join(
                [
                    f"{'keep  ' if d['keep'] else 'remove'} #{d['backup']}: "
                    + "; ".join(d["reasons"])
                    for d in run.decisions
                ]
                + ([] if run.dry_run else [f"removed {run.removed}, freed {run.bytes_freed} bytes"])
            ),
        )
        if run.error:
            raise CommandError(run.error)

    def _drill(self, options):
        source = self._source(options["source"])
        restore = restores.run_drill(source.pk)
        source.refresh_from_db()
        data = {
            "source": source.name,
            "ok": bool(source.last_drill_ok),
            "detail": source.last_drill_detail,
            "restore": restore_dict(restore) if restore else None,
            "proven_restorable_at": source.proven_restorable_at.isoformat()
            if source.proven_restorable_at
            else None,
        }
        self._emit(
            options,
            data,
            f"drill of {source.name}: "
            f"{'passed' if source.last_drill_ok else 'failed'} — {source.last_drill_detail}",
        )
        if not source.last_drill_ok:
            raise CommandError(source.last_drill_detail)

"""manage.py jobs export [--format yaml|json] [--output FILE]
manage.py jobs import FILE [--dry-run]
manage.py jobs preview NAME [--count N] [--json] [--now ISO]"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from maintenance import schedule, specs, windows
from maintenance.models import Job, Window


def preview(job: Job, count: int, now: datetime) -> list[dict]:
    """The next ``count`` planned starts after windows, with deferrals and their reasons."""
    if job.is_manual:
        return []
    tz = schedule.zone(job.timezone)
    all_windows = list(Window.objects.filter(enabled=True))
    out: list[dict] = []
    starts = 0
    last_start = None
    for due in schedule.iter_times(job.schedule, job.timezone, now):
        if starts >= count:
            break
        verdict = windows.check(job, due, all_windows)
        start = due if verdict.ok else verdict.next_start
        if not verdict.ok:
            out.append(
                {
                    "deferred": due.isoformat(),
                    "reason": verdict.reason,
                    "next_start": start.isoformat() if start else None,
                }
            )
        if start is None or start == last_start:
            continue  # several due times deferred to one opening start once (no overlap)
        out.append({"start": start.isoformat(), "local": start.astimezone(tz).isoformat()})
        last_start = start
        starts += 1
    return out


class Command(BaseCommand):
    help = "Export, import and preview maintenance jobs and windows (YAML or JSON)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="Print all jobs and windows.")
        export.add_argument("--format", choices=["yaml", "json"], default="yaml")
        export.add_argument("--output", help="Write to this file instead of stdout.")
        imp = sub.add_parser("import", help="Create or update jobs and windows from FILE.")
        imp.add_argument("file")
        imp.add_argument("--dry-run", action="store_true", help="Validate only.")
        prev = sub.add_parser("preview", help="Next start times of a job after windows.")
        prev.add_argument("name")
        prev.add_argument("--count", type=int, default=5)
        prev.add_argument("--json", action="store_true")
        prev.add_argument("--now", help="ISO-8601 moment to start from (default: now).")

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    def do_export(self, *, format="yaml", output=None, **_):
        text = specs.render(specs.dump(), format)
        if output:
            Path(output).write_text(text)
            self.stderr.write(f"wrote {output}")
        else:
            self.stdout.write(text, ending="")

    def do_import(self, *, file, dry_run=False, **_):
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            doc = specs.load(specs.parse(text))
        except specs.SpecError as exc:
            raise CommandError("nothing imported:\n  " + "\n  ".join(exc.problems)) from exc
        if dry_run:
            self.stdout.write(f"valid: {len(doc.jobs)} jobs, {len(doc.windows)} windows")
            return
        counts = specs.apply(doc)
        self.stdout.write(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))

    def do_preview(self, *, name, count=5, json=False, now=None, **_):
        job = Job.objects.filter(name=name).first()
        if job is None:
            raise CommandError(f"no job named {name!r}")
        if count < 1:
            raise CommandError("--count must be at least 1")
        moment = timezone.now()
        if now:
            try:
                moment = datetime.fromisoformat(now)
            except ValueError as exc:
                raise CommandError(f"--now: {exc}") from exc
            if timezone.is_naive(moment):
                raise CommandError("--now needs a UTC offset, e.g. 2026-06-01T12:00:00+00:00")
        entries = preview(job, count, moment)
        if json:
            self.stdout.write(_json(entries))
            return
        if not entries:
            self.stdout.write(f"{job.name} is manual only: no planned starts")
        for entry in entries:
            if "start" in entry:
                self.stdout.write(f"{entry['start']}  ({entry['local']})")
            else:
                self.stdout.write(f"deferred {entry['deferred']}: {entry['reason']}")


def _json(entries) -> str:
    return json.dumps(entries, indent=2)

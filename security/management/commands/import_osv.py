"""manage.py import_osv PATH.zip — import an OSV export (the per-ecosystem all.zip)."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor, acting_as
from security import osv


class Command(BaseCommand):
    help = "Import an OSV all.zip export (PyPI or npm) for offline dependency audits."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the all.zip file")

    def handle(self, *args, path: str, **options):
        try:
            size = os.path.getsize(path)
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(f"cannot open {path}: {exc}") from None
        try:
            with acting_as(Actor.system("manage.py import_osv")):
                imp = osv.import_export(handle, filename=path, size=size)
        except osv.ImportRejected as exc:
            raise CommandError(f"rejected, nothing was stored: {exc}") from None
        finally:
            handle.close()
        c = imp.counts
        self.stdout.write(
            f"imported {imp.filename} ({', '.join(imp.ecosystems) or 'no supported ecosystem'}): "
            f"{c['entries']} files, {c['records_created']} new, {c['records_updated']} updated, "
            f"{c['unchanged']} unchanged, {c['withdrawn']} withdrawn skipped, "
            f"{c['other_ecosystems']} of other ecosystems, {c['advisories_created']} new advisories"
        )

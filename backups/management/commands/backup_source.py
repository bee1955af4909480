"""manage.py backup_source add|list — register and list backup sources."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor, acting_as
from backups.models import Source
from backups.registry import SourceInvalid, add_source, ensure_console_source
from backups.serializers import source_dict


class Command(BaseCommand):
    help = "Add or list backup sources."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="register a source")
        add.add_argument("--name", required=True)
        add.add_argument("--kind", required=True, choices=Source.Kind.values)
        add.add_argument(
            "--location", required=True, help="absolute path, or for postgres a DSN (stored sealed)"
        )
        add.add_argument("--app", help="slug of the app it belongs to (default: the console)")
        add.add_argument("--production", action="store_true")
        add.add_argument("--json", action="store_true")
        ls = sub.add_parser("list", help="list sources")
        ls.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        with acting_as(Actor.system("manage.py backup_source")):
            if options["action"] == "add":
                return self._add(options)
            return self._list(options)

    def _add(self, options):
        app = None
        if options.get("app"):
            from releases.models import App

            app = App.objects.filter(slug=options["app"]).first()
            if app is None:
                raise CommandError(f"no app with slug {options['app']!r}")
        try:
            source = add_source(
                name=options["name"],
                kind=options["kind"],
                location=options["location"],
                app=app,
                production=options["production"],
            )
        except SourceInvalid as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(source_dict(source)))
        else:
            self.stdout.write(f"added source {source.name} (id {source.pk})")

    def _list(self, options):
        ensure_console_source()
        rows = [source_dict(s) for s in Source.objects.select_related("app")]
        if options["json"]:
            self.stdout.write(json.dumps(rows))
            return
        for r in rows:
            self.stdout.write(f"{r['id']:>4}  {r['name']:<24} {r['kind']:<10} {r['location']}")

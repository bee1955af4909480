import json

from django.core.management.base import BaseCommand, CommandError

from audit.trail import verify_chain


class Command(BaseCommand):
    help = "Walk the hash-chained audit trail and report the first broken row."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, json_output=False, **options):
        report = verify_chain()
        if options.get("json"):
            self.stdout.write(json.dumps(report.__dict__))
        elif report.ok:
            self.stdout.write(f"audit chain intact: {report.checked} rows verified")
        if not report.ok:
            raise CommandError(
                f"audit chain broken at row #{report.broken_seq}: {report.problem} "
                f"({report.checked} rows before it verified)"
            )

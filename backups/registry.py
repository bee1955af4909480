"""Adding sources (form, command and the console's own database share these functions)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from audit.trail import record
from backups import sources
from backups.crypto import seal_secret
from backups.models import Source

CONSOLE_SOURCE = "console"


class SourceInvalid(ValueError):
    pass


def add_source(
    *, name: str, kind: str, location: str, app=None, production: bool = False, **policy
) -> Source:
    """Create a source. A PostgreSQL DSN is sealed; only its redacted form is kept in clear."""
    if kind not in Source.Kind.values:
        raise SourceInvalid(f"kind must be one of {', '.join(Source.Kind.values)}")
    if Source.objects.filter(name=name).exists():
        raise SourceInvalid(f"a source named {name!r} already exists")
    sealed = None
    shown = location
    if kind == Source.Kind.POSTGRES:
        if not location.startswith(("postgres://", "postgresql://")):
            raise SourceInvalid("a PostgreSQL source needs a DSN: postgres://user:pw@host/db")
        sources.dsn_database(location)
        sealed = seal_secret(location)
        shown = sources.redact_dsn(location)
    elif not location.startswith("/"):
        raise SourceInvalid("the location must be an absolute path")
    with transaction.atomic():
        source = Source.objects.create(
            name=name,
            kind=kind,
            location=shown,
            dsn_sealed=sealed,
            app=app,
            production=production,
            **policy,
        )
        record(
            "backups.source.added",
            source,
            after={"kind": kind, "location": shown, "app": app.slug if app else None},
        )
    return source


def console_source_spec() -> tuple[str, str]:
    """(kind, location) of the console's own database, as a backup source."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return Source.Kind.SQLITE, str(db["NAME"])
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    auth = f"{user}{password}@" if user else ""
    return Source.Kind.POSTGRES, f"postgres://{auth}{host}{port}/{db['NAME']}"


def ensure_console_source() -> Source:
    """The console's own database is a source by default (created on first visit of the
    Backups page and by ``backup_source list``; deleting it is allowed and it comes back)."""
    existing = Source.objects.filter(name=CONSOLE_SOURCE).first()
    if existing is not None:
        return existing
    kind, location = console_source_spec()
    try:
        return add_source(name=CONSOLE_SOURCE, kind=kind, location=location, production=True)
    except SourceInvalid:
        return Source.objects.get(name=CONSOLE_SOURCE)

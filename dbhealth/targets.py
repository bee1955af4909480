"""What can be analysed, and how to talk to it.

``console`` is the console's own database through Django's default connection. Every other
target is a PostgreSQL or SQLite source registered in the backups app, reached with its own
connection: PostgreSQL with the DSN the backups app keeps sealed (read through
``backups.jobs.spec_for``, never shown or stored here), SQLite by its file path.

``Db`` hides the three drivers behind four calls. Statements that must not run inside a
transaction block (``REINDEX/DROP INDEX CONCURRENTLY``, ``VACUUM``) go through ``Db.ddl``,
which refuses when the connection is inside one instead of failing half-way.
"""

from __future__ import annotations

import abc
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection

CONSOLE = "console"
POSTGRESQL, SQLITE = "postgresql", "sqlite"


class TargetError(RuntimeError):
    """The target does not exist or cannot be reached; the message says which."""


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    vendor: str
    source_id: int | None = None  # the backups source (its lease guards VACUUM)

    @property
    def is_console(self) -> bool:
        return self.key == CONSOLE


def console_target() -> Target:
    return Target(CONSOLE, "Console database", connection.vendor)


def all_targets() -> list[Target]:
    """The console's own database first, then PostgreSQL and SQLite backup sources."""
    from backups.models import Source
    from backups.registry import CONSOLE_SOURCE

    found = [console_target()]
    for source in Source.objects.filter(
        kind__in=[Source.Kind.POSTGRES, Source.Kind.SQLITE]
    ).exclude(name=CONSOLE_SOURCE):
        vendor = POSTGRESQL if source.kind == Source.Kind.POSTGRES else SQLITE
        found.append(Target(source.name, f"Source {source.name}", vendor, source.pk))
    return found


def get_target(key: str) -> Target:
    for target in all_targets():
        if target.key == key:
            return target
    raise TargetError(f"no database target named {key!r}")


def console_source_id() -> int | None:
    """The backups source that stands for the console's own database, if it exists."""
    from backups.models import Source
    from backups.registry import CONSOLE_SOURCE

    return Source.objects.filter(name=CONSOLE_SOURCE).values_list("pk", flat=True).first()


class Db(abc.ABC):
    """One connection to a target: Django's own, psycopg to a PostgreSQL source, or sqlite3."""

    vendor: str

    @abc.abstractmethod
    def rows(self, sql: str, params: list | tuple | None = None) -> list[tuple]: ...

    @abc.abstractmethod
    def run(self, sql: str, params: list | tuple | None = None) -> None: ...

    @abc.abstractmethod
    def in_transaction(self) -> bool: ...

    def one(self, sql: str, params: list | tuple | None = None) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def ddl(self, sql: str) -> None:
        if self.in_transaction():
            raise TargetError(
                "this statement cannot run inside a transaction block; it runs in a worker"
            )
        self.run(sql)

    @abc.abstractmethod
    def dicts(self, sql: str, params: list | tuple | None = None) -> list[dict]: ...


class DjangoDb(Db):
    def __init__(self):
        self.vendor = connection.vendor

    def _execute(self, cursor, sql, params):
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)

    def rows(self, sql, params=None):
        with connection.cursor() as cursor:
            self._execute(cursor, sql, params)
            return list(cursor.fetchall())

    def dicts(self, sql, params=None):
        with connection.cursor() as cursor:
            self._execute(cursor, sql, params)
            names = [col[0] for col in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def run(self, sql, params=None):
        with connection.cursor() as cursor:
            self._execute(cursor, sql, params)

    def in_transaction(self) -> bool:
        return connection.in_atomic_block


class PsycopgDb(Db):
    vendor = POSTGRESQL

    def __init__(self, dsn: str):
        import psycopg

        try:
            self.conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise TargetError(f"cannot connect: {exc}".strip()) from exc

    def rows(self, sql, params=None):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def dicts(self, sql, params=None):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            names = [col.name for col in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def run(self, sql, params=None):
        self.conn.execute(sql, params)

    def in_transaction(self) -> bool:
        return not self.conn.autocommit

    def close(self) -> None:
        self.conn.close()


class SqliteDb(Db):
    vendor = SQLITE

    def __init__(self, path: str, *, write: bool):
        file = Path(path)
        if not file.is_file():
            raise TargetError(f"SQLite file {path} does not exist")
        uri = f"{file.resolve().as_uri()}?mode={'rw' if write else 'ro'}"
        try:
            self.conn = sqlite3.connect(uri, uri=True, timeout=5, isolation_level=None)
        except sqlite3.Error as exc:
            raise TargetError(f"cannot open {path}: {exc}") from exc

    def rows(self, sql, params=None):
        return list(self.conn.execute(sql, params or ()).fetchall())

    def dicts(self, sql, params=None):
        cursor = self.conn.execute(sql, params or ())
        names = [col[0] for col in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def run(self, sql, params=None):
        self.conn.execute(sql, params or ())

    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def close(self) -> None:
        self.conn.close()


@contextmanager
def open_db(target: Target, *, write: bool = False) -> Iterator[Db]:
    """A connection to ``target``; closed afterwards unless it is Django's own."""
    if target.is_console:
        yield DjangoDb()
        return
    from backups.jobs import spec_for
    from backups.models import Source

    source = Source.objects.filter(pk=target.source_id).first()
    if source is None:
        raise TargetError(f"source {target.key} no longer exists")
    db: PsycopgDb | SqliteDb
    if target.vendor == POSTGRESQL:
        db = PsycopgDb(spec_for(source).location)
    else:
        db = SqliteDb(source.location, write=write)
    try:
        yield db
    finally:
        db.close()


def quote(name: str) -> str:
    """An identifier for SQL text (catalog names never come from a form unchecked)."""
    return '"' + name.replace('"', '""') + '"'

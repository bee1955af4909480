"""An index build running in another session is left alone: not a leftover, not rebuilt over."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import connection

from dbhealth import actions, pg
from dbhealth.models import Action
from dbhealth.targets import DjangoDb, console_target

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def _dsn() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def reindex_in_progress(pg_schema):
    """REINDEX CONCURRENTLY of dbh_child_a in another session, held at "waiting for writers"
    by a third session's open write on the table."""
    blocker = psycopg.connect(_dsn())
    blocker.execute("UPDATE dbh_child SET c = c WHERE id = 1")  # open transaction, row lock
    rebuild = psycopg.connect(_dsn(), autocommit=True)
    outcome: list = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            rebuild.execute("REINDEX INDEX CONCURRENTLY dbh_child_a").statusmessage
        )
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not pg.building(DjangoDb()) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield {"outcome": outcome, "blocker": blocker, "thread": thread}
    blocker.rollback()
    thread.join(timeout=30)
    blocker.close()
    rebuild.close()


def test_the_ccnew_of_a_running_rebuild_is_not_dropped_as_a_leftover(reindex_in_progress, carol):
    names = {i.name for i in pg.load_indexes(DjangoDb())}
    assert "dbh_child_a_ccnew" in names  # the running rebuild's copy, invalid for now
    assert actions.clean_leftovers(console_target(), carol) == []


def test_a_rebuild_on_a_table_with_a_build_in_progress_waits_for_later(reindex_in_progress, carol):
    action = actions.request(
        console_target(), Action.Kind.REINDEX, carol, schema="public", index="dbh_child_b"
    )
    action = actions.execute(action.pk)
    assert action.status == Action.Status.FAILED and "in progress" in action.detail


def test_what_looked_like_a_leftover_was_a_live_build_that_finishes(reindex_in_progress):
    before = {i.name: i.oid for i in pg.load_indexes(DjangoDb())}["dbh_child_a"]
    reindex_in_progress["blocker"].rollback()
    reindex_in_progress["thread"].join(timeout=30)
    after = {i.name: i.oid for i in pg.load_indexes(DjangoDb())}
    assert reindex_in_progress["outcome"] == ["REINDEX"]
    assert "dbh_child_a_ccnew" not in after and after["dbh_child_a"] != before

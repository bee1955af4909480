"""A PostgreSQL backup source is analysed and rebuilt over its own connection (sealed DSN)."""

from __future__ import annotations

import pytest
from django.db import connection

from backups.registry import add_source
from dbhealth import actions, analysis
from dbhealth.models import Action, Report
from dbhealth.targets import all_targets, get_target
from tests.dbhealth.conftest import by_name

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def appdb(pg_schema):
    db = connection.settings_dict
    dsn = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return add_source(name="appdb", kind="postgres", location=dsn)


def test_registered_sources_are_targets_next_to_the_console(appdb):
    assert [(t.key, t.vendor) for t in all_targets()] == [
        ("console", "postgresql"),
        ("appdb", "postgresql"),
    ]


def test_a_source_is_analysed_through_its_own_connection(appdb):
    report = analysis.analyse(get_target("appdb"))
    found = by_name(report)
    assert report.status == Report.Status.COMPLETE and report.target == "appdb"
    assert found["dbh_child_a_again"]["verdicts"] == ["duplicate of dbh_child_a"]
    assert found["dbh_child_email"]["verdicts"] == ["invalid"]


def test_a_source_index_is_rebuilt_concurrently(appdb, carol):
    action = actions.request(
        get_target("appdb"), Action.Kind.REINDEX, carol, schema="public", index="dbh_child_b"
    )
    action = actions.execute(action.pk)
    assert action.status == Action.Status.SUCCEEDED and action.new_oid != action.old_oid

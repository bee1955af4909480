"""Rebuild, ANALYZE, four-eyes drop and recreate, really run on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection

from audit import approvals
from audit.models import AuditEvent
from dbhealth import actions, analysis
from dbhealth.models import Action
from dbhealth.targets import console_target
from tests.dbhealth.conftest import by_name, flush_stats, sql

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]
Kind, Status = Action.Kind, Action.Status


def _oid(name: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_class WHERE relname = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None


def _indexdef(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef(c.oid) FROM pg_class c WHERE c.relname = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None


def test_reindex_concurrently_really_rebuilds_the_index(pg_schema, carol):
    before = _oid("dbh_child_a")
    action = actions.request(
        console_target(), Kind.REINDEX, carol, schema="public", index="dbh_child_a"
    )
    action = actions.execute(action.pk)
    assert action.status == Status.SUCCEEDED, action.detail
    assert action.old_oid == before and action.new_oid == _oid("dbh_child_a") != before


def test_a_failed_rebuild_leaves_a_ccnew_leftover_that_the_next_run_drops(pg_schema, carol):
    target = console_target()
    action = actions.request(target, Kind.REINDEX, carol, schema="public", index="dbh_child_email")
    action = actions.execute(action.pk)
    assert action.status == Status.FAILED and "next run" in action.detail
    leftover = by_name(analysis.analyse(target))["dbh_child_email_ccnew"]
    assert leftover["verdicts"] == ["invalid: leftover of a failed REINDEX CONCURRENTLY"]
    cleaned = actions.clean_leftovers(target, carol)
    assert [a.status for a in cleaned] == [Status.SUCCEEDED]
    assert _oid("dbh_child_email_ccnew") is None and _oid("dbh_child_email") is not None


def test_analyze_of_a_stale_table_clears_its_staleness(pg_schema, carol):
    sql("UPDATE dbh_child SET c = c + 1 WHERE id <= 20000")
    flush_stats()
    target = console_target()
    action = actions.request(target, Kind.ANALYZE_TABLE, carol, schema="public", table="dbh_child")
    assert actions.execute(action.pk).status == Status.SUCCEEDED
    flush_stats()
    stale = analysis.analyse(target).findings["stale"]
    assert "dbh_child" not in {t["table"] for t in stale}


def test_asking_for_an_index_that_does_not_exist_is_refused_and_changes_nothing(pg_schema, carol):
    with pytest.raises(actions.ActionRefused, match=r"no index public\.nope"):
        actions.request(console_target(), Kind.REINDEX, carol, schema="public", index="nope")
    assert not Action.objects.exists()


def test_a_drop_waits_for_a_second_person_and_keeps_the_definition(pg_schema, carol, alice):
    definition = _indexdef("dbh_child_a_again")
    action = actions.request_drop(
        console_target(), carol, schema="public", index="dbh_child_a_again", reason="duplicate"
    )
    assert action.status == Status.AWAITING_APPROVAL and action.definition == definition
    requested = AuditEvent.objects.get(action="change.requested")
    assert requested.after["payload"]["definition"] == definition
    with pytest.raises(approvals.SelfApprovalError):
        approvals.approve(action.change_request_id, carol, version=1)
    assert _oid("dbh_child_a_again") is not None


def test_an_approved_drop_really_drops_and_recreate_restores_the_same_definition(
    pg_schema, carol, alice
):
    definition = _indexdef("dbh_child_a_again")
    action = actions.request_drop(
        console_target(), carol, schema="public", index="dbh_child_a_again", reason="duplicate"
    )
    approvals.approve(action.change_request_id, alice, version=1)
    approvals.apply(action.change_request_id, alice)
    action.refresh_from_db()
    assert action.status == Status.QUEUED  # the worker runs it, outside the approval transaction
    dropped = actions.execute(action.pk)
    assert dropped.status == Status.SUCCEEDED and _oid("dbh_child_a_again") is None
    again = actions.execute(actions.request_recreate(dropped, carol).pk)
    assert again.status == Status.SUCCEEDED, again.detail
    assert _indexdef("dbh_child_a_again") == definition


def test_a_denied_drop_ends_its_action_and_keeps_the_index(pg_schema, carol, alice):
    action = actions.request_drop(
        console_target(), carol, schema="public", index="dbh_child_b", reason="prefix"
    )
    approvals.deny(action.change_request_id, alice, version=1, comment="still needed")
    action.refresh_from_db()
    assert action.status == Status.DENIED and _oid("dbh_child_b") is not None


def test_a_constraint_index_cannot_be_asked_to_drop(pg_schema, carol):
    with pytest.raises(actions.ActionRefused, match="backs a constraint"):
        actions.request_drop(
            console_target(), carol, schema="public", index="dbh_child_pkey", reason="x"
        )


def test_a_drop_refuses_when_the_index_changed_since_it_was_asked_for(pg_schema, carol, alice):
    action = actions.request_drop(
        console_target(), carol, schema="public", index="dbh_child_b", reason="prefix"
    )
    approvals.approve(action.change_request_id, alice, version=1)
    approvals.apply(action.change_request_id, alice)
    sql("DROP INDEX dbh_child_b", "CREATE INDEX dbh_child_b ON dbh_child (b DESC)")
    action = actions.execute(action.pk)
    assert action.status == Status.FAILED and "changed since" in action.detail
    assert _oid("dbh_child_b") is not None

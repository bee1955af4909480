import threading

import pytest
from django.db import connection, transaction

from audit.context import Actor, acting_as
from audit.models import AuditBypassError, AuditEvent, ChangeRequest
from audit.trail import AuditError, record, transition, verify_chain


def _record(n: int, action: str = "test.thing") -> list[AuditEvent]:
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(record(action, object_type="test.object", object_id=i, after={"i": i}))
    return events


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_record_outside_a_transaction():
    with pytest.raises(AuditError):
        record("test.outside")


def test_rows_chain_each_to_the_previous_hash(db):
    first, second = _record(2)
    assert second.prev_hash == first.row_hash
    assert second.seq == first.seq + 1


def test_an_untouched_chain_verifies(db):
    _record(5)
    report = verify_chain()
    assert report.ok
    assert report.checked == 5


def test_it_detects_a_row_altered_in_the_database(db):
    events = _record(4)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET actor_label = %s WHERE seq = %s",
            ["mallory", events[2].seq],
        )
    report = verify_chain()
    assert not report.ok
    assert report.broken_seq == events[2].seq


def test_it_detects_a_row_deleted_from_the_middle(db):
    events = _record(4)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [events[1].seq])
    report = verify_chain()
    assert not report.ok
    assert report.broken_seq == events[1].seq


def test_it_detects_rows_cut_off_the_end(db):
    events = _record(3)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [events[2].seq])
    report = verify_chain()
    assert not report.ok
    assert "removed" in report.problem


def test_a_rehashed_forgery_still_breaks_the_link_to_the_next_row(db):
    from audit.trail import compute_hash

    events = _record(3)
    forged = AuditEvent.objects.filter(seq=events[1].seq).values().get()
    forged["actor_label"] = "mallory"
    new_hash = compute_hash(forged["prev_hash"], forged)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET actor_label = %s, row_hash = %s WHERE seq = %s",
            ["mallory", new_hash, events[1].seq],
        )
    report = verify_chain()
    assert report.broken_seq == events[2].seq


def test_audit_events_cannot_be_updated_or_deleted_through_the_orm(db):
    (event,) = _record(1)
    with pytest.raises(AuditBypassError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditBypassError):
        event.delete()


def test_bulk_update_of_an_audited_model_is_refused(db, alice):
    with pytest.raises(AuditBypassError):
        ChangeRequest.objects.filter(requested_by=alice).update(status="applied")


def test_the_actor_comes_from_the_context(db, alice):
    with acting_as(Actor.for_user(alice, request_id="req-12345678", ip="10.0.0.9")):
        (event,) = _record(1)
    assert (event.actor_label, event.actor_id, event.ip) == ("alice", alice.pk, "10.0.0.9")
    assert event.request_id == "req-12345678"


def _change(alice) -> ChangeRequest:
    from django.utils import timezone

    return ChangeRequest.objects.create(
        kind="k",
        title="t",
        payload={},
        payload_hash="h",
        requested_by=alice,
        created_at=timezone.now(),
        expires_at=timezone.now(),
    )


def test_transition_applies_and_records_when_the_row_matches(db, alice):
    cr = _change(alice)
    assert transition(
        cr, action="change.test", expect={"status": "pending"}, changes={"status": "approved"}
    )
    event = AuditEvent.objects.for_object("audit.changerequest", cr.pk).first()
    assert (event.before, event.after) == ({"status": "pending"}, {"status": "approved"})


def test_transition_changes_nothing_when_another_writer_won(db, alice):
    cr = _change(alice)
    stale = ChangeRequest.objects.get(pk=cr.pk)
    transition(cr, action="change.test", expect={"status": "pending"}, changes={"status": "denied"})
    assert not transition(
        stale, action="change.test", expect={"status": "pending"}, changes={"status": "approved"}
    )
    assert ChangeRequest.objects.get(pk=cr.pk).status == "denied"


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain(alice):
    errors = []

    def write(n):
        try:
            for i in range(10):
                with transaction.atomic():
                    record("test.concurrent", object_type="t", object_id=f"{n}-{i}")
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_chain()
    assert report.ok and report.checked == AuditEvent.objects.count() >= 40

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.roles import ADMIN, role_of
from audit import approvals
from audit.models import AuditEvent, ChangeRequest


def _grant(alice, target, **kw) -> ChangeRequest:
    return approvals.request_change(
        "accounts.grant_admin",
        requested_by=alice,
        target=target,
        payload={"user_id": target.pk, "username": target.username},
        title=f"Make {target} an Admin",
        **kw,
    )


def test_the_requester_cannot_approve_even_as_an_admin(alice, dave):
    cr = _grant(alice, dave)
    assert alice.is_superuser
    with pytest.raises(approvals.SelfApprovalError):
        approvals.approve(cr.pk, alice, version=cr.version)


def test_a_role_without_the_kinds_permission_cannot_approve(alice, bob, dave):
    cr = _grant(alice, dave)
    with pytest.raises(approvals.NotAllowedError):
        approvals.approve(cr.pk, bob, version=cr.version)


def test_one_approval_from_another_admin_approves(alice, alex, dave):
    cr = _grant(alice, dave)
    cr = approvals.approve(cr.pk, alex, version=cr.version)
    assert cr.status == "approved"


def test_a_quorum_needs_distinct_approvers(alice, alex, dave):
    from tests.conftest import make_user

    third = make_user("ada", ADMIN)
    cr = _grant(alice, dave, required_approvals=2)
    approvals.approve(cr.pk, alex, version=cr.version)
    with pytest.raises(approvals.StateError):
        approvals.approve(cr.pk, alex, version=cr.version)
    assert ChangeRequest.objects.get(pk=cr.pk).status == "pending"
    assert approvals.approve(cr.pk, third, version=cr.version).status == "approved"


def test_editing_the_payload_clears_approvals(alice, alex, dave, carol):
    from tests.conftest import make_user

    third = make_user("ada", ADMIN)
    cr = _grant(alice, dave, required_approvals=2)
    approvals.approve(cr.pk, alex, version=1)
    approvals.edit_payload(
        cr.pk, alice, version=1, payload={"user_id": carol.pk, "username": carol.username}
    )
    approvals.approve(cr.pk, third, version=2)
    cr.refresh_from_db()
    assert (cr.status, cr.version) == ("pending", 2)


def test_a_stale_form_is_refused(alice, alex, dave, carol):
    cr = _grant(alice, dave)
    approvals.edit_payload(
        cr.pk, alice, version=1, payload={"user_id": carol.pk, "username": carol.username}
    )
    with pytest.raises(approvals.StaleError):
        approvals.approve(cr.pk, alex, version=1)


def test_any_denial_ends_the_request(alice, alex, dave):
    cr = _grant(alice, dave, required_approvals=2)
    approvals.deny(cr.pk, alex, version=1, comment="not needed")
    with pytest.raises(approvals.StateError):
        approvals.approve(cr.pk, alex, version=1)
    assert ChangeRequest.objects.get(pk=cr.pk).status == "denied"


def test_a_denial_needs_a_reason(alice, alex, dave):
    cr = _grant(alice, dave)
    with pytest.raises(approvals.ApprovalError):
        approvals.deny(cr.pk, alex, version=1, comment="  ")


def test_applying_runs_the_change_once(alice, alex, dave):
    cr = _grant(alice, dave)
    approvals.approve(cr.pk, alex, version=1)
    approvals.apply(cr.pk, alice)
    again = approvals.apply(cr.pk, alex)
    dave.refresh_from_db()
    assert role_of(dave) == ADMIN and again.status == "applied"
    assert AuditEvent.objects.filter(action="change.applied").count() == 1


def test_a_pending_request_cannot_be_applied(alice, dave):
    cr = _grant(alice, dave)
    with pytest.raises(approvals.StateError):
        approvals.apply(cr.pk, alice)


def test_expired_requests_cannot_be_approved(alice, alex, dave):
    cr = _grant(alice, dave)
    later = timezone.now() + timedelta(days=4)
    assert approvals.expire_overdue(later) == 1
    with pytest.raises(approvals.StateError):
        approvals.approve(cr.pk, alex, version=1, now=later)


def test_every_step_is_audited(alice, alex, dave):
    cr = _grant(alice, dave)
    approvals.approve(cr.pk, alex, version=1)
    approvals.apply(cr.pk, alice)
    actions = list(
        AuditEvent.objects.for_object("audit.changerequest", cr.pk).values_list("action", flat=True)
    )
    assert actions == [
        "change.applied",
        "change.approved",
        "change.approved_by",
        "change.requested",
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_applies_apply_exactly_once():
    from tests.conftest import make_user

    alice, alex, dave = make_user("alice", ADMIN), make_user("alex", ADMIN), make_user("dave")
    cr = _grant(alice, dave)
    approvals.approve(cr.pk, alex, version=1)
    barrier = threading.Barrier(6)
    errors = []

    def go(user):
        try:
            barrier.wait()
            approvals.apply(cr.pk, user)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(u,)) for u in [alice, alex] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (
        AuditEvent.objects.filter(action="user.role_changed", object_id=str(dave.pk)).count() == 1
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_by_one_person_count_once():
    from tests.conftest import make_user

    alice, alex = make_user("alice", ADMIN), make_user("alex", ADMIN)
    make_user("ada", ADMIN)  # a second possible approver, so quorum 2 is reachable
    dave = make_user("dave")
    cr = _grant(alice, dave, required_approvals=2)
    barrier = threading.Barrier(5)
    outcomes = []

    def go():
        try:
            barrier.wait()
            approvals.approve(cr.pk, alex, version=1)
            outcomes.append("ok")
        except approvals.StateError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=go) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 4
    assert ChangeRequest.objects.get(pk=cr.pk).status == "pending"

"""Every dbhealth page: anonymous → sign-in, no role → 403, reading for every role, actions
for Operators and Admins only."""

from __future__ import annotations

import pytest
from django.utils import timezone

from dbhealth.models import Action, Report
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.dbhealth.access_matrix import MATRIX


@pytest.fixture
def objects(db):
    report = Report.objects.create(
        target="console", target_label="Console database", status="complete",
        finished_at=timezone.now(),
    )  # fmt: skip
    dropped = Action.objects.create(
        target="console",
        kind=Action.Kind.DROP_INDEX,
        status=Action.Status.SUCCEEDED,
        schema="public",
        table="t",
        index="dbh_gone",
        definition="CREATE INDEX dbh_gone ON public.t USING btree (a)",
    )
    return {"report": report.pk, "action": dropped.pk}


@pytest.fixture
def people(alice, bob, carol, dave, erin):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, objects, name):
    method, path, _ = MATRIX[name]
    assert_sent_to_sign_in(client, method, path.format(**objects))


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, objects, people, name, persona):
    method, path, allowed = MATRIX[name]
    assert_role_access(client, people[persona], method, path.format(**objects), persona in allowed)


def test_an_unknown_target_is_404(login, dave):
    assert login(dave).get("/dbhealth/nowhere/").status_code == 404


def test_a_viewer_sees_no_action_buttons(login, dave, objects):
    page = login(dave).get("/dbhealth/console/").content.decode()
    assert "Analyse now" not in page and "Recreate" not in page


def test_an_operator_sees_the_action_buttons(login, carol, objects):
    page = login(carol).get("/dbhealth/console/").content.decode()
    assert "Analyse now" in page and "Recreate" in page

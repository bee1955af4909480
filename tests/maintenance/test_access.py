"""Every maintenance view: anonymous → sign-in, wrong role → 403, right role → 2xx/3xx."""

import pytest
from django.utils import timezone

from maintenance import runs
from maintenance.dispatcher import open_checklist
from maintenance.models import ChecklistTemplate, MaintenancePlan
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.maintenance.access_matrix import MATRIX
from tests.maintenance.conftest import make_job, make_window


@pytest.fixture
def objects(db, alice, bob, carol, dave, erin):
    job = make_job("nightly")
    run = runs.run_now(job, alice)
    plan = MaintenancePlan.objects.create(name="plan")
    plan.jobs.add(job)
    template = ChecklistTemplate.objects.create(name="Weekly", cadence="weekly", items=["a"])
    checklist = open_checklist(template, timezone.localdate())
    people = {"erin": erin, "dave": dave, "carol": carol, "bob": bob, "alice": alice}
    return {
        "job": job.name,
        "run": run.pk,
        "plan": plan.pk,
        "window": make_window().pk,
        "template": template.pk,
        "checklist": checklist.pk,
        "item": checklist.lines.first().pk,
        "people": people,
    }


def _path(template, objects):
    return template.format(**{k: v for k, v in objects.items() if k != "people"})


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, objects, name):
    method, template, _ = MATRIX[name]
    assert_sent_to_sign_in(client, method, _path(template, objects))


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, objects, name, persona):
    method, template, allowed = MATRIX[name]
    user = objects["people"][persona]
    assert_role_access(client, user, method, _path(template, objects), persona in allowed)

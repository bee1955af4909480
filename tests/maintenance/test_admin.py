import pytest

from maintenance import runs
from tests.maintenance.conftest import make_job

pytestmark = pytest.mark.django_db

MODELS = ["job", "occurrence", "run", "window", "maintenanceplan", "checklisttemplate", "checklist"]


@pytest.mark.parametrize("model", MODELS)
def test_an_admin_can_list_each_maintenance_record(login, alice, model):
    runs.run_now(make_job("nightly"), alice)
    response = login(alice).get(f"/admin/maintenance/{model}/")
    assert response.status_code == 200


def test_runs_cannot_be_edited_in_the_admin(login, alice):
    run = runs.run_now(make_job("nightly"), alice)
    response = login(alice).post(f"/admin/maintenance/run/{run.pk}/change/", {"state": "succeeded"})
    run.refresh_from_db()
    assert run.state == "queued" and response.status_code in {200, 403}

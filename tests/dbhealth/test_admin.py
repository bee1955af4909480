import pytest

from dbhealth import analysis
from dbhealth.models import Report
from dbhealth.targets import get_target

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["report", "action", "indexsnapshot"])
def test_an_admin_can_list_each_dbhealth_record(login, alice, sqlite_source, model):
    analysis.analyse(get_target("shopdb"))
    assert login(alice).get(f"/admin/dbhealth/{model}/").status_code == 200


def test_reports_cannot_be_edited_in_the_admin(login, alice, sqlite_source):
    report = analysis.analyse(get_target("shopdb"))
    response = login(alice).post(
        f"/admin/dbhealth/report/{report.pk}/change/", {"status": "failed"}
    )
    assert Report.objects.get().status == "complete" and response.status_code in {200, 403}

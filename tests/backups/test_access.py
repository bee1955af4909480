import pytest

from backups.models import Restore
from tests.backups.access_matrix import MATRIX
from tests.backups.conftest import add, backup_now

PERSONAS = ["erin", "dave", "carol", "bob", "alice"]


@pytest.fixture
def objects(db, sqlite_db, tmp_path, alice, bob, carol, dave, erin):
    source = add("app-db", "sqlite", sqlite_db)
    backup = backup_now(source)
    restore = Restore.objects.create(backup=backup, target=str(tmp_path / "copy.sqlite3"))
    people = {"erin": erin, "dave": dave, "carol": carol, "bob": bob, "alice": alice}
    return {"source": source.pk, "backup": backup.pk, "restore": restore.pk, "people": people}


def _path(template, objects):
    return template.format(**{k: v for k, v in objects.items() if k != "people"})


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, objects, name):
    method, template, _ = MATRIX[name]
    response = getattr(client, method.lower())(_path(template, objects))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, objects, name, persona):
    method, template, allowed = MATRIX[name]
    client.force_login(objects["people"][persona])
    response = getattr(client, method.lower())(_path(template, objects))
    if persona in allowed:
        assert response.status_code in ({200} if method == "GET" else {200, 302})
    else:
        assert response.status_code == 403

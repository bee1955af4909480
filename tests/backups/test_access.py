import pytest

from backups.models import Restore
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.backups.access_matrix import MATRIX
from tests.backups.conftest import add, backup_now


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
    assert_sent_to_sign_in(client, method, _path(template, objects))


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, objects, name, persona):
    method, template, allowed = MATRIX[name]
    user = objects["people"][persona]
    assert_role_access(
        client,
        user,
        method,
        _path(template, objects),
        persona in allowed,
        ok={200} if method == "GET" else {200, 302},
    )

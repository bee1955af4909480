import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.trail import record


def _events(n):
    out = []
    for i in range(n):
        with transaction.atomic():
            out.append(record("test.cmd", object_type="t", object_id=i))
    return out


def test_it_reports_an_intact_chain(db, capsys):
    _events(3)
    call_command("verify_audit")
    assert "3 rows verified" in capsys.readouterr().out


def test_it_fails_naming_the_first_broken_row(db):
    events = _events(3)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE seq = %s", [events[1].seq])
    with pytest.raises(CommandError, match=f"row #{events[1].seq}"):
        call_command("verify_audit")

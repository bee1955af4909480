import json

import pytest
from django.core.management import CommandError, call_command

from backups.models import Backup


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_backup_source_add_and_list_print_json(sqlite_db):
    added = json.loads(
        run(
            "backup_source",
            "add",
            "--name",
            "app-db",
            "--kind",
            "sqlite",
            "--location",
            str(sqlite_db),
            "--json",
        )
    )
    listed = json.loads(run("backup_source", "list", "--json"))
    assert added["name"] == "app-db"
    assert {"app-db", "console"} <= {s["name"] for s in listed}


@pytest.mark.django_db
def test_backup_source_add_with_an_unknown_app_fails_with_the_reason(sqlite_db):
    with pytest.raises(CommandError, match="no app with slug"):
        run(
            "backup_source",
            "add",
            "--name",
            "x",
            "--kind",
            "sqlite",
            "--location",
            str(sqlite_db),
            "--app",
            "nope",
        )


@pytest.mark.django_db
def test_backup_run_wait_then_list_verify_and_restore(sqlite_db, tmp_path):
    run(
        "backup_source", "add", "--name", "app-db", "--kind", "sqlite", "--location", str(sqlite_db)
    )
    backup = json.loads(run("backup", "run", "app-db", "--type", "full", "--wait", "--json"))
    assert backup["status"] == "complete"
    listed = json.loads(run("backup", "list", "--source", "app-db", "--json"))
    verified = json.loads(run("backup", "verify", str(backup["id"]), "--data", "--json"))
    restored = json.loads(
        run(
            "backup",
            "restore",
            str(backup["id"]),
            "--target",
            str(tmp_path / "copy.sqlite3"),
            "--wait",
            "--json",
        )
    )
    assert [b["id"] for b in listed] == [backup["id"]] and verified["status"] == "passed"
    assert restored["status"] == "succeeded"


@pytest.mark.django_db
def test_a_failed_backup_exits_non_zero_with_the_reason(tmp_path):
    run(
        "backup_source",
        "add",
        "--name",
        "gone",
        "--kind",
        "sqlite",
        "--location",
        str(tmp_path / "missing.sqlite3"),
    )
    with pytest.raises(CommandError, match="does not exist"):
        run("backup", "run", "gone", "--wait")
    assert Backup.objects.get().status == "failed"


@pytest.mark.django_db
def test_retention_dry_run_and_drill_from_the_command_line(sqlite_db):
    run(
        "backup_source", "add", "--name", "app-db", "--kind", "sqlite", "--location", str(sqlite_db)
    )
    run("backup", "run", "app-db", "--wait")
    preview = json.loads(run("backup", "retention", "app-db", "--dry-run", "--json"))
    drill = json.loads(run("backup", "drill", "app-db", "--json"))
    assert preview["dry_run"] and preview["decisions"][0]["keep"]
    assert drill["ok"] and drill["proven_restorable_at"]


@pytest.mark.django_db
def test_verify_reports_damage_on_stderr_with_a_non_zero_exit(sqlite_db):
    from backups.jobs import repository_for

    run(
        "backup_source", "add", "--name", "app-db", "--kind", "sqlite", "--location", str(sqlite_db)
    )
    backup = json.loads(run("backup", "run", "app-db", "--wait", "--json"))
    repo = repository_for(Backup.objects.get().source)
    for pack in repo.packs():
        repo.pack_path(pack).unlink()
    with pytest.raises(CommandError, match="missing"):
        run("backup", "verify", str(backup["id"]), "--data")

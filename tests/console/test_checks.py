from console import checks


def test_a_broker_lease_shorter_than_a_task_is_an_error(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 600, "retry": 600}
    assert [e.id for e in checks.check_task_lease()] == ["upkeep.E001"]


def test_the_default_broker_lease_is_fine():
    assert checks.check_task_lease() == []


def test_a_run_lease_shorter_than_two_heartbeats_is_an_error(settings):
    settings.MAINTENANCE_HEARTBEAT_SECONDS = 5
    settings.MAINTENANCE_LEASE_SECONDS = 6
    assert [e.id for e in checks.check_run_lease()] == ["upkeep.E002"]


def test_a_malformed_backup_key_is_an_error(monkeypatch):
    monkeypatch.setenv("UPKEEP_BACKUP_KEY", "not-base64-or-32-bytes")
    assert [e.id for e in checks.check_backup_key()] == ["upkeep.E003"]


def test_no_backup_key_is_fine(monkeypatch):
    monkeypatch.delenv("UPKEEP_BACKUP_KEY", raising=False)
    assert checks.check_backup_key() == []

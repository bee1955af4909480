import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backups import leases
from backups.jobs import request_backup, run_backup
from backups.models import Backup, Lease
from tests.backups.conftest import add, backup_now


@pytest.mark.django_db(transaction=True)
def test_two_triggers_at_once_run_one_backup_and_skip_the_other(tree):
    source = add("site", "directory", tree)
    first = request_backup(source, enqueue=False)
    second = request_backup(source, enqueue=False)
    barrier = threading.Barrier(2)

    def work(pk):
        barrier.wait()
        try:
            run_backup(pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(b.pk,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(Backup.objects.values_list("status", flat=True))
    assert statuses == ["complete", "skipped"]
    assert Backup.objects.get(status="skipped").error.startswith("skipped: already running")


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_cannot_complete_its_backup(tree):
    source = add("site", "directory", tree)
    later = timezone.now() + Lease.TTL + timedelta(seconds=1)

    def steal(step):
        if step == "before-complete":
            assert leases.acquire(source.pk, "thief", now=later) is not None

    backup = backup_now(source, hook=steal)
    assert backup.status == Backup.Status.RUNNING  # never committed; the reaper will fail it
    assert Backup.objects.complete().count() == 0


@pytest.mark.django_db
def test_an_expired_lease_is_taken_over_with_a_new_token(tree):
    source = add("site", "directory", tree)
    first = leases.acquire(source.pk, "a")
    assert leases.acquire(source.pk, "b") is None
    second = leases.acquire(source.pk, "b", now=timezone.now() + Lease.TTL * 2)
    assert second.token == first.token + 1
    with pytest.raises(leases.LeaseLost):
        leases.heartbeat(first)

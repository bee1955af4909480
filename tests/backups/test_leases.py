import threading
import time
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


@pytest.mark.django_db(transaction=True)
def test_a_step_longer_than_the_lease_is_not_reaped_while_its_worker_lives(tree, settings):
    from backups.jobs import reap

    settings.BACKUP_LEASE_SECONDS = 0.6
    source = add("site", "directory", tree)
    backup = request_backup(source, enqueue=False)

    def long_step(step):
        if step == "before-complete":
            time.sleep(2.0)  # no progress reported for more than three lease lengths

    def work():
        try:
            run_backup(backup.pk, hook=long_step)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    reaped = 0
    while thread.is_alive():
        reaped += reap()
        time.sleep(0.1)
    thread.join()
    backup.refresh_from_db()
    assert reaped == 0 and backup.status == Backup.Status.COMPLETE


@pytest.mark.django_db
def test_a_reaped_worker_can_neither_renew_its_lease_nor_commit(tree):
    from backups.jobs import reap

    source = add("site", "directory", tree)
    later = timezone.now() + Lease.TTL + timedelta(seconds=1)
    refused = []

    def reaped_meanwhile(step):
        if step == "before-complete":
            assert reap(now=later) == 1
            held = leases.Held(source.pk, Backup.objects.get(status="failed").fence, "me")
            with pytest.raises(leases.LeaseLost):
                leases.heartbeat(held, now=later)
            refused.append(step)

    backup = backup_now(source, hook=reaped_meanwhile)
    backup.refresh_from_db()
    assert refused and backup.status == Backup.Status.FAILED
    assert "worker lost" in backup.error and Backup.objects.complete().count() == 0


@pytest.mark.django_db
def test_an_expired_lease_cannot_be_renewed_even_with_its_own_token(tree):
    source = add("site", "directory", tree)
    held = leases.acquire(source.pk, "a")
    with pytest.raises(leases.LeaseLost):
        leases.heartbeat(held, now=timezone.now() + Lease.TTL * 2)

"""Deleting a fleet from its page: typed name, refused while a deployment is active, audited
with the fleet's settings and hosts (never a secret)."""

from __future__ import annotations

import html
import json
import threading

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from fleet import deployments
from fleet.models import Fleet, Host, HostStep, RollingDeployment
from tests.fleet.conftest import closed_port_url, make_fleet


@pytest.fixture
def fleet(app, channel):
    fleet = make_fleet(app, channel, batch_size=3, failure_budget=1, host_timeout=7)
    for name in ("h1", "h2"):
        Host.objects.create(fleet=fleet, name=name, agent_url=closed_port_url().rstrip("/"))
    return fleet


def _delete(client, confirm):
    return client.post("/fleet/web/delete/", {"confirm": confirm}, follow=True)


def test_deleting_needs_the_fleets_name_typed(login, bob, fleet):
    response = _delete(login(bob), "wbe")
    assert "type the fleet's name “web”" in html.unescape(response.content.decode())
    assert Fleet.objects.filter(pk=fleet.pk).exists()
    assert not AuditEvent.objects.filter(action="fleet.deleted").exists()


def test_deleting_removes_the_fleet_its_hosts_and_history_and_audits_them(login, alice, fleet, v1):
    old = deployments.start(fleet, v1, user=None)
    deployments.request_abort(old, user=alice)  # finished: aborted
    secrets = list(fleet.hosts.values_list("secret", flat=True))
    hashes = {h.name: h.secret_sha256 for h in fleet.hosts.all()}
    response = _delete(login(alice), " web ")
    assert response.redirect_chain[-1][0] == "/fleet/"
    assert "Deleted fleet" in response.content.decode()
    assert not Fleet.objects.filter(name="web").exists()
    assert not Host.objects.exists() and not RollingDeployment.objects.exists()
    assert not HostStep.objects.exists()
    event = AuditEvent.objects.get(action="fleet.deleted")
    before = event.before
    assert (before["name"], before["batch_size"], before["failure_budget"]) == ("web", 3, 1)
    assert (before["host_timeout"], before["health_path"]) == (7, "/health")
    assert (before["app"], before["channel"], before["deployments"]) == ("shop", "production", 1)
    assert [(h["name"], h["secret_sha256"]) for h in before["hosts"]] == sorted(hashes.items())
    assert event.actor_id == alice.pk
    stored = json.dumps([event.before, event.after])
    assert not any(secret in stored for secret in secrets)


def test_deleting_is_refused_while_a_deployment_is_active(login, bob, fleet, v1):
    active = deployments.start(fleet, v1, user=None)
    response = _delete(login(bob), "web")
    assert "Not deleted" in response.content.decode()
    assert "deployment is running" in response.content.decode()
    assert RollingDeployment.objects.filter(pk=active.pk, state="pending").exists()
    assert Fleet.objects.filter(pk=fleet.pk).exists()
    assert not AuditEvent.objects.filter(action="fleet.deleted").exists()


def test_the_page_offers_deletion_to_release_managers_only(login, bob, dave, fleet):
    assert "Delete this fleet" in login(bob).get("/fleet/web/").content.decode()
    assert "Delete this fleet" not in login(dave).get("/fleet/web/").content.decode()


def test_operators_cannot_delete(login, carol, fleet):
    assert login(carol).post("/fleet/web/delete/", {"confirm": "web"}).status_code == 403
    assert Fleet.objects.filter(pk=fleet.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_start_racing_a_deletion_waits_for_it_and_finds_the_fleet_gone(app, channel, v1):
    """The deletion holds the fleet row (PostgreSQL: FOR UPDATE; SQLite: the write lock taken
    at BEGIN IMMEDIATE); a start that read the hosts before waits, then finds no fleet rather
    than creating a deployment the deletion would sweep away or one on a deleted fleet."""
    fleet = make_fleet(app, channel)
    Host.objects.create(fleet=fleet, name="h1", agent_url=closed_port_url().rstrip("/"))
    locked, proceed = threading.Event(), threading.Event()
    outcome: dict = {}

    def delete():
        try:
            with transaction.atomic():
                Fleet.objects.select_for_update().get(pk=fleet.pk)
                locked.set()
                proceed.wait(timeout=10)
                deployments.delete_fleet(fleet, confirm="web")
        finally:
            connection.close()

    def start():
        try:
            deployments.start(Fleet.objects.get(pk=fleet.pk), v1, user=None)
            outcome["result"] = "started"
        except deployments.DeploymentError as exc:
            outcome["result"] = exc.code
        finally:
            connection.close()

    deleter = threading.Thread(target=delete)
    deleter.start()
    assert locked.wait(timeout=10)
    starter = threading.Thread(target=start)
    starter.start()
    starter.join(timeout=1)
    assert starter.is_alive(), "the start did not wait for the deletion's lock"
    proceed.set()
    deleter.join(timeout=20)
    starter.join(timeout=20)
    assert outcome == {"result": "not_found"}
    assert not Fleet.objects.exists() and not RollingDeployment.objects.exists()
    assert AuditEvent.objects.filter(action="fleet.deleted").count() == 1
    assert not AuditEvent.objects.filter(action="fleet.deployment_started").exists()

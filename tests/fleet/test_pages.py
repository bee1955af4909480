"""Fleet pages: lists, forms with errors, starting and aborting, the live fragment, the card."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from fleet import agent, deployments
from fleet.models import DeploymentState, Fleet, Host, RollingDeployment
from tests.fleet.conftest import add_hosts, closed_port_url, make_fleet


@pytest.fixture
def fleet(app, channel):
    return make_fleet(app, channel)


def test_the_list_says_what_to_do_when_there_is_no_fleet(login, bob, db):
    page = login(bob).get("/fleet/").content.decode()
    assert "No fleets yet." in page and "New fleet" in page


def test_the_list_shows_hosts_and_the_last_deployment(login, dave, fleet, v1):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    deployment = deployments.start(fleet, v1, user=None)
    page = login(dave).get("/fleet/").content.decode()
    assert f"/fleet/deployments/{deployment.pk}/" in page and "New fleet" not in page


def test_the_list_runs_a_fixed_number_of_queries(login, dave, app, channel, v1):
    client = login(dave)
    client.get("/fleet/")  # warm the session and permission caches
    for i in range(3):
        f = make_fleet(app, channel, name=f"f{i}")
        Host.objects.create(fleet=f, name="h", agent_url="http://127.0.0.1:1")
        deployments.start(f, v1, user=None)
    with CaptureQueriesContext(connection) as three:
        client.get("/fleet/")
    make_fleet(app, channel, name="f9")
    with CaptureQueriesContext(connection) as four:
        client.get("/fleet/")
    assert len(three) == len(four)


def test_creating_a_fleet_is_audited(login, bob, app, channel):
    data = {
        "name": "web",
        "app": app.pk,
        "channel": channel.pk,
        "batch_size": 2,
        "failure_budget": 1,
        "health_path": "/health",
        "host_timeout": 30,
    }
    response = login(bob).post("/fleet/new/", data)
    assert response.status_code == 302 and Fleet.objects.get(name="web").batch_size == 2
    assert AuditEvent.objects.filter(action="fleet.created").exists()


def test_a_channel_of_another_app_is_refused(login, bob, app, channel):
    from releases import publishing
    from releases.models import App

    other = publishing.create_channel(App.objects.create(slug="blog", name="Blog"), name="prod")
    data = {
        "name": "web",
        "app": app.pk,
        "channel": other.pk,
        "batch_size": 1,
        "failure_budget": 0,
        "health_path": "/health",
        "host_timeout": 30,
    }
    response = login(bob).post("/fleet/new/", data)
    assert (
        response.status_code == 400 and "this channel belongs to blog" in response.content.decode()
    )
    assert not Fleet.objects.exists()


@pytest.mark.parametrize(
    "field,value",
    [("batch_size", 0), ("health_path", "health"), ("name", "new"), ("host_timeout", 0)],
)
def test_bad_fleet_settings_re_render_with_an_error(login, bob, app, channel, field, value):
    data = {
        "name": "web",
        "app": app.pk,
        "channel": channel.pk,
        "batch_size": 1,
        "failure_budget": 0,
        "health_path": "/health",
        "host_timeout": 30,
        field: value,
    }
    assert login(bob).post("/fleet/new/", data).status_code == 400
    assert not Fleet.objects.exists()


def test_editing_a_fleet_keeps_running_deployments_settings(login, bob, fleet, v1):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    deployment = deployments.start(fleet, v1, user=bob)
    data = {
        "name": "web",
        "app": fleet.app_id,
        "channel": fleet.channel_id,
        "batch_size": 5,
        "failure_budget": 3,
        "health_path": "/up",
        "host_timeout": 9,
    }
    assert login(bob).post("/fleet/web/edit/", data).status_code == 302
    deployment.refresh_from_db()
    assert (deployment.batch_size, deployment.failure_budget) == (2, 0)


def test_adding_a_host_shows_the_token_hash_for_its_agent(login, bob, fleet):
    response = login(bob).post(
        "/fleet/web/hosts/", {"name": "h1", "agent_url": "http://10.0.0.5:8700/"}, follow=True
    )
    host = Host.objects.get(name="h1")
    assert host.agent_url == "http://10.0.0.5:8700"
    assert host.secret_sha256 in response.content.decode()
    assert host.secret not in response.content.decode()


def test_the_secret_is_not_in_the_audit_trail(login, bob, fleet):
    login(bob).post("/fleet/web/hosts/", {"name": "h1", "agent_url": "http://10.0.0.5:8700"})
    event = AuditEvent.objects.get(action="fleet.host_added")
    assert Host.objects.get().secret not in str(event.after)


@pytest.mark.parametrize(
    "data", [{"name": "h1", "agent_url": "ftp://x"}, {"name": "", "agent_url": "http://x.test"}]
)
def test_a_bad_host_re_renders_with_an_error(login, bob, fleet, data):
    assert login(bob).post("/fleet/web/hosts/", data).status_code == 400
    assert not Host.objects.exists()


def test_a_duplicate_host_name_is_refused(login, bob, fleet):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    response = login(bob).post("/fleet/web/hosts/", {"name": "h1", "agent_url": "http://b.test"})
    assert response.status_code == 400 and Host.objects.count() == 1


def test_removing_a_host_is_audited(login, bob, fleet):
    host = Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    assert login(bob).post(f"/fleet/web/hosts/{host.pk}/remove/").status_code == 302
    assert not Host.objects.exists()
    assert AuditEvent.objects.filter(action="fleet.host_removed").exists()


def test_a_host_cannot_be_removed_during_a_deployment(login, bob, fleet, v1):
    host = Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    deployments.start(fleet, v1, user=bob)
    login(bob).post(f"/fleet/web/hosts/{host.pk}/remove/")
    assert Host.objects.filter(pk=host.pk).exists()


def test_check_now_records_what_the_agent_reports(login, bob, fleet, agents):
    host, running = add_hosts(fleet, agents, 1)[0]
    sha = "b" * 64
    (running.root / "releases" / sha).mkdir(parents=True)
    (running.root / "releases" / f"{sha}.json").write_text('{"version": "3.0.0"}')
    agent._point(running.config, "current", sha)
    login(bob).post(f"/fleet/web/hosts/{host.pk}/check/")
    host.refresh_from_db()
    assert (host.reported_version, host.reported_sha256, host.last_error) == ("3.0.0", sha, "")


def test_check_now_shows_an_unreachable_agent(login, bob, fleet):
    host = Host.objects.create(fleet=fleet, name="h1", agent_url=closed_port_url().rstrip("/"))
    login(bob).post(f"/fleet/web/hosts/{host.pk}/check/")
    host.refresh_from_db()
    assert "unreachable" in host.last_error and host.last_seen_at is None


def test_starting_a_deployment_goes_to_its_page(login, bob, fleet, v1):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    response = login(bob).post("/fleet/web/deploy/", {"release": v1.pk})
    deployment = RollingDeployment.objects.get()
    assert response["Location"] == f"/fleet/deployments/{deployment.pk}/"
    assert (deployment.state, deployment.started_by, deployment.hosts_total) == ("pending", bob, 1)


def test_starting_without_hosts_is_refused(login, bob, fleet, v1):
    response = login(bob).post("/fleet/web/deploy/", {"release": v1.pk})
    assert response.status_code == 400 and "no hosts" in response.content.decode()
    assert not RollingDeployment.objects.exists()


def test_a_disabled_release_cannot_be_deployed(login, bob, fleet, v1):
    from django.utils import timezone

    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    v1.disabled_at = timezone.now()
    v1.save(update_fields=["disabled_at"])
    assert login(bob).post("/fleet/web/deploy/", {"release": v1.pk}).status_code == 400
    assert not RollingDeployment.objects.exists()


def test_a_second_start_while_one_is_active_is_refused(login, bob, fleet, v1):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    deployments.start(fleet, v1, user=bob)
    response = login(bob).post("/fleet/web/deploy/", {"release": v1.pk})
    assert response.status_code == 409 and RollingDeployment.objects.count() == 1


def test_the_deployment_page_and_its_fragment(login, dave, fleet, v1):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    deployment = deployments.start(fleet, v1, user=None)
    client = login(dave)
    page = client.get(f"/fleet/deployments/{deployment.pk}/").content.decode()
    fragment = client.get(
        f"/fleet/deployments/{deployment.pk}/", headers={"HX-Request": "true"}
    ).content.decode()
    assert "<h1>" in page and "0 of 1 hosts done" in page and "Abort" not in page
    assert "<h1>" not in fragment and 'hx-trigger="every 2s"' in fragment


def test_the_deployment_page_runs_a_fixed_number_of_queries(login, dave, app, channel, v1):
    small, big = make_fleet(app, channel, name="small"), make_fleet(app, channel, name="big")
    for f, n in ((small, 1), (big, 6)):
        for i in range(n):
            Host.objects.create(fleet=f, name=f"h{i}", agent_url="http://127.0.0.1:1")
    one, six = (deployments.start(f, v1, user=None) for f in (small, big))
    client = login(dave)
    client.get(f"/fleet/deployments/{one.pk}/")
    with CaptureQueriesContext(connection) as a:
        client.get(f"/fleet/deployments/{one.pk}/")
    with CaptureQueriesContext(connection) as b:
        client.get(f"/fleet/deployments/{six.pk}/")
    assert len(a) == len(b)


def test_aborting_a_pending_deployment(login, bob, fleet, v1):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    deployment = deployments.start(fleet, v1, user=bob)
    login(bob).post(f"/fleet/deployments/{deployment.pk}/abort/", {"reason": "oops"})
    deployment.refresh_from_db()
    assert (deployment.state, deployment.reason) == (DeploymentState.ABORTED, "oops")


def test_aborting_a_finished_deployment_changes_nothing(login, bob, fleet, v1):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    deployment = deployments.start(fleet, v1, user=bob)
    deployments.request_abort(deployment, user=bob)
    response = login(bob).post(f"/fleet/deployments/{deployment.pk}/abort/", follow=True)
    assert "already aborted" in response.content.decode()


def test_the_dashboard_card_says_what_to_do_first(login, dave, db):
    page = login(dave).get("/").content.decode()
    assert "No fleets yet: create one" in page


def test_the_dashboard_card_counts_fleets_and_hosts(login, dave, fleet, v1):
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    deployments.start(fleet, v1, user=None)
    from fleet.views import dashboard_card

    class R:
        user = dave

    card = dashboard_card(R())
    assert dict(card.stats) == {
        "Fleets": 1,
        "Hosts": 1,
        "Hosts down": 0,
        "Deploying now": 1,
        "Rolled back, last 7 days": 0,
    }


def test_the_navigation_has_a_fleet_item(login, dave, db):
    assert 'href="/fleet/"' in login(dave).get("/").content.decode()

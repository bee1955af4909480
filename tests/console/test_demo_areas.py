"""seed_demo beyond the canary: the dark flag, the dependency audit and its finding, the fleet and
the maintenance jobs, each made through the area's own functions, once."""

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from console import demo
from console.management.commands.seed_demo import AGENT_LINE
from flags.models import Flag, FlagEvent, FlagState
from fleet.models import Fleet, Host
from maintenance import jobtypes
from maintenance.models import Job, Occurrence, Run, RunState
from maintenance.tasks import execute_run
from releases import publishing
from releases.models import Channel, Release
from security import manifests
from security.models import Advisory, AdvisoryRecord, Finding, FindingState, OsvImport, Scan
from tests.console.demo_support import seed, use_test_storage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo_storage(settings, tmp_path):
    yield from use_test_storage(settings, tmp_path)


def counts() -> dict[str, int]:
    models = [
        Flag,
        FlagEvent,
        OsvImport,
        AdvisoryRecord,
        Advisory,
        Scan,
        Finding,
        Fleet,
        Host,
        Job,
        Occurrence,
        Run,
        Release,
        AuditEvent,
    ]
    return {model.__name__: model.objects.count() for model in models}


def audit_run() -> Run:
    return Run.objects.get(job__name=demo.AUDIT_JOB)


# --- idempotence ----------------------------------------------------------------------------------


def test_seeding_again_changes_nothing_not_even_the_audit_trail():
    seed()
    first = counts()
    seed()
    assert counts() == first
    assert first["Flag"] == first["Fleet"] == first["OsvImport"] == 1
    assert first["Host"] == 2


def test_seeding_after_the_worker_ran_the_audit_asks_for_no_second_run():
    seed()
    execute_run(audit_run().pk)
    after_run = counts()
    seed()
    assert counts() == after_run
    assert Run.objects.filter(job__name=demo.AUDIT_JOB).count() == 1


def test_a_seed_interrupted_after_creating_the_audit_job_is_completed_by_the_next():
    # An earlier seed created the app and the job, then died before asking for the job's first
    # run (and before the fleet and the rest).
    app = publishing.create_app(slug=demo.APP_SLUG, name=demo.APP_NAME)
    job, created = demo.ensure_job(demo.audit_job_spec(None))
    assert created and job.app == app and not job.occurrences.exists()
    seed()
    assert Job.objects.get(name=demo.AUDIT_JOB).pk == job.pk
    assert Run.objects.get(job=job).state == RunState.QUEUED
    assert (Fleet.objects.count(), Host.objects.count(), Flag.objects.count()) == (1, 2, 1)
    again = counts()
    seed()
    assert counts() == again


# --- feature flag ---------------------------------------------------------------------------------


def test_the_demo_flag_is_dark_with_a_tester_and_a_short_ramp():
    seed()
    flag = Flag.objects.get()
    channel = Channel.objects.get()
    assert (flag.channel, flag.key, flag.min_version) == (channel, "search-suggestions", "1.1.0")
    assert (flag.state, flag.percent, flag.killed) == (FlagState.DRAFT, 0, False)
    assert flag.testers == {demo.FLAG_TESTER: "on"}
    assert [(p["percent"], p["hold_seconds"], p["requires_approval"]) for p in flag.phases] == [
        (10.0, 60, False),
        (50.0, 120, True),
        (100.0, 0, False),
    ]
    assert {m["metric"]: m["relative"] for m in flag.metrics} == {
        "crash_rate": False,
        "lcp_p75": False,
    }
    assert flag.created_by.username == "release"
    assert AuditEvent.objects.filter(action="flag.created").count() == 1


def test_the_tester_among_the_simulated_installs_gets_the_flag_in_its_update_answer(client):
    seed()
    channel = Channel.objects.get()

    def flags_for(install_id, current):
        answer = client.get(
            "/api/v1/update",
            {
                "key": channel.client_key,
                "current": current,
                "runtime": "2.0.0",
                "install_id": install_id,
            },
        )
        assert answer.status_code == 200, answer.content
        return answer.json()["flags"]

    assert flags_for("sim-0", "1.1.0") == {"search-suggestions": "on"}
    assert flags_for("sim-0", "1.0.0") == {}  # 1.0.0 does not ship the feature
    assert flags_for("sim-1", "1.1.0") == {}  # dark: nobody but the tester


# --- security -------------------------------------------------------------------------------------


def test_the_newer_bundle_ships_the_vulnerable_money_round_and_the_older_one_does_not(tmp_path):
    found = {}
    for version in ("1.0.0", "1.1.0"):
        path = tmp_path / f"{version}.zip"
        path.write_bytes(demo.bundle(version))
        packages, files = manifests.read_bundle(path)
        assert files == ["package-lock.json"]
        found[version] = {p.name: p.version for p in packages}
    assert found["1.0.0"]["@demo-shop/money-round"] == "2.0.3"
    assert found["1.1.0"]["@demo-shop/money-round"] == "2.3.1"
    assert len(found["1.1.0"]) == 4


def test_the_seed_imports_the_demo_advisory_and_asks_for_a_dependency_audit():
    seed()
    record = AdvisoryRecord.objects.get()
    assert (record.osv_id, record.ecosystem, record.severity) == (
        "UPKEEP-DEMO-2026-0001",
        "npm",
        "high",
    )
    assert OsvImport.objects.get().filename == demo.OSV_FILENAME
    job = Job.objects.get(name=demo.AUDIT_JOB)
    assert (job.job_type, job.params, job.app.slug, job.owner.username) == (
        "dependency_audit",
        {"app": "demo-shop"},
        "demo-shop",
        "operator",
    )
    run = audit_run()
    assert (run.state, run.requested_by.username) == (RunState.QUEUED, "operator")
    assert not Finding.objects.exists()  # the worker has not run it yet


def test_the_worker_runs_the_audit_and_opens_a_high_finding_with_a_30_day_sla():
    seed()
    execute_run(audit_run().pk)
    run = audit_run()
    assert run.state == RunState.SUCCEEDED, run.summary
    assert run.summary.startswith("complete: 1 release(s): 1 complete"), run.summary
    scan = Scan.objects.get()
    assert (scan.release.version, scan.status, scan.packages_checked, scan.vulnerable) == (
        "1.1.0",
        "complete",
        4,
        1,
    )
    finding = Finding.objects.get()
    assert (finding.state, finding.severity, finding.package, finding.ecosystem) == (
        FindingState.OPEN,
        "high",
        "@demo-shop/money-round",
        "npm",
    )
    assert finding.versions == ["2.3.1"] and finding.fixed_versions == ["2.3.4"]
    assert finding.due_at - finding.first_seen_at == timedelta(days=30)
    assert Finding.objects.by_urgency().first() == finding


def test_the_security_page_lists_the_demo_finding(client):
    seed()
    execute_run(audit_run().pk)
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="viewer"))
    page = client.get("/security/")
    assert page.status_code == 200
    assert "@demo-shop/money-round" in page.content.decode()


# --- fleet ----------------------------------------------------------------------------------------


def test_the_demo_fleet_has_two_loopback_hosts_and_the_seed_prints_their_agents():
    lines = seed()
    fleet = Fleet.objects.get()
    assert (fleet.name, fleet.app.slug, fleet.channel.name) == (
        demo.FLEET,
        "demo-shop",
        "production",
    )
    hosts = list(fleet.hosts.order_by("name"))
    assert [h.name for h in hosts] == ["web-1", "web-2"]
    ports = [int(h.agent_url.rsplit(":", 1)[1]) for h in hosts]
    assert len(set(ports)) == 2 and all(port in demo.AGENT_PORTS for port in ports)
    expected = [
        AGENT_LINE.format(name=h.name, listen=demo.agent_listen(h), sha256=h.secret_sha256)
        for h in hosts
    ]
    assert [line for line in lines if line.startswith("demo agent: ")] == expected
    assert all(h.secret not in "\n".join(lines) for h in hosts)  # only the hash is printed
    assert AuditEvent.objects.filter(action="fleet.host_added").count() == 2


def test_a_second_seed_prints_the_same_agents():
    agents = [line for line in seed() if line.startswith("demo agent: ")]
    assert [line for line in seed() if line.startswith("demo agent: ")] == agents


def test_a_demo_host_removed_in_the_console_is_added_again_on_a_port_of_its_own():
    from fleet import deployments

    seed()
    web1 = Host.objects.get(name="web-1")
    web2_url = Host.objects.get(name="web-2").agent_url
    deployments.remove_host(web1)
    seed()
    again = Host.objects.get(name="web-1")
    assert again.pk != web1.pk and again.agent_url != web2_url


# --- database upkeep ------------------------------------------------------------------------------


def test_the_index_health_job_checks_the_console_database_daily_and_its_first_run_works():
    assert jobtypes.get("index_health").runnable
    seed()
    job = Job.objects.get(name=demo.INDEX_JOB)
    assert (job.job_type, job.schedule, job.params["target"]) == (
        "index_health",
        "30 3 * * *",
        "console",
    )
    run = Run.objects.get(job=job)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.summary

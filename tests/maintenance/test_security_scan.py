from datetime import timedelta

import pytest
from django.core import checks as django_checks
from django.test import override_settings
from django.utils import timezone

from accounts.actions import set_active
from accounts.models import ApiToken
from accounts.roles import VIEWER
from accounts.tokens import create_token
from audit.models import Approval, ChangeRequest
from maintenance import jobtypes, runs
from maintenance.models import Job, RunState
from maintenance.tasks import execute_run
from tests.conftest import make_user
from tests.maintenance.conftest import make_job

pytestmark = pytest.mark.django_db

# What `manage.py check --deploy` needs to report nothing (settings.py with UPKEEP_HTTPS=1).
HTTPS = {
    "SECURE_SSL_REDIRECT": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
}


def _scan(requested_by, **params):
    job = make_job("security", job_type="security_scan", params=params)
    run = runs.run_now(job, requested_by)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def _days_ago(days):
    return timezone.now() - timedelta(days=days)


@override_settings(**HTTPS)
def test_a_clean_setup_succeeds_with_a_summary_naming_what_was_checked(alice, alex):
    run = _scan(alice)
    assert run.state == RunState.SUCCEEDED
    assert run.summary == (
        "clean: configuration: 0 errors, 0 warnings; permissions: 2 admins, 0 stale accounts, "
        "0 unused tokens, 0 live tokens of deactivated accounts, 0 accounts without a role, "
        "0 self-approved changes, 0 overdue change requests"
    )


@override_settings(**HTTPS)
def test_a_stale_account_and_an_unused_token_are_warnings(alice, alex):
    make_user("olga", VIEWER, last_login=_days_ago(120))
    token, _ = create_token(alex, "ci")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=_days_ago(100))
    run = _scan(alice, checks=["permissions"])
    assert run.state == RunState.SUCCEEDED
    assert run.summary.startswith("with warnings: permissions: 2 admins, 1 stale account, ")
    assert "1 unused token," in run.summary


def test_the_log_names_the_stale_account_and_the_unused_token(alice, alex):
    make_user("olga", VIEWER, last_login=_days_ago(120))
    token, _ = create_token(alex, "ci")
    ApiToken.objects.filter(pk=token.pk).update(created_at=_days_ago(45))
    log = _scan(alice, checks=["permissions"]).log
    assert "[warning] permissions.stale_account: 1 active account not signed in" in log
    assert "[warning] permissions.never_used_token: 1 API token never used" in log
    assert "(alex/ci)" in log and "(olga)" in log


def test_a_deactivated_users_live_token_fails_the_run(alice, alex, bob):
    create_token(bob, "deploy")
    # Deactivated outside the console's own action (which revokes tokens), e.g. in Django admin.
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    run = _scan(alice, checks=["permissions"])
    assert run.state == RunState.FAILED
    assert "1 live token of a deactivated account" in run.summary
    assert "[error] permissions.deactivated_user_token" in run.log and "bob/deploy" in run.log


def test_a_revoked_token_of_a_deactivated_user_is_no_finding(alice, alex, bob):
    token, _ = create_token(bob, "deploy")
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    set_active(bob, False)
    run = _scan(alice, checks=["permissions"])
    assert run.state == RunState.SUCCEEDED
    assert "no unrevoked API tokens of deactivated accounts" in run.log


def test_the_configuration_audit_reports_deployment_warnings_by_check_id(alice, alex):
    run = _scan(alice, checks=["configuration"])
    assert run.state == RunState.SUCCEEDED and run.summary.startswith("with warnings: ")
    assert "[warning] security.W004:" in run.log and "permissions" not in run.summary


@override_settings(**HTTPS, SECURE_REFERRER_POLICY="nobody-knows")
def test_a_configuration_error_fails_the_run(alice, alex):
    run = _scan(alice)
    assert run.state == RunState.FAILED
    assert "configuration: 1 error, 0 warnings" in run.summary
    assert "[error] security.E023:" in run.log


def _crashing_check(app_configs, **kwargs):
    raise OSError("settings store unreachable")


def test_a_check_that_cannot_run_fails_the_run_with_the_reason(alice, alex):
    django_checks.register(_crashing_check, deploy=True)
    try:
        run = _scan(alice)
    finally:
        django_checks.registry.registry.deployment_checks.discard(_crashing_check)
    assert run.state == RunState.FAILED
    assert "configuration audit could not run: OSError: settings store unreachable" in (run.summary)
    assert "(completed: permissions: 2 admins" in run.summary


def test_fewer_than_two_admins_and_an_account_without_a_role_are_warnings(alice, erin):
    log = _scan(alice, checks=["permissions"]).log
    assert "[warning] permissions.too_few_admins: 1 active Admin" in log
    assert "[warning] permissions.no_role: 1 active account without a role (erin)" in log


def _change_request(requested_by, *, expires_at):
    now = timezone.now()
    return ChangeRequest.objects.create(
        kind="test.kind",
        title="Grant admin",
        payload_hash="0" * 64,
        requested_by=requested_by,
        created_at=now - timedelta(days=4),
        expires_at=expires_at,
    )


def test_a_recorded_self_approval_fails_the_run(alice, alex):
    cr = _change_request(alice, expires_at=_days_ago(-1))
    Approval.objects.create(
        change_request=cr,
        approver=alice,
        version=1,
        payload_hash=cr.payload_hash,
        decision=Approval.Decision.APPROVE,
        at=timezone.now(),
    )
    run = _scan(alice, checks=["permissions"])
    assert run.state == RunState.FAILED
    expected = f"1 change request approved by its own requester (change #{cr.pk})"
    assert f"[error] permissions.self_approval: {expected}" in run.log


def test_an_open_change_request_past_its_expiry_is_a_warning(alice, alex):
    cr = _change_request(alice, expires_at=_days_ago(1))
    run = _scan(alice, checks=["permissions"])
    assert run.state == RunState.SUCCEEDED and "1 overdue change request" in run.summary
    assert "permissions.overdue_change_request" in run.log and f"change #{cr.pk}" in run.log


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"checks": ["network"]}, "checks must be chosen from: configuration, permissions"),
        ({"checks": "configuration"}, "checks must be a list of names"),
        ({"checks": []}, "checks must name at least one"),
        ({"depth": 3}, "unknown params: depth"),
    ],
)
def test_bad_params_are_refused_with_a_clear_message(params, message):
    with pytest.raises(jobtypes.ParamsError, match=message):
        jobtypes.get("security_scan").clean_params(params)


def test_the_job_form_refuses_unknown_checks(login, carol):
    response = login(carol).post(
        "/maintenance/jobs/new/",
        {
            "name": "scan",
            "job_type": "security_scan",
            "params": '{"checks": ["network"]}',
            "schedule": "manual",
            "timezone": "UTC",
            "priority": 5,
            "max_duration": "10m",
            "retry_attempts": 0,
            "retry_backoff": "1m",
            "missed_policy": "skip",
            "slow_factor": 2,
            "enabled": "on",
        },
    )
    assert "checks must be chosen from: configuration, permissions" in response.content.decode()
    assert not Job.objects.exists()


def test_a_saved_job_with_bad_params_fails_its_run_with_the_reason(alice, alex):
    run = _scan(alice, checks=["everything"])
    assert run.state == RunState.FAILED
    assert "checks must be chosen from" in run.summary

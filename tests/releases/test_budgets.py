"""Budgets: defaults, over-budget publishing, and the four-eyes override path."""

import pytest

from audit import approvals
from audit.models import ChangeRequest
from releases import publishing
from releases.models import App
from tests.releases.conftest import publish

BIG = bytes(range(256)) * 40  # 10 KiB, barely compressible


@pytest.fixture
def tight_app(db):
    app = App.objects.create(slug="tight", name="Tight")
    return publishing.set_budgets(
        app, main_budget_kib=8, subpackage_budget_kib=4, total_budget_kib=100
    )


def test_apps_start_with_the_wechat_budgets(app):
    assert (app.main_budget_kib, app.subpackage_budget_kib) == (2048, 2048)
    assert (app.total_budget_kib, app.growth_budget_pct) == (20 * 1024, 5)


def test_a_release_within_budget_is_not_blocked(app):
    release = publish(app, "1.0.0")
    assert release.budget_verdict == "ok"
    assert publishing.rollout_blocked_by_budget(release) is None


def test_a_release_over_its_main_package_budget_is_published_but_blocked(tight_app):
    release = publish(tight_app, "1.0.0", {"big.bin": BIG})
    assert release.pk is not None and release.budget_verdict == "over"
    assert "main package" in publishing.rollout_blocked_by_budget(release)


def test_a_subpackage_over_its_budget_is_flagged(tight_app):
    release = publish(
        tight_app, "1.0.0", {"sub/big.bin": BIG[:6000]}, manifest={"subpackages": ["sub"]}
    )
    over = [f["budget"] for f in release.budget_findings if f["over"]]
    assert over == ["subpackage sub"]


def test_growth_over_five_percent_is_flagged_without_blocking(app):
    publish(app, "1.0.0", {"a.bin": BIG})
    grown = publish(app, "1.1.0", {"a.bin": BIG + BIG[:1000]})
    growth = next(f for f in grown.budget_findings if f["budget"] == "growth %")
    assert growth["flagged"] and growth["actual"] > 5
    assert grown.budget_verdict == "ok"


def test_the_override_needs_a_second_person(tight_app, bob):
    release = publish(tight_app, "1.0.0", {"big.bin": BIG})
    cr = publishing.request_budget_override(release, user=bob, reason="launch day assets")
    with pytest.raises(approvals.SelfApprovalError):
        approvals.approve(cr.pk, bob, version=cr.version)


def test_an_approved_and_applied_override_unblocks_the_release(tight_app, bob, becky):
    release = publish(tight_app, "1.0.0", {"big.bin": BIG})
    cr = publishing.request_budget_override(release, user=bob, reason="launch day assets")
    approvals.approve(cr.pk, becky, version=cr.version)
    approvals.apply(cr.pk, becky)
    release.refresh_from_db()
    assert publishing.rollout_blocked_by_budget(release) is None
    assert ChangeRequest.objects.get(pk=cr.pk).status == "applied"


def test_an_override_is_refused_for_a_release_within_budget(app, bob):
    release = publish(app, "1.0.0")
    with pytest.raises(publishing.PublishError) as caught:
        publishing.request_budget_override(release, user=bob, reason="x")
    assert caught.value.status == 409

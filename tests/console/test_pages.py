import re

import pytest

from console import liveness

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"\sstyle=|<style", re.I)
PAGES = [
    "/",
    "/audit/log/",
    "/audit/approvals/",
    "/accounts/me/",
    "/accounts/users/",
    "/notifications/",
    "/notifications/preferences/",
    "/notifications/webhooks/",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_no_inline_script_or_style(login, alice, path):
    body = login(alice).get(path).content.decode()
    assert not INLINE_SCRIPT.search(body)
    assert not INLINE_STYLE.search(body)


def test_responses_carry_a_strict_content_security_policy(login, alice):
    response = login(alice).get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy


def test_every_page_carries_the_csrf_header_for_htmx(login, alice):
    body = login(alice).get("/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in body


def test_the_dashboard_shows_real_numbers(login, alice, alex, dave):
    from audit import approvals

    approvals.request_change(
        "accounts.grant_admin",
        requested_by=alice,
        target=dave,
        payload={"user_id": dave.pk},
        title="Make dave an Admin",
    )
    response = login(alice).get("/")
    cards = {c.title: dict(c.stats) for c in response.context["cards"]}
    assert cards["Approvals and audit"]["Waiting for approval"] == 1
    assert cards["People"]["Admin"] == 2


def test_a_viewer_does_not_see_the_people_card_or_link(login, dave):
    response = login(dave).get("/")
    assert "People" not in [c.title for c in response.context["cards"]]
    assert "/accounts/users/" not in response.content.decode()


def test_the_dashboard_has_a_fixed_query_count(login, alice, django_assert_max_num_queries):
    client = login(alice)
    liveness.beat("controller")
    client.get("/")
    # About two queries per area card (eleven areas) plus the shell; none grows with data.
    with django_assert_max_num_queries(30):
        client.get("/")


def test_an_unknown_api_path_answers_json_404(client, db):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_only_the_longest_matching_nav_item_is_current(rf, alice):
    from console.navigation import ITEMS, NavItem, nav_for

    ITEMS.append(NavItem("Deeper", "audit:approvals", "accounts.view_console", "/audit/log/x/"))
    try:
        request = rf.get("/audit/log/x/")
        request.user = alice
        current = [item["label"] for item in nav_for(request) if item["active"]]
    finally:
        ITEMS.pop()
    assert current == ["Deeper"]

"""Every link in the top bar opens a working page, under the strict Content-Security-Policy."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NAV_LINKS = "header.topbar nav a"


def test_every_top_bar_link_opens_a_page_without_errors(page, page_errors, log_in, alice):
    log_in(alice)
    links = page.locator(NAV_LINKS)
    labels = links.all_inner_texts()
    assert "People" in labels  # the admin sees the whole navigation

    for index, label in enumerate(labels):
        page.locator(NAV_LINKS).nth(index).click()
        page.wait_for_load_state()
        assert page_errors == [], f"opening {label!r}"
        # A list: exactly one item is marked as the current page, and it is this one.
        expect(page.locator(f"{NAV_LINKS}[aria-current=page]")).to_have_text([label])
        expect(page.locator("main h1").first).to_be_visible()

    assert page_errors == []  # late console errors of the last page


def test_a_viewer_sees_no_people_link_and_is_refused_the_people_page(page, log_in, dave):
    log_in(dave)
    nav = page.locator(NAV_LINKS)
    expect(nav.filter(has_text="Dashboard")).to_have_count(1)
    expect(nav.filter(has_text="People")).to_have_count(0)

    response = page.goto("/accounts/users/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")

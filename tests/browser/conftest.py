"""Playwright (sync API) against the system Chromium and pytest-django's live_server.

Run with ``make test-browser`` (``pytest -m browser tests/browser``); the default selection in
pyproject.toml leaves these tests out. Every module here sets ``pytestmark = pytest.mark.browser``.

Fixtures: ``browser`` (one Chromium per session), ``page`` (a new context per test, with
``base_url`` set to the live server), ``page_errors`` (console errors, uncaught exceptions and 5xx
responses seen by ``page``) and ``log_in`` (signs a persona in through the real login form).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("UPKEEP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Where a failing test leaves a screenshot of its page (ignored by git).
RESULTS_DIR = ROOT / "test-results"


@pytest.fixture(scope="session")
def _allow_sync_orm_next_to_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an asyncio loop running in the main thread.

    Django would then refuse ORM calls made by tests and fixtures in that thread (creating
    personas, flushing the database); they are plain synchronous calls, so allow them. Set for
    the browser session only, so the rest of the suite keeps Django's check.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def playwright(_allow_sync_orm_next_to_playwright) -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set UPKEEP_CHROMIUM)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so `page` can tell whether its test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(request, browser: Browser, live_server) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 800}, locale="en-US"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        RESULTS_DIR.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        with contextlib.suppress(PlaywrightError):  # a crashed page has nothing to show
            page.screenshot(path=RESULTS_DIR / f"{name}.png", full_page=True)
    context.close()


@pytest.fixture
def page_errors(page: Page) -> list[str]:
    """Everything that went wrong in the page: console errors (CSP violations are reported
    there), uncaught exceptions, and responses with a 5xx status."""
    errors: list[str] = []

    def on_console(msg) -> None:
        source = msg.location.get("url", "")
        # Chromium asks for /favicon.ico on its own; the pages declare no icon, so that 404 is
        # not a fault of the page under test.
        if msg.type == "error" and not source.endswith("/favicon.ico"):
            errors.append(f"console: {msg.text} (page {page.url}, source {source or '?'})")

    def on_response(response) -> None:
        if response.status >= 500:
            errors.append(f"HTTP {response.status}: {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc} ({page.url})"))
    page.on("response", on_response)
    return errors


@pytest.fixture
def log_in(page: Page) -> Callable[..., None]:
    """log_in(user) signs ``user`` in through the login form and lands on the dashboard."""

    def _log_in(user, *, password: str = PASSWORD) -> None:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.get_username())
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("header.topbar")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/$"))

    return _log_in

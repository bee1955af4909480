"""A job from the form to a finished run, with a real worker cluster and controller."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.processes import env_for_test_database

pytestmark = pytest.mark.browser


@pytest.fixture
def background():
    """`manage.py qcluster` and `manage.py controller` against the live server's database."""
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env_for_test_database(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for args in (["qcluster"], ["controller", "--interval", "0.5"])
    ]
    yield
    for proc in procs:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_create_a_job_see_its_next_runs_run_it_now_and_watch_it_finish(
    page, log_in, page_errors, carol, background
):
    log_in(carol)
    page.goto("/maintenance/jobs/new/")
    page.get_by_label("Name").fill("browser-audit")
    page.get_by_label("Type").select_option("command")
    page.get_by_label("Params").fill('{"command": "verify_audit"}')
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Schedule").fill("30 2 * * *")
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("At 02:30 every day")
    expect(preview.locator("li")).to_have_count(5)
    expect(preview.locator("li").first).to_contain_text(re.compile(r"02:30 CE[S]?T"))
    page.get_by_role("button", name="Save job").click()

    expect(page.get_by_role("heading", name=re.compile("browser-audit"))).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    expect(page).to_have_url(re.compile(r"/maintenance/runs/\d+/$"))
    expect(page.locator("[data-run-state]")).to_have_attribute(
        "data-run-state", "succeeded", timeout=30_000
    )
    expect(page.locator("#run-live")).to_contain_text("manage.py verify_audit")
    assert page_errors == []

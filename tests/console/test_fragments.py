from django.template.loader import render_to_string


def test_the_progress_bar_polls_while_work_runs():
    html = render_to_string(
        "_progress.html",
        {"value": 40, "max": 100, "label": "40 of 100 MiB", "poll_url": "/backups/7/progress/"},
    )
    assert 'hx-get="/backups/7/progress/"' in html
    assert '<progress value="40" max="100"' in html


def test_the_progress_bar_stops_polling_when_done():
    html = render_to_string(
        "_progress.html",
        {
            "value": 100,
            "max": 100,
            "label": "done",
            "poll_url": "/backups/7/progress/",
            "done": True,
        },
    )
    assert "hx-get" not in html


def test_a_status_badge_carries_its_tone():
    html = render_to_string("_status_badge.html", {"tone": "bad", "label": "failed"})
    assert 'class="badge badge-bad"' in html
    assert "failed" in html

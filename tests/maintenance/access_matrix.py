"""Who may open each maintenance view (checked by tests/maintenance/test_access.py)."""

VIEWERS = {"dave", "carol", "bob", "alice"}
OPERATORS = {"carol", "alice"}

MATRIX = {
    "maintenance:jobs": ("GET", "/maintenance/", VIEWERS),
    "maintenance:job_new": ("GET", "/maintenance/jobs/new/", OPERATORS),
    "maintenance:job_preview": (
        "GET",
        "/maintenance/jobs/preview/?schedule=0+2+*+*+*&timezone=UTC",
        VIEWERS,
    ),
    "maintenance:job": ("GET", "/maintenance/jobs/{job}/", VIEWERS),
    "maintenance:job_edit": ("GET", "/maintenance/jobs/{job}/edit/", OPERATORS),
    "maintenance:job_run_now": ("POST", "/maintenance/jobs/{job}/run/", OPERATORS),
    "maintenance:job_delete": ("POST", "/maintenance/jobs/{job}/delete/", OPERATORS),
    "maintenance:plan_run": ("POST", "/maintenance/plans/{plan}/run/", OPERATORS),
    "maintenance:run": ("GET", "/maintenance/runs/{run}/", VIEWERS),
    "maintenance:run_cancel": ("POST", "/maintenance/runs/{run}/cancel/", OPERATORS),
    "maintenance:windows": ("GET", "/maintenance/windows/", VIEWERS),
    "maintenance:window_new": ("GET", "/maintenance/windows/new/", OPERATORS),
    "maintenance:window_edit": ("GET", "/maintenance/windows/{window}/edit/", OPERATORS),
    "maintenance:window_delete": ("POST", "/maintenance/windows/{window}/delete/", OPERATORS),
    "maintenance:calendar": ("GET", "/maintenance/calendar/", VIEWERS),
    "maintenance:cadence": ("GET", "/maintenance/cadence/", VIEWERS),
    "maintenance:cadence_adopt": ("POST", "/maintenance/cadence/daily/adopt/", OPERATORS),
    "maintenance:checklists": ("GET", "/maintenance/checklists/", VIEWERS),
    "maintenance:checklist_open": (
        "POST",
        "/maintenance/checklists/templates/{template}/open/",
        OPERATORS,
    ),
    "maintenance:checklist": ("GET", "/maintenance/checklists/{checklist}/", VIEWERS),
    "maintenance:checklist_assign": (
        "POST",
        "/maintenance/checklists/{checklist}/assign/",
        OPERATORS,
    ),
    "maintenance:checklist_tick": ("POST", "/maintenance/checklists/items/{item}/tick/", OPERATORS),
}

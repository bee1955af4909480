"""The main navigation: only areas that exist, only those the person may open."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str
    prefix: str


ITEMS: list[NavItem] = [
    NavItem("Dashboard", "console:dashboard", "accounts.view_console", "/"),
    NavItem("Approvals", "audit:approvals", "accounts.view_console", "/audit/approvals/"),
    NavItem("Audit log", "audit:log", "accounts.view_console", "/audit/log/"),
    NavItem(
        "Notifications", "notifications:deliveries", "accounts.view_console", "/notifications/"
    ),
    NavItem("People", "accounts:users", "accounts.manage_users", "/accounts/users/"),
]


def register(item: NavItem, *, before: str | None = None) -> None:
    """Apps add their area when it exists (called from AppConfig.ready)."""
    if any(i.url_name == item.url_name for i in ITEMS):
        return
    labels = [i.label for i in ITEMS]
    ITEMS.insert(labels.index(before) if before in labels else len(ITEMS), item)


def nav_for(request) -> list[dict]:
    """The items this person may open; the one whose prefix matches the path longest is current
    (so /releases/rollouts/ marks "Rollouts", not also "Releases")."""
    path = request.path
    visible = [item for item in ITEMS if request.user.has_perm(item.permission)]
    matching = [
        item
        for item in visible
        if (path == "/" if item.prefix == "/" else path.startswith(item.prefix))
    ]
    current = max(matching, key=lambda item: len(item.prefix), default=None)
    return [
        {"label": item.label, "url": reverse(item.url_name), "active": item is current}
        for item in visible
    ]

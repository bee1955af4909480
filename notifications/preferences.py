"""Who gets which event by email: each person's explicit choices over the events' defaults."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.trail import record
from notifications.events import all_events, get_event
from notifications.models import EmailPreference

# Email goes only to people who may read the console: a notification links into it and may
# name things a person without a role must not see.
CONSOLE_PERMISSION = ("accounts", "view_console")


def eligible_users() -> QuerySet:
    """Active users with an email address who hold ``accounts.view_console`` (or superusers)."""
    app_label, codename = CONSOLE_PERMISSION
    holds = Q(
        groups__permissions__codename=codename,
        groups__permissions__content_type__app_label=app_label,
    ) | Q(
        user_permissions__codename=codename,
        user_permissions__content_type__app_label=app_label,
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(is_superuser=True) | holds)
        .distinct()
    )


def recipients(event: str) -> QuerySet:
    """Eligible users who get ``event`` by email, by explicit choice or by the event's default."""
    spec = get_event(event)
    users = eligible_users()
    if spec.default_email:
        opted_out = EmailPreference.objects.filter(event=event, enabled=False).values("user_id")
        return users.exclude(pk__in=opted_out)
    opted_in = EmailPreference.objects.filter(event=event, enabled=True).values("user_id")
    return users.filter(pk__in=opted_in)


def effective(user) -> dict[str, bool]:
    """Every selectable event → whether ``user`` gets it by email now."""
    explicit = dict(EmailPreference.objects.filter(user=user).values_list("event", "enabled"))
    return {e.key: explicit.get(e.key, e.default_email) for e in all_events(selectable_only=True)}


def save(user, chosen: set[str]) -> dict[str, bool]:
    """Store ``user``'s choice for every selectable event; ``chosen`` are the ones they want.

    Every event gets an explicit row, so a later change of an event's default does not change
    what this person asked for. Audited when something changed; returns the changed events.
    """
    before = effective(user)
    after = {key: key in chosen for key in before}
    changed = {key: value for key, value in after.items() if before[key] != value}
    now = timezone.now()
    with transaction.atomic():
        for key, enabled in after.items():
            EmailPreference.objects.update_or_create(
                user=user, event=key, defaults={"enabled": enabled, "updated_at": now}
            )
        if changed:
            record(
                "notifications.preferences_changed",
                user,
                before={key: before[key] for key in changed},
                after=changed,
            )
    return changed

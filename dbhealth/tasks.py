"""Worker tasks (queued after commit by ``dbhealth.actions``); they take primary keys."""

from __future__ import annotations


def run_action(action_pk: int) -> str:
    from dbhealth.actions import execute

    action = execute(action_pk)
    return f"{action}: {action.status}"

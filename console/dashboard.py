"""Dashboard cards: each area contributes a summary with real numbers (or says what to do)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Card:
    title: str
    url: str
    stats: list[tuple[str, object]] = field(default_factory=list)
    empty: str = ""  # shown instead of stats when there is nothing yet: what to do next
    status: str = ""  # a badge: ok / warn / bad / unknown, or "" for none
    status_label: str = ""


_providers: list[tuple[str, str, Callable]] = []


def register(name: str, permission: str, provider: Callable[..., Card]) -> None:
    """``provider(request)`` returns a Card; shown to people holding ``permission``."""
    if all(existing != name for existing, _, _ in _providers):
        _providers.append((name, permission, provider))


def cards_for(request) -> list[Card]:
    return [p(request) for _, perm, p in _providers if request.user.has_perm(perm)]

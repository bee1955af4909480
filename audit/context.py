"""Who is acting, and on behalf of which request or run.

The audit writer reads the current actor from here, so views, API calls and worker tasks record
who did what without threading an ``actor`` argument through every call. Middleware sets it for
requests, the API's token check narrows it to the token, and tasks set it with ``acting_as``.
"""

from __future__ import annotations

import contextvars
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Actor:
    """An actor as the audit trail records it.

    kind: ``user`` (a person in the console), ``token`` (the CI API, acting with its owner's
    role), ``run`` (a worker task acting on a user's behalf), ``system`` (the controller or a
    scheduled job nobody started) or ``anonymous`` (e.g. a failed login).
    """

    kind: str
    label: str
    user_id: int | None = None
    token_id: int | None = None
    run_ref: str = ""
    request_id: str = ""
    ip: str = ""

    @classmethod
    def system(cls, label: str = "system", *, run_ref: str = "") -> Actor:
        return cls(kind="system", label=label, run_ref=run_ref, request_id=new_request_id())

    @classmethod
    def for_user(cls, user, *, request_id: str = "", ip: str = "") -> Actor:
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(kind="anonymous", label="anonymous", request_id=request_id, ip=ip)
        return cls(
            kind="user", label=user.get_username(), user_id=user.pk, request_id=request_id, ip=ip
        )

    @classmethod
    def for_token(cls, token, *, request_id: str = "", ip: str = "") -> Actor:
        user = token.user
        return cls(
            kind="token",
            label=f"{user.get_username()} (token {token.name})",
            user_id=user.pk,
            token_id=token.pk,
            request_id=request_id,
            ip=ip,
        )

    @classmethod
    def for_run(cls, run_ref: str, user=None) -> Actor:
        """A worker run: acts for the user who started it, or for the system."""
        if user is None:
            return cls.system(f"{run_ref}", run_ref=run_ref)
        return cls(
            kind="run",
            label=f"{run_ref} for {user.get_username()}",
            user_id=user.pk,
            run_ref=run_ref,
            request_id=new_request_id(),
        )

    def with_ip(self, ip: str) -> Actor:
        return replace(self, ip=ip)


def new_request_id() -> str:
    return uuid.uuid4().hex


_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


def current_actor() -> Actor:
    actor = _current.get()
    return actor if actor is not None else Actor.system()


def set_actor(actor: Actor | None) -> contextvars.Token:
    return _current.set(actor)


def reset_actor(token: contextvars.Token) -> None:
    _current.reset(token)


@contextmanager
def acting_as(actor: Actor):
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)

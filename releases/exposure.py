"""Who may be offered a release: the extension point rollouts plug into.

The update resolution asks ``exposures(channel, releases)`` which audience each candidate release
has on a channel. Providers run in registration order and may narrow what earlier ones said:

* ``budget_provider`` (here): an over-budget release without an approved override is for testers
  only.
* The rollouts issue registers its provider (``register(provider)`` in its AppConfig.ready) that
  returns ``Exposure.cohort(percent, salt)`` for a release in an active rollout on that channel
  (and ``Exposure.nobody()`` for one whose rollout was aborted). It also applies the channel's
  release gate: on a ``rollout``-gated channel a release no rollout was started on is
  ``Exposure.testers(reason_out="AWAITING_ROLLOUT")`` (rollback releases excepted). Its results
  are cached with the update answers, so a provider must read everything it needs from the
  database (and every change it depends on must call ``releases.generation.bump()``).

The endpoint's contract does not change: the cohort is chosen per request after the cache
lookup, from the cached percent and salt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Exposure:
    audience: str  # "everyone" | "testers" | "cohort" | "nobody"
    percent: float = 100.0
    salt: str = ""
    reason_in: str = "UPDATE_AVAILABLE"  # reason when the release is served through this
    reason_out: str = ""  # reason when a client is held back by it
    # Withdrawn (an aborted or superseded rollout): offered to nobody, and clients already
    # running it are sent back to the stable release with reason ROLLED_BACK.
    withdrawn: bool = False

    @classmethod
    def everyone(cls) -> Exposure:
        return cls("everyone")

    @classmethod
    def testers(cls, reason_out: str = "TESTERS_ONLY") -> Exposure:
        return cls("testers", percent=0.0, reason_out=reason_out)

    @classmethod
    def cohort(cls, percent: float, salt: str) -> Exposure:
        return cls(
            "cohort",
            percent=percent,
            salt=salt,
            reason_in="ROLLOUT_MATCH",
            reason_out="ROLLOUT_EXCLUDED",
        )

    @classmethod
    def withdrawn_release(cls) -> Exposure:
        return cls("nobody", percent=0.0, reason_out="ROLLOUT_EXCLUDED", withdrawn=True)

    @classmethod
    def nobody(cls, reason_out: str = "ROLLOUT_EXCLUDED") -> Exposure:
        return cls("nobody", percent=0.0, reason_out=reason_out)


# provider(channel, releases, exposures) mutates ``exposures`` (release pk -> Exposure). The
# releases are the candidates newest first, loaded without their ``analysis`` field.
Provider = Callable[[object, list, dict], None]


def budget_provider(channel, releases, exposures: dict) -> None:
    from releases.publishing import rollout_blocked_by_budget

    for release in releases:
        if rollout_blocked_by_budget(release):
            exposures[release.pk] = Exposure.testers(reason_out="TESTERS_ONLY")


_providers: list[Provider] = [budget_provider]


def register(provider: Provider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def exposures(channel, releases: list) -> dict:
    result = {release.pk: Exposure.everyone() for release in releases}
    for provider in _providers:
        provider(channel, releases, result)
    return result

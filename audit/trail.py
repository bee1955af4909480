"""The one way to write the audit trail, and the check that it was not rewritten.

``record`` must run inside the transaction that makes the change, so the change and its audit
row commit together or not at all. ``transition`` is the compare-and-set used by every state
machine: it updates a row only if it still holds the expected values and records the change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.context import Actor, current_actor
from audit.models import AuditedQuerySet, AuditEvent, ChainHead

GENESIS_HASH = "0" * 64
# Fields that make up a row's canonical form, in a fixed order. Changing this list changes
# every hash: it is part of the on-disk contract of the audit trail.
CANONICAL_FIELDS = (
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "token_id",
    "run_ref",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "reason",
    "request_id",
    "ip",
)


class AuditError(RuntimeError):
    pass


def to_json_value(value: Any) -> Any:
    """Normalise a value to what a JSON column gives back (dates and decimals become strings)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(row: dict[str, Any]) -> str:
    data = {name: row[name] for name in CANONICAL_FIELDS}
    data["at"] = _iso(row["at"])
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(row)).encode()).hexdigest()


def object_ref(obj: models.Model | None) -> tuple[str, str, str]:
    if obj is None:
        return "", "", ""
    return obj._meta.label_lower, str(obj.pk), str(obj)[:300]


def _locked_head() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # A fresh (or flushed) database: the first writer creates the head, racers wait on the
        # primary key and then lock the row it made.
        try:
            with transaction.atomic():
                ChainHead.objects.create(pk=1, seq=0, row_hash=GENESIS_HASH)
        except IntegrityError:
            pass
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def record(
    action: str,
    obj: models.Model | None = None,
    *,
    before: Any = None,
    after: Any = None,
    reason: str = "",
    actor: Actor | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    object_repr: str | None = None,
) -> AuditEvent:
    """Append one row to the audit trail, inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise AuditError(
            f"audit.record({action!r}) must run inside the transaction that makes the change"
        )
    actor = actor or current_actor()
    o_type, o_id, o_repr = object_ref(obj)
    head = _locked_head()
    row = {
        "seq": head.seq + 1,
        "at": timezone.now(),
        "actor_kind": actor.kind,
        "actor_id": actor.user_id,
        "actor_label": actor.label[:200],
        "token_id": actor.token_id,
        "run_ref": actor.run_ref[:100],
        "action": action,
        "object_type": object_type if object_type is not None else o_type,
        "object_id": str(object_id) if object_id is not None else o_id,
        "object_repr": (object_repr if object_repr is not None else o_repr)[:300],
        "before": to_json_value(before),
        "after": to_json_value(after),
        "reason": reason,
        "request_id": actor.request_id[:64],
        "ip": actor.ip[:64],
    }
    row_hash = compute_hash(head.row_hash, row)
    event = AuditEvent.objects.create(**row, prev_hash=head.row_hash, row_hash=row_hash)
    ChainHead.objects.filter(pk=1).update(seq=row["seq"], row_hash=row_hash)
    return event


def snapshot(obj: models.Model, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {name: to_json_value(getattr(obj, name)) for name in fields}


def transition(
    obj: models.Model,
    *,
    action: str,
    expect: dict[str, Any],
    changes: dict[str, Any],
    reason: str = "",
    actor: Actor | None = None,
) -> bool:
    """Compare-and-set: apply ``changes`` to ``obj``'s row only if it still matches ``expect``.

    Returns False, writing nothing, when another writer got there first. On success the audit row
    records the expected values as *before* and the stored values as *after*, and ``obj`` is
    refreshed with them.
    """
    model = type(obj)
    with transaction.atomic():
        qs = model._base_manager.filter(pk=obj.pk, **expect)
        if isinstance(qs, AuditedQuerySet):
            updated = qs._audited_update(**changes)
        else:
            updated = qs.update(**changes)
        if updated != 1:
            return False
        obj.refresh_from_db(fields=list(changes))
        record(
            action,
            obj,
            before={k: to_json_value(v) for k, v in expect.items()},
            after=snapshot(obj, list(changes)),
            reason=reason,
            actor=actor,
        )
    return True


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""


def verify_chain(batch_size: int = 2000) -> ChainReport:
    """Walk the whole chain in order; report the first row that does not fit."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        rows = list(
            AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq").values()[:batch_size]
        )
        if not rows:
            break
        for row in rows:
            if row["seq"] != expected_seq:
                return ChainReport(False, checked, expected_seq, f"row #{expected_seq} is missing")
            if row["prev_hash"] != prev_hash:
                return ChainReport(
                    False, checked, row["seq"], "previous-hash link does not match the row before"
                )
            if compute_hash(prev_hash, row) != row["row_hash"]:
                return ChainReport(
                    False, checked, row["seq"], "content does not match its hash (row was altered)"
                )
            prev_hash = row["row_hash"]
            expected_seq += 1
            checked += 1
            last_seq = row["seq"]
    head = ChainHead.objects.filter(pk=1).first()
    if head is not None and head.seq != last_seq:
        return ChainReport(
            False,
            checked,
            last_seq + 1,
            f"chain head says #{head.seq} but the last row is #{last_seq} "
            "(rows at the end removed)",
        )
    if head is not None and head.row_hash != prev_hash:
        return ChainReport(False, checked, last_seq, "chain head hash does not match the last row")
    return ChainReport(True, checked)

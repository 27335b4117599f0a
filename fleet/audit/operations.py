"""Writing and reading the audit trail. Operations call :func:`record`; nothing else writes it."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import logging

from sqlalchemy import inspect, select

from fleet.audit.models import AuditEntry
from fleet.extensions import db

log = logging.getLogger(__name__)

#: Column names whose values never reach the audit log, only the fact that they changed.
SECRET_COLUMNS = frozenset(
    {"password_hash", "token_hash", "sim_pin", "sim_puk", "pin", "private_key", "secret"}
)


def _jsonable(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def snapshot(obj) -> dict:
    """Column values of a mapped object as a JSON-safe dict, secrets masked as ``"***"``."""
    out = {}
    for attr in inspect(obj).mapper.column_attrs:
        value = getattr(obj, attr.key)
        if attr.key in SECRET_COLUMNS:
            out[attr.key] = "***" if value else None
        else:
            out[attr.key] = _jsonable(value)
    return out


def diff(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Keep only the keys that changed (both sides), so entries stay small."""
    if before is None or after is None:
        return before, after
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def record(
    actor,
    action: str,
    entity,
    *,
    before: dict | None = None,
    after: dict | None = None,
    label: str | None = None,
) -> AuditEntry:
    """Append one audit entry.

    Args:
        actor: a ``User`` or ``None`` for the system (scheduler, migrations).
        action: dotted verb, e.g. ``"device.register"``, ``"sim.pair"``.
        entity: the mapped object acted on (flushed, so it has a primary key).
        before, after: snapshots (see :func:`snapshot`); only changed keys are kept.
        label: human label; defaults to ``entity.audit_label`` when the model has one.
    """
    before, after = diff(before, after)
    pk = inspect(entity).identity
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", None) or "system",
        action=action,
        entity_type=entity.__tablename__,
        entity_id=",".join(str(p) for p in pk) if pk else "",
        entity_label=(label if label is not None
                      else str(getattr(entity, "audit_label", "")))[:200],  # String(200)
        before=before,
        after=after,
    )
    db.session.add(entry)
    log.info("audit %s %s %s by %s", action, entry.entity_type, entry.entity_id, entry.actor_name)
    return entry


def query_entries(
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
):
    """A ``select`` of audit entries, newest first, filtered by the given fields."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    if entity_type:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == str(entity_id))
    if action:
        stmt = stmt.where(AuditEntry.action.like(f"{action}%"))
    if actor:
        stmt = stmt.where(AuditEntry.actor_name == actor)
    return stmt

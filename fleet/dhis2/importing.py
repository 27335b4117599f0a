"""Import org units and user groups from a DHIS2 server into fleet, keyed by DHIS2 UID.

Org units land in the inventory's ``org_unit`` table (:class:`fleet.inventory.models.OrgUnit`):
DHIS2's ``id`` is fleet's ``uid``; ``name``, ``code``, ``level`` and the parent are copied;
fleet's own materialised ``path`` (``/1/4/17/``, fleet ids) is recomputed for every unit that
moves and for its whole subtree. An import creates, renames, recodes and re-parents; it never
duplicates (UID is unique in the database, and a unit fleet had without a UID is linked when
its code, or its name, level and parent, match exactly one DHIS2 unit) and never deletes
(units DHIS2 no longer returns are reported as ``missing``).

Everything is read from DHIS2 first and compared with
:func:`fleet.dhis2.orgunits.diff_org_units`; nothing is written when DHIS2 fails or sends bad
data, and a dry run writes nothing at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update

from fleet.audit.models import AuditEntry
from fleet.audit.operations import record, snapshot
from fleet.dhis2.models import Dhis2Server, Dhis2UserGroup
from fleet.dhis2.operations import Dhis2Failure, client_for, dhis2_errors
from fleet.dhis2.orgunits import UID_RE, OrgUnitDiff, OrgUnitRecord, diff_org_units
from fleet.errors import InvalidInput
from fleet.extensions import db
from fleet.inventory.models import OrgUnit
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

#: fleet's ``org_unit.level`` check constraint allows levels 1-10.
MAX_LEVEL = 10

#: progress(stage, done, total): stage is "fetch" (total None while paging) or "apply".
Progress = Callable[[str, int, int | None], None]


def _no_progress(stage: str, done: int, total: int | None) -> None:
    pass


@dataclass
class OrgUnitImport:
    """Result of :func:`import_org_units`.

    ``diff`` is the library's :class:`OrgUnitDiff`; ``linked`` maps the UID of a created
    record to the id of the fleet unit (without UID) it was matched to instead of creating a
    new one; ``fetched`` is the number of org units DHIS2 returned.
    """

    server: str
    dry_run: bool
    fetched: int
    diff: OrgUnitDiff
    linked: dict[str, int] = field(default_factory=dict)
    applied: bool = False

    def summary(self) -> dict[str, int]:
        """``{"fetched", "created", "linked", "updated", "moved", "unchanged", "missing"}``."""
        counts = self.diff.summary()
        moved = sum(1 for u in self.diff.updated if "parent_uid" in u.changes)
        return {"fetched": self.fetched, "created": counts["created"] - len(self.linked),
                "linked": len(self.linked), "updated": counts["updated"], "moved": moved,
                "unchanged": counts["unchanged"], "missing": counts["missing"]}

    def rows(self) -> list[dict]:
        """One dict per change for the dry-run table: ``{"action", "uid", "name", "level",
        "parent_uid", "changes": {field: [fleet, DHIS2]}}``; missing units last."""
        out = []
        for rec in self.diff.created:
            out.append({"action": "link" if rec.uid in self.linked else "create", "uid": rec.uid,
                        "name": rec.name, "code": rec.code, "level": rec.level,
                        "parent_uid": rec.parent_uid, "changes": {}})
        for upd in self.diff.updated:
            rec = upd.record
            out.append({"action": "move" if "parent_uid" in upd.changes else "update",
                        "uid": rec.uid, "name": rec.name, "code": rec.code, "level": rec.level,
                        "parent_uid": rec.parent_uid,
                        "changes": {k: [old, new] for k, (old, new) in upd.changes.items()}})
        for uid in self.diff.missing:
            out.append({"action": "missing", "uid": uid, "name": None, "code": None,
                        "level": None, "parent_uid": None, "changes": {}})
        return out

    def to_dict(self) -> dict:
        return {"server": self.server, "dry_run": self.dry_run, "applied": self.applied,
                "summary": self.summary(), "unknown_parents": list(self.diff.unknown_parents),
                "changes": self.rows()}


def _fleet_org_units() -> tuple[dict[str, OrgUnit], dict[int, str]]:
    units = db.session.scalars(select(OrgUnit)).all()
    by_uid = {u.uid: u for u in units if u.uid}
    uid_of = {u.id: u.uid for u in units if u.uid}
    return by_uid, uid_of


def _link_candidates(diff: OrgUnitDiff, by_uid: dict[str, OrgUnit]) -> dict[str, int]:
    """Match created records to fleet units without a UID: same code (unique), else same
    name (case-insensitive), level and parent. Parents first, so a linked parent counts."""
    loose = db.session.scalars(select(OrgUnit).where(OrgUnit.uid.is_(None))).all()
    if not loose:
        return {}
    by_code: dict[str, list[OrgUnit]] = {}
    by_name: dict[tuple[str, int], list[OrgUnit]] = {}
    for unit in loose:
        if unit.code:
            by_code.setdefault(unit.code.strip(), []).append(unit)
        by_name.setdefault((unit.name.strip().lower(), unit.level), []).append(unit)
    fleet_id_of = {uid: unit.id for uid, unit in by_uid.items()}
    linked: dict[str, int] = {}
    taken: set[int] = set()
    for rec in diff.created:
        parent_id = fleet_id_of.get(rec.parent_uid) if rec.parent_uid else None
        match = None
        if rec.code and len(by_code.get(rec.code, [])) == 1:
            match = by_code[rec.code][0]
        else:
            same = [u for u in by_name.get((rec.name.lower(), rec.level), [])
                    if u.parent_id == parent_id]
            if len(same) == 1:
                match = same[0]
        if match is not None and match.id not in taken:
            linked[rec.uid] = match.id
            taken.add(match.id)
            fleet_id_of[rec.uid] = match.id
    return linked


def _check_levels(diff: OrgUnitDiff) -> None:
    deep = [r for r in diff.created if r.level > MAX_LEVEL]
    deep += [u.record for u in diff.updated if u.record.level > MAX_LEVEL]
    if deep:
        raise InvalidInput(_l("%(n)s org unit(s) are below level %(m)s (e.g. %(u)s); fleet keeps "
                              "levels 1 to %(m)s. Nothing was imported.",
                              n=len(deep), m=MAX_LEVEL, u=deep[0].uid))


def _set_path(unit: OrgUnit, parent: OrgUnit | None) -> None:
    """Give ``unit`` the path under ``parent`` and rewrite its whole subtree's paths."""
    new_path = f"{parent.path if parent else '/'}{unit.id}/"
    old_path = unit.path
    if old_path == new_path:
        return
    if parent is not None and old_path not in ("", "/") and parent.path.startswith(old_path):
        raise InvalidInput(_l("DHIS2 moves org unit %(u)s below its own descendant.", u=unit.uid))
    if old_path not in ("", "/"):
        db.session.flush()
        below = db.session.scalars(select(OrgUnit).where(
            OrgUnit.path.like(old_path + "%"), OrgUnit.id != unit.id)).all()
        for child in below:
            child.path = new_path + child.path[len(old_path):]
    unit.path = new_path


def _apply_record(unit: OrgUnit, rec: OrgUnitRecord, parent: OrgUnit | None) -> None:
    unit.name = rec.name
    unit.code = rec.code
    unit.level = rec.level
    unit.parent = parent


def import_org_units(server: Dhis2Server, *, actor, dry_run: bool = False,
                     progress: Progress | None = None) -> OrgUnitImport:
    """Import the org unit hierarchy the DHIS2 user of ``server`` can see.

    Reads ``/api/organisationUnits?fields=id,name,code,level,parent,path`` (paged), compares
    with fleet's units that have a UID, and (unless ``dry_run``) creates, links, renames,
    recodes and re-parents, one audit entry per unit (``org_unit.dhis2_create``,
    ``org_unit.dhis2_link``, ``org_unit.dhis2_update``) plus ``dhis2.import_org_units`` on the
    server with the summary. Flushes, never commits.

    Returns:
        :class:`OrgUnitImport` (summary counts and the change rows shown before applying).

    Raises:
        Dhis2Failure / Dhis2TimeoutFailure: DHIS2 refused, failed, or sent malformed units
            (nothing written).
        InvalidInput: a unit deeper than level 10, or a move into its own subtree.
    """
    progress = progress or _no_progress
    with dhis2_errors(server), client_for(server) as client:
        incoming = []
        for raw in client.iter_org_units():
            incoming.append(raw)
            if len(incoming) % 500 == 0:
                progress("fetch", len(incoming), None)
        progress("fetch", len(incoming), len(incoming))
        by_uid, uid_of = _fleet_org_units()
        existing = {uid: {"name": u.name, "code": u.code, "level": u.level,
                          "parent_uid": uid_of.get(u.parent_id) if u.parent_id else None}
                    for uid, u in by_uid.items()}
        diff = diff_org_units(existing, incoming)
    _check_levels(diff)
    report = OrgUnitImport(server=server.name, dry_run=dry_run, fetched=len(incoming), diff=diff,
                           linked=_link_candidates(diff, by_uid))
    if dry_run:
        return report

    total = len(diff.created) + len(diff.updated)
    done = 0
    # Creations, by level (parents first). New units go in with one INSERT ... RETURNING per
    # level, their paths in one UPDATE by primary key, their audit entries in one INSERT
    # (like the inventory's bulk device import); linked units go through the ORM.
    ids = {uid: unit.id for uid, unit in by_uid.items()}
    paths = {uid: unit.path for uid, unit in by_uid.items()}
    now, actor_id = utcnow(), getattr(actor, "id", None)
    actor_name = getattr(actor, "username", None) or "system"
    for level in sorted({r.level for r in diff.created}):
        records = [r for r in diff.created if r.level == level]
        for rec in (r for r in records if r.uid in report.linked):
            unit = db.session.get(OrgUnit, report.linked[rec.uid])
            parent = (db.session.get(OrgUnit, ids[rec.parent_uid])
                      if rec.parent_uid in ids else None)
            before = snapshot(unit)
            unit.uid = rec.uid
            _apply_record(unit, rec, parent)
            db.session.flush()
            _set_path(unit, parent)
            db.session.flush()
            record(actor, "org_unit.dhis2_link", unit, before=before, after=snapshot(unit))
            ids[rec.uid], paths[rec.uid] = unit.id, unit.path
            done += 1
        new = [r for r in records if r.uid not in report.linked]
        if new:
            db.session.flush()
            values = [{"uid": r.uid, "name": r.name, "code": r.code, "level": r.level,
                       "parent_id": ids.get(r.parent_uid) if r.parent_uid else None, "path": "/"}
                      for r in new]
            new_ids = db.session.execute(
                insert(OrgUnit).returning(OrgUnit.id, sort_by_parameter_order=True),
                values).scalars().all()
            for rec, row, new_id in zip(new, values, new_ids, strict=True):
                parent_path = paths[rec.parent_uid] if rec.parent_uid in ids else "/"
                row["id"], row["path"] = new_id, f"{parent_path}{new_id}/"
                ids[rec.uid], paths[rec.uid] = new_id, row["path"]
            db.session.execute(update(OrgUnit), [{"id": r["id"], "path": r["path"]}
                                                 for r in values])
            db.session.execute(insert(AuditEntry), [
                {"at": now, "actor_id": actor_id, "actor_name": actor_name,
                 "action": "org_unit.dhis2_create", "entity_type": OrgUnit.__tablename__,
                 "entity_id": str(row["id"]), "entity_label": row["name"], "before": None,
                 "after": dict(row)} for row in values])
            done += len(new)
        progress("apply", done, total)
    if diff.updated and diff.created:  # units created above are not in the session yet
        by_uid = {u.uid: u for u in db.session.scalars(
            select(OrgUnit).where(OrgUnit.uid.is_not(None)))}

    # Updates, parents first (sorted by the new level and path).
    for upd in diff.updated:
        rec = upd.record
        unit = by_uid[rec.uid]
        before = snapshot(unit)
        parent = by_uid.get(rec.parent_uid) if rec.parent_uid else None
        _apply_record(unit, rec, parent)
        if "parent_uid" in upd.changes:
            _set_path(unit, parent)
        db.session.flush()
        record(actor, "org_unit.dhis2_update", unit, before=before, after=snapshot(unit))
        done += 1
        if done % 200 == 0:
            progress("apply", done, total)
    progress("apply", done, total)
    report.applied = True
    record(actor, "dhis2.import_org_units", server, after={"summary": report.summary(),
                                                           "missing": diff.missing[:100]})
    db.session.flush()
    log.info("org units imported from %s: %s", server.name, report.summary())
    return report


# ---- user groups ---------------------------------------------------------------------------

@dataclass
class UserGroupImport:
    """Result of :func:`import_user_groups`: lists of ``{"uid", "name", "code"}`` (``updated``
    items also carry ``"changes": {field: [old, new]}``)."""

    server: str
    dry_run: bool
    created: list[dict] = field(default_factory=list)
    updated: list[dict] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    applied: bool = False

    def summary(self) -> dict[str, int]:
        return {"created": len(self.created), "updated": len(self.updated),
                "unchanged": len(self.unchanged), "missing": len(self.missing)}

    def to_dict(self) -> dict:
        return {"server": self.server, "dry_run": self.dry_run, "applied": self.applied,
                "summary": self.summary(), "created": self.created, "updated": self.updated,
                "missing": self.missing}


def import_user_groups(server: Dhis2Server, *, actor, dry_run: bool = False) -> UserGroupImport:
    """Import ``/api/userGroups?fields=id,name,code`` (paged) of ``server`` into
    ``dhis2_user_group``, keyed by (server, UID). Groups DHIS2 no longer returns are kept and
    marked ``present = false``. Audited (``dhis2_user_group.create`` / ``.update``, and
    ``dhis2.import_user_groups`` on the server). Flushes, never commits.

    Raises: Dhis2Failure / Dhis2TimeoutFailure (nothing written); Dhis2Failure for a group
    without a valid UID or name.
    """
    with dhis2_errors(server), client_for(server) as client:
        incoming = list(client.iter_user_groups())
    seen: dict[str, dict] = {}
    for raw in incoming:
        uid, name = raw.get("id"), (raw.get("name") or "").strip()
        if not isinstance(uid, str) or not UID_RE.match(uid) or not name or uid in seen:
            raise Dhis2Failure(_l("DHIS2 server “%(s)s” sent a user group fleet cannot import "
                                  "(%(r)s). Nothing was imported.",
                                  s=server.name, r=repr(raw)[:120]))
        code = (raw.get("code") or "").strip() or None
        seen[uid] = {"uid": uid, "name": name[:230], "code": code}
    rows = {g.uid: g for g in db.session.scalars(
        select(Dhis2UserGroup).where(Dhis2UserGroup.server_id == server.id))}
    report = UserGroupImport(server=server.name, dry_run=dry_run)
    for uid, data in seen.items():
        row = rows.get(uid)
        if row is None:
            report.created.append(data)
            continue
        changes = {k: [getattr(row, k), data[k]] for k in ("name", "code")
                   if getattr(row, k) != data[k]}
        if not row.present:
            changes["present"] = [False, True]
        if changes:
            report.updated.append({**data, "changes": changes})
        else:
            report.unchanged.append(uid)
    report.missing = sorted(uid for uid, row in rows.items() if uid not in seen and row.present)
    if dry_run:
        return report
    now = utcnow()
    for data in report.created:
        row = Dhis2UserGroup(server_id=server.id, uid=data["uid"], name=data["name"],
                             code=data["code"], present=True, imported_at=now)
        db.session.add(row)
        db.session.flush()
        record(actor, "dhis2_user_group.create", row, after=snapshot(row))
    for data in report.updated:
        row = rows[data["uid"]]
        before = snapshot(row)
        row.name, row.code, row.present, row.imported_at = data["name"], data["code"], True, now
        db.session.flush()
        record(actor, "dhis2_user_group.update", row, before=before, after=snapshot(row))
    for uid in report.missing:
        row = rows[uid]
        before = snapshot(row)
        row.present = False
        db.session.flush()
        record(actor, "dhis2_user_group.update", row, before=before, after=snapshot(row))
    report.applied = True
    record(actor, "dhis2.import_user_groups", server, after={"summary": report.summary()})
    db.session.flush()
    return report


def user_groups(server: Dhis2Server | None = None) -> list[Dhis2UserGroup]:
    """Imported user groups (of one server, or all), by server then name."""
    stmt = select(Dhis2UserGroup).order_by(Dhis2UserGroup.server_id,
                                           func.lower(Dhis2UserGroup.name))
    if server is not None:
        stmt = stmt.where(Dhis2UserGroup.server_id == server.id)
    return list(db.session.scalars(stmt))

"""Compare fleet's org units with DHIS2's and say what an import would change.

Pure functions over plain data; the lead's operation applies the diff to the database.
DHIS2 org unit JSON (``/api/organisationUnits?fields=id,name,code,level,parent,path``):
``{"id": "ImspTQPwCqd", "name": "Sierra Leone", "code": "OU_525", "level": 1,
"path": "/ImspTQPwCqd", "parent": {"id": "..."}}`` (DHIS2 docs, metadata.md). A UID is 11
characters, a letter then letters/digits (DHIS2 ``CodeGenerator``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

UID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{10}$")

#: The fields compared between fleet and DHIS2.
COMPARED_FIELDS = ("name", "code", "level", "parent_uid")


class OrgUnitDataError(ValueError):
    """DHIS2 sent org units fleet cannot import; ``problems`` lists ``(uid or index, reason)``."""

    def __init__(self, problems: list[tuple[str, str]]):
        shown = "; ".join(f"{where}: {why}" for where, why in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} org unit(s) cannot be imported: {shown}{more}")
        self.problems = problems


@dataclass(frozen=True)
class OrgUnitRecord:
    """One org unit in fleet's terms. ``path`` is DHIS2's ``/uid/uid/...`` path."""

    uid: str
    name: str
    code: str | None
    level: int
    parent_uid: str | None
    path: str


@dataclass(frozen=True)
class OrgUnitUpdate:
    """An org unit that exists in fleet and changed in DHIS2.

    ``changes`` maps a field of :data:`COMPARED_FIELDS` to ``(fleet value, DHIS2 value)``.
    """

    record: OrgUnitRecord
    changes: dict[str, tuple[object, object]]


@dataclass
class OrgUnitDiff:
    """What importing DHIS2's org units would do.

    - ``created``: in DHIS2, not in fleet (parents before children: sorted by level, path)
    - ``updated``: in both, with field changes (same order)
    - ``unchanged``: UIDs in both with no change
    - ``missing``: UIDs in fleet but not in DHIS2's answer (never deleted automatically;
      the user may have lost access, or the unit was removed in DHIS2)
    - ``unknown_parents``: parent UIDs referenced but present on neither side (the DHIS2 user
      sees only a subtree); those units are imported with that parent UID recorded as given.
    """

    created: list[OrgUnitRecord] = field(default_factory=list)
    updated: list[OrgUnitUpdate] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unknown_parents: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        """True when the import would create or update something."""
        return bool(self.created or self.updated)

    def summary(self) -> dict[str, int]:
        """Counts per category, for a dry-run line: ``{"created": 3, "updated": 1, ...}``."""
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "missing": len(self.missing),
        }


def normalize_org_unit(raw: Mapping) -> OrgUnitRecord:
    """Turn one DHIS2 org unit dict into an :class:`OrgUnitRecord`.

    ``parent_uid`` comes from ``parent.id``, else from the second-to-last UID of ``path``.
    ``level`` comes from ``level``, else from the depth of ``path``. Empty ``code`` -> None.

    Raises:
        ValueError: missing/invalid ``id``, missing ``name``, or a level that contradicts
            the path.
    """
    uid = raw.get("id")
    if not isinstance(uid, str) or not UID_RE.match(uid):
        raise ValueError(f"invalid org unit UID {uid!r}")
    name = (raw.get("name") or "").strip()
    if not name:
        raise ValueError("no name")
    code = (raw.get("code") or "").strip() or None
    path = raw.get("path") or ""
    path_uids = [p for p in path.split("/") if p]
    if path_uids and path_uids[-1] != uid:
        raise ValueError(f"path {path!r} does not end with the unit's UID")
    parent = raw.get("parent")
    parent_uid = parent.get("id") if isinstance(parent, Mapping) else None
    if parent_uid is None and len(path_uids) > 1:
        parent_uid = path_uids[-2]
    if parent_uid is not None and not UID_RE.match(str(parent_uid)):
        raise ValueError(f"invalid parent UID {parent_uid!r}")
    if parent_uid == uid:
        raise ValueError("is its own parent")
    level = raw.get("level")
    if level is None:
        if not path_uids:
            raise ValueError("neither level nor path given")
        level = len(path_uids)
    if not isinstance(level, int) or isinstance(level, bool) or level < 1:
        raise ValueError(f"invalid level {level!r}")
    if path_uids and len(path_uids) != level:
        raise ValueError(f"level {level} does not match path depth {len(path_uids)}")
    if not path:
        path = f"/{uid}" if parent_uid is None else ""
    return OrgUnitRecord(
        uid=uid, name=name, code=code, level=level, parent_uid=parent_uid, path=path
    )


def _existing_value(row: Mapping, name: str) -> object:
    value = row.get(name)
    if name == "code" and (value is None or isinstance(value, str)):
        return (value or "").strip() or None
    if name == "name" and isinstance(value, str):
        return value.strip()
    return value


def diff_org_units(existing: Mapping[str, Mapping], incoming: Iterable[Mapping]) -> OrgUnitDiff:
    """Compare fleet's org units with DHIS2's.

    Args:
        existing: fleet's units, ``{uid: {"name", "code", "level", "parent_uid"}}``.
        incoming: DHIS2 org unit dicts (see module docstring), any order.

    Returns:
        :class:`OrgUnitDiff`; ``created`` and ``updated`` are sorted by ``(level, path, uid)``
        so applying them in order never references a parent that is not there yet.
        Running the diff again after applying it yields no changes.

    Raises:
        OrgUnitDataError: listing every malformed or duplicated incoming unit (nothing is
            half-imported: the caller applies nothing when this is raised).
    """
    problems: list[tuple[str, str]] = []
    records: dict[str, OrgUnitRecord] = {}
    for index, raw in enumerate(incoming):
        where = str(raw.get("id") or f"#{index}") if isinstance(raw, Mapping) else f"#{index}"
        if not isinstance(raw, Mapping):
            problems.append((where, "not an object"))
            continue
        try:
            record = normalize_org_unit(raw)
        except ValueError as exc:
            problems.append((where, str(exc)))
            continue
        if record.uid in records:
            problems.append((record.uid, "appears twice in DHIS2's answer"))
            continue
        records[record.uid] = record
    if problems:
        raise OrgUnitDataError(problems)

    diff = OrgUnitDiff()
    unknown: set[str] = set()
    for record in sorted(records.values(), key=lambda r: (r.level, r.path, r.uid)):
        if (
            record.parent_uid
            and record.parent_uid not in records
            and record.parent_uid not in existing
        ):
            unknown.add(record.parent_uid)
        current = existing.get(record.uid)
        if current is None:
            diff.created.append(record)
            continue
        changes = {}
        for name in COMPARED_FIELDS:
            old = _existing_value(current, name)
            new = getattr(record, name)
            if old != new:
                changes[name] = (old, new)
        if changes:
            diff.updated.append(OrgUnitUpdate(record=record, changes=changes))
        else:
            diff.unchanged.append(record.uid)
    diff.missing = sorted(uid for uid in existing if uid not in records)
    diff.unknown_parents = sorted(unknown)
    return diff


def apply_to_mapping(existing: dict[str, dict], diff: OrgUnitDiff) -> dict[str, dict]:
    """Apply a diff to a plain ``{uid: {name, code, level, parent_uid}}`` mapping, in place,
    and return it. The reference for what the database operation must do (and used by the
    tests to prove a second import finds nothing to change). ``missing`` units are kept."""
    for record in diff.created:
        existing[record.uid] = _as_row(record)
    for update in diff.updated:
        existing[update.record.uid] = _as_row(update.record)
    return existing


def _as_row(record: OrgUnitRecord) -> dict:
    return {
        "name": record.name,
        "code": record.code,
        "level": record.level,
        "parent_uid": record.parent_uid,
    }

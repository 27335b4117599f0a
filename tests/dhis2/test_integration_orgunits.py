"""Org units and user groups from the DHIS2 test server into fleet's database: import,
idempotent re-import, rename and move with path recomputation, dry run, linking, audit."""

import pytest
from sqlalchemy import func, select

from fleet.audit.models import AuditEntry
from fleet.dhis2.importing import import_org_units, import_user_groups
from fleet.dhis2.models import Dhis2UserGroup
from fleet.dhis2.operations import Dhis2Failure, update_server
from fleet.inventory.models import OrgUnit


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def units_by_uid(db) -> dict[str, OrgUnit]:
    return {u.uid: u for u in db.session.scalars(select(OrgUnit)) if u.uid}


def assert_paths_consistent(db) -> None:
    """fleet's path is the parent's path plus the unit's id, everywhere."""
    for unit in db.session.scalars(select(OrgUnit)):
        expected = f"{unit.parent.path if unit.parent else '/'}{unit.id}/"
        assert unit.path == expected, (unit.name, unit.path, expected)


def writes(server) -> list[dict]:
    return [r for r in server.requests_log() if r["method"] != "GET"]


def test_import_then_reimport_changes_nothing_and_never_duplicates(db, server_row,
                                                                   dhis2_server):
    first = import_org_units(server_row, actor=None)
    db.session.commit()
    assert first.summary() == {"fetched": 261, "created": 261, "linked": 0, "updated": 0,
                               "moved": 0, "unchanged": 0, "missing": 0}
    assert count(db, OrgUnit) == 261
    units = units_by_uid(db)
    assert len(units) == 261
    assert sorted(u.level for u in units.values()).count(4) == 240
    assert_paths_consistent(db)
    # the hierarchy matches DHIS2's
    for raw in dhis2_server.client().iter_org_units():
        unit = units[raw["id"]]
        assert (unit.name, unit.code, unit.level) == (raw["name"], raw.get("code"), raw["level"])
        assert (unit.parent.uid if unit.parent else None) == (raw.get("parent") or {}).get("id")

    audit_before = count(db, AuditEntry)
    second = import_org_units(server_row, actor=None)
    db.session.commit()
    assert second.summary()["unchanged"] == 261
    assert not second.diff.has_changes
    assert count(db, OrgUnit) == 261
    # only the import summary on the server is audited, no unit changed
    assert count(db, AuditEntry) == audit_before + 1
    assert writes(dhis2_server) == []  # an import never writes to DHIS2


def test_rename_and_move_update_the_row_and_the_moved_subtree_paths(db, server_row,
                                                                    dhis2_server):
    import_org_units(server_row, actor=None)
    db.session.commit()
    units = units_by_uid(db)
    regions = sorted((u for u in units.values() if u.level == 2), key=lambda u: u.name)
    district = next(u for u in units.values() if u.level == 3 and u.parent is regions[0])
    facilities = [u for u in units.values() if u.parent is district]
    assert len(facilities) == 15
    other = next(u for u in units.values() if u.level == 4 and u.parent is not district)

    dhis2_server.patch_org_unit(other.uid, name="Renamed Health Post")
    dhis2_server.patch_org_unit(district.uid, parent=regions[1].uid)

    preview = import_org_units(server_row, actor=None, dry_run=True)
    assert {(r["action"], r["uid"]) for r in preview.rows()} == {
        ("update", other.uid), ("move", district.uid)}
    db.session.rollback()
    assert db.session.get(OrgUnit, district.id).parent_id == regions[0].id  # dry run: no write

    report = import_org_units(server_row, actor=None)
    db.session.commit()
    assert report.summary()["moved"] == 1 and report.summary()["updated"] == 2
    db.session.expire_all()
    moved = db.session.get(OrgUnit, district.id)
    assert moved.parent_id == regions[1].id
    assert moved.path == f"{regions[1].path}{moved.id}/"
    for facility in facilities:
        assert db.session.get(OrgUnit, facility.id).path == f"{moved.path}{facility.id}/"
    assert db.session.get(OrgUnit, other.id).name == "Renamed Health Post"
    assert count(db, OrgUnit) == 261
    assert_paths_consistent(db)
    audited = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "org_unit.dhis2_update")).all()
    assert {e.entity_id for e in audited} == {str(district.id), str(other.id)}
    move = next(e for e in audited if e.entity_id == str(district.id))
    assert move.before["parent_id"] == regions[0].id and move.after["parent_id"] == regions[1].id

    again = import_org_units(server_row, actor=None)
    assert not again.diff.has_changes


def test_dry_run_writes_nothing_on_either_side(db, server_row, dhis2_server):
    audit_before = count(db, AuditEntry)
    report = import_org_units(server_row, actor=None, dry_run=True)
    assert report.summary()["created"] == 261
    assert len(report.rows()) == 261
    db.session.rollback()
    assert count(db, OrgUnit) == 0
    assert count(db, AuditEntry) == audit_before
    assert writes(dhis2_server) == []


def test_units_fleet_had_without_uid_are_linked_not_duplicated(db, server_row, dhis2_server,
                                                               create_org_unit):
    raw = list(dhis2_server.client().iter_org_units())
    country = next(u for u in raw if u["level"] == 1)
    region = next(u for u in raw if u["level"] == 2)
    local_country = create_org_unit(country["name"])  # same name and level, no UID
    local_region = create_org_unit("Old region name", parent=local_country, code=region["code"])
    report = import_org_units(server_row, actor=None)
    db.session.commit()
    assert report.summary()["linked"] == 2 and report.summary()["created"] == 259
    assert count(db, OrgUnit) == 261
    db.session.expire_all()
    assert db.session.get(OrgUnit, local_country.id).uid == country["id"]
    linked_region = db.session.get(OrgUnit, local_region.id)
    assert (linked_region.uid, linked_region.name) == (region["id"], region["name"])
    assert_paths_consistent(db)


def test_units_missing_from_dhis2_are_reported_and_kept(db, server_row, create_org_unit):
    gone = create_org_unit("Closed clinic", uid="Zz123456789")
    report = import_org_units(server_row, actor=None)
    db.session.commit()
    assert report.diff.missing == ["Zz123456789"]
    assert report.summary()["missing"] == 1
    assert db.session.get(OrgUnit, gone.id) is not None


def test_user_groups_import_and_reimport(db, server_row, dhis2_server):
    report = import_user_groups(server_row, actor=None)
    db.session.commit()
    assert report.summary() == {"created": 5, "updated": 0, "unchanged": 0, "missing": 0}
    rows = db.session.scalars(select(Dhis2UserGroup)).all()
    assert sorted(r.name for r in rows) == sorted(
        g["name"] for g in dhis2_server.client().iter_user_groups())
    assert all(len(r.uid) == 11 and r.present for r in rows)
    again = import_user_groups(server_row, actor=None)
    assert again.summary() == {"created": 0, "updated": 0, "unchanged": 5, "missing": 0}
    assert count(db, Dhis2UserGroup) == 5
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "dhis2_user_group.create")) == 5


def test_wrong_base_url_and_unreachable_server_write_nothing(db, server_row, dhis2_server):
    update_server(server_row, {"base_url": dhis2_server.url + "/not-dhis"}, actor=None)
    with pytest.raises(Dhis2Failure) as err:
        import_org_units(server_row, actor=None)
    db.session.rollback()
    assert "answered 404" in str(err.value.message)
    assert "check the server's base URL" in str(err.value.message)
    assert count(db, OrgUnit) == 0

    update_server(server_row, {"base_url": dhis2_server.url}, actor=None)
    dhis2_server.stop()
    with pytest.raises(Dhis2Failure) as err:
        import_user_groups(server_row, actor=None)
    db.session.rollback()
    assert "Could not reach DHIS2 server “production”" in str(err.value.message)
    assert count(db, Dhis2UserGroup) == 0

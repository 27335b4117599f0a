"""Org unit import diff: real org units from the DHIS2 test server, idempotent re-import."""

import pytest

from fleet.dhis2.orgunits import (
    OrgUnitDataError,
    apply_to_mapping,
    diff_org_units,
    normalize_org_unit,
)


def fetch(client):
    return list(client.iter_org_units(page_size=100))


def test_first_import_creates_all_parents_first_and_second_import_changes_nothing(
    dhis2_client,
):
    units = fetch(dhis2_client)
    fleet_db: dict[str, dict] = {}
    diff = diff_org_units(fleet_db, reversed(units))  # order of arrival must not matter
    assert diff.summary() == {"created": 261, "updated": 0, "unchanged": 0, "missing": 0}
    seen: set[str] = set()
    for record in diff.created:
        assert record.parent_uid is None or record.parent_uid in seen, record
        seen.add(record.uid)
    assert [r.level for r in diff.created].count(1) == 1
    assert diff.unknown_parents == []

    apply_to_mapping(fleet_db, diff)
    assert len(fleet_db) == 261
    again = diff_org_units(fleet_db, fetch(dhis2_client))
    assert not again.has_changes
    assert again.summary() == {"created": 0, "updated": 0, "unchanged": 261, "missing": 0}


def test_rename_and_move_in_dhis2_show_as_updates(dhis2_server, dhis2_client):
    units = fetch(dhis2_client)
    fleet_db = apply_to_mapping({}, diff_org_units({}, units))
    regions = [u for u in units if u["level"] == 2]
    district = next(u for u in units if u["level"] == 3 and u["parent"]["id"] == regions[0]["id"])
    facility = next(u for u in units if u["level"] == 4)

    dhis2_server.patch_org_unit(facility["id"], name="Renamed Health Post", code="")
    dhis2_server.patch_org_unit(district["id"], parent=regions[1]["id"])

    diff = diff_org_units(fleet_db, fetch(dhis2_client))
    changes = {u.record.uid: u.changes for u in diff.updated}
    assert changes == {
        district["id"]: {"parent_uid": (regions[0]["id"], regions[1]["id"])},
        facility["id"]: {
            "name": (facility["name"], "Renamed Health Post"),
            "code": (facility["code"], None),
        },
    }
    assert diff.created == []
    apply_to_mapping(fleet_db, diff)
    assert fleet_db[district["id"]]["parent_uid"] == regions[1]["id"]
    assert not diff_org_units(fleet_db, fetch(dhis2_client)).has_changes


def test_units_gone_from_dhis2_are_reported_missing_not_deleted(dhis2_client):
    units = fetch(dhis2_client)
    fleet_db = apply_to_mapping({}, diff_org_units({}, units))
    fleet_db["AbCdEfGhIjK"] = {
        "name": "Closed clinic",
        "code": None,
        "level": 4,
        "parent_uid": units[0]["id"],
    }
    diff = diff_org_units(fleet_db, units)
    assert diff.missing == ["AbCdEfGhIjK"]
    assert not diff.has_changes
    apply_to_mapping(fleet_db, diff)
    assert "AbCdEfGhIjK" in fleet_db


def test_subtree_import_reports_unknown_parent():
    units = [
        {
            "id": "Dist0000001",
            "name": "District",
            "level": 3,
            "path": "/Ctry0000001/Regn0000001/Dist0000001",
            "parent": {"id": "Regn0000001"},
        },
        {
            "id": "Faci0000001",
            "name": "Facility",
            "level": 4,
            "path": "/Ctry0000001/Regn0000001/Dist0000001/Faci0000001",
        },
    ]
    diff = diff_org_units({}, units)
    assert [r.uid for r in diff.created] == ["Dist0000001", "Faci0000001"]
    assert diff.created[1].parent_uid == "Dist0000001"  # taken from the path
    assert diff.unknown_parents == ["Regn0000001"]


def test_existing_empty_code_equals_missing_code():
    existing = {"Ctry0000001": {"name": "Fleetland", "code": "", "level": 1, "parent_uid": None}}
    diff = diff_org_units(
        existing, [{"id": "Ctry0000001", "name": "Fleetland ", "level": 1, "path": "/Ctry0000001"}]
    )
    assert diff.unchanged == ["Ctry0000001"]


@pytest.mark.parametrize(
    ("unit", "reason"),
    [
        ({"id": "short", "name": "x", "level": 1}, "invalid org unit UID"),
        ({"id": "1bcdefghijk", "name": "x", "level": 1}, "invalid org unit UID"),
        ({"id": "Abcdefghijk", "name": " ", "level": 1}, "no name"),
        ({"id": "Abcdefghijk", "name": "x", "level": 2, "path": "/Abcdefghijk"}, "level 2"),
        ({"id": "Abcdefghijk", "name": "x", "path": "/Other000001"}, "does not end"),
        (
            {"id": "Abcdefghijk", "name": "x", "level": 2, "parent": {"id": "Abcdefghijk"}},
            "own parent",
        ),
    ],
)
def test_malformed_units_are_refused_with_reasons(unit, reason):
    with pytest.raises(ValueError, match=reason):
        normalize_org_unit(unit)
    with pytest.raises(OrgUnitDataError) as err:
        diff_org_units({}, [unit])
    assert reason in str(err.value)


def test_duplicate_uid_is_refused_and_nothing_is_half_planned():
    unit = {"id": "Abcdefghijk", "name": "x", "level": 1, "path": "/Abcdefghijk"}
    with pytest.raises(OrgUnitDataError) as err:
        diff_org_units({}, [unit, dict(unit, name="y"), {"id": "bad"}])
    assert [p[0] for p in err.value.problems] == ["Abcdefghijk", "bad"]

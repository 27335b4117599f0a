"""GET /api/v1/devices/<asset_tag>/compliance (every rule, evaluated now) and
GET /api/v1/compliance (devices with their stored verdicts, paged and filtered), against the
real app and database."""

from datetime import datetime

import pytest

from fleet.inventory.operations import change_status
from fleet.reports import compliance
from fleet.reports import operations as ops


def _get(client, url, token, **params):
    return client.get(url, query_string=params, headers={"Authorization": f"Bearer {token}"})


def test_device_findings_every_rule(client, db, create_device, token_for, push):
    device = create_device()
    push(device, storage_free_mb=500, screen_lock_set=False)
    db.session.commit()
    resp = _get(client, f"/api/v1/devices/{device.asset_tag.lower()}/compliance",
                token_for("viewer"))
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["asset_tag"] == device.asset_tag and body["compliant"] is False
    at = datetime.fromisoformat(body["evaluated_at"])
    assert at.tzinfo is not None
    by_rule = {f["rule"]: f for f in body["findings"]}
    assert [f["rule"] for f in body["findings"]] == [f.rule for f in compliance.evaluate(device)]
    assert set(by_rule) == set(compliance.RULES)
    assert {f["evaluated_at"] for f in body["findings"]} == {body["evaluated_at"]}
    low = by_rule["low_storage"]
    assert low["status"] == "fail" and low["evidence"] == {"storage_free_mb": 500,
                                                            "threshold_mb": 1024}
    assert "500 MB free" in low["message"] and low["title"] == str(compliance.RULES["low_storage"])
    assert by_rule["no_screen_lock"]["status"] == "fail"
    assert by_rule["stale"]["status"] == "pass" and by_rule["stale"]["message"] == ""
    assert by_rule["not_encrypted"] == {**by_rule["not_encrypted"], "status": "pass",
                                        "evidence": {"ro.crypto.state": "encrypted"}}
    # no SIM paired, no holder, no channel: unknown, never fail
    for rule in ("sim_swapped", "ram_capacity", "app_behind"):
        assert by_rule[rule]["status"] == "unknown" and by_rule[rule]["message"], rule


def test_device_findings_follow_the_thresholds(client, db, create_device, token_for, push):
    device = create_device()
    push(device, storage_free_mb=500)
    ops.set_threshold("min_free_storage_mb", 400, actor=None)
    db.session.commit()
    body = _get(client, f"/api/v1/devices/{device.asset_tag}/compliance", token_for()).json
    assert body["compliant"] is True
    assert {f["rule"]: f["status"] for f in body["findings"]}["low_storage"] == "pass"


def test_device_findings_unknown_tag_and_anonymous(client, db, create_device, token_for):
    resp = _get(client, "/api/v1/devices/NOPE-404/compliance", token_for("viewer"))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "not_found" and "NOPE-404" in resp.json["error"]["message"]
    device = create_device()
    assert client.get(f"/api/v1/devices/{device.asset_tag}/compliance").status_code == 401


@pytest.fixture()
def fleet_states(db, create_device, create_org_unit, push):
    """Devices in two districts with known stored verdicts."""
    country = create_org_unit("Country")
    east, west = create_org_unit("East", parent=country), create_org_unit("West", parent=country)
    clinic = create_org_unit("East Clinic", parent=east)
    d = {
        # fails low_storage and no_screen_lock (the second entry of its failing list)
        "failing2": create_device(org_unit_id=clinic.id),
        "stale": create_device(org_unit_id=west.id),
        "ok": create_device(org_unit_id=east.id),
        "retired": create_device(org_unit_id=east.id),
        "unchecked": create_device(org_unit_id=west.id),
    }
    push(d["failing2"], storage_free_mb=100, screen_lock_set=False)
    ops.refresh_compliance(d["stale"])
    push(d["ok"])
    ops.refresh_compliance(d["retired"])
    change_status(d["retired"], "retired", actor=None)
    db.session.commit()
    units = {"country": country, "east": east, "west": west, "clinic": clinic}
    return {k: v.asset_tag for k, v in d.items()}, units


def _tags(resp):
    assert resp.status_code == 200, resp.json
    return [item["asset_tag"] for item in resp.json["items"]]


def test_compliance_list_and_filters(client, fleet_states, token_for):
    tags, units = fleet_states
    token = token_for("viewer")

    def listed(**params):
        return _tags(_get(client, "/api/v1/compliance", token, **params))

    everyone = sorted(v for k, v in tags.items() if k != "retired")
    assert listed() == everyone
    assert listed(rule="no_screen_lock") == [tags["failing2"]]
    assert listed(rule="low_storage") == [tags["failing2"]]
    assert listed(rule="stale") == [tags["stale"]]
    assert listed(rule="battery") == []
    assert listed(compliant="false") == sorted([tags["failing2"], tags["stale"]])
    assert listed(compliant="true") == [tags["ok"]]
    assert listed(district=units["east"].id) == sorted([tags["failing2"], tags["ok"]])
    assert listed(district=units["clinic"].id) == [tags["failing2"]]
    assert listed(district=units["country"].id) == everyone
    assert listed(district=units["west"].id, rule="stale") == [tags["stale"]]
    assert listed(status="retired") == [tags["retired"]]
    assert listed(status="retired", district=units["east"].id, rule="stale") == [tags["retired"]]
    assert listed(status="in_stock", compliant="true") == [tags["ok"]]


def test_compliance_list_items_and_pages(client, fleet_states, token_for):
    tags, units = fleet_states
    token = token_for("viewer")
    body = _get(client, "/api/v1/compliance", token, rule="low_storage").json
    item = body["items"][0]
    assert item["asset_tag"] == tags["failing2"] and item["status"] == "in_stock"
    assert item["org_unit_id"] == units["clinic"].id and item["holder_id"] is None
    assert item["compliant"] is False
    assert datetime.fromisoformat(item["last_seen_at"]).tzinfo is not None
    assert [(f["rule"], f["status"]) for f in item["failing"]] == [
        ("low_storage", "fail"), ("no_screen_lock", "fail")]
    assert item["failing"][0]["evidence"] == {"storage_free_mb": 100, "threshold_mb": 1024}
    assert all(f["evaluated_at"] == item["evaluated_at"] for f in item["failing"])
    unchecked = _get(client, "/api/v1/compliance", token, district=units["west"].id).json
    by_tag = {i["asset_tag"]: i for i in unchecked["items"]}
    assert by_tag[tags["unchecked"]] == {
        "asset_tag": tags["unchecked"], "status": "in_stock", "org_unit_id": units["west"].id,
        "holder_id": None, "compliant": None, "evaluated_at": None, "last_seen_at": None,
        "failing": []}
    assert by_tag[tags["stale"]]["failing"][0]["message"] == "Never reported."

    first = _get(client, "/api/v1/compliance", token, per_page=3).json
    second = _get(client, "/api/v1/compliance", token, per_page=3, page=2).json
    assert first["meta"] == {"page": 1, "per_page": 3, "total": 4, "pages": 2}
    assert second["meta"] == {"page": 2, "per_page": 3, "total": 4, "pages": 2}
    assert [i["asset_tag"] for i in first["items"] + second["items"]] == sorted(
        v for k, v in tags.items() if k != "retired")


@pytest.mark.parametrize(("params", "field"), [
    ({"rule": "rooted"}, "rule"),
    ({"district": "east"}, "district"),
    ({"district": "0"}, "district"),
    ({"district": str(2**31)}, "district"),
    ({"district": "999999"}, "district"),  # no such org unit
    ({"status": "broken"}, "status"),
    ({"compliant": "perhaps"}, "compliant"),
    ({"per_page": "0"}, "per_page"),
    ({"page": "x"}, "page"),
])
def test_compliance_list_bad_filters(client, db, token_for, params, field):
    resp = _get(client, "/api/v1/compliance", token_for("viewer"), **params)
    assert resp.status_code == 422, resp.json
    error = resp.json["error"]
    assert error["code"] == "invalid", error
    assert list(error["fields"]) == [field], error


def test_compliance_list_roles(client, db, token_for):
    assert client.get("/api/v1/compliance").status_code == 401
    for role in ("viewer", "technician", "logistics", "admin"):
        assert _get(client, "/api/v1/compliance", token_for(role)).status_code == 200, role

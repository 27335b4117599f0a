"""Registering devices, the lifecycle, custody and loss, through the JSON API and operations."""

from __future__ import annotations

import pytest
from fleet_testing import make_imei
from sqlalchemy import select

from fleet.audit.models import AuditEntry
from fleet.inventory.models import Device


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_register_generates_asset_tag_and_audits(client, token_for, db):
    tok = token_for("logistics")
    resp = client.post(
        "/api/v1/devices",
        json={"imei": make_imei(1), "model": "Galaxy A12", "ram_mb": 3072},
        headers=auth(tok),
    )
    assert resp.status_code == 201, resp.json
    tag = resp.json["asset_tag"]
    assert tag.startswith("PH-") and len(tag) == 9 and tag[3:].isdigit()
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "device.register"))
    assert entry.entity_label == tag and entry.after["imei"] == make_imei(1)
    assert entry.actor_name.startswith("logistics")
    second = client.post("/api/v1/devices", json={"imei": make_imei(2)}, headers=auth(tok))
    assert int(second.json["asset_tag"][3:]) == int(tag[3:]) + 1


@pytest.mark.parametrize(
    "imei, message",
    [
        ("356938035643808", "check digit"),
        ("35693803564380", "15 digits"),
        ("35693803564380A", "only digits"),
    ],
)
def test_bad_imei_refused_with_field_error(client, token_for, db, imei, message):
    resp = client.post("/api/v1/devices", json={"imei": imei}, headers=auth(token_for()))
    assert resp.status_code == 422
    assert message in " ".join(resp.json["error"]["fields"]["imei"])
    assert db.session.scalar(select(Device)) is None


def test_duplicate_imei_conflict_including_imei2(client, token_for, create_device):
    dev = create_device(imei2=make_imei(77))
    tok = token_for()
    resp = client.post("/api/v1/devices", json={"imei": dev.imei}, headers=auth(tok))
    assert resp.status_code == 409 and "already registered" in resp.json["error"]["message"]
    resp = client.post("/api/v1/devices", json={"imei": make_imei(77)}, headers=auth(tok))
    assert resp.status_code == 409


def test_unknown_org_unit_named(client, token_for):
    resp = client.post("/api/v1/devices", json={"org_unit": "Atlantis"}, headers=auth(token_for()))
    assert resp.status_code == 422
    assert "Atlantis" in resp.json["error"]["fields"]["org_unit"][0]


def test_lifecycle_refuses_illegal_moves(client, token_for, create_device):
    dev = create_device()
    tok = token_for()
    resp = client.post(
        f"/api/v1/devices/{dev.asset_tag}/status", json={"status": "in_field"}, headers=auth(tok)
    )
    assert resp.status_code == 409
    assert "cannot go from in_stock to in_field" in resp.json["error"]["message"]
    assert (
        client.post(
            f"/api/v1/devices/{dev.asset_tag}/status", json={"status": "retired"}, headers=auth(tok)
        ).status_code
        == 200
    )
    resp = client.post(
        f"/api/v1/devices/{dev.asset_tag}/status", json={"status": "in_stock"}, headers=auth(tok)
    )
    assert resp.status_code == 409 and "allowed: none" in resp.json["error"]["message"]


def test_checkout_checkin_history(client, token_for, create_device, create_holder, district):
    dev = create_device()
    amina = create_holder("Amina Diallo", org_unit_id=district.id)
    tok = token_for("technician")
    resp = client.post(
        f"/api/v1/devices/{dev.asset_tag}/checkout",
        json={"holder_id": amina.id, "condition": "new, boxed"},
        headers=auth(tok),
    )
    assert resp.status_code == 201, resp.json
    got = client.get(f"/api/v1/devices/{dev.asset_tag}", headers=auth(tok)).json
    assert got["status"] == "assigned" and got["holder"] == "Amina Diallo"
    assert got["org_unit"] == "Dakar"
    # a second checkout is refused while the first is open
    other = create_holder("Moussa")
    resp = client.post(
        f"/api/v1/devices/{dev.asset_tag}/checkout", json={"holder_id": other.id}, headers=auth(tok)
    )
    assert (
        resp.status_code == 409
        and "already checked out to Amina Diallo" in resp.json["error"]["message"]
    )
    assert (
        client.post(
            f"/api/v1/devices/{dev.asset_tag}/status",
            json={"status": "in_field"},
            headers=auth(tok),
        ).status_code
        == 200
    )
    resp = client.post(
        f"/api/v1/devices/{dev.asset_tag}/checkin",
        json={"condition": "cracked screen", "status": "in_repair"},
        headers=auth(tok),
    )
    assert resp.status_code == 200 and resp.json["checkin_condition"] == "cracked screen"
    history = client.get(f"/api/v1/devices/{dev.asset_tag}/custody", headers=auth(tok)).json
    assert len(history) == 1 and history[0]["checked_in_by"].startswith("technician")
    got = client.get(f"/api/v1/devices/{dev.asset_tag}", headers=auth(tok)).json
    assert got["status"] == "in_repair" and got["holder"] is None


def test_report_stolen_closes_custody(client, token_for, create_device, create_holder):
    dev = create_device()
    holder = create_holder()
    tok = token_for()
    client.post(
        f"/api/v1/devices/{dev.asset_tag}/checkout",
        json={"holder_id": holder.id},
        headers=auth(tok),
    )
    resp = client.post(
        f"/api/v1/devices/{dev.asset_tag}/loss",
        json={"kind": "stolen", "date": "2026-11-20", "report": "Police report 42"},
        headers=auth(tok),
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "stolen" and resp.json["loss_date"] == "2026-11-20"
    history = client.get(f"/api/v1/devices/{dev.asset_tag}/custody", headers=auth(tok)).json
    assert history[0]["checkin_condition"] == "stolen: Police report 42"
    resp = client.post(
        f"/api/v1/devices/{dev.asset_tag}/loss",
        json={"kind": "lost", "date": "2099-01-01", "report": "x"},
        headers=auth(tok),
    )
    assert resp.status_code in (409, 422)


def test_search_filters(
    client, token_for, create_device, create_holder, create_sim, district, create_org_unit, db
):
    facility = create_org_unit("Pikine Health Post", parent=district)
    a = create_device(model="Tab A8", org_unit_id=facility.id)
    b = create_device(model="Galaxy A12", serial="R58N123")
    sim = create_sim(msisdn="+221771234567", device=b.asset_tag)
    tok = token_for("viewer")

    def tags(**params):
        resp = client.get("/api/v1/devices", query_string=params, headers=auth(tok))
        assert resp.status_code == 200, resp.json
        return {d["asset_tag"] for d in resp.json["items"]}

    assert tags(district="Dakar") == {a.asset_tag}
    assert tags(model="galaxy a12") == {b.asset_tag}
    assert tags(q="R58N") == {b.asset_tag}
    assert tags(q=sim.iccid) == {b.asset_tag}
    assert tags(msisdn="+221771234567") == {b.asset_tag}
    assert tags(imei=a.imei) == {a.asset_tag}
    page = client.get("/api/v1/devices", query_string={"per_page": 1}, headers=auth(tok)).json
    assert page["meta"]["total"] == 2 and page["meta"]["pages"] == 2 and len(page["items"]) == 1


def test_script_in_notes_is_escaped(client, login, create_device):
    login("logistics")
    dev = create_device(notes="<script>alert(1)</script>")
    page = client.get(f"/devices/{dev.asset_tag}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_fractional_numbers_refused_not_truncated(client, token_for):
    tok = token_for()
    resp = client.post("/api/v1/devices", json={"ram_mb": 2048.5}, headers=auth(tok))
    assert resp.status_code == 422 and "whole number" in resp.json["error"]["fields"]["ram_mb"][0]
    resp = client.post(
        "/api/v1/holders", json={"name": "A", "expected_teis": "1500.5"}, headers=auth(tok)
    )
    assert resp.status_code == 422 and "expected_teis" in resp.json["error"]["fields"]
    ok = client.post(
        "/api/v1/devices", json={"ram_mb": "2048", "api_level": 30.0}, headers=auth(tok)
    )
    assert ok.status_code == 201 and ok.json["ram_mb"] == 2048 and ok.json["api_level"] == 30

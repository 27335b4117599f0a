"""SIM cards and pairing, org units and holders, the append-only audit log, pages and the
OpenAPI document."""

from __future__ import annotations

import pytest
from fleet_testing import make_iccid
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from fleet.audit.models import AuditEntry
from fleet.inventory.models import SimPairing


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "iccid, message",
    [
        (make_iccid(1)[:-1] + str((int(make_iccid(1)[-1]) + 1) % 10), "Luhn"),
        ("8922101", "19 or 20 digits"),
        ("7922101000000000001", "start with 89"),
    ],
)
def test_bad_iccid(client, token_for, iccid, message):
    resp = client.post("/api/v1/sims", json={"iccid": iccid}, headers=bearer(token_for()))
    assert resp.status_code == 422 and message in resp.json["error"]["fields"]["iccid"][0]


def test_msisdn_normalised_to_e164_and_validated(client, token_for):
    tok = token_for()
    resp = client.post(
        "/api/v1/sims",
        json={"iccid": make_iccid(2), "msisdn": "00221 77 123 45 67"},
        headers=bearer(tok),
    )
    assert resp.status_code == 201 and resp.json["msisdn"] == "+221771234567"
    resp = client.post(
        "/api/v1/sims", json={"iccid": make_iccid(3), "msisdn": "+221 12"}, headers=bearer(tok)
    )
    assert resp.status_code == 422 and "msisdn" in resp.json["error"]["fields"]


def test_sim_in_one_device_at_a_time_with_history(client, token_for, create_device, create_sim, db):
    a, b = create_device(), create_device()
    sim = create_sim()
    tok = token_for("technician")
    assert (
        client.post(
            f"/api/v1/devices/{a.asset_tag}/sims", json={"iccid": sim.iccid}, headers=bearer(tok)
        ).status_code
        == 201
    )
    resp = client.post(
        f"/api/v1/devices/{b.asset_tag}/sims", json={"iccid": sim.iccid}, headers=bearer(tok)
    )
    assert resp.status_code == 409 and f"already in {a.asset_tag}" in resp.json["error"]["message"]
    assert (
        client.delete(f"/api/v1/sims/{sim.iccid}/pairing", headers=bearer(tok)).status_code == 200
    )
    assert (
        client.post(
            f"/api/v1/devices/{b.asset_tag}/sims", json={"iccid": sim.iccid}, headers=bearer(tok)
        ).status_code
        == 201
    )
    history = client.get(f"/api/v1/devices/{a.asset_tag}/sims", headers=bearer(tok)).json
    assert len(history) == 1 and history[0]["unpaired_at"] is not None


def test_database_refuses_second_open_pairing(create_device, create_sim, db):
    """The partial unique index holds even if the operation's check were bypassed."""
    a, b = create_device(), create_device()
    sim = create_sim()
    db.session.add(SimPairing(sim=sim, device=a, paired_by="t"))
    db.session.flush()
    db.session.add(SimPairing(sim=sim, device=b, paired_by="t"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_pin_puk_shown_only_to_logistics_and_admin(client, token_for, create_sim):
    sim = create_sim(sim_pin="1234", sim_puk="87654321")
    viewer = client.get(f"/api/v1/sims/{sim.iccid}", headers=bearer(token_for("viewer"))).json
    tech = client.get(f"/api/v1/sims/{sim.iccid}", headers=bearer(token_for("technician"))).json
    logi = client.get(f"/api/v1/sims/{sim.iccid}", headers=bearer(token_for("logistics"))).json
    assert "sim_puk" not in viewer and "sim_pin" not in tech
    assert logi["sim_pin"] == "1234" and logi["sim_puk"] == "87654321"


def test_secrets_never_in_audit_log(create_sim, db):
    create_sim(sim_pin="4321", sim_puk="11112222")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sim.register"))
    assert entry.after["sim_pin"] == "***" and "11112222" not in str(entry.after)


def test_audit_log_is_append_only(create_device, db):
    create_device()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("UPDATE audit_log SET actor_name = 'mallory'"))
    db.session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("DELETE FROM audit_log"))
    db.session.rollback()


def test_org_unit_tree_and_holder_workload(client, token_for):
    tok = token_for("logistics")
    country = client.post(
        "/api/v1/org-units", json={"name": "Mozambique", "uid": "MZ000000001"}, headers=bearer(tok)
    ).json
    prov = client.post(
        "/api/v1/org-units",
        json={"name": "Nampula", "parent_id": country["id"]},
        headers=bearer(tok),
    ).json
    dist = client.post(
        "/api/v1/org-units", json={"name": "Ribáuè", "parent": "Nampula"}, headers=bearer(tok)
    ).json
    assert (country["level"], prov["level"], dist["level"]) == (1, 2, 3)
    bad = client.post("/api/v1/org-units", json={"name": "X", "uid": "bad"}, headers=bearer(tok))
    assert bad.status_code == 422 and "uid" in bad.json["error"]["fields"]
    holder = client.post(
        "/api/v1/holders",
        json={
            "name": "Célia Muianga",
            "org_unit": "Ribáuè",
            "expected_teis": 5000,
            "capture_org_units": 12,
            "program_rules": 60,
            "msisdn": "+258841234567",
        },
        headers=bearer(tok),
    )
    assert holder.status_code == 201, holder.json
    assert holder.json["org_unit"] == "Ribáuè" and holder.json["expected_teis"] == 5000
    found = client.get(
        "/api/v1/holders", query_string={"district": "Nampula"}, headers=bearer(tok)
    ).json
    assert [h["name"] for h in found["items"]] == ["Célia Muianga"]


def test_every_page_renders_for_a_viewer(client, login, create_device, create_sim, create_holder):
    dev = create_device()
    sim = create_sim(device=dev.asset_tag)
    holder = create_holder("Ελένη Παπαδοπούλου")
    login("viewer")
    for url in [
        "/dashboard",
        "/devices",
        f"/devices/{dev.asset_tag}",
        "/sims",
        f"/sims/{sim.iccid}",
        "/holders",
        f"/holders/{holder.id}",
        "/org-units",
        "/import",
        "/audit/",
        "/auth/tokens",
        "/api/v1/docs",
        "/devices?status=in_stock&q=PH",
        "/audit/?entity_type=device",
    ]:
        resp = client.get(url)
        assert resp.status_code == 200, url
    assert "Ελένη Παπαδοπούλου" in client.get("/holders").get_data(as_text=True)
    assert client.get("/devices/new").status_code == 403  # viewers change nothing


def test_openapi_document_and_docs_page(client, login):
    login("viewer")
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/v1/devices",
        "/api/v1/sims",
        "/api/v1/holders",
        "/api/v1/imports/{kind}",
        "/api/v1/devices/{ref}/checkout",
    ):
        assert path in spec["paths"], path
    assert "DeviceCreateArgs" in spec["components"]["schemas"]
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_french_locale_renders(client, login):
    login("viewer")
    page = client.get("/devices?lang=fr").get_data(as_text=True)
    assert '<html lang="fr">' in page


@pytest.mark.parametrize(
    "lang, word", [("fr", "Appareils"), ("pt", "Dispositivos"), ("es", "Tarjetas SIM")]
)
def test_pages_translated_through_gettext(client, login, lang, word):
    login("viewer")
    page = client.get(f"/devices?lang={lang}").get_data(as_text=True)
    assert word in page


def test_browser_language_chosen_from_accept_language(client):
    page = client.get("/auth/login", headers={"Accept-Language": "pt-MZ,pt;q=0.9"})
    assert "Palavra-passe" in page.get_data(as_text=True)


def test_device_page_links_to_labels_agreement_and_health(
    client, login, create_device, create_holder
):
    from fleet.extensions import db as _db
    from fleet.inventory.operations import checkout

    dev = create_device()
    checkout(dev, create_holder(), actor=None)
    _db.session.commit()
    login("logistics")
    page = client.get(f"/devices/{dev.asset_tag}").get_data(as_text=True)
    assert f"/agreements/new?device={dev.asset_tag}" in page
    assert f"/health/devices/{dev.asset_tag}" in page and f"q={dev.asset_tag}" in page
    for link in (f"/agreements/new?device={dev.asset_tag}", f"/health/devices/{dev.asset_tag}"):
        assert client.get(link).status_code == 200, link

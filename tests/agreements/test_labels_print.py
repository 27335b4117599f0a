"""Labels printed from inventory rows through the CLI and the web page, decoded back with the
real zbarimg after rasterising at the printer's resolution (pdftoppm), and compared with the
payload built from the same rows; scan audits and quick check-in/out through the API."""

from __future__ import annotations

import io
import zipfile

import pytest
from agreement_testing import rasterise, zbar

from fleet.agreements import operations as agreement_ops
from fleet.labels.models import ScanAuditEntry
from fleet.labels.payload import parse_payload


def _expected(device, district, number=None):
    sim = device.current_sims[0]
    base = f"FLEET1;T={device.asset_tag};H={device.holder.name};S={sim.msisdn};D={district.name}"
    return base


def _decode_pdf(pdf: bytes, tmp_path, dpi=300) -> list[str]:
    found = []
    for page in rasterise(pdf, dpi, tmp_path):
        found.extend(zbar(page))
    return found


def test_cli_a4_sheet_decodes_to_the_payloads(runner, checked_out, place, tmp_path, db):
    district, _facility = place
    devices = [checked_out() for _ in range(3)]
    agreement = agreement_ops.create_agreement(devices[0], actor=None, number="AGR-0001")
    db.session.commit()
    out = tmp_path / "labels.pdf"
    result = runner.invoke(
        args=[
            "labels",
            "print",
            *sum((["--tag", d.asset_tag] for d in devices), []),
            "--format",
            "a4-l7160",
            "--offset",
            "5",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "12 labels for 3 devices" in result.output
    decoded = _decode_pdf(out.read_bytes(), tmp_path)
    expected = []
    for d in devices:
        payload = _expected(d, district)
        number = agreement.number if d is devices[0] else d.box_number
        expected += [
            payload,
            payload,
            f"FLEET1;T={d.asset_tag};N={number}",
            f"FLEET1;T={d.asset_tag};N={number}",
        ]
    assert sorted(decoded) == sorted(expected)
    assert parse_payload(_expected(devices[1], district))["holder"] == devices[1].holder.name


def test_cli_thermal_by_district_at_203_dpi(runner, checked_out, place, tmp_path):
    district, _ = place
    devices = [checked_out(), checked_out()]
    out = tmp_path / "labels.zip"
    result = runner.invoke(
        args=[
            "labels",
            "print",
            "--district",
            district.name,
            "--format",
            "thermal-50x25",
            "--dpi",
            "203",
            "--kinds",
            "phone",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert len(names) == 2
        decoded = []
        for name in names:
            png = tmp_path / name
            png.write_bytes(zf.read(name))
            decoded += zbar(png)
    by_tag = sorted(devices, key=lambda d: d.asset_tag)
    assert decoded == [_expected(d, district) for d in by_tag]


def test_cli_refuses_unknown_tag_and_bad_offset(runner, checked_out, tmp_path):
    device = checked_out()
    out = tmp_path / "x.pdf"
    result = runner.invoke(
        args=["labels", "print", "--tag", "PH-NOPE", "--format", "letter-5160", "--out", str(out)]
    )
    assert result.exit_code == 2 and "No device PH-NOPE" in result.output
    result = runner.invoke(
        args=[
            "labels",
            "print",
            "--tag",
            device.asset_tag,
            "--format",
            "letter-5160",
            "--offset",
            "30",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 2 and "offset" in result.output.lower()
    assert not out.exists()
    result = runner.invoke(
        args=["labels", "print", "--status", "retired", "--format", "a4-l7160", "--out", str(out)]
    )
    assert result.exit_code == 2 and "no device matches" in result.output
    result = runner.invoke(args=["labels", "print", "--format", "letter-5160", "--out", str(out)])
    assert result.exit_code != 0 and "--tag" in result.output


def test_web_letter_sheet_selected_devices(client, login, checked_out, place, tmp_path):
    district, _ = place
    login("logistics")
    a, b, c = checked_out(), checked_out(), checked_out()
    page = client.get(f"/labels/?district={district.name}").get_data(as_text=True)
    assert all(d.asset_tag in page for d in (a, b, c))
    resp = client.post(
        "/labels/print",
        data={
            "tag": [a.asset_tag, c.asset_tag],
            "format": "letter-5160",
            "offset": "29",
            "kinds": ["phone", "box"],
        },
    )
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    decoded = _decode_pdf(resp.data, tmp_path)
    assert sorted(decoded) == sorted([_expected(a, district)] * 2 + [_expected(c, district)] * 2)


def test_web_privacy_mode_encodes_tag_and_device_url(
    client, login, checked_out, app, tmp_path, monkeypatch
):
    monkeypatch.setitem(app.config, "LABEL_PRIVACY_MODE", True)
    login("viewer")
    device = checked_out()
    resp = client.post(
        "/labels/print",
        data={"tag": device.asset_tag, "format": "thermal-62mm", "dpi": "300", "kinds": "phone"},
    )
    assert resp.status_code == 200, resp.data[:300]
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        (name,) = zf.namelist()
        png = tmp_path / name
        png.write_bytes(zf.read(name))
    assert zbar(png) == [
        f"FLEET1;T={device.asset_tag};U=http://localhost/devices/{device.asset_tag}"
    ]


def test_web_unknown_template_field_is_a_clear_error(client, login, checked_out, app, monkeypatch):
    monkeypatch.setitem(app.config, "LABEL_PAYLOAD_FIELDS", "asset_tag,blood_group")
    login("logistics")
    device = checked_out()
    resp = client.post(
        "/labels/print", data={"tag": device.asset_tag, "format": "a4-l7160"}, follow_redirects=True
    )
    assert "blood_group" in resp.get_data(as_text=True)


def test_scan_audit_marks_present_logs_foreign_and_unknown(
    client, login, checked_out, place, create_device, create_org_unit, db
):
    district, _ = place
    login("logistics")
    here = [checked_out(), checked_out()]
    elsewhere = create_device(org_unit_id=create_org_unit("Far away").id)
    resp = client.post("/api/v1/scan-audits", json={"district": district.name})
    assert resp.status_code == 201, resp.json
    audit = resp.json
    assert audit["counts"]["expected"] == 2 and sorted(audit["missing"]) == sorted(
        d.asset_tag for d in here
    )
    url = f"/api/v1/scan-audits/{audit['id']}/scans"
    first = client.post(url, json={"text": f"FLEET1;T={here[0].asset_tag};N=B-1"}).json
    assert first["entry"]["outcome"] == "present" and first["new"] is True
    again = client.post(url, json={"text": f"FLEET1;T={here[0].asset_tag}"}).json
    assert again["new"] is False and again["counts"]["present"] == 1
    assert (
        client.post(url, json={"text": f"FLEET1;T={elsewhere.asset_tag}"}).json["entry"]["outcome"]
        == "foreign"
    )
    assert (
        client.post(url, json={"text": "FLEET1;T=PH-999999"}).json["entry"]["outcome"] == "unknown"
    )
    last = client.post(url, json={"text": "https://example.org/not-a-label"}).json
    assert last["entry"]["outcome"] == "not_fleet"
    assert last["counts"] == {
        "expected": 2,
        "present": 1,
        "missing": 1,
        "foreign": 1,
        "unknown": 1,
        "not_fleet": 1,
    }
    assert db.session.query(ScanAuditEntry).filter_by(audit_id=audit["id"]).count() == 4
    page = client.get(f"/labels/audits/{audit['id']}").get_data(as_text=True)
    assert here[1].asset_tag in page and "vendor/jsqr/jsQR.js" in page
    closed = client.post(f"/api/v1/scan-audits/{audit['id']}/close")
    assert closed.status_code == 200
    refused = client.post(url, json={"text": f"FLEET1;T={here[1].asset_tag}"})
    assert refused.status_code == 409


def test_scan_checkout_and_checkin(client, login, create_device, create_holder, db):
    login("logistics")
    device = create_device()
    holder = create_holder("Amina Diallo")
    text = f"FLEET1;T={device.asset_tag};H=Someone"
    look = client.post("/api/v1/scan/lookup", json={"text": text}).json
    assert look["checked_out"] is False
    out = client.post("/api/v1/scan/checkout", json={"text": text, "holder_id": holder.id})
    assert out.status_code == 200 and out.json["holder"] == "Amina Diallo"
    assert out.json["status"] == "assigned"
    twice = client.post("/api/v1/scan/checkout", json={"text": text, "holder_id": holder.id})
    assert twice.status_code == 409 and "already checked out" in twice.json["error"]["message"]
    back = client.post("/api/v1/scan/checkin", json={"text": text, "condition": "ok"})
    assert back.status_code == 200 and back.json["status"] == "returned"
    bad = client.post("/api/v1/scan/lookup", json={"text": "hello"})
    assert bad.status_code == 422 and "not a fleet label" in bad.json["error"]["message"]


@pytest.mark.parametrize("role, status", [("viewer", 403), ("technician", 200)])
def test_scan_permissions(client, login, create_device, role, status):
    login(role)
    device = create_device()
    resp = client.post("/api/v1/scan/checkin", json={"text": f"FLEET1;T={device.asset_tag}"})
    assert resp.status_code == (403 if status == 403 else 409)

"""Bulk import and export: header aliases, encodings, per-row errors, all-or-nothing,
valid-only, formula injection, and the CLI with its exit status."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from fleet_testing import make_iccid, make_imei
from sqlalchemy import func, select, text

from fleet.audit.models import AuditEntry
from fleet.inventory.models import Device, Holder, Sim


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _csv(rows, sep=",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep).writerows(rows)
    return buf.getvalue()


def _count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def _upload(client, token, kind, name, data, **query):
    return client.post(
        f"/api/v1/imports/{kind}",
        query_string=query,
        headers=bearer(token),
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


PROCUREMENT = [
    [
        "Asset No",
        "Box No.",
        "Serial No.",
        "IMEI 1",
        "IMEI 2",
        "Brand",
        "Model",
        "RAM",
        "Storage",
        "District",
        "Remarks",
    ],
    [
        "PH-900001",
        "B1",
        "R58N1",
        make_imei(9001),
        make_imei(9101),
        "Samsung",
        "A12",
        "3 GB",
        "32",
        "Dakar",
        "ok",
    ],
    [],
    [
        "PH-900002",
        "B2",
        "R58N2",
        make_imei(9002),
        "",
        "Samsung",
        "A12",
        "2048",
        "32GB",
        "Dakar",
        "",
    ],
]


def test_aliases_blank_lines_and_units(client, token_for, db, district):
    resp = _upload(
        client, token_for(), "devices", "procurement.csv", _csv(PROCUREMENT).encode("utf-8-sig")
    )
    assert resp.status_code == 200, resp.json
    report = resp.json["report"]
    assert report["imported"] == 2 and report["errors"] == [] and report["encoding"] == "utf-8-sig"
    assert report["columns"]["IMEI 1"] == "imei" and report["columns"]["Serial No."] == "serial"
    dev = db.session.scalar(select(Device).where(Device.asset_tag == "PH-900001"))
    assert dev.ram_mb == 3072 and dev.storage_gb == 32 and dev.org_unit.name == "Dakar"
    assert dev.imei2 == make_imei(9101)
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "device.import")
        )
        == 2
    )


def test_errors_name_row_and_column_and_write_nothing(
    client, token_for, db, create_device, district
):
    existing = create_device()
    bad_luhn = make_imei(9003)[:-1] + str((int(make_imei(9003)[-1]) + 1) % 10)
    rows = [
        ["IMEI", "District", "Model"],
        [make_imei(9010), "Dakar", "A12"],  # row 2 fine
        [bad_luhn, "Dakar", "A12"],  # row 3 bad Luhn
        [make_imei(9010), "Dakar", "A12"],  # row 4 duplicate of row 2
        [existing.imei, "Dakar", "A12"],  # row 5 already registered
        [make_imei(9011), "Atlantis", "A12"],
    ]  # row 6 unknown district
    before = _count(db, Device)
    resp = _upload(client, token_for(), "devices", "sheet.csv", _csv(rows).encode())
    assert resp.status_code == 422
    errors = {(e["row"], e["column"]): e["message"] for e in resp.json["report"]["errors"]}
    assert "Luhn" in errors[(3, "IMEI")]
    assert "also in row 2" in errors[(4, "IMEI")]
    assert "already registered" in errors[(5, "IMEI")]
    assert "Atlantis" in errors[(6, "District")]
    assert _count(db, Device) == before  # nothing partial written
    ok = _upload(client, token_for(), "devices", "sheet.csv", _csv(rows).encode(), valid_only=1)
    assert ok.json["report"]["imported"] == 1 and _count(db, Device) == before + 1


def test_dry_run_writes_nothing(client, token_for, db, district):
    resp = _upload(client, token_for(), "devices", "p.csv", _csv(PROCUREMENT).encode(), dry_run=1)
    assert resp.status_code == 200 and resp.json["report"]["valid_rows"] == 2
    assert resp.json["report"]["imported"] == 0 and _count(db, Device) == 0


def test_latin1_semicolon_sheet(client, token_for, db, create_org_unit):
    create_org_unit("Thiès")
    rows = [
        ["Nom", "Téléphone", "District", "Username"],
        ["Aïssatou Ndiaye", "+221 77 123 45 67", "Thiès", "andiaye"],
    ]
    data = _csv(rows, sep=";").encode("cp1252")
    resp = _upload(client, token_for(), "holders", "holders.csv", data)
    assert resp.status_code == 200, resp.json
    assert resp.json["report"]["encoding"] == "cp1252"
    holder = db.session.scalar(select(Holder).where(Holder.dhis2_username == "andiaye"))
    assert holder.name == "Aïssatou Ndiaye" and holder.msisdn == "+221771234567"
    assert holder.org_unit.name == "Thiès"


def test_xlsx_sims_with_pairing_and_bad_iccid(client, token_for, db, create_device):
    dev = create_device()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ICCID", "MSISDN", "Operator", "PIN", "PUK", "Glued", "Asset tag"])
    sheet.append(
        [make_iccid(42), "+221770000001", "Orange", "1234", "12345678", "yes", dev.asset_tag]
    )
    sheet.append(["8922101000000000000", "+221770000002", "Free", "", "", "", ""])
    buf = io.BytesIO()
    book.save(buf)
    resp = _upload(client, token_for(), "sims", "sims.xlsx", buf.getvalue())
    assert resp.status_code == 422
    assert resp.json["report"]["errors"][0]["row"] == 3
    assert resp.json["report"]["errors"][0]["column"] == "ICCID"
    assert _count(db, Sim) == 0
    resp = _upload(client, token_for(), "sims", "sims.xlsx", buf.getvalue(), valid_only=1)
    assert resp.json["report"]["imported"] == 1
    sim = db.session.scalar(select(Sim))
    assert sim.glued_in and sim.current_device.id == dev.id and sim.sim_puk == "12345678"
    raw = db.session.execute(text("SELECT sim_puk FROM sim")).scalar_one()
    assert raw != "12345678" and len(raw) > 50  # encrypted at rest


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("x.xlsx", b"PK\x03\x04 this is not a workbook", "not a readable XLSX"),
        ("x.csv", b"\x00\x01\x02binary", "not a text CSV"),
        ("x.exe", b"MZ\x90\x00", "Upload a .csv or .xlsx"),
        ("x.csv", b"", "empty"),
        ("x.csv", b"colour,flavour\nred,sweet\n", "No column"),
    ],
)
def test_malformed_files(client, token_for, db, name, data, message):
    resp = _upload(client, token_for(), "devices", name, data)
    assert resp.status_code == 422 and message in resp.json["error"]["message"]
    assert _count(db, Device) == 0


def test_oversized_upload_refused(app, client, token_for, db):
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        resp = _upload(client, token_for(), "devices", "big.csv", b"IMEI\n" + b"1" * 5000)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert resp.status_code == 413 and resp.json["error"]["code"] == "request_entity_too_large"


def test_export_neutralises_formulas_csv_and_xlsx(client, token_for, create_device):
    create_device(notes='=HYPERLINK("http://evil.example","click")', model="+cmd")
    tok = token_for("viewer")
    text = client.get("/api/v1/exports/devices", headers=bearer(tok)).data.decode("utf-8-sig")
    row = list(csv.DictReader(io.StringIO(text)))[0]
    assert row["notes"] == '\'=HYPERLINK("http://evil.example","click")' and row["model"] == "'+cmd"
    data = client.get("/api/v1/exports/devices?format=xlsx", headers=bearer(tok)).data
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("notes") + 1)
    assert cell.data_type == "s" and cell.value.startswith("'=")


def test_export_round_trips_through_import(client, token_for, db, create_device, district):
    create_device(asset_tag="RT-1", org_unit_id=district.id)
    tok = token_for()
    data = client.get("/api/v1/exports/devices?format=xlsx", headers=bearer(tok)).data
    resp = _upload(client, tok, "devices", "export.xlsx", data, dry_run=1)
    errors = resp.json["report"]["errors"]
    assert [(e["column"], e["message"]) for e in errors] == [
        ("asset_tag", "Asset tag RT-1 is already registered.")
    ]


def test_cli_import_progress_and_exit_codes(runner, db, district, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(_csv(PROCUREMENT))
    result = runner.invoke(args=["import", "devices", str(good), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 rows, 2 valid, 0 refused, 0 imported (dry run)" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(_csv([["IMEI"], [make_imei(1)], ["123"]]))
    result = runner.invoke(args=["import", "devices", str(bad)])
    assert result.exit_code == 1
    assert "row 3, column IMEI: IMEI must have 15 digits" in result.output
    assert "nothing written" in result.output and _count(db, Device) == 0
    result = runner.invoke(args=["import", "devices", str(good)])
    assert result.exit_code == 0 and _count(db, Device) == 2
    out = tmp_path / "devices.xlsx"
    result = runner.invoke(args=["export", "devices", str(out)])
    assert result.exit_code == 0
    assert openpyxl.load_workbook(out).active.max_row == 3

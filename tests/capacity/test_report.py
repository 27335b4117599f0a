"""The fleet report over real inventory rows: districts, counts, procurement, exports, and the
page, API and CLI showing the same report."""

from __future__ import annotations

import csv
import io
from collections import Counter

import openpyxl
import pytest

from fleet.capacity.model import DeviceSpec, estimate, ram_recommendation
from fleet.capacity.operations import device_verdict, workload_of
from fleet.capacity.report import EXPORT_COLUMNS, fleet_report
from fleet.inventory import exports

JUDGED = ("a1", "a2", "a3", "a4", "b1", "b2", "b3", "n1")


def _library_verdict(device, holder) -> str:
    """The verdict computed independently of the report: estimate() on hand-built inputs."""
    if device.ram_mb is None or device.api_level is None:
        return "unknown"
    spec = DeviceSpec(ram_mb=device.ram_mb, api_level=device.api_level,
                      total_storage_mb=device.storage_gb * 1024)
    return estimate(spec, workload_of(holder)[0]).verdict.value


def test_report_groups_by_district_and_counts(campaign):
    report = fleet_report()
    by_tag = {r.device.asset_tag: r for r in report.rows}
    assert sorted(by_tag) == sorted(f"CAP-{k.upper()}" for k in JUDGED)  # lost/idle/noload out
    assert [g.name for g in report.groups] == ["Alpha", "Beta", "(no district)"]
    districts = {g.name: sorted(r.device.asset_tag for r in g.rows) for g in report.groups}
    assert districts == {"Alpha": ["CAP-A1", "CAP-A2", "CAP-A3", "CAP-A4"],
                         "Beta": ["CAP-B1", "CAP-B2", "CAP-B3"],  # B1: district of its holder
                         "(no district)": ["CAP-N1"]}
    expected = {k: _library_verdict(campaign.devices[k], campaign.holders[k]) for k in JUDGED}
    assert {k: by_tag[f"CAP-{k.upper()}"].verdict for k in JUDGED} == expected
    assert expected == {"a1": "marginal", "a2": "ok", "a3": "marginal", "a4": "unknown",
                        "b1": "insufficient", "b2": "insufficient", "b3": "marginal",
                        "n1": "ok"}
    for g in report.groups:
        assert g.counts == {v: sum(1 for r in g.rows if r.verdict == v)
                            for v in ("ok", "marginal", "insufficient", "unknown")}
    assert report.counts == dict(Counter(expected.values())) | {
        v: 0 for v in ("ok", "marginal", "insufficient", "unknown") if v not in expected.values()}
    assert report.at_risk == 5
    assert [g.at_risk for g in report.groups] == [2, 3, 0]
    assert report.without_workload == 1
    # worst first inside a district
    assert [r.verdict for r in report.groups[0].rows] == ["marginal", "marginal", "unknown", "ok"]


def test_procurement_brings_every_holder_to_ok(campaign):
    report = fleet_report()
    assert report.procurement == [(2048, 2), (3072, 2)]
    assert [r.device.asset_tag for r in report.not_fixable_by_ram] == ["CAP-B3"]
    # independently: each at-risk holder's workload is ok on a fresh phone of the bought RAM
    bought = Counter()
    for key in ("a1", "a3", "b1", "b2", "b3"):
        workload = workload_of(campaign.holders[key])[0]
        rec = ram_recommendation(workload)
        if not rec.yields_ok:
            assert key == "b3" and rec.remaining[0].code == "org_units_not_safe"
            continue
        fresh = DeviceSpec(ram_mb=rec.ram_mb, api_level=30, total_storage_mb=32768)
        assert estimate(fresh, workload).verdict.value == "ok"
        smaller = [r for r in (1024, 1536, 2048, 3072) if r < rec.ram_mb]
        if smaller:
            assert estimate(DeviceSpec(ram_mb=smaller[-1], api_level=30,
                                       total_storage_mb=32768), workload).verdict.value != "ok"
        bought[rec.ram_mb] += 1
    assert sorted(bought.items()) == report.procurement


def test_unknown_ram_is_unknown_never_zero(campaign, client, login):
    row = next(r for r in fleet_report().rows if r.device.asset_tag == "CAP-A4")
    assert row.verdict == "unknown"
    assert row.judged.unknown == (("ram_mb", "RAM not recorded for the device"),)
    assert row.judged.memory_mb is None and row.judged.reasons == ()
    assert row.judged.recommended_ram_mb is not None  # the workload still has a recommendation
    login("viewer")
    data = client.get("/api/v1/capacity/report").json
    a4 = next(d for g in data["districts"] for d in g["devices"] if d["asset_tag"] == "CAP-A4")
    assert a4["ram_mb"] is None and a4["verdict"] == "unknown"
    body = client.get("/capacity/report").get_data(as_text=True)
    a4_row = body[body.index('data-asset-tag="CAP-A4"'):]
    a4_row = a4_row[:a4_row.index("</tr>")]
    assert "unknown" in a4_row and ">0 MB<" not in a4_row and ">0<" not in a4_row


def test_district_filter(campaign, client, login, runner):
    report = fleet_report("beta")
    assert [g.name for g in report.groups] == ["Beta"]
    assert report.at_risk == 3 and report.procurement == [(2048, 1), (3072, 1)]
    assert [g.name for g in fleet_report("ALPHA").groups] == ["Alpha"]  # by code
    login("viewer")
    assert client.get("/api/v1/capacity/report?district=Beta").json["totals"]["at_risk"] == 3
    resp = client.get("/api/v1/capacity/report?district=Nowhere")
    assert resp.status_code == 404 and "Nowhere" in resp.json["error"]["message"]
    result = runner.invoke(args=["capacity", "report", "--district", "Nowhere"])
    assert result.exit_code == 2 and "No district Nowhere" in result.output


def test_page_api_and_cli_show_the_same_report(campaign, client, login, runner):
    login("viewer")
    api = client.get("/api/v1/capacity/report").json
    assert api["totals"] == {"devices": 8, "ok": 2, "marginal": 3, "insufficient": 2,
                             "unknown": 1, "at_risk": 5, "without_workload": 1}
    assert api["procurement"] == [{"ram_mb": 2048, "phones": 2}, {"ram_mb": 3072, "phones": 2}]
    page = client.get("/capacity/report").get_data(as_text=True)
    assert 'id="at-risk">5<' in page
    assert '<tr data-ram="2048"><td>2,048 MB</td><td class="num">2</td>' in page
    assert '<tr data-ram="3072"><td>3,072 MB</td><td class="num">2</td>' in page
    cli = runner.invoke(args=["capacity", "report"])
    assert cli.exit_code == 0, cli.output
    assert ("8 devices judged - ok 2, marginal 3, insufficient 2, unknown 1; at risk 5."
            in cli.output)
    assert "  2048 MB RAM: 2\n  3072 MB RAM: 2\n" in cli.output
    for group in api["districts"]:
        for device in group["devices"]:
            tag, verdict = device["asset_tag"], device["verdict"]
            assert f'data-asset-tag="{tag}" data-verdict="{verdict}"' in page
            assert any(line.split()[:2] == [tag, verdict] for line in cli.output.splitlines())


def test_device_verdict_is_what_the_model_says(campaign):
    for key in JUDGED:
        device, holder = campaign.devices[key], campaign.holders[key]
        judged = device_verdict(device, holder)
        assert judged.verdict == _library_verdict(device, holder)
        if judged.verdict != "unknown":
            spec = DeviceSpec(ram_mb=device.ram_mb, api_level=device.api_level,
                              total_storage_mb=device.storage_gb * 1024)
            est = estimate(spec, workload_of(holder)[0])
            assert [r.code for r in judged.reasons] == [r.code for r in est.reasons]
            assert judged.recommended_ram_mb == est.recommended_ram_mb


def test_device_verdict_without_holder_or_with_bad_values(campaign, create_holder):
    device = campaign.devices["idle"]
    judged = device_verdict(device, None)
    assert judged.verdict == "unknown" and judged.unknown[0][0] == "expected_teis"
    # the holder form accepts up to 1,000,000 TEIs; the model's sanity bound is 500,000
    huge = create_holder("Huge", expected_teis=600_000)
    judged = device_verdict(device, huge)
    assert judged.verdict == "unknown"
    assert judged.unknown[0][0] == "expected_teis" and "500,000" in judged.unknown[0][1]
    # free storage read by provisioning is judged when given
    tight = device_verdict(campaign.devices["a2"], campaign.holders["a2"], free_storage_mb=1040)
    assert tight.verdict == "insufficient"
    assert [r.code for r in tight.reasons] == ["storage_free_short"]
    # defaulted workload columns are named
    bare = create_holder("Bare", expected_teis=100)
    assert device_verdict(device, bare).defaulted[:2] == ("events_per_tei", "attributes_per_tei")


def test_encryption_setting_reaches_the_verdict(campaign, app):
    holder, device = campaign.holders["a2"], campaign.devices["a2"]
    plain = device_verdict(device, holder)
    app.config["CAPACITY_ENCRYPT_DB"] = True
    try:
        encrypted = device_verdict(device, holder)
    finally:
        app.config.pop("CAPACITY_ENCRYPT_DB")
    assert encrypted.workload.encrypt_db is True and plain.workload.encrypt_db is False
    assert encrypted.memory_mb == pytest.approx(plain.memory_mb * 1.15)
    assert "encryption_cost" in [n.code for n in encrypted.notes]


# ---- exports -------------------------------------------------------------------------------

@pytest.fixture()
def hostile(campaign, db):
    """Formula-looking text in the holder name and device model of a judged row."""
    campaign.holders["a1"].name = '=HYPERLINK("http://evil.example","click")'
    campaign.devices["a1"].model = "@SUM(A1:A9)"
    campaign.devices["a2"].model = "+1-555"
    db.session.commit()
    return campaign


def test_csv_export_is_neutralised_and_complete(hostile, client, login):
    login("viewer")
    resp = client.get("/capacity/report.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    body = {r[2]: dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert len(body) == 8
    assert body["CAP-A1"]["holder"] == '\'=HYPERLINK("http://evil.example","click")'
    assert body["CAP-A1"]["model"] == "'@SUM(A1:A9)"
    assert body["CAP-A2"]["model"] == "'+1-555"
    assert body["CAP-A4"]["ram_mb"] == "unknown" and body["CAP-A4"]["verdict"] == "unknown"
    assert body["CAP-B1"]["district"] == "Beta" and body["CAP-B1"]["recommended_ram_mb"] == "3072"
    for row in rows[1:]:
        assert not row[0].startswith(("=", "+", "-", "@"))
    assert "capacity_report" not in exports.COLUMNS  # the inventory's kinds are unchanged


def test_xlsx_export_is_neutralised(hostile, client, login):
    login("viewer")
    resp = client.get("/capacity/report.xlsx?district=Alpha")
    assert resp.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == EXPORT_COLUMNS
    by_tag = {r[2]: dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert sorted(by_tag) == ["CAP-A1", "CAP-A2", "CAP-A3", "CAP-A4"]
    assert by_tag["CAP-A1"]["holder"].startswith("'=")
    assert by_tag["CAP-A1"]["model"] == "'@SUM(A1:A9)"
    for row in rows[1:]:
        for cell in row:
            assert not (isinstance(cell, str) and cell.startswith(("=", "+", "-", "@")))
    assert by_tag["CAP-A1"]["ram_mb"] == 1024 and by_tag["CAP-A4"]["ram_mb"] == "unknown"
    assert client.get("/capacity/report.pdf").status_code == 404


def test_cli_writes_the_export(hostile, runner, tmp_path):
    out = tmp_path / "report.xlsx"
    result = runner.invoke(args=["capacity", "report", "--district", "Beta", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (3 devices, xlsx)" in result.output
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert [r[2] for r in rows[1:]] == ["CAP-B1", "CAP-B2", "CAP-B3"]
    out = tmp_path / "r.txt"
    result = runner.invoke(args=["capacity", "report", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0
    text = out.read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    assert "'@SUM(A1:A9)" in text
    result = runner.invoke(args=["capacity", "report", "--format", "csv"])
    assert result.exit_code == 2 and "--format needs --out" in result.output


def test_large_fleet_page_lists_districts_then_one_districts_devices(campaign, client, login,
                                                                     monkeypatch):
    from fleet.capacity import views

    monkeypatch.setattr(views, "REPORT_PAGE_ROWS", 3)
    login("viewer")
    body = client.get("/capacity/report").get_data(as_text=True)
    assert 'id="rows-hidden"' in body and "data-asset-tag=" not in body
    row = body[body.index('<tr data-district="Beta">'):]
    row = row[:row.index("</tr>")]
    cells = [c.split(">")[-1] for c in row.split("</td>")[1:-1]]
    assert cells == ["0", "1", "2", "0", "3"]  # ok, marginal, insufficient, unknown, at risk
    body = client.get("/capacity/report?district=Beta").get_data(as_text=True)
    assert 'id="rows-hidden"' not in body
    assert body.count("data-asset-tag=") == 3


def test_api_rows_are_compact_with_sources_listed_once(campaign, client, login):
    login("viewer")
    data = client.get("/api/v1/capacity/report").json
    b1 = next(d for g in data["districts"] for d in g["devices"] if d["asset_tag"] == "CAP-B1")
    assert b1["verdict"] == "insufficient" and b1["recommended_ram_mb"] == 3072
    codes = [r["code"] for r in b1["reasons"]]
    assert "ram_below_minimum" in codes
    assert all(set(r) == {"code", "severity", "message"} for r in b1["reasons"])
    assert data["reason_sources"]["ram_below_minimum"][0].startswith(
        "DHIS2 Android implementation guide")
    assert set(codes) <= set(data["reason_sources"])


def test_device_district_wins_over_holder_district(campaign, create_device, db):
    """A phone kept at an Alpha facility but checked out to a Beta worker counts for Alpha,
    in the whole report and in the district filters alike."""
    from fleet.inventory import operations as ops

    worker = campaign.holders["a2"]  # Alpha worker...
    ops.update_holder(worker, {"org_unit_id": campaign.units["beta_hc"].id}, actor=None)
    db.session.commit()  # ...moved to Beta, phone still registered at Alpha HC
    whole = {r.device.asset_tag: r.district for r in fleet_report().rows}
    assert whole["CAP-A2"] == "Alpha"
    assert "CAP-A2" in [r.device.asset_tag for r in fleet_report("Alpha").rows]
    assert "CAP-A2" not in [r.device.asset_tag for r in fleet_report("Beta").rows]

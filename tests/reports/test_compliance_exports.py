"""Compliance rules with their thresholds and evidence, the thresholds page, and the exports
(CSV, XLSX, PDF) a district review meeting uses."""

import io
from datetime import timedelta

import pytest

from fleet.reports import compliance
from fleet.reports import operations as ops
from fleet.timeutil import utcnow


def _states(device, **kw):
    return {f.rule: f for f in compliance.evaluate(device, release=None, **kw)}


def test_no_report_is_stale_and_unknown_elsewhere(create_device, db):
    device = create_device()
    f = _states(device)
    assert f["stale"].state == "fail" and f["stale"].evidence["last_seen"] is None
    for rule in ("low_storage", "not_encrypted", "no_screen_lock", "sim_swapped", "battery"):
        assert f[rule].state == "unknown", rule


def test_thresholds_and_evidence(create_device, db, push):
    device = create_device()
    push(device, storage_free_mb=500, crypto_state="unencrypted", screen_lock_set=False,
          api_level=21)
    f = _states(device)
    assert f["low_storage"].state == "fail"
    assert f["low_storage"].evidence == {"storage_free_mb": 500, "threshold_mb": 1024}
    assert f["not_encrypted"].state == "fail"
    assert f["no_screen_lock"].state == "fail"
    assert f["api_below_min_sdk"].state == "fail"
    assert f["api_below_min_sdk"].evidence == {"api_level": 21, "min_sdk": 23}
    assert f["stale"].state == "pass"
    ops.set_threshold("min_free_storage_mb", 400, actor=None)
    assert _states(device)["low_storage"].state == "pass"


def test_battery_repeatedly_critical(create_device, db, push):
    device = create_device()
    for level in (12, 50, 9, 14):
        push(device, battery_level=level)
    f = _states(device)["battery"]
    assert f.state == "fail" and f.evidence["critical_reports"] == 3
    ops.set_threshold("battery_critical_count", 4, actor=None)
    assert _states(device)["battery"].state == "pass"
    push(device, battery_health="overheat", battery_level=90)
    assert _states(device)["battery"].state == "fail"


def test_stale_after_threshold(create_device, db, push):
    device = create_device()
    push(device)
    later = utcnow() + timedelta(days=8)
    assert _states(device, now=later)["stale"].state == "fail"
    assert _states(device, now=utcnow() + timedelta(days=6))["stale"].state == "pass"


def test_sim_swap(create_device, create_sim, db, push):
    from fleet.inventory.operations import pair_sim

    device, sim, other = create_device(), create_sim(), create_sim()
    pair_sim(device, sim, actor=None)
    push(device, iccid=sim.iccid)
    assert _states(device)["sim_swapped"].state == "pass"
    push(device, iccid=other.iccid)
    f = _states(device)["sim_swapped"]
    assert f.state == "fail" and f.evidence == {"reported_iccid": other.iccid,
                                                "paired_iccids": [sim.iccid]}


def test_app_behind_channel_release(create_device, db, push):
    device = create_device()
    push(device, packages={"com.dhis2": {"version_code": 2600, "version_name": "2.9.0"}})
    release = {"channel": "pilot", "version_code": 2700, "version_name": "2.10.0",
               "min_sdk": 31}
    f = {x.rule: x for x in compliance.evaluate(device, release=release)}
    assert f["app_behind"].state == "fail" and f["app_behind"].evidence["channel"] == "pilot"
    assert f["api_below_min_sdk"].state == "fail"  # API 30 < the release's minSdk 31
    assert _states(device)["app_behind"].state == "unknown"  # no release known


def test_ram_against_capacity_verdict(create_device, create_holder, db, push):
    from fleet.inventory.operations import checkout

    small = create_device(ram_mb=1024, api_level=27)
    holder = create_holder(expected_teis=10000, events_per_tei=5, programs=3)
    checkout(small, holder, actor=None)
    db.session.commit()
    push(small)
    f = _states(small)["ram_capacity"]
    assert f.state == "fail", f
    assert f.evidence["verdict"] == "insufficient" and f.evidence["ram_mb"] == 1024
    big = create_device(ram_mb=8192, api_level=34)
    light = create_holder(expected_teis=50, events_per_tei=2)
    checkout(big, light, actor=None)
    db.session.commit()
    push(big)
    assert _states(big)["ram_capacity"].state == "pass"


def test_settings_page_changes_threshold(client, login, db):
    login("admin")
    resp = client.post("/health/settings", data={"stale_days": "3"})
    assert resp.status_code == 302
    assert compliance.settings()["stale_days"] == 3
    resp = client.post("/health/settings", data={"stale_days": "soon"})
    assert "Enter a number" in resp.get_data(as_text=True)
    login("viewer")
    assert client.get("/health/settings").status_code == 403


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_exports(client, login, create_device, db, fmt, push):
    device = create_device(notes="")
    push(device, storage_free_mb=100, iccid=None)
    formula = create_device(model="=HYPERLINK(1)")
    push(formula)
    db.session.commit()
    login("viewer")
    resp = client.get(f"/health/export.{fmt}")
    assert resp.status_code == 200
    body = resp.data
    if fmt == "csv":
        text = body.decode("utf-8-sig")
        assert text.splitlines()[0].startswith("asset_tag,status,district")
        row = next(line for line in text.splitlines() if line.startswith(device.asset_tag))
        assert "low_storage" in row
        assert "'=HYPERLINK(1)" in text  # neutralised formula
    elif fmt == "xlsx":
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(body)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "asset_tag"
        assert any(r[0] == device.asset_tag and r[11] == 100 for r in rows[1:])
    else:
        import subprocess

        assert body.startswith(b"%PDF")
        text = subprocess.run(["pdftotext", "-", "-"], input=body, capture_output=True,
                              check=True).stdout.decode()
        assert "Fleet health summary" in text and device.asset_tag in text
        assert "Free storage below the threshold" in text


def test_dashboard_by_district(client, login, create_org_unit, create_device, db, push):
    country = create_org_unit("Kenya")
    region = create_org_unit("Coast", parent=country)
    kilifi = create_org_unit("Kilifi", parent=region)
    kwale = create_org_unit("Kwale", parent=region)
    a = create_device(org_unit_id=kilifi.id)
    b = create_device(org_unit_id=kwale.id)
    push(a, storage_free_mb=10)
    push(b)
    db.session.commit()
    login("viewer")
    page = client.get("/health/").get_data(as_text=True)
    assert "Kilifi" in page and "Kwale" in page
    only = client.get("/health/?district=Kwale").get_data(as_text=True)
    assert f">{b.asset_tag}<" not in only  # b is compliant: not in the failing list
    assert f">{a.asset_tag}<" not in only  # a is in Kilifi
    kilifi_page = client.get("/health/?district=Kilifi").get_data(as_text=True)
    assert f">{a.asset_tag}</a>" in kilifi_page and 'data-rule="low_storage"' in kilifi_page


def test_scheduler_once_cli(runner, db):
    result = runner.invoke(args=["scheduler", "--once", "--job", "stale_devices"])
    assert result.exit_code == 0, result.output
    assert "stale_devices: success" in result.output
    again = runner.invoke(args=["scheduler", "--once", "--job", "stale_devices"])
    assert "stale_devices: already run" in again.output

"""POST /api/v1/devices/<asset_tag>/health: accepted reports, and every bad input answered
with a clear 4xx and nothing stored."""

import json
import uuid

from sqlalchemy import func, select

from fleet.reports.models import DeviceHealth, HealthReport


def _report(**kw):
    body = {"report_id": str(uuid.uuid4()), "battery_level": 81, "battery_health": "good",
            "battery_temperature_c": 29.5, "battery_status": "discharging",
            "battery_charging": False, "storage_total_mb": 24000, "storage_free_mb": 9000,
            "ram_total_mb": 2800, "ram_available_mb": 900, "android_version": "10",
            "api_level": 29, "security_patch": "2021-07-01", "uptime_s": 7200,
            "crypto_state": "encrypted", "screen_lock_set": True,
            "packages": {"com.dhis2": {"version_code": 2661, "version_name": "2.9.1"}},
            "app_pss_mb": 171.4, "raw": {"battery": "Current Battery Service state:\n"}}
    body.update(kw)
    return body


def _post(client, tag, token, body, **headers):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    hdrs = {"Content-Type": "application/json"}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    hdrs.update(headers)
    return client.post(f"/api/v1/devices/{tag}/health", data=data, headers=hdrs)


def _count(db):
    return db.session.scalar(select(func.count()).select_from(HealthReport))


def test_push_stores_report(client, db, pushing_device):
    device, token = pushing_device
    body = _report()
    resp = _post(client, device.asset_tag, token, body)
    assert resp.status_code == 201, resp.json
    assert resp.json["report_id"] == body["report_id"]
    row = db.session.scalar(select(HealthReport).where(HealthReport.device_id == device.id))
    assert row.source == "push" and row.battery_level == 81 and row.app_pss_mb == 171.4
    assert row.capture_version_code == 2661 and row.raw["battery"].startswith("Current")
    assert row.imei is None  # not sent: unknown, not zero
    state = db.session.get(DeviceHealth, device.id)
    assert state.last_report_id == row.id and state.compliant is not None


def test_replayed_report_id_is_refused(client, db, pushing_device):
    device, token = pushing_device
    body = _report()
    assert _post(client, device.asset_tag, token, body).status_code == 201
    before = _count(db)
    resp = _post(client, device.asset_tag, token, dict(body, battery_level=5))
    assert resp.status_code == 409 and resp.json["error"]["code"] == "conflict"
    assert _count(db) == before


def test_bad_inputs_store_nothing(client, db, pushing_device, create_device):
    device, token = pushing_device
    other = create_device()
    tag = device.asset_tag
    cases = [
        ("no token", _post(client, tag, None, _report()), 401),
        ("bad token", _post(client, tag, "fdh_" + "x" * 43, _report()), 401),
        ("user api token", _post(client, tag, "flt_nottoken", _report()), 401),
        ("token of another device", _post(client, other.asset_tag, token, _report()), 403),
        ("unknown device", _post(client, "NOPE-999", token, _report()), 404),
        ("string for int", _post(client, tag, token, _report(battery_level="81")), 422),
        ("level out of range", _post(client, tag, token, _report(battery_level=140)), 422),
        ("bool for number", _post(client, tag, token, _report(storage_free_mb=True)), 422),
        ("unknown field", _post(client, tag, token, _report(rooted=True)), 422),
        ("bad enum", _post(client, tag, token, _report(crypto_state="maybe")), 422),
        ("bad imei", _post(client, tag, token, _report(imei="123456789012345")), 422),
        ("bad iccid", _post(client, tag, token, _report(iccid="8900000000000000001")), 422),
        ("free > total", _post(client, tag, token, _report(storage_free_mb=99999)), 422),
        ("no report id", _post(client, tag, token, {"battery_level": 50}), 422),
        ("not json", _post(client, tag, token, b"level=50"), 400),
        ("huge body", _post(client, tag, token, _report(raw={"x": "a" * 200_000})), 413),
        ("too many packages", _post(client, tag, token, _report(packages={
            f"org.p{i}.app": {"version_code": i} for i in range(60)})), 422),
    ]
    for name, resp, status in cases:
        assert resp.status_code == status, (name, resp.status_code, resp.data[:300])
        assert resp.is_json and "error" in resp.json, name
    assert _count(db) == 0


def test_revoked_token_refused(client, db, pushing_device):
    from fleet.reports import operations as ops
    from fleet.reports.models import HealthToken

    device, token = pushing_device
    ops.revoke_token(db.session.scalar(select(HealthToken)), actor=None)
    db.session.commit()
    assert _post(client, device.asset_tag, token, _report()).status_code == 401
    assert _count(db) == 0


def test_staff_issue_token_and_read_reports(client, db, create_device, token_for):
    device = create_device()
    staff = token_for("logistics")
    resp = client.post(f"/api/v1/devices/{device.asset_tag}/health-tokens",
                       headers={"Authorization": f"Bearer {staff}"})
    assert resp.status_code == 201
    plain = resp.json["token"]
    assert _post(client, device.asset_tag, plain, _report()).status_code == 201
    resp = client.get(f"/api/v1/devices/{device.asset_tag}/health",
                      headers={"Authorization": f"Bearer {staff}"})
    assert resp.status_code == 200 and len(resp.json) == 1
    assert resp.json[0]["battery_level"] == 81
    viewer = token_for("viewer")
    assert client.post(f"/api/v1/devices/{device.asset_tag}/health-tokens",
                       headers={"Authorization": f"Bearer {viewer}"}).status_code == 403


def test_rate_limited(tmp_path, app_root):
    """With rate limiting on (production default), the 4th push within the window is 429."""
    from fleet_testing import make_test_app

    from fleet.cli import upgrade_database
    from fleet.extensions import db as _db

    app = make_test_app(tmp_path, f"sqlite:///{tmp_path / 'rl.sqlite3'}",
                        RATELIMIT_ENABLED=True, HEALTH_PUSH_RATE_LIMIT="3 per minute")
    with app.app_context():
        upgrade_database()
        from fleet.inventory.operations import register_device
        from fleet.reports import operations as ops

        device = register_device({"manufacturer": "x", "model": "y"}, actor=None)
        _tok, token = ops.issue_token(device, actor=None)
        _db.session.commit()
        tag = device.asset_tag
    client = app.test_client()
    codes = [_post(client, tag, token, _report()).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    with app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(HealthReport)) == 3

"""Lifecycle, four-eyes, signer pin and re-pin, versionCode monotonic, debug certificate only
on test channels, minSdk against the fleet, rollout, rollback, withdrawal, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from fleet.apk import operations as ops
from fleet.apk.models import RELEASE_STATUSES, RELEASE_TRANSITIONS
from fleet.audit.models import AuditEntry


def _h(token):
    return {"Authorization": f"Bearer {token}"}


def _upload(api_upload, token, apk):
    resp = api_upload(apk, token)
    assert resp.status_code == 201, resp.json
    return resp.json


def _check(release_json, name):
    return next(c for c in release_json["checks"] if c["name"] == name)


def test_four_eyes_uploader_cannot_approve(client, api_upload, staff, apk_factory):
    _u1, first = staff("admin")
    _u2, second = staff("admin")
    rel = _upload(api_upload, first, apk_factory.build(package="org.fleet.fe", version_code=1))
    assert client.post(f"/api/v1/apk/releases/{rel['id']}/testing",
                       headers=_h(first)).status_code == 200
    resp = client.post(f"/api/v1/apk/releases/{rel['id']}/approve", headers=_h(first))
    assert resp.status_code == 403
    assert "Four-eyes" in resp.json["error"]["message"]
    _u3, logistics = staff("logistics")  # may upload, may not approve
    assert client.post(f"/api/v1/apk/releases/{rel['id']}/approve",
                       headers=_h(logistics)).status_code == 403
    resp = client.post(f"/api/v1/apk/releases/{rel['id']}/approve", headers=_h(second))
    assert resp.status_code == 200
    assert resp.json["status"] == "approved"
    assert resp.json["approved_by"] != resp.json["uploaded_by"]


def test_four_eyes_can_be_switched_off(app, client, api_upload, staff, apk_factory, monkeypatch):
    monkeypatch.setitem(app.config, "APK_FOUR_EYES", False)
    _u, admin = staff("admin")
    rel = _upload(api_upload, admin, apk_factory.build(package="org.fleet.fe2", version_code=1))
    client.post(f"/api/v1/apk/releases/{rel['id']}/testing", headers=_h(admin))
    resp = client.post(f"/api/v1/apk/releases/{rel['id']}/approve", headers=_h(admin))
    assert resp.status_code == 200, resp.json


def test_illegal_moves_are_refused(client, api_upload, staff, apk_factory, db):
    _u, admin = staff("admin")
    rel = _upload(api_upload, admin, apk_factory.build(package="org.fleet.ill", version_code=1))
    # vetted cannot be approved without testing, nor released
    resp = client.post(f"/api/v1/apk/releases/{rel['id']}/approve", headers=_h(staff()[1]))
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "illegal_transition"
    resp = client.post(f"/api/v1/apk/releases/{rel['id']}/withdraw", json={"reason": "x"},
                       headers=_h(admin))
    assert resp.status_code == 200
    for action in ("testing", "approve", "revet"):
        assert client.post(f"/api/v1/apk/releases/{rel['id']}/{action}",
                           headers=_h(admin)).status_code == 409
    # the database refuses a status outside the lifecycle
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.execute(text("UPDATE apk_release SET status='live' WHERE id=:i"),
                               {"i": rel["id"]})
    assert set(RELEASE_TRANSITIONS) == set(RELEASE_STATUSES)
    assert RELEASE_TRANSITIONS["withdrawn"] == frozenset()


def test_signer_pin_and_admin_repin(client, api_upload, staff, apk_factory, approved_release,
                                    signing_keys, db):
    first = approved_release(apk_factory.build(package="org.fleet.pin", version_code=1))
    pins = client.get("/api/v1/apk/pins", headers=_h(approved_release.uploader)).json
    assert {"package": "org.fleet.pin", "cert_sha256": signing_keys["release"].cert_sha256} \
        .items() <= next(p for p in pins if p["package"] == "org.fleet.pin").items()
    other = _upload(api_upload, approved_release.uploader,
                    apk_factory.build(package="org.fleet.pin", version_code=2, key="other"))
    assert other["status"] == "rejected"
    pin_check = _check(other, "signer_pin")
    assert pin_check["status"] == "fail"
    assert signing_keys["other"].cert_sha256 in pin_check["reason"]
    assert "INSTALL_FAILED_UPDATE_INCOMPATIBLE" in pin_check["reason"]
    # only an admin re-pins, with a reason
    _u, logistics = staff("logistics")
    body = {"cert_sha256": signing_keys["other"].cert_sha256, "reason": "key rotation"}
    assert client.put("/api/v1/apk/pins/org.fleet.pin", json=body,
                      headers=_h(logistics)).status_code == 403
    assert client.put("/api/v1/apk/pins/org.fleet.pin", json={**body, "reason": ""},
                      headers=_h(approved_release.approver)).status_code == 422
    resp = client.put("/api/v1/apk/pins/org.fleet.pin", json=body,
                      headers=_h(approved_release.approver))
    assert resp.status_code == 200
    assert resp.json["cert_sha256"] == signing_keys["other"].cert_sha256
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "apk.repin")
                               .order_by(AuditEntry.id.desc())).first()
    assert entry.after["reason"] == "key rotation"
    assert entry.before["cert_sha256"] == signing_keys["release"].cert_sha256
    # the rejected upload can be vetted again and now passes
    resp = client.post(f"/api/v1/apk/releases/{other['id']}/revet",
                       headers=_h(approved_release.approver))
    assert resp.status_code == 200
    assert resp.json["status"] == "vetted", resp.json["reasons"]
    assert first["signer_sha256"] == signing_keys["release"].cert_sha256


def test_version_code_must_rise_above_every_approved_release(client, api_upload, apk_factory,
                                                            approved_release):
    approved_release(apk_factory.build(package="org.fleet.vc", version_code=20))
    down = _upload(api_upload, approved_release.uploader,
                   apk_factory.build(package="org.fleet.vc", version_code=19))
    same = _upload(api_upload, approved_release.uploader,
                   apk_factory.build(package="org.fleet.vc", version_code=20, version_name="x"))
    up = _upload(api_upload, approved_release.uploader,
                 apk_factory.build(package="org.fleet.vc", version_code=21))
    for rel in (down, same):
        assert rel["status"] == "rejected"
        assert "not above the highest approved release (20)" in _check(rel, "version_code")[
            "reason"]
    assert up["status"] == "vetted"


def test_approval_rechecks_version_code_against_later_approvals(client, api_upload, staff,
                                                                apk_factory, approved_release):
    """Two uploads vetted side by side: once the higher one is approved, the lower one can no
    longer be approved."""
    h_up = _h(approved_release.uploader)
    low = _upload(api_upload, approved_release.uploader,
                  apk_factory.build(package="org.fleet.race", version_code=5))
    approved_release(apk_factory.build(package="org.fleet.race", version_code=6))
    client.post(f"/api/v1/apk/releases/{low['id']}/testing", headers=h_up)
    resp = client.post(f"/api/v1/apk/releases/{low['id']}/approve",
                       headers=_h(approved_release.approver))
    assert resp.status_code == 422
    assert "not above the highest approved release (6)" in resp.json["error"]["message"]


def test_debug_certificate_only_on_test_channels(client, app, api_upload, apk_factory,
                                                 approved_release, make_channel):
    rel = approved_release(apk_factory.build(package="org.fleet.dbg", version_code=1,
                                             key="debug"))
    make_channel("production")
    make_channel("lab", is_test=True)
    h = _h(make_channel.token)
    resp = client.post(f"/api/v1/apk/releases/{rel['id']}/release",
                       json={"channel": "production"}, headers=h)
    assert resp.status_code == 422
    assert "CN=Android Debug" in resp.json["error"]["message"]
    resp = client.post(f"/api/v1/apk/releases/{rel['id']}/release", json={"channel": "lab"},
                       headers=h)
    assert resp.status_code == 200, resp.json


def test_in_testing_release_goes_to_test_channels_only(client, api_upload, staff, apk_factory,
                                                       make_channel):
    _u, admin = staff("admin")
    rel = _upload(api_upload, admin, apk_factory.build(package="org.fleet.tst", version_code=1))
    client.post(f"/api/v1/apk/releases/{rel['id']}/testing", headers=_h(admin))
    make_channel("prod2")
    make_channel("pilot-lab", is_test=True)
    h = _h(make_channel.token)
    assert client.post(f"/api/v1/apk/releases/{rel['id']}/release", json={"channel": "prod2"},
                       headers=h).status_code == 409
    resp = client.post(f"/api/v1/apk/releases/{rel['id']}/release",
                       json={"channel": "pilot-lab"}, headers=h)
    assert resp.status_code == 200
    assert client.get(f"/api/v1/apk/releases/{rel['id']}", headers=h).json["status"] == \
        "in_testing"


def test_min_sdk_report_lists_the_devices_left_behind(api_upload, staff, apk_factory,
                                                      create_device):
    old = [create_device(api_level=21, android_version="5.0"),
           create_device(api_level=25, android_version="7.1")]
    create_device(api_level=30)
    create_device(api_level=None, android_version=None)
    create_device(api_level=19, android_version="4.4", status="retired")
    _u, admin = staff()
    rel = _upload(api_upload, admin, apk_factory.build(package="org.fleet.sdk", version_code=1,
                                                       min_sdk=26))
    check = _check(rel, "min_sdk_fleet")
    assert check["status"] == "warn"
    assert sorted(check["details"]["device_ids"]) == sorted(d.asset_tag for d in old)
    assert len(check["details"]["unknown_api_level"]) == 1
    assert check["details"]["android_version"] == "Android 8.0"
    assert "2 of 4 registered devices run below API 26" in check["reason"]


def test_rollout_bucket_is_deterministic_and_widening_keeps_devices():
    buckets = [ops.rollout_bucket(7, d) for d in range(1, 2001)]
    assert buckets == [ops.rollout_bucket(7, d) for d in range(1, 2001)]
    assert all(0 <= b < 100 for b in buckets)
    share = sum(b < 10 for b in buckets) / len(buckets)
    assert 0.07 < share < 0.13  # about 10 % of 2,000 devices
    at10 = {d for d, b in zip(range(1, 2001), buckets, strict=True) if b < 10}
    at30 = {d for d, b in zip(range(1, 2001), buckets, strict=True) if b < 30}
    assert at10 < at30
    assert [ops.rollout_bucket(8, d) for d in range(1, 50)] != buckets[:49]  # salted by channel


def test_staged_rollout_rollback_and_withdraw(client, app, apk_factory, approved_release,
                                              make_channel, create_device, district, db):
    v1 = approved_release(apk_factory.build(package="org.fleet.roll", version_code=1,
                                            version_name="1.0"))
    v2 = approved_release(apk_factory.build(package="org.fleet.roll", version_code=2,
                                            version_name="2.0"))
    chan = make_channel("field", org_unit_ids=[district.id])
    h = _h(make_channel.token)
    assert client.post(f"/api/v1/apk/releases/{v1['id']}/release", json={"channel": "field"},
                       headers=h).status_code == 200
    resp = client.post(f"/api/v1/apk/releases/{v2['id']}/release",
                       json={"channel": "field", "rollout_percent": 30}, headers=h)
    assert resp.status_code == 200
    assert resp.json["previous_release"]["id"] == v1["id"]
    devices = [create_device(org_unit=district.id) for _ in range(60)]
    with app.app_context():
        channel = ops.find_channel("field")
        got = {d.id: ops.release_for(channel, "org.fleet.roll", d.id).version_code
               for d in devices}
    expected = {d.id: 2 if ops.rollout_bucket(chan["id"], d.id) < 30 else 1 for d in devices}
    assert got == expected
    assert set(got.values()) == {1, 2}
    # widen to 100 %: everyone on 2, v1 is let go (superseded)
    resp = client.post(f"/api/v1/apk/channels/{chan['id']}/rollout",
                       json={"package": "org.fleet.roll", "rollout_percent": 100}, headers=h)
    assert resp.json["previous_release"] is None
    assert client.get(f"/api/v1/apk/releases/{v1['id']}", headers=h).json["status"] == \
        "superseded"
    # rollback to v1 warns about downgrades
    resp = client.post(f"/api/v1/apk/channels/{chan['id']}/rollback",
                       json={"release_id": v1["id"]}, headers=h)
    assert resp.status_code == 200
    assert resp.json["release"]["id"] == v1["id"]
    assert "re-provisioned" in resp.json["warning"]
    assert client.get(f"/api/v1/apk/releases/{v1['id']}", headers=h).json["status"] == "released"
    assert client.get(f"/api/v1/apk/releases/{v2['id']}", headers=h).json["status"] == \
        "superseded"
    # releasing a lower versionCode is not a release
    assert client.post(f"/api/v1/apk/channels/{chan['id']}/rollback",
                       json={"release_id": v2["id"]}, headers=h).status_code == 422
    history = client.get(f"/api/v1/apk/channels/{chan['id']}/history", headers=h).json
    assert [e["action"] for e in history] == ["rollback", "rollout", "release", "release"]
    # withdraw v1: the channel serves nothing of the package any more
    client.post(f"/api/v1/apk/releases/{v1['id']}/withdraw", json={"reason": "crash on start"},
                headers=h)
    assert client.get(f"/api/v1/apk/channels/{chan['id']}", headers=h).json["pointers"] == []
    actions = set(db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.action.like("apk.%"))))
    assert {"apk.upload", "apk.vet", "apk.approve", "apk.pin", "apk.release",
            "apk.channel.release", "apk.channel.rollout", "apk.channel.rollback",
            "apk.supersede", "apk.withdraw"} <= actions


def test_withdrawing_the_new_release_falls_back_to_the_previous(client, apk_factory,
                                                               approved_release, make_channel):
    v1 = approved_release(apk_factory.build(package="org.fleet.wd", version_code=1))
    v2 = approved_release(apk_factory.build(package="org.fleet.wd", version_code=2))
    chan = make_channel("wd")
    h = _h(make_channel.token)
    client.post(f"/api/v1/apk/releases/{v1['id']}/release", json={"channel": "wd"}, headers=h)
    client.post(f"/api/v1/apk/releases/{v2['id']}/release",
                json={"channel": "wd", "rollout_percent": 10}, headers=h)
    client.post(f"/api/v1/apk/releases/{v2['id']}/withdraw", json={"reason": "bad build"},
                headers=h)
    pointers = client.get(f"/api/v1/apk/channels/{chan['id']}", headers=h).json["pointers"]
    assert [(p["release"]["id"], p["rollout_percent"]) for p in pointers] == [(v1["id"], 100)]


def test_channel_of_a_device_by_holder_group_org_unit_or_default(
        app, db, client, make_channel, create_device, create_holder, district, create_org_unit):
    from fleet.apk.operations import channel_for_device, create_holder_group

    other_district = create_org_unit("Thiès", parent=district.parent)
    pilot_holder = create_holder()
    group = create_holder_group("pilot supervisors", [pilot_holder.id], actor=None)
    db.session.commit()
    make_channel("default-ch", is_default=True)
    make_channel("dakar", org_unit_ids=[district.id])
    make_channel("pilot", holder_group_ids=[group.id], is_test=True)
    in_dakar = create_device(org_unit=district.id)
    elsewhere = create_device(org_unit=other_district.id)
    piloting = create_device(org_unit=district.id)
    piloting.holder_id = pilot_holder.id
    db.session.commit()
    assert channel_for_device(in_dakar).name == "dakar"
    assert channel_for_device(elsewhere).name == "default-ch"
    assert channel_for_device(piloting).name == "pilot"
    # only one default channel at a time
    make_channel("new-default", is_default=True)
    names = [c["name"] for c in client.get("/api/v1/apk/channels",
                                           headers=_h(make_channel.token)).json
             if c["is_default"]]
    assert names == ["new-default"]

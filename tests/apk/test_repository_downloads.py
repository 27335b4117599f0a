"""Download answers (through the Flask test client; real sockets are in
test_repository_http.py), access rules, X-Accel-Redirect, and the update check."""

from __future__ import annotations

import hashlib

import pytest
from fleet_testing import make_test_app


def _h(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def released(client, apk_factory, approved_release, make_channel):
    """A 1 MB release on channel 'prod' and a channel token; returns a dict."""
    apk = apk_factory.build(package="org.fleet.dl", version_code=4, version_name="4.0",
                            padding_bytes=1_000_000)
    rel = approved_release(apk)
    chan = make_channel("prod")
    h = _h(make_channel.token)
    client.post(f"/api/v1/apk/releases/{rel['id']}/release", json={"channel": "prod"}, headers=h)
    token = client.post(f"/api/v1/apk/channels/{chan['id']}/tokens", json={"label": "t"},
                        headers=h).json
    return {"apk": apk, "data": apk.read_bytes(), "rel": rel, "chan": chan, "token": token,
            "admin": make_channel.token}


def test_full_download_headers(client, released):
    sha, tok = released["rel"]["sha256"], released["token"]["token"]
    for url in (f"/apk/{sha}.apk?token={tok}", f"/apk/{sha}/org.fleet.dl-4.0.apk?token={tok}"):
        resp = client.get(url)
        assert resp.status_code == 200
        assert resp.data == released["data"]
        assert resp.headers["Content-Type"] == "application/vnd.android.package-archive"
        assert int(resp.headers["Content-Length"]) == len(released["data"])
        assert resp.headers["ETag"] == f'"{sha}"'
        assert resp.headers["Accept-Ranges"] == "bytes"
        cc = {p.strip() for p in resp.headers["Cache-Control"].split(",")}
        assert cc == {"public", "max-age=31536000", "immutable"}
        assert "org.fleet.dl-4.0.apk" in resp.headers["Content-Disposition"]
    resp = client.get(f"/apk/{sha}.apk", headers=_h(tok))  # Bearer works too
    assert resp.status_code == 200


def test_range_if_range_if_none_match_head_416(client, released):
    sha, tok, data = released["rel"]["sha256"], released["token"]["token"], released["data"]
    url = f"/apk/{sha}.apk?token={tok}"
    resp = client.get(url, headers={"Range": "bytes=100-199"})
    assert resp.status_code == 206
    assert resp.data == data[100:200]
    assert resp.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    resp = client.get(url, headers={"Range": "bytes=-10"})
    assert (resp.status_code, resp.data) == (206, data[-10:])
    resp = client.get(url, headers={"Range": "bytes=500000-", "If-Range": f'"{sha}"'})
    assert (resp.status_code, resp.data) == (206, data[500000:])
    resp = client.get(url, headers={"Range": "bytes=500000-", "If-Range": '"not-this-file"'})
    assert (resp.status_code, resp.data) == (200, data)
    resp = client.get(url, headers={"If-None-Match": f'"{sha}"'})
    assert resp.status_code == 304
    assert resp.data == b""
    resp = client.get(url, headers={"If-None-Match": '"other"'})
    assert resp.status_code == 200
    resp = client.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(data)}"
    resp = client.head(url)
    assert resp.status_code == 200
    assert resp.data == b""
    assert int(resp.headers["Content-Length"]) == len(data)


def test_access_rules(client, released, make_channel, login):
    sha, tok = released["rel"]["sha256"], released["token"]["token"]
    assert client.get(f"/apk/{sha}.apk").status_code == 401
    assert client.get(f"/apk/{sha}.apk?token=fdl_nonsense").status_code == 401
    other = make_channel("elsewhere")
    other_tok = client.post(f"/api/v1/apk/channels/{other['id']}/tokens", json={},
                            headers=_h(make_channel.token)).json["token"]
    assert client.get(f"/apk/{sha}.apk?token={other_tok}").status_code == 403
    assert client.get(f"/apk/{'0' * 64}.apk?token={tok}").status_code == 404
    assert client.get(f"/apk/{sha.upper()}.apk?token={tok}").status_code == 404
    # revoked: refused at once
    resp = client.post(f"/api/v1/apk/tokens/{released['token']['id']}/revoke",
                       headers=_h(released["admin"]))
    assert resp.json["revoked_at"]
    assert client.get(f"/apk/{sha}.apk?token={tok}").status_code == 401
    # a staff session may download
    login("viewer")
    assert client.get(f"/apk/{sha}.apk").status_code == 200


def test_expired_token_is_refused(client, released, db):
    from datetime import timedelta

    from fleet.apk.models import DownloadToken
    from fleet.timeutil import utcnow

    sha, tok = released["rel"]["sha256"], released["token"]["token"]
    row = db.session.get(DownloadToken, released["token"]["id"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(f"/apk/{sha}.apk?token={tok}").status_code == 401


def test_withdrawn_release_is_never_served(client, released, login):
    sha, tok = released["rel"]["sha256"], released["token"]["token"]
    client.post(f"/api/v1/apk/releases/{released['rel']['id']}/withdraw",
                json={"reason": "recalled"}, headers=_h(released["admin"]))
    assert client.get(f"/apk/{sha}.apk?token={tok}").status_code == 404
    login("admin")
    assert client.get(f"/apk/{sha}.apk").status_code == 404


def test_x_accel_redirect_answers_without_body(app, client, released, monkeypatch):
    monkeypatch.setitem(app.config, "APK_X_ACCEL_REDIRECT", "/protected-apks/")
    sha, tok = released["rel"]["sha256"], released["token"]["token"]
    resp = client.get(f"/apk/{sha}.apk?token={tok}")
    assert resp.status_code == 200
    assert resp.headers["X-Accel-Redirect"] == f"/protected-apks/{sha[:2]}/{sha}.apk"
    assert resp.data == b""
    assert resp.headers["Content-Type"] == "application/vnd.android.package-archive"
    # the app still decides: no token, no redirect
    resp = client.get(f"/apk/{sha}.apk")
    assert resp.status_code == 401
    assert "X-Accel-Redirect" not in resp.headers


def test_update_check(client, released, apk_factory, approved_release, create_device, db):
    tok, rel = released["token"]["token"], released["rel"]
    resp = client.get("/api/v1/updates/org.fleet.dl?versionCode=3", headers=_h(tok))
    assert resp.status_code == 200
    body = resp.json
    assert {k: body[k] for k in ("versionCode", "versionName", "sha256", "size", "minSdk")} == {
        "versionCode": 4, "versionName": "4.0", "sha256": rel["sha256"],
        "size": len(released["data"]), "minSdk": 23}
    assert body["releaseNotes"] == ""
    # the download URL works as it is
    url = body["downloadURL"].split("://", 1)[1].split("/", 1)[1]
    got = client.get("/" + url)
    assert got.status_code == 200
    assert hashlib.sha256(got.data).hexdigest() == rel["sha256"]
    assert client.get("/api/v1/updates/org.fleet.dl?versionCode=4",
                      headers=_h(tok)).status_code == 204
    assert client.get("/api/v1/updates/org.fleet.dl?versionCode=9",
                      headers=_h(tok)).status_code == 204
    assert client.get("/api/v1/updates/org.other?versionCode=1",
                      headers=_h(tok)).status_code == 204
    assert client.get(f"/api/v1/updates/org.fleet.dl?versionCode=1&token={tok}").status_code \
        == 200
    assert client.get("/api/v1/updates/org.fleet.dl?versionCode=1").status_code == 401
    assert client.get("/api/v1/updates/org.fleet.dl", headers=_h(tok)).status_code == 422


def test_update_check_honours_rollout_per_device(client, app, apk_factory, approved_release,
                                                 make_channel, create_device, district, db):
    from fleet.apk.operations import find_channel, issue_download_token, rollout_bucket

    v1 = approved_release(apk_factory.build(package="org.fleet.up", version_code=1))
    v2 = approved_release(apk_factory.build(package="org.fleet.up", version_code=2))
    chan = make_channel("up", org_unit_ids=[district.id])
    h = _h(make_channel.token)
    client.post(f"/api/v1/apk/releases/{v1['id']}/release", json={"channel": "up"}, headers=h)
    client.post(f"/api/v1/apk/releases/{v2['id']}/release",
                json={"channel": "up", "rollout_percent": 50}, headers=h)
    devices = [create_device(org_unit=district.id) for _ in range(12)]
    offered = {}
    for device in devices:
        resp = client.post(f"/api/v1/apk/devices/{device.asset_tag}/tokens", json={}, headers=h)
        assert resp.status_code == 201
        answer = client.get("/api/v1/updates/org.fleet.up?versionCode=1",
                            headers=_h(resp.json["token"]))
        offered[device.id] = answer.status_code
    expected = {d.id: 200 if rollout_bucket(chan["id"], d.id) < 50 else 204 for d in devices}
    assert offered == expected
    assert set(offered.values()) == {200, 204}
    # a channel token naming the device gets the same answer; without a device, the
    # release everyone has (v1) is not newer than versionCode 1
    _row, plain = issue_download_token(channel=find_channel("up"), actor=None)
    db.session.commit()
    for device in devices[:6]:
        resp = client.get(f"/api/v1/updates/org.fleet.up?versionCode=1&device={device.imei}",
                          headers=_h(plain))
        assert resp.status_code == expected[device.id]
    assert client.get("/api/v1/updates/org.fleet.up?versionCode=1",
                      headers=_h(plain)).status_code == 204
    assert client.get("/api/v1/updates/org.fleet.up?versionCode=0",
                      headers=_h(plain)).json["versionCode"] == 1


def test_update_check_is_rate_limited(tmp_path, apk_factory):
    from fleet.apk import operations as ops
    from fleet.cli import upgrade_database
    from fleet.extensions import db

    app = make_test_app(tmp_path, f"sqlite:///{tmp_path / 'rl.sqlite3'}",
                        RATELIMIT_ENABLED=True, APK_UPDATE_RATE_LIMIT="5 per minute")
    with app.app_context():
        upgrade_database()
        channel = ops.create_channel({"name": "rl"}, actor=None)
        _t, plain = ops.issue_download_token(channel=channel, actor=None)
        db.session.commit()
    client = app.test_client()
    codes = [client.get("/api/v1/updates/org.x?versionCode=1", headers=_h(plain)).status_code
             for _ in range(7)]
    assert codes == [204] * 5 + [429] * 2

"""Every factory APK uploaded as a user would (multipart form or raw body through the API):
good ones are vetted, bad ones are rejected with their reasons and never served."""

from __future__ import annotations

import pytest
from apkfactory import sha256_file

from fleet.apk.storage import TEMP_PREFIX


def _reasons(resp) -> str:
    return " | ".join(resp.json["reasons"])


def _check(resp, name):
    return next(c for c in resp.json["checks"] if c["name"] == name)


@pytest.mark.parametrize("raw", [False, True], ids=["multipart", "raw"])
def test_good_apk_is_vetted_with_its_manifest_and_signer(api_upload, staff, apk_factory,
                                                         signing_keys, raw):
    apk = apk_factory.build(package="com.dhis2", version_code=30401 + raw, version_name="3.4.1",
                            min_sdk=23, target_sdk=34, v1=True, v2=True, v3=True)
    _user, token = staff("technician")
    resp = api_upload(apk, token, raw=raw, notes="first")
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["status"] == "vetted", body["reasons"]
    assert (body["package"], body["versionCode"], body["versionName"]) == (
        "com.dhis2", 30401 + raw, "3.4.1")
    assert (body["minSdk"], body["targetSdk"]) == (23, 34)
    assert body["sha256"] == sha256_file(apk)
    assert body["size"] == apk.stat().st_size
    assert body["signer_sha256"] == signing_keys["release"].cert_sha256
    assert body["schemes"] == ["v1", "v2", "v3"]
    assert body["file_name"] == apk.name
    assert body["release_notes"] == "first"
    assert body["reasons"] == []
    assert {c["name"] for c in body["checks"]} >= {
        "zip", "manifest", "signature", "signer_pin", "version_code", "min_sdk_fleet"}


def test_duplicate_upload_returns_the_existing_release(api_upload, staff, apk_factory):
    apk = apk_factory.build(package="org.fleet.dup", version_code=3)
    _u, token = staff()
    first = api_upload(apk, token)
    again = api_upload(apk, token, raw=True)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]


def test_v1_only_is_vetted_with_a_warning(api_upload, staff, apk_factory):
    apk = apk_factory.build(package="org.fleet.v1only", version_code=1, min_sdk=21,
                            target_sdk=29, v1=True, v2=False, v3=False)
    _u, token = staff()
    resp = api_upload(apk, token)
    assert resp.json["status"] == "vetted", _reasons(resp)
    assert resp.json["schemes"] == ["v1"]
    assert _check(resp, "signature")["status"] == "warn"


def test_debug_certificate_is_vetted_with_a_warning(api_upload, staff, apk_factory):
    apk = apk_factory.build(package="org.fleet.debugcert", version_code=1, key="debug")
    _u, token = staff()
    resp = api_upload(apk, token)
    assert resp.json["status"] == "vetted"
    assert _check(resp, "debug_certificate")["status"] == "warn"


BAD = {
    "tampered": ("signature", "signature does not verify"),
    "truncated": ("zip", "not a readable ZIP"),
    "unsigned": ("signature", "signature does not verify"),
    "bomb_ratio": ("zip", "compress"),
    "bomb_entries": ("zip", "entries"),
    "lying_manifest": ("manifest", "manifest unreadable"),
    "bad_version_name": ("version_name", "not plain dotted numbers"),
}


def _bad_apk(kind, apk_factory):
    good = apk_factory.build(package="org.fleet.victim", version_code=7)
    if kind == "tampered":
        return apk_factory.tampered(good)
    if kind == "truncated":
        return apk_factory.truncated(good)
    if kind == "unsigned":
        return apk_factory.unsigned(package="org.fleet.unsigned", version_code=1)
    if kind == "bomb_ratio":
        return apk_factory.zip_bomb("ratio", uncompressed_bytes=256 * 1024 * 1024)
    if kind == "bomb_entries":
        return apk_factory.zip_bomb("entries", entries=25_000)
    if kind == "lying_manifest":
        return apk_factory.lying_manifest()
    if kind == "bad_version_name":
        return apk_factory.build(package="com.dhis2", version_code=30400, version_name="v3.4.0")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_apk_is_rejected_with_its_reason_and_never_served(
        kind, api_upload, staff, apk_factory, client, login, make_channel):
    apk = _bad_apk(kind, apk_factory)
    _u, token = staff()
    resp = api_upload(apk, token, raw=kind in ("tampered", "bomb_entries"))
    assert resp.status_code == 201, resp.json
    check_name, words = BAD[kind]
    assert resp.json["status"] == "rejected"
    assert words in _check(resp, check_name)["reason"], _reasons(resp)
    assert any(words in r for r in resp.json["reasons"])
    rid, sha = resp.json["id"], resp.json["sha256"]
    # no lifecycle move forward, no channel, no download
    h = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/v1/apk/releases/{rid}/testing", headers=h).status_code == 409
    assert client.post(f"/api/v1/apk/releases/{rid}/release", json={"channel": "x"},
                       headers=h).status_code in (404, 409)
    make_channel("everyone", is_test=True)
    assert client.post(f"/api/v1/apk/releases/{rid}/release", json={"channel": "everyone"},
                       headers=h).status_code == 409
    assert client.get(f"/apk/{sha}.apk", headers=h).status_code == 404
    login("admin")
    assert client.get(f"/apk/{sha}.apk").status_code == 404
    assert client.head(f"/apk/{sha}/x.apk").status_code == 404


def test_upload_larger_than_the_limit_is_refused_and_leaves_nothing(
        app, api_upload, staff, apk_factory, monkeypatch, client):
    from fleet.apk.operations import apk_store

    apk = apk_factory.build(package="org.fleet.big", version_code=1, padding_bytes=300_000)
    monkeypatch.setitem(app.config, "MAX_APK_BYTES", 100_000)
    _u, token = staff()
    for raw in (False, True):
        resp = api_upload(apk, token, raw=raw)
        assert resp.status_code == 413, resp.json
        assert resp.json["error"]["code"] == "too_large", (raw, resp.json)
    with app.app_context():
        store = apk_store()
        assert not store.exists(sha256_file(apk))
        assert [p for p in store.root.iterdir() if p.name.startswith(TEMP_PREFIX)] == []
    assert client.get("/api/v1/apk/releases?package=org.fleet.big",
                      headers={"Authorization": f"Bearer {token}"}).json["meta"]["total"] == 0


def test_upload_needs_upload_permission_and_a_file(api_upload, staff, apk_factory, client):
    apk = apk_factory.build(package="org.fleet.perm", version_code=1)
    _u, viewer = staff("viewer")
    assert api_upload(apk, viewer).status_code == 403
    assert client.post("/api/v1/apk/releases", data=open(apk, "rb").read(),
                       content_type="application/vnd.android.package-archive").status_code == 401
    _u, tech = staff("technician")
    resp = client.post("/api/v1/apk/releases", data={"notes": "no file"},
                       content_type="multipart/form-data",
                       headers={"Authorization": f"Bearer {tech}"})
    assert resp.status_code == 422
    assert "file" in resp.json["error"]["fields"]
    resp = client.post("/api/v1/apk/releases", data=b"{}", content_type="application/json",
                       headers={"Authorization": f"Bearer {tech}"})
    assert resp.status_code == 422


@pytest.mark.parametrize("raw", [False, True], ids=["multipart", "raw"])
def test_multi_megabyte_upload_streams_to_the_store(api_upload, staff, apk_factory, app, raw):
    from fleet.apk.operations import apk_store

    apk = apk_factory.build(package="org.fleet.padded", version_code=2 + raw,
                            padding_bytes=3 * 1024 * 1024 + raw)
    _u, token = staff()
    resp = api_upload(apk, token, raw=raw)
    assert resp.status_code == 201, resp.json
    assert resp.json["status"] == "vetted", resp.json["reasons"]
    with app.app_context():
        assert sha256_file(apk_store().path_for(resp.json["sha256"])) == sha256_file(apk)


def test_upload_when_apksigner_cannot_run_records_nothing(app, api_upload, staff, apk_factory,
                                                          monkeypatch, client):
    apk = apk_factory.build(package="org.fleet.nosigner", version_code=1)
    monkeypatch.setitem(app.config, "APKSIGNER", "/nonexistent/apksigner")
    _u, token = staff()
    resp = api_upload(apk, token)
    assert resp.status_code == 503
    assert resp.json["error"]["code"] == "vetting_unavailable"
    assert "apksigner" in resp.json["error"]["message"]
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/apk/releases?package=org.fleet.nosigner",
                      headers=h).json["meta"]["total"] == 0
    monkeypatch.setitem(app.config, "APKSIGNER", "apksigner")
    resp = api_upload(apk, token, raw=True)  # the same bytes again, apksigner back
    assert resp.status_code == 201 and resp.json["status"] == "vetted"

"""The provisioning API drives a run of several simulated phones in the background while a
client polls the live run JSON (what the run page's script does). This test uses its own app
and SQLite file: the run thread commits for real, outside the per-test transaction."""

from __future__ import annotations

import time

import pytest
from apkfactory import aapt_badging
from fleet_testing import make_test_app

from fleet.provisioning.devsim import catalogue_profiles


@pytest.fixture
def api_app(tmp_path):
    from fleet.cli import upgrade_database

    app = make_test_app(tmp_path / "data", f"sqlite:///{tmp_path / 'api.sqlite3'}")
    with app.app_context():
        upgrade_database()
    yield app
    with app.app_context():
        from fleet.extensions import db

        db.engine.dispose()


def _setup(app, apk, signer):
    from fleet.apk.models import Release
    from fleet.apk.storage import ApkStore
    from fleet.auth.operations import create_user, issue_token
    from fleet.extensions import db

    with app.app_context():
        info = aapt_badging(apk)
        stored = ApkStore(app.config["APK_STORE_DIR"]).store_file(apk)
        rel = Release(package=info["package"], version_code=info["version_code"],
                      version_name=info["version_name"], min_sdk=info["min_sdk"],
                      target_sdk=info["target_sdk"], sha256=stored.sha256, size=stored.size,
                      file_name=apk.name, signer_sha256=signer, status="released",
                      uploaded_by="test")
        db.session.add(rel)
        tech = create_user("tech", "test-password-123", "technician", actor=None)
        viewer = create_user("viewer", "test-password-123", "viewer", actor=None)
        _t, tech_token = issue_token(tech, "t", actor=None)
        _v, viewer_token = issue_token(viewer, "v", actor=None)
        db.session.commit()
        return rel.id, tech_token, viewer_token


def test_api_starts_a_run_and_reports_it_live(api_app, adb_server, devsim, apk_factory,
                                              signing_keys):
    profiles = catalogue_profiles(3)
    for p in profiles:
        p.faults.throughput_mbps = 10
    sim = devsim(profiles)
    apk = apk_factory.build(package="com.dhis2", version_code=10, version_name="3.4.1",
                            padding_bytes=2 * 1024 * 1024)
    rel_id, _token, viewer_token = _setup(api_app, apk, signing_keys["release"].cert_sha256)
    client = api_app.test_client()
    # A cookie session for the technician: polling with a bearer token would write the token's
    # last_used_at on every request, which SQLite refuses (BUSY_SNAPSHOT) while the run thread
    # commits; see docs/provisioning.md, "Limits".
    r = client.post("/auth/login", data={"username": "tech", "password": "test-password-123"})
    assert r.status_code == 302
    auth = {}

    r = client.post("/api/v1/provisioning/stations", headers=auth,
                    json={"name": "hub", "kind": "local", "adb_port": adb_server.port})
    assert r.status_code == 201, r.json
    r = client.post("/api/v1/provisioning/profiles", headers=auth,
                    json={"name": "field", "release_ids": [rel_id], "pin_policy": "random"})
    assert r.status_code == 201, r.json
    assert "pin" not in r.json
    viewer = api_app.test_client()
    r = viewer.post("/api/v1/provisioning/runs", headers={
        "Authorization": f"Bearer {viewer_token}"}, json={"profile": "field", "all": True})
    assert r.status_code == 403
    r = client.post("/api/v1/provisioning/runs", headers=auth,
                    json={"profile": "field", "station": "hub", "all": True})
    assert r.status_code == 202, r.json
    run_id = r.json["id"]

    seen_running = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/provisioning/runs/{run_id}", headers=auth).json
        if any(i["status"] == "running" for i in run["items"]):
            seen_running = True
        if run["status"] != "running" and not run["active"]:
            break
        time.sleep(0.2)
    assert seen_running, "never saw a phone in progress"
    assert run["status"] == "finished", run
    assert run["counts"] == {"done": 3}
    assert sorted(i["serial"] for i in run["items"]) == sorted(sim.serials)
    for item in run["items"]:
        assert [s["step"] for s in item["steps"]][-2:] == ["verify", "record"]
        assert "pin" not in item

    # the run page renders the same phones and loads the polling script (no inline script)
    r = client.get(f"/provisioning/runs/{run_id}", headers=auth)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "js/provisioning.js" in page and "<script>" not in page
    assert f'data-run-url="/api/v1/provisioning/runs/{run_id}"' in page
    for serial in sim.serials:
        assert sim.phone(serial) is not None
    assert page.count("<tr data-item=") == 3
    r = client.get("/provisioning/", headers=auth)
    assert r.status_code == 200 and "field" in r.get_data(as_text=True)

    r = client.get(f"/api/v1/provisioning/runs/{run_id}/slips.pdf", headers=auth)
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    r = viewer.get(f"/api/v1/provisioning/runs/{run_id}/slips.pdf",
                   headers={"Authorization": f"Bearer {viewer_token}"})
    assert r.status_code == 403

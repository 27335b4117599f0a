"""The live run page in headless Chromium: opened while a run is in progress, it redraws the
phones from the run JSON (no reload) until every phone is done; no CSP violation."""

from __future__ import annotations

import pytest
from apkfactory import aapt_badging
from fleet_testing import logged_in_page

from fleet.provisioning.devsim import Faults, catalogue_profiles

pytestmark = pytest.mark.browser


def test_run_page_follows_a_run_live(live_server, chromium, adb_server, devsim, apk_factory,
                                     signing_keys):
    base, server = live_server
    app = server.fleet_app
    profiles = catalogue_profiles(3)
    for p in profiles:
        p.faults = Faults(throughput_mbps=4)
    sim = devsim(profiles)
    apk = apk_factory.build(package="com.dhis2", version_code=10, version_name="3.4.1",
                            padding_bytes=4 * 1024 * 1024)
    from fleet.apk.models import Release
    from fleet.apk.storage import ApkStore
    from fleet.extensions import db
    from fleet.provisioning import background
    from fleet.provisioning.operations import create_profile, create_station
    from fleet.provisioning.runs import start_run

    with app.app_context():
        info = aapt_badging(apk)
        stored = ApkStore(app.config["APK_STORE_DIR"]).store_file(apk)
        rel = Release(package="com.dhis2", version_code=10, version_name="3.4.1",
                      min_sdk=info["min_sdk"], target_sdk=info["target_sdk"],
                      sha256=stored.sha256, size=stored.size, file_name=apk.name,
                      signer_sha256=signing_keys["release"].cert_sha256, status="released",
                      uploaded_by="test")
        db.session.add(rel)
        db.session.flush()
        profile = create_profile("browser-field", {"release_ids": [rel.id]}, actor=None)
        station = create_station("browser-hub", {"adb_port": adb_server.port}, actor=None)
        run = start_run(profile, station, actor=None)
        db.session.commit()
        run_id = run.id

    context = chromium.new_context(ignore_https_errors=True, base_url=base)
    pg = logged_in_page(context)
    pg.goto(f"/provisioning/runs/{run_id}")
    assert pg.locator("#run-phones tbody tr").count() == 0  # nothing yet at page load

    background.launch(app, run_id, actor_id=None, serials=None, watch=False, timeout=None,
                      concurrency=3)
    # rows appear and show progress without a reload...
    pg.wait_for_selector("#run-phones tbody tr[data-status=running]", timeout=30000)
    # ...until all three phones are done
    pg.locator("#run-phones tbody tr[data-status=done]").nth(2).wait_for(timeout=60000)
    pg.locator("#run-status", has_text="finished").wait_for(timeout=10000)
    assert pg.text_content("#run-status").startswith("finished")
    text = pg.text_content("#run-phones")
    assert "verify:ok" in text and "record:ok" in text
    for serial in sim.serials:
        assert serial in text or "PH-" in text
    context.close()
    assert pg.csp_violations == []

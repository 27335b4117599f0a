"""The whole story in headless Chromium against ``fleet serve`` (HTTPS, CSRF on): an admin
uploads a real signed APK on the upload page (XHR with progress), sees the vetting report, a
second admin approves and releases it to a channel and issues a token, and a phone-sized
browser opens the install page, downloads the APK, and the bytes match."""

from __future__ import annotations

import hashlib

import pytest
from apk_live import PASSWORD, FleetServer, build_repository
from fleet_testing import logged_in_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "user_agent": "Mozilla/5.0 (Linux; Android 13; SM-A125F) AppleWebKit/537.36 "
                       "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"}


@pytest.fixture(scope="module")
def chromium_tls():
    """Debian's Chromium that also accepts the server's self-signed certificate in its
    download manager: Playwright's ``ignore_https_errors`` covers page loads, but a download
    on a fresh connection is cancelled on the certificate error without this switch."""
    import shutil
    from pathlib import Path

    from fleet_testing import CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(exe).exists(), "Debian chromium is required: apt-get install chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True,
                                     args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, apk_factory):
    seed = apk_factory.build(package="com.dhis2", version_code=30500, version_name="3.5.0")
    repo = build_repository(tmp_path_factory.mktemp("browserrepo"), seed)
    srv = FleetServer(repo, tls=True)
    yield srv
    srv.stop()


def test_upload_vet_approve_release_and_phone_download(server, chromium_tls, apk_factory):
    chromium = chromium_tls
    base = server.base
    apk = apk_factory.build(package="com.dhis2", version_code=30600, version_name="3.6.0",
                            padding_bytes=2 * 1024 * 1024)
    want = hashlib.sha256(apk.read_bytes()).hexdigest()

    # 1. uploader: upload page, XHR with progress, lands on the report
    ctx1 = chromium.new_context(ignore_https_errors=True, **PHONE)
    up = logged_in_page(ctx1, username="uploader", password=PASSWORD, base=base)
    up.goto(base + "/apk/releases/upload")
    up.set_input_files("#f-file", str(apk))
    up.fill("#f-notes", "Fixes sync of large option sets.")
    with up.expect_response(lambda r: r.url.endswith("/api/v1/apk/releases")
                            and r.request.method == "POST") as answer:
        up.click("#apk-upload button[type=submit]")
    assert answer.value.status == 201
    up.wait_for_url("**/apk/releases/*")
    assert up.text_content("#release-status") == "vetted"
    report = up.text_content("#vetting-report")
    assert "signature" in report and "verified" in report and want in up.content()
    up.click("#btn-testing")
    up.wait_for_load_state()
    assert up.text_content("#release-status") == "in_testing"
    assert up.is_disabled("#btn-approve")  # four-eyes: not the uploader
    release_url = up.url
    assert up.csp_violations == []

    # 2. approver: approve, release to production, issue a token
    ctx2 = chromium.new_context(ignore_https_errors=True)
    ap = logged_in_page(ctx2, username="approver", password=PASSWORD, base=base)
    ap.goto(release_url)
    ap.click("#btn-approve")
    ap.wait_for_load_state()
    assert ap.text_content("#release-status") == "approved"
    ap.select_option("select[name=channel]", "production")
    ap.click("#btn-release")
    ap.wait_for_load_state()
    assert ap.text_content("#release-status") == "released"
    ap.goto(base + "/apk/channels")
    ap.click("text=production")
    ap.fill("input[name=label]", "district poster")
    ap.click("text=Issue token")
    ap.wait_for_load_state()
    token = ap.text_content("#issued-token code")
    assert token.startswith("fdl_")
    assert ap.csp_violations == []

    # 3. a phone: install page with the token, big button, download, same bytes
    phone = chromium.new_context(ignore_https_errors=True, accept_downloads=True, **PHONE)
    page = phone.new_page()
    page.goto(f"{base}/install/production?token={token}")
    assert "3.6.0" in page.text_content("main")
    assert want in page.text_content("main")
    button = page.locator("#download-1")
    box = button.bounding_box()
    assert box["width"] > 300 and box["height"] >= 48  # a big thumb-sized button
    with page.expect_download() as dl:
        button.click()
    assert dl.value.failure() is None, dl.value.failure()
    path = dl.value.path()
    assert dl.value.suggested_filename == "com.dhis2-3.6.0.apk"
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == want
    for ctx in (ctx1, ctx2, phone):
        ctx.close()

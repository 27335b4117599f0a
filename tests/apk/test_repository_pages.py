"""APK pages: releases list, upload form (no-JS path), release detail with the vetting
report and review buttons, channels, install page, poster (QR decoded by zbarimg)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

from apkfactory import sha256_file


def test_upload_form_without_js_then_detail_page_shows_the_report(client, login, apk_factory):
    login("technician")
    assert b'id="apk-upload"' in client.get("/apk/releases/upload").data
    apk = apk_factory.build(package="org.fleet.page", version_code=3, version_name="3.0",
                            min_sdk=24)
    with open(apk, "rb") as fh:
        resp = client.post("/apk/releases/upload", data={"file": (fh, apk.name), "notes": "n"},
                           content_type="multipart/form-data")
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert sha256_file(apk) in page
    assert "vetted" in page
    for check in ("zip", "manifest", "signature", "signer_pin", "version_code", "min_sdk_fleet"):
        assert f"<td>{check}</td>" in page
    assert 'id="btn-testing"' in page      # technicians start testing
    assert 'id="btn-approve"' not in page  # but never approve
    listing = client.get("/apk/releases").get_data(as_text=True)
    assert "org.fleet.page" in listing


def test_rejected_release_page_shows_reasons(client, login, apk_factory, api_upload, staff):
    _u, token = staff()
    rel = api_upload(apk_factory.tampered(apk_factory.build(package="org.fleet.tp",
                                                            version_code=1)), token).json
    login("admin")
    page = client.get(f"/apk/releases/{rel['id']}").get_data(as_text=True)
    assert 'class="check-fail"' in page
    assert "signature does not verify" in page
    assert "Download" not in page.split('id="vetting-report"')[0]


def test_review_buttons_and_four_eyes_in_pages(client, login, apk_factory, api_upload, staff):
    uploader, token = staff("admin")
    rel = api_upload(apk_factory.build(package="org.fleet.rv", version_code=1), token).json
    client.post(f"/api/v1/apk/releases/{rel['id']}/testing",
                headers={"Authorization": f"Bearer {token}"})
    login("admin")
    page = client.get(f"/apk/releases/{rel['id']}").get_data(as_text=True)
    assert re.search(r'id="btn-approve"\s*>', page)  # another admin: enabled
    resp = client.post(f"/apk/releases/{rel['id']}/approve")
    assert resp.status_code == 302
    page = client.get(f"/apk/releases/{rel['id']}").get_data(as_text=True)
    assert 'id="release-status">approved<' in page
    assert 'id="btn-withdraw"' in page


def test_channel_page_tokens_install_page_and_poster_qr(client, login, apk_factory,
                                                        approved_release, make_channel):
    rel = approved_release(apk_factory.build(package="com.dhis2", version_code=30600,
                                             version_name="3.6.0"))
    chan = make_channel("district-a", is_default=True)
    h = {"Authorization": f"Bearer {make_channel.token}"}
    client.post(f"/api/v1/apk/releases/{rel['id']}/release", json={"channel": "district-a"},
                headers=h)
    login("admin")
    resp = client.post(f"/apk/channels/{chan['id']}/token", data={"label": "poster"})
    assert resp.status_code == 302
    page = client.get(f"/apk/channels/{chan['id']}").get_data(as_text=True)
    token = re.search(r'id="issued-token">.*?<code>(fdl_[^<]+)</code>', page, re.S).group(1)
    assert "3.6.0" in page
    # shown once: not on the next visit
    assert token not in client.get(f"/apk/channels/{chan['id']}").get_data(as_text=True)
    poster = client.get(f"/apk/channels/{chan['id']}/poster?token={token}")
    assert poster.status_code == 200
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"',
                                     poster.get_data(as_text=True)).group(1))
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbarimg (Debian zbar-tools) is required"
    out = subprocess.run([zbarimg, "--raw", "-q", "-"], input=png, capture_output=True,
                         check=True)
    url = out.stdout.decode().strip()
    assert url.endswith(f"/install/district-a?token={token}")
    client.post("/auth/logout")
    install = client.get("/" + url.split("://", 1)[1].split("/", 1)[1])
    assert install.status_code == 200
    text = install.get_data(as_text=True)
    assert "3.6.0" in text and rel["sha256"] in text
    assert f'/apk/{rel["sha256"]}/com.dhis2-3.6.0.apk?token={token}' in text
    assert client.get("/install/district-a").status_code == 401
    assert client.get("/install/district-a?token=fdl_wrong").status_code == 401
    assert client.get(f"/apk/channels/{chan['id']}/poster?token={token}").status_code == 302


def test_channels_page_creates_a_channel(client, login, district):
    login("admin")
    resp = client.post("/apk/channels", data={"name": "training", "is_test": "1",
                                              "org_unit_ids": [str(district.id)],
                                              "dhis2_user_groups": "AbCdEfGhIj1"})
    assert resp.status_code == 302
    page = client.get("/apk/channels").get_data(as_text=True)
    assert "training" in page and "Dakar" in page
    login("viewer")
    assert client.post("/apk/channels", data={"name": "x"}).status_code == 403

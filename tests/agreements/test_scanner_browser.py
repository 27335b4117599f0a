"""The scanner page in headless Chromium with a fake camera: the camera is fed from a y4m
video made with Debian's ffmpeg from PNGs of rendered labels. The audit session records the
scanned devices; the same scanner checks a device out and back in."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from agreement_testing import seed_checked_out, tool
from fleet_testing import CHROMIUM_ARGS, logged_in_page
from PIL import Image

pytestmark = pytest.mark.browser


def label_video(app, texts_or_tags: list[tuple[str, str]], out: Path) -> Path:
    """A y4m video (640 x 480, 10 fps, one second per label) of thermal labels rendered at
    203 dpi. ``texts_or_tags``: ("tag", asset tag) for a device's phone label with the
    deployment payload, or ("text", payload) for a label with that exact payload."""
    import io

    from fleet.inventory.operations import find_device
    from fleet.labels.deviceinfo import label_info, payload_template
    from fleet.labels.render import LabelSpec, labels_for_device, render_label_png

    frames = out.parent / (out.stem + "-frames")
    frames.mkdir()
    with app.app_context(), app.test_request_context(base_url="https://localhost"):
        for i, (kind, value) in enumerate(texts_or_tags):
            if kind == "tag":
                (spec,) = labels_for_device(
                    label_info(find_device(value)), payload_template(), kinds=("phone",)
                )
            else:
                spec = LabelSpec(value, "Other", ("not ours",), "phone")
            png = render_label_png(spec, "thermal-62mm", dpi=203)
            with Image.open(io.BytesIO(png)) as label:
                frame = Image.new("RGB", (640, 480), "white")
                lab = label.convert("RGB")
                frame.paste(lab, ((640 - lab.width) // 2, (480 - lab.height) // 2))
                frame.save(frames / f"f{i:02d}.png")
    subprocess.run(
        [
            tool("ffmpeg"),
            "-y",
            "-loglevel",
            "error",
            "-framerate",
            "1",
            "-i",
            str(frames / "f%02d.png"),
            "-vf",
            "format=yuv420p",
            "-r",
            "10",
            str(out),
        ],
        check=True,
        timeout=120,
    )
    assert out.stat().st_size > 640 * 480
    return out


def wait_until(check, timeout: float = 60.0, what: str = ""):
    """Poll ``check()`` until true (the page's CSP forbids Playwright's eval-based waits)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _browser(pw, video: Path):
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    return pw.chromium.launch(
        executable_path=exe,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )


def _login(browser, base):
    context = browser.new_context(
        ignore_https_errors=True,
        base_url=base,
        viewport={"width": 412, "height": 915},
        locale="en-US",
    )
    context.grant_permissions(["camera"], origin=base)
    return context, logged_in_page(context)


def test_audit_by_scanning_with_a_fake_camera(live_server, tmp_path):
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from fleet.extensions import db
    from fleet.labels import scanning
    from fleet.labels.models import ScanAuditEntry

    base, server = live_server
    app = server.fleet_app
    district_id, (tag1, tag2, tag3) = seed_checked_out(app, 3)
    _other, (foreign,) = seed_checked_out(app, 1, district_name="Dala")
    video = label_video(
        app,
        [
            ("tag", tag1),
            ("tag", foreign),
            ("tag", tag2),
            ("text", "FLEET1;T=PH-UNKNOWN9"),
            ("text", f"FLEET1;T={tag1};N=X"),
        ],
        tmp_path / "labels.y4m",
    )
    with sync_playwright() as pw:
        browser = _browser(pw, video)
        context, page = _login(browser, base)
        page.goto("/labels/audits")
        page.select_option("select[name=district]", str(district_id))
        page.click("#start-audit")
        page.wait_for_url("**/labels/audits/*")
        audit_id = int(page.url.rsplit("/", 1)[1])
        assert page.text_content("#count-expected") == "3"
        page.click("#scan-start")
        wait_until(
            lambda: (
                (
                    page.text_content("#count-present"),
                    page.text_content("#count-foreign"),
                    page.text_content("#count-unknown"),
                )
                == ("2", "1", "1")
            ),
            what="2 present, 1 foreign, 1 unknown",
        )
        shots = Path(os.environ.get("FLEET_TEST_SHOTS", "/tmp/fleet-test-shots"))
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "scanner-audit.png"), full_page=True)
        log = page.text_content("#scan-log")
        assert "present · " + tag1 in log and "foreign · " + foreign in log
        assert tag3 in page.text_content("#missing-list") and tag1 not in page.text_content(
            "#missing-list"
        )
        page.click("#scan-stop")
        context.close()
        browser.close()
    with app.app_context():
        entries = db.session.scalars(
            select(ScanAuditEntry).where(ScanAuditEntry.audit_id == audit_id)
        ).all()
        got = sorted((e.outcome, e.asset_tag) for e in entries)
        assert got == sorted(
            [("present", tag1), ("present", tag2), ("foreign", foreign), ("unknown", "PH-UNKNOWN9")]
        )
        summary = scanning.audit_summary(scanning.get_audit(audit_id))
        assert [d.asset_tag for d in summary["missing"]] == [tag3]


def test_scanner_checks_out_and_back_in(live_server, tmp_path):
    from playwright.sync_api import sync_playwright

    from fleet.extensions import db
    from fleet.inventory import operations as inv

    base, server = live_server
    app = server.fleet_app
    _district, (tag,) = seed_checked_out(app, 1)
    with app.app_context():
        device = inv.find_device(tag)
        holder_name = device.holder.name
        inv.checkin(device, actor=None)
        db.session.commit()
    video = label_video(app, [("tag", tag)], tmp_path / "one.y4m")
    with sync_playwright() as pw:
        browser = _browser(pw, video)
        context, page = _login(browser, base)
        page.goto("/labels/scan")
        page.click("#scan-start")
        page.wait_for_selector("#scan-checkout:not([hidden])", timeout=60000)
        assert page.text_content("#scan-device-tag") == tag
        option = page.locator("#scan-holder option", has_text=holder_name).first
        page.select_option("#scan-holder", value=option.get_attribute("value"))
        page.click("#scan-checkout-button")
        page.wait_for_selector("#scan-checkin:not([hidden])", timeout=60000)
        page.fill("#scan-condition", "cracked corner")
        page.click("#scan-checkin-button")
        wait_until(lambda: "returned" in page.text_content("#scan-log"), what="check-in")
        log = page.text_content("#scan-log")
        assert "assigned" in log and "returned" in log
        context.close()
        browser.close()
    with app.app_context():
        device = inv.find_device(tag)
        assert device.status == "returned"
        last = device.custody[0]
        assert last.holder.name == holder_name and last.checkin_condition == "cracked corner"

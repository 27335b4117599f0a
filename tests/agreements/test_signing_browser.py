"""In-person signing in headless Chromium: the holder draws on the canvas with the mouse or a
finger (touch events through the DevTools protocol); the stored PNG is not blank and its
record carries the SHA-256 of the exact text the page showed."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from agreement_testing import seed_checked_out
from fleet_testing import logged_in_page
from PIL import Image

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("FLEET_TEST_SHOTS", "/tmp/fleet-test-shots"))


def _printed_agreement(app, tag):
    from fleet.agreements import operations as ops
    from fleet.extensions import db
    from fleet.inventory.operations import find_device

    with app.app_context():
        a = ops.create_agreement(find_device(tag), actor=None)
        ops.print_agreement(a, actor=None)
        db.session.commit()
        return a.id, a.terms_text


def _stored_signature(app, agreement_id):
    from sqlalchemy import select

    from fleet.agreements import operations as ops
    from fleet.agreements.models import Agreement, AgreementSignature
    from fleet.extensions import db

    with app.app_context():
        sig = db.session.scalar(
            select(AgreementSignature).where(AgreementSignature.agreement_id == agreement_id)
        )
        assert sig is not None
        agreement = db.session.get(Agreement, agreement_id)
        return sig.text_sha256, ops.signature_bytes(sig), agreement.status


def _ink_pixels(png: bytes) -> int:
    with Image.open(io.BytesIO(png)) as im:
        grey = im.convert("L")
    return sum(grey.point(lambda v: 255 if v < 100 else 0).histogram()[255:])


@pytest.fixture()
def browser_page(live_server, chromium):
    base, _server = live_server
    context = chromium.new_context(
        ignore_https_errors=True,
        base_url=base,
        has_touch=True,
        viewport={"width": 800, "height": 1100},
        locale="en-US",
    )
    page = logged_in_page(context)
    yield page
    context.close()
    assert page.csp_violations == []


def _submit(page, agreement_id):
    page.click("#signature-submit")
    try:
        page.wait_for_url(f"**/agreements/{agreement_id}", timeout=15000)
    except Exception as exc:  # show what the page said
        raise AssertionError(page.text_content("#signature-message")) from exc


def _open_signing(page, agreement_id, terms_text):
    page.goto(f"/agreements/{agreement_id}/sign")
    shown = "\n\n".join(p.inner_text() for p in page.locator("#terms p").all())
    assert shown == terms_text
    return _pad_box(page)


def _pad_box(page):
    """The pad's box in viewport coordinates, after scrolling it into view."""
    pad = page.locator("#signature-pad")
    pad.scroll_into_view_if_needed()
    return pad.bounding_box()


def test_sign_with_the_mouse(live_server, browser_page):
    _base, server = live_server
    app = server.fleet_app
    _district, (tag,) = seed_checked_out(app, 1)
    agreement_id, terms = _printed_agreement(app, tag)
    page = browser_page
    box = _open_signing(page, agreement_id, terms)
    # submitting an empty pad is refused in the page
    page.click("#signature-submit")
    assert "sign in the box" in page.text_content("#signature-message")
    box = _pad_box(page)
    x0, y0 = box["x"] + 30, box["y"] + box["height"] * 0.7
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 40):
        page.mouse.move(x0 + i * 12, y0 - (i % 8) * 12, steps=2)
    page.mouse.up()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "signing-page.png"), full_page=True)
    _submit(page, agreement_id)
    assert page.text_content("#agreement-status") == "signed_by_holder"
    text_sha, png, status = _stored_signature(app, agreement_id)
    assert status == "signed_by_holder"
    assert text_sha == hashlib.sha256(terms.encode("utf-8")).hexdigest()
    assert png.startswith(b"\x89PNG") and _ink_pixels(png) > 300
    # the signed PDF is served
    resp = page.request.get(f"/agreements/{agreement_id}/signed.pdf")
    assert resp.status == 200 and resp.body().startswith(b"%PDF-")


def test_sign_with_a_finger(live_server, browser_page):
    _base, server = live_server
    app = server.fleet_app
    _district, (tag,) = seed_checked_out(app, 1)
    agreement_id, terms = _printed_agreement(app, tag)
    page = browser_page
    box = _open_signing(page, agreement_id, terms)
    cdp = page.context.new_cdp_session(page)
    x0, y0 = box["x"] + 40, box["y"] + box["height"] * 0.5
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]}
    )
    for i in range(1, 30):
        cdp.send(
            "Input.dispatchTouchEvent",
            {
                "type": "touchMove",
                "touchPoints": [{"x": x0 + i * 15, "y": y0 + (20 if i % 2 else -20)}],
            },
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    _submit(page, agreement_id)
    text_sha, png, status = _stored_signature(app, agreement_id)
    assert status == "signed_by_holder"
    assert text_sha == hashlib.sha256(terms.encode("utf-8")).hexdigest()
    assert _ink_pixels(png) > 300


def test_shelf_to_filed_agreement_in_the_browser(live_server, browser_page, tmp_path):
    """Draft from the list of checked-out devices, print, sign on screen, council, both
    copies, upload the scan: every step through the pages."""
    _base, server = live_server
    app = server.fleet_app
    _district, (tag,) = seed_checked_out(app, 1)
    page = browser_page
    page.goto("/agreements/new")
    page.click(f"#awaiting a:text('{tag}')")
    page.fill("textarea[name=accessories]", "Power bank: Anker 10,000 mAh")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/agreements/*")
    assert page.text_content("#agreement-status") == "draft"
    with page.expect_download() as download:
        page.click("#print-button")
    pdf = tmp_path / "agreement.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    page.reload()
    assert page.text_content("#agreement-status") == "printed"
    page.click("#sign-link")
    box = _pad_box(page)
    page.mouse.move(box["x"] + 20, box["y"] + 100)
    page.mouse.down()
    for i in range(1, 30):
        page.mouse.move(box["x"] + 20 + i * 15, box["y"] + 100 + (i % 5) * 15, steps=2)
    page.mouse.up()
    agreement_id = int(page.url.rstrip("/").split("/")[-2])
    _submit(page, agreement_id)
    for button in (
        "Council signed and stamped both copies",
        "District copy kept",
        "Partner copy returned",
    ):
        page.click(f"button:text('{button}')")
        page.wait_for_load_state()
    assert page.text_content("#agreement-status") == "filed"
    page.set_input_files("input[name=file]", str(pdf))
    page.click("button:text('Upload')")
    assert "agreement.pdf" in page.text_content("#scans")
    steps = page.locator("#steps tr td:nth-child(2)").all_text_contents()
    assert steps == [
        "create",
        "print",
        "sign_holder",
        "sign_council",
        "keep_district_copy",
        "return_partner_copy",
    ]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "agreement-detail.png"), full_page=True)

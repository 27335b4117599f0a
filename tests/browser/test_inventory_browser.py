"""Logistics work in a real browser (headless Chromium): log in, register a device, register
and pair a SIM, add a holder and check the device out, import a sheet with errors; build a
holder group and re-pin an APK signer on the pages that were API-only."""

from __future__ import annotations

import pytest
from fleet_testing import logged_in_page, make_iccid, make_imei

pytestmark = pytest.mark.browser


@pytest.fixture()
def page(live_server, chromium):
    base, _server = live_server
    context = chromium.new_context(
        ignore_https_errors=True,
        base_url=base,
        viewport={"width": 390, "height": 844},
        locale="en-US",
    )
    pg = logged_in_page(context)
    yield pg
    context.close()
    assert pg.csp_violations == []  # no inline script or style anywhere we went


def test_wrong_password_shows_message(live_server, chromium):
    base, _ = live_server
    context = chromium.new_context(ignore_https_errors=True, base_url=base)
    pg = context.new_page()
    pg.goto("/auth/login")
    pg.fill("input[name=username]", "admin")
    pg.fill("input[name=password]", "not-the-password")
    pg.click("button[type=submit]")
    assert "Wrong username or password" in pg.text_content(".flash.error")
    context.close()


def test_register_pair_checkout_on_a_phone_screen(page, tmp_path):
    imei, iccid = make_imei(424242), make_iccid(424242)
    # org unit and holder through the pages
    page.goto("/org-units")
    page.fill("#f-name", "Maputo")
    page.click("main button[type=submit]")
    page.goto("/holders/new")
    page.fill("#f-name", "Ngozi Ọkafọ̀")
    page.fill("#f-msisdn", "+258 84 123 4567")
    page.select_option("#f-org_unit_id", label="Maputo")
    page.fill("#f-expected_teis", "4000")
    page.click("main button[type=submit]")
    assert "Ngozi Ọkafọ̀" in page.text_content("h2")
    # a bad IMEI is refused next to the field, the form keeps what was typed
    page.goto("/devices/new")
    page.fill("#f-imei", imei[:-1] + str((int(imei[-1]) + 1) % 10))
    page.fill("#f-model", "Galaxy A12")
    page.click("main button[type=submit]")
    assert "Luhn" in page.text_content(".field-error")
    assert page.input_value("#f-model") == "Galaxy A12"
    page.fill("#f-imei", imei)
    page.fill("#f-ram_mb", "3072")
    page.click("main button[type=submit]")
    tag = page.text_content("h2").split()[0]
    assert (
        tag.startswith("PH-") and page.get_attribute("#device-status", "data-status") == "in_stock"
    )
    # register a SIM, then pair it from the device page
    page.goto("/sims/new")
    page.fill("#f-iccid", iccid)
    page.fill("#f-msisdn", "+258841112222")
    page.fill("#f-sim_pin", "1234")
    page.click("main button[type=submit]")
    page.goto(f"/devices/{tag}")
    page.fill("input[name=iccid]", iccid)
    page.click("text=Pair SIM")
    assert iccid in page.text_content("#device-sims")
    # check out to the holder
    page.select_option("select[name=holder_id]", label="Ngozi Ọkafọ̀ · Maputo")
    page.fill("input[name=condition]", "new in box")
    page.click("text=Check out")
    assert page.get_attribute("#device-status", "data-status") == "assigned"
    assert "Ngozi Ọkafọ̀" in page.text_content("#device-holder")
    page.screenshot(path=str(tmp_path / "device.png"), full_page=True)
    # the list finds it by the SIM's ICCID
    page.goto(f"/devices?q={iccid}")
    assert tag in page.text_content("table")


def test_import_with_errors_writes_nothing(page, tmp_path, live_server):
    _, server = live_server
    sheet = tmp_path / "phones.csv"
    sheet.write_text(
        "IMEI 1,Serial No.,Model\n"
        f"{make_imei(777001)},S1,A12\n"
        "123,S2,A12\n"
        f"{make_imei(777001)},S3,A12\n",
        encoding="utf-8",
    )
    page.goto("/import")
    page.select_option("select[name=kind]", "devices")
    page.set_input_files("input[type=file]", str(sheet))
    page.check("input[value=all]")
    page.click("main button[type=submit]")
    rows = page.locator("#import-errors tbody tr").all_text_contents()
    assert any("3" in r and "IMEI 1" in r and "15 digits" in r for r in rows), rows
    assert any("4" in r and "also in row 2" in r for r in rows), rows
    assert "Nothing was imported" in page.text_content(".flash.error")
    with server.fleet_app.app_context():
        from sqlalchemy import func, select

        from fleet.extensions import db
        from fleet.inventory.models import Device

        assert (
            db.session.scalar(
                select(func.count())
                .select_from(Device)
                .where(Device.serial.in_(["S1", "S2", "S3"]))
            )
            == 0
        )
    # import only the valid rows
    page.set_input_files("input[type=file]", str(sheet))
    page.check("input[value=valid_only]")
    page.click("main button[type=submit]")
    assert "1 rows imported" in page.text_content(".flash.success")


#: Elements of the page (the closed nav dropdowns aside) reaching past a 390-px screen.
WIDER_THAN_SCREEN = """[...document.querySelectorAll('main *')]
    .filter(e => e.getBoundingClientRect().right > 390)
    .map(e => e.tagName + '.' + e.className)"""


def test_holder_group_and_signer_pin_pages_on_a_phone_screen(page):
    """The APK admin pages that were API-only: a holder group built by searching holders and
    ticking them, and a signer re-pin refused then accepted, all on a 390-px screen."""
    for name in ("Chidinma Eze", "Chinedu Obi"):
        page.goto("/holders/new")
        page.fill("#f-name", name)
        page.click("main button[type=submit]")
    page.goto("/apk/channels")
    page.click("text=Holder groups")
    page.fill("input[name=name]", "Superviseurs — pilote")
    page.click("text=Create holder group")
    assert "Superviseurs — pilote" in page.text_content("h2")
    page.fill("input[name=q]", "Chi")
    page.click("main form.inline button")
    page.check("input[aria-label='Add Chidinma Eze']")
    page.click("text=Add selected")
    members = page.locator("table").first.text_content()
    assert "Chidinma Eze" in members and "Chinedu Obi" not in members
    page.wait_for_load_state("load")  # measured once the stylesheets apply
    assert page.evaluate(WIDER_THAN_SCREEN) == []
    page.goto("/apk/pins")
    page.fill("input[name=package]", "com.dhis2")
    page.fill("input[name=cert_sha256]", "not-a-digest")
    page.fill("textarea[name=reason]", "key rotation")
    page.click("button:has-text('Re-pin')")
    assert "Not a SHA-256 certificate digest." in page.text_content(".flash.error")
    assert page.input_value("textarea[name=reason]") == "key rotation"
    page.fill("input[name=cert_sha256]", "AB:" * 31 + "AB")
    page.click("button:has-text('Re-pin')")
    assert "ab" * 32 in page.text_content("table")
    page.wait_for_load_state("load")
    assert page.evaluate(WIDER_THAN_SCREEN) == []

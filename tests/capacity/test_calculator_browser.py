"""The calculator page in headless Chromium: fill the form like a planner, submit, read the
verdict, the recommended RAM and the largest TEI count at ok; the chart is drawn."""

from __future__ import annotations

import os
import shutil

import pytest
from fleet_testing import logged_in_page

pytestmark = pytest.mark.browser


@pytest.fixture()
def page(live_server, chromium):
    base, _server = live_server
    context = chromium.new_context(ignore_https_errors=True, base_url=base,
                                   viewport={"width": 1100, "height": 900}, locale="en-US")
    pg = logged_in_page(context)
    yield pg
    context.close()
    assert pg.csp_violations == []  # no inline script or style on the capacity pages


def test_planner_estimates_a_2gb_phone_with_5000_teis(page, tmp_path):
    page.click("nav >> summary:text('Reports')")
    page.click("nav >> text=Capacity")
    page.wait_for_url("**/capacity/")
    page.fill("#f-ram_mb", "2048")
    page.fill("#f-api_level", "29")
    page.fill("#f-total_storage_mb", "32768")
    page.fill("#f-free_storage_mb", "8000")
    page.fill("#f-teis", "5000")
    page.fill("#f-capture_org_units", "195")
    page.fill("#f-search_org_units", "5")
    page.fill("#f-programs", "2")
    page.fill("#f-program_rules", "40")
    page.fill("#f-option_set_size", "200")
    page.click("#estimate-button")
    page.wait_for_selector("#verdict")
    assert page.get_attribute("#verdict", "data-verdict") == "marginal"
    assert page.text_content("#verdict").strip() == "marginal"
    assert page.text_content("#recommended-ram").strip() == "3,072 MB"
    assert page.text_content("#max-teis-ok").strip() == "none"
    codes = page.eval_on_selector_all("#reasons > li", "els => els.map(e => e.dataset.code)")
    assert codes == ["large_tracker_teis", "large_tracker_events",
                     "large_tracker_capture_org_units"]
    assert "DHIS2 Android Settings app warnings" in page.text_content("#reasons")
    # the form keeps what was typed
    assert page.input_value("#f-capture_org_units") == "195"
    # the chart is drawn with the budget and ok limit lines
    box = page.locator("#memory-chart").bounding_box()
    assert box["width"] > 300 and box["height"] > 150
    assert page.locator("#budget-line").count() == 1 and page.locator("#ok-limit-line").count()
    assert "budget on 2,048 MB RAM: 921.6 MB" in page.text_content("#memory-chart")
    shot = tmp_path / "capacity-calculator.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("FLEET_SCREENSHOT_DIR"):
        shutil.copy(shot, os.environ["FLEET_SCREENSHOT_DIR"])


def test_refused_value_is_shown_next_to_the_field(page):
    page.goto("/capacity/")
    page.fill("#f-ram_mb", "2")  # RAM typed in GB
    page.fill("#f-api_level", "29")
    page.fill("#f-teis", "800")
    page.click("#estimate-button")
    page.wait_for_selector("#form-errors")
    assert page.locator("#verdict").count() == 0
    assert page.get_attribute("#f-ram_mb", "aria-invalid") == "true"
    assert "must be between 256 and 65,536 MB, got 2" in page.text_content("main")


def _seed(app, tag: str) -> str:
    """A district with two checked-out phones (a 1 GB one at risk, a 3 GB one ok) and one with
    unknown RAM, committed in the live server's database. Returns the district name."""
    from fleet.extensions import db
    from fleet.inventory import operations as ops

    with app.app_context():
        def unit(name, parent=None):
            return ops.create_org_unit({"name": name, "parent_id": parent.id if parent else None},
                                       actor=None)

        district = unit(f"District {tag}", unit(f"Region {tag}", unit(f"Country {tag}")))
        facility = unit(f"Facility {tag}", district)
        for n, (ram, teis) in enumerate(((1024, 2500), (3072, 800), (None, 900))):
            holder = ops.create_holder({"name": f"Worker {tag}{n}", "org_unit_id": facility.id,
                                        "expected_teis": teis}, actor=None)
            device = ops.register_device({"asset_tag": f"BR-{tag}{n}", "ram_mb": ram,
                                          "api_level": 30, "storage_gb": 32,
                                          "org_unit_id": facility.id}, actor=None)
            ops.checkout(device, holder, actor=None)
        db.session.commit()
        return district.name


def test_report_page_in_the_browser(page, live_server, tmp_path):
    _base, server = live_server
    district = _seed(server.fleet_app, "Q")
    page.goto("/capacity/report")
    page.select_option("#f-district", label=district)
    page.click("form.filters button[type=submit]")
    page.wait_for_selector(f'section[data-district="{district}"]')
    assert page.text_content("#total-devices").strip() == "3"
    assert page.text_content("#at-risk").strip() == "1"
    assert page.get_attribute('tr[data-asset-tag="BR-Q0"]', "data-verdict") == "marginal"
    assert page.get_attribute('tr[data-asset-tag="BR-Q1"]', "data-verdict") == "ok"
    unknown = page.locator('tr[data-asset-tag="BR-Q2"]')
    assert unknown.get_attribute("data-verdict") == "unknown"
    assert "unknown" in unknown.locator("td").nth(2).text_content()
    assert page.text_content('#procurement tr[data-ram="3072"] td.num').strip() == "1"
    shot = tmp_path / "capacity-report.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("FLEET_SCREENSHOT_DIR"):
        shutil.copy(shot, os.environ["FLEET_SCREENSHOT_DIR"])
    with page.expect_download() as download:
        page.click("text=CSV")
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert text.splitlines()[0].startswith("district,org_unit,asset_tag")
    assert len(text.splitlines()) == 4
    page.click("text=Calibration")
    assert page.text_content("#calibration-state").strip() == "uncalibrated"

"""The calculator page in headless Chromium: fill the form like a planner, submit, read the
verdict, the recommended RAM and the largest TEI count at ok; the chart is drawn."""

from __future__ import annotations

import os
import shutil

import pytest
from fleet_testing import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture()
def page(live_server, chromium):
    base, _server = live_server
    context = chromium.new_context(ignore_https_errors=True, base_url=base,
                                   viewport={"width": 1100, "height": 900}, locale="en-US")
    pg = context.new_page()
    violations = []
    pg.on("console", lambda msg: violations.append(msg.text)
          if "Content Security Policy" in msg.text else None)
    pg.goto("/auth/login")
    pg.fill("input[name=username]", "admin")
    pg.fill("input[name=password]", PASSWORD)
    pg.click("main button[type=submit]")
    pg.wait_for_url("**/dashboard")
    yield pg
    context.close()
    assert violations == []  # no inline script or style on the capacity pages


def test_planner_estimates_a_2gb_phone_with_5000_teis(page, tmp_path):
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


def test_report_and_calibration_pages_open(page):
    page.goto("/capacity/report")
    assert page.text_content("#at-risk").strip() == "0"
    page.click("text=Calibration")
    assert page.text_content("#calibration-state").strip() == "uncalibrated"

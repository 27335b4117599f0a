"""The DHIS2 pages in headless Chromium against the served app (HTTPS, CSRF on) and the DHIS2
test server: org unit import preview then apply, a settings profile previewed then published
to the whole server with the confirmation, the result read back."""

from __future__ import annotations

import pytest
from fleet_testing import logged_in_page
from sqlalchemy import func, select

pytestmark = pytest.mark.browser

NS = "ANDROID_SETTINGS_APP"


@pytest.fixture()
def page(live_server, chromium):
    base, _server = live_server
    context = chromium.new_context(ignore_https_errors=True, base_url=base,
                                   viewport={"width": 390, "height": 844}, locale="en-US")
    pg = logged_in_page(context)
    yield pg
    context.close()
    assert pg.csp_violations == []


def test_import_org_units_and_publish_settings_in_the_browser(page, live_server, dhis2_server):
    _base, server = live_server
    app = server.fleet_app
    from fleet.dhis2.operations import create_server
    from fleet.extensions import db
    from fleet.inventory.models import OrgUnit

    with app.app_context():
        create_server({"name": "browser", "base_url": dhis2_server.url, "auth_kind": "token",
                       "token": dhis2_server.token, "is_default": True}, actor=None)
        db.session.commit()

    page.click("nav.top summary:text('Phones and apps')")
    page.click("nav.top a:text('DHIS2')")
    assert "browser" in page.text_content("main table")
    assert dhis2_server.token not in page.content()

    page.goto("/dhis2/orgunits")
    page.select_option("#f-server", "browser")
    page.click("button[value=preview]")
    assert "261 new" in page.text_content("#orgunit-summary")
    assert page.locator("#orgunit-diff tbody tr").count() == 261
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(OrgUnit).where(
            OrgUnit.uid.is_not(None)))
    page.click("button[value=apply]")
    assert "Org units imported." in page.text_content(".flash.success")
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(OrgUnit).where(
            OrgUnit.uid.is_not(None)))
    assert (before, after) == (0, 261)

    page.goto("/dhis2/settings")
    assert "server-wide" in page.text_content("main")
    page.fill("#f-name", "browser-field")
    page.select_option("#f-encrypt_db", "true")
    page.select_option("#f-data_sync", "6h")
    page.fill("#f-reserved_values", "250")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/dhis2/settings/*")
    page.select_option("#f-server", "browser")
    page.click("button[value=preview]")
    changes = page.text_content("#settings-changes")
    assert "dataSync" in changes and "reservedValues" in changes
    assert NS not in dhis2_server.datastore()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[value=publish]")
    assert "Read back from DHIS2 and verified." in page.text_content("#settings-verified")
    stored = dhis2_server.datastore()[NS]
    assert stored["generalSettings"] == {"encryptDB": True, "reservedValues": 250}
    assert stored["synchronization"] == {"dataSync": "6h"}
    page.goto("/dhis2/history")
    assert "browser-field" in page.text_content("main table")

"""Opt-in, read-only checks against a real DHIS2 server.

Selected only with ``pytest -m real_dhis2`` (the marker is deselected by default). Needs:

- ``FLEET_DHIS2_TEST_URL``: the DHIS2 root, e.g. ``https://play.im.dhis2.org/stable-2-40-4``
- ``FLEET_DHIS2_TEST_TOKEN`` (a personal access token), or ``FLEET_DHIS2_TEST_USERNAME`` and
  ``FLEET_DHIS2_TEST_PASSWORD``
- optional ``FLEET_DHIS2_TEST_CA_BUNDLE``: a PEM CA bundle for a private CA

Nothing is written to the server: publishing is only planned (dry run). A selected test whose
environment is missing fails with the reason; it is never skipped silently.
"""

import os
import re

import pytest

from fleet.dhis2.android_settings import (
    DATA_SYNC_PERIODS,
    METADATA_SYNC_PERIODS,
    SettingsProfile,
    plan_settings,
)
from fleet.dhis2.android_settings import (
    NAMESPACE as SETTINGS_NS,
)
from fleet.dhis2.apk_distribution import NAMESPACE as APK_NS
from fleet.dhis2.apk_distribution import plan_apk_distribution
from fleet.dhis2.client import Dhis2Client
from fleet.dhis2.orgunits import UID_RE, apply_to_mapping, diff_org_units

pytestmark = pytest.mark.real_dhis2


@pytest.fixture(scope="module")
def real_client():
    url = os.environ.get("FLEET_DHIS2_TEST_URL")
    token = os.environ.get("FLEET_DHIS2_TEST_TOKEN")
    username = os.environ.get("FLEET_DHIS2_TEST_USERNAME")
    password = os.environ.get("FLEET_DHIS2_TEST_PASSWORD")
    if not url or not (token or (username and password)):
        pytest.fail(
            "real_dhis2 tests need FLEET_DHIS2_TEST_URL and FLEET_DHIS2_TEST_TOKEN (or "
            "FLEET_DHIS2_TEST_USERNAME and FLEET_DHIS2_TEST_PASSWORD)"
        )
    verify = os.environ.get("FLEET_DHIS2_TEST_CA_BUNDLE") or True
    if token:
        client = Dhis2Client(url, token=token, timeout=(10, 60), verify=verify)
    else:
        client = Dhis2Client(
            url, username=username, password=password, timeout=(10, 60), verify=verify
        )
    with client:
        yield client


def test_system_info(real_client):
    info = real_client.system_info()
    match = re.match(r"(\d+)\.(\d+)", info["version"])  # "2.40.4", "2.41-SNAPSHOT"
    assert match, info["version"]
    assert (int(match[1]), int(match[2])) >= (2, 36), info["version"]


def test_org_units_page_through_and_reimport_cleanly(real_client):
    total = real_client.request("GET", "organisationUnits", params={"fields": "id", "pageSize": 1})[
        "pager"
    ]["total"]
    units = list(real_client.iter_org_units(page_size=200))
    assert len(units) == total
    assert len({u["id"] for u in units}) == total
    first = diff_org_units({}, units)
    assert len(first.created) == total
    fleet_db = apply_to_mapping({}, first)
    again = diff_org_units(fleet_db, real_client.iter_org_units(page_size=500))
    assert not again.has_changes


def test_user_groups_have_uids(real_client):
    groups = list(real_client.iter_user_groups(page_size=100))
    assert all(UID_RE.match(g["id"]) and g.get("name") for g in groups)


def test_apk_distribution_is_readable_and_merging_nothing_changes_nothing(real_client):
    versions = real_client.datastore_get(APK_NS, "versions")
    latest = real_client.datastore_get(APK_NS, "latestVersion")
    plan = plan_apk_distribution(
        versions, latest, [], fleet_url_prefix="https://fleet.invalid/apk/"
    )
    assert not plan.diff.has_changes
    if versions is not None:
        assert plan.versions_doc == versions
        assert len(plan.diff.kept) == len(versions["versions"])


def test_android_settings_are_readable_and_republishing_them_changes_nothing(real_client):
    current = {
        key: real_client.datastore_get(SETTINGS_NS, key)
        for key in ("info", "generalSettings", "synchronization")
    }
    general = current["generalSettings"] or {}
    sync = current["synchronization"] or {}
    if "dataSync" in sync:
        assert sync["dataSync"] in DATA_SYNC_PERIODS
    if "metadataSync" in sync:
        assert sync["metadataSync"] in METADATA_SYNC_PERIODS
    tei = ((sync.get("programSettings") or {}).get("globalSettings") or {}).get("teiDownload")
    profile = SettingsProfile(
        encrypt_db=general.get("encryptDB"),
        allow_screen_capture=general.get("allowScreenCapture"),
        reserved_values=general.get("reservedValues"),
        data_sync=sync.get("dataSync"),
        metadata_sync=sync.get("metadataSync"),
        tei_download=tei if isinstance(tei, int) else None,
    )
    plan = plan_settings(current, profile)
    if current["info"] is not None and "encryptDB" in general:
        assert plan.changes == []

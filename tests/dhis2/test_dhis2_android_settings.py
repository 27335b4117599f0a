"""ANDROID_SETTINGS_APP publishing against the DHIS2 test server: merge, validation, verify."""

import copy

import pytest

from fleet.dhis2.android_settings import (
    SettingChange,
    SettingsLayoutError,
    SettingsProfile,
    SettingsValidationError,
    SettingsVerificationError,
    plan_settings,
    publish_settings,
    validate_profile,
)
from fleet.dhis2.client import Dhis2Forbidden, Dhis2ServerError

NS = "ANDROID_SETTINGS_APP"
INFO = {"dataStoreVersion": "2.0", "androidSettingsVersion": "2.5.1"}
# Shaped like the DHIS2 Android SDK's own fixtures (core/src/sharedTest/resources/settings/
# general_settings_v2.json, synchronization_settings.json), trimmed.
GENERAL = {
    "matomoID": 123,
    "matomoURL": "https://www.matomo.org",
    "encryptDB": False,
    "smsGateway": "+84566464",
    "reservedValues": 40,
    "allowScreenCapture": True,
    "messageOfTheDay": "Message of the day",
}
SYNC = {
    "dataSync": "24h",
    "metadataSync": "12h",
    "dataSetSettings": {"globalSettings": {"periodDSDownload": 30}, "specificSettings": {}},
    "programSettings": {
        "globalSettings": {"teiDownload": 500, "teiDBTrimming": 500, "eventsDownload": 1000},
        "specificSettings": {"IpHINAT79UW": {"id": "IpHINAT79UW", "teiDownload": "40"}},
    },
}
PROFILE = SettingsProfile(
    encrypt_db=True,
    allow_screen_capture=False,
    reserved_values=100,
    data_sync="1h",
    metadata_sync="24h",
    tei_download=2000,
)


def seed(server):
    server.put_value(NS, "info", INFO)
    server.put_value(NS, "generalSettings", GENERAL)
    server.put_value(NS, "synchronization", SYNC)


def writes(server):
    return [r for r in server.requests_log() if r["method"] in ("POST", "PUT", "DELETE")]


def test_publish_merges_and_keeps_unrelated_keys(dhis2_server, dhis2_client):
    seed(dhis2_server)
    dhis2_server.put_value(NS, "appearance", {"programConfiguration": {}})
    plan = publish_settings(dhis2_client, PROFILE)
    assert plan.written
    stored = dhis2_server.datastore()[NS]
    expected_general = dict(GENERAL, encryptDB=True, allowScreenCapture=False, reservedValues=100)
    expected_sync = copy.deepcopy(SYNC)
    expected_sync.update(dataSync="1h", metadataSync="24h")
    expected_sync["programSettings"]["globalSettings"]["teiDownload"] = 2000
    assert stored == {
        "info": INFO,
        "generalSettings": expected_general,
        "synchronization": expected_sync,
        "appearance": {"programConfiguration": {}},
    }
    assert plan.changes == [
        SettingChange("generalSettings", "encryptDB", False, True),
        SettingChange("generalSettings", "allowScreenCapture", True, False),
        SettingChange("generalSettings", "reservedValues", 40, 100),
        SettingChange("synchronization", "dataSync", "24h", "1h"),
        SettingChange("synchronization", "metadataSync", "12h", "24h"),
        SettingChange("synchronization", "programSettings.globalSettings.teiDownload", 500, 2000),
    ]
    # Publishing the same profile again changes and writes nothing.
    dhis2_server.reset()
    again = publish_settings(dhis2_client, PROFILE)
    assert again.changes == [] and not again.written
    assert writes(dhis2_server) == []


def test_partial_profile_touches_only_its_fields(dhis2_server, dhis2_client):
    seed(dhis2_server)
    plan = publish_settings(dhis2_client, {"data_sync": "6h"})
    assert [(c.key, c.path) for c in plan.changes] == [("synchronization", "dataSync")]
    stored = dhis2_server.datastore()[NS]
    assert stored["generalSettings"] == GENERAL
    assert stored["synchronization"] == dict(SYNC, dataSync="6h")
    assert [w["path"] for w in writes(dhis2_server)] == [f"/api/dataStore/{NS}/synchronization"]


def test_empty_namespace_gets_info_and_required_encrypt_db(dhis2_server, dhis2_client):
    plan = publish_settings(dhis2_client, {"metadata_sync": "7d", "tei_download": 300})
    stored = dhis2_server.datastore()[NS]
    assert stored == {
        "info": {"dataStoreVersion": "2.0"},
        "generalSettings": {"encryptDB": False},
        "synchronization": {
            "metadataSync": "7d",
            "programSettings": {"globalSettings": {"teiDownload": 300}},
        },
    }
    assert SettingChange("info", "dataStoreVersion", None, "2.0") in plan.changes
    assert SettingChange("generalSettings", "encryptDB", None, False) in plan.changes


def test_dry_run_writes_nothing(dhis2_server, dhis2_client):
    seed(dhis2_server)
    before = dhis2_server.datastore()
    dhis2_server.reset()
    plan = publish_settings(dhis2_client, PROFILE, dry_run=True)
    assert len(plan.changes) == 6 and not plan.written
    assert dhis2_server.datastore() == before
    assert writes(dhis2_server) == []


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        ({"data_sync": "15m"}, "data_sync"),
        ({"data_sync": "7d"}, "data_sync"),
        ({"metadata_sync": "30m"}, "metadata_sync"),
        ({"metadata_sync": "7h"}, "metadata_sync"),
        ({"reserved_values": 501}, "reserved_values"),
        ({"reserved_values": -1}, "reserved_values"),
        ({"reserved_values": True}, "reserved_values"),
        ({"tei_download": "500"}, "tei_download"),
        ({"encrypt_db": "yes"}, "encrypt_db"),
        ({"allow_screen_capture": 1}, "allow_screen_capture"),
        ({"sync_everything": True}, "sync_everything"),
    ],
)
def test_bad_values_are_rejected_and_nothing_is_written(dhis2_server, dhis2_client, profile, field):
    seed(dhis2_server)
    before = dhis2_server.datastore()
    with pytest.raises(SettingsValidationError) as err:
        publish_settings(dhis2_client, profile)
    assert list(err.value.errors) == [field]
    assert dhis2_server.datastore() == before


def test_all_sdk_periods_are_accepted():
    for period in ("30m", "1h", "6h", "12h", "24h", "manual"):
        assert validate_profile({"data_sync": period}).data_sync == period
    for period in ("1h", "6h", "12h", "24h", "7d", "manual"):
        assert validate_profile({"metadata_sync": period}).metadata_sync == period


def test_other_settings_layout_is_refused(dhis2_server, dhis2_client):
    dhis2_server.put_value(NS, "info", {"dataStoreVersion": "1.1"})
    before = dhis2_server.datastore()
    with pytest.raises(SettingsLayoutError, match="dataStoreVersion '1.1'"):
        publish_settings(dhis2_client, PROFILE)
    assert dhis2_server.datastore() == before
    with pytest.raises(SettingsLayoutError, match="not a JSON object"):
        plan_settings({"info": INFO, "generalSettings": [1, 2]}, PROFILE)


def test_lost_write_is_caught_by_read_back(dhis2_server, dhis2_client):
    seed(dhis2_server)
    dhis2_server.set_faults(
        ignore_writes_next=1, method="PUT", path_prefix=f"/api/dataStore/{NS}/sync"
    )
    with pytest.raises(SettingsVerificationError) as err:
        publish_settings(dhis2_client, PROFILE)
    paths = {(k, p) for k, p, _expected, _found in err.value.differences}
    assert paths == {
        ("synchronization", "dataSync"),
        ("synchronization", "metadataSync"),
        ("synchronization", "programSettings.globalSettings.teiDownload"),
    }
    assert "expected '1h', found '24h'" in str(err.value)


def test_failed_second_write_restores_the_first(dhis2_server, dhis2_client):
    seed(dhis2_server)
    before = dhis2_server.datastore()
    dhis2_server.set_faults(
        fail_next=100, fail_status=500, method="PUT", path_prefix=f"/api/dataStore/{NS}/sync"
    )
    with pytest.raises(Dhis2ServerError):
        publish_settings(dhis2_client, PROFILE)
    assert dhis2_server.datastore() == before


def test_missing_authority_is_a_clear_403_and_changes_nothing(dhis2_server, dhis2_client):
    seed(dhis2_server)
    before = dhis2_server.datastore()
    dhis2_server.set_faults(forbid_next=10, method="PUT")
    with pytest.raises(Dhis2Forbidden, match="may not do PUT /api/dataStore/ANDROID_SETTINGS_APP"):
        publish_settings(dhis2_client, PROFILE)
    assert dhis2_server.datastore() == before

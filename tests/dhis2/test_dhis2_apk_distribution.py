"""APK_DISTRIBUTION publishing against the DHIS2 test server: shape, merge, dry run, faults."""

import pytest

from fleet.dhis2.apk_distribution import (
    ApkChannelEntry,
    ApkDistributionConflict,
    ApkDistributionError,
    android_version_for_api,
    plan_apk_distribution,
    publish,
)
from fleet.dhis2.client import Dhis2Forbidden, Dhis2ServerError

PREFIX = "https://fleet.example.org/apk/"
GROUP_PILOT = "Kk12LkEWtXp"
GROUP_TRAINING = "Ab34CdEFgHi"

# An entry as DHIS2's APK Distribution web app writes it (apk-distribution-app prepareAPK),
# plus a legacy field fleet does not know: it must survive untouched.
FOREIGN_DEFAULT = {
    "version": "2.8.2",
    "downloadURL": "https://github.com/dhis2/dhis2-android-capture-app/releases/download/"
    "2.8.2/dhis2-v2.8.2.apk",
    "androidOSVersion": {"min": "5.0.2", "recommended": "7.0"},
    "isDefault": True,
    "dhis2Version": {"min": "2.29", "recommended": "2.40"},
}
FOREIGN_GROUP = {
    "version": "2.9.0",
    "downloadURL": "https://example.net/dhis2-2.9.0.apk",
    "androidOSVersion": {"min": "7.0", "recommended": "8.0"},
    "userGroups": [GROUP_TRAINING],
}


def pilot(version="2.9.1", sha="a" * 64, **kw):
    return ApkChannelEntry(
        version=version,
        download_url=f"{PREFIX}{sha}.apk?token=pilot-token",
        min_sdk=23,
        user_groups=(GROUP_PILOT,),
        **kw,
    )


def production(version="2.9.1", sha="a" * 64):
    return ApkChannelEntry(
        version=version,
        download_url=f"{PREFIX}{sha}.apk?token=prod-token",
        min_sdk=26,
        is_default=True,
    )


def writes(server):
    return [r for r in server.requests_log() if r["method"] in ("POST", "PUT", "DELETE")]


def test_publish_into_empty_dhis2_writes_the_capture_app_shape(dhis2_server, dhis2_client):
    plan = publish(dhis2_client, [pilot(), production()], fleet_url_prefix=PREFIX)
    assert plan.written
    stored = dhis2_server.datastore()["APK_DISTRIBUTION"]
    assert stored == {
        "versions": {
            "versions": [
                {
                    "version": "2.9.1",
                    "downloadURL": f"{PREFIX}{'a' * 64}.apk?token=pilot-token",
                    "androidOSVersion": {"min": "6.0", "recommended": "8.0"},
                    "userGroups": [GROUP_PILOT],
                    "isDefault": False,
                },
                {
                    "version": "2.9.1",
                    "downloadURL": f"{PREFIX}{'a' * 64}.apk?token=prod-token",
                    "androidOSVersion": {"min": "8.0", "recommended": "8.0"},
                    "userGroups": [],
                    "isDefault": True,
                },
            ]
        },
        "latestVersion": {
            "version": "2.9.1",
            "downloadURL": f"{PREFIX}{'a' * 64}.apk?token=prod-token",
        },
    }
    assert [e["version"] for e in plan.diff.added] == ["2.9.1", "2.9.1"]
    # Second publish of the same channels: no change, no write.
    dhis2_server.reset()
    again = publish(dhis2_client, [pilot(), production()], fleet_url_prefix=PREFIX)
    assert not again.diff.has_changes and not again.written
    assert writes(dhis2_server) == []


def test_publish_keeps_entries_fleet_did_not_create(dhis2_server, dhis2_client):
    dhis2_server.put_value(
        "APK_DISTRIBUTION", "versions", {"versions": [FOREIGN_GROUP, FOREIGN_DEFAULT]}
    )
    latest = {"version": "2.8.2", "downloadURL": FOREIGN_DEFAULT["downloadURL"]}
    dhis2_server.put_value("APK_DISTRIBUTION", "latestVersion", latest)

    plan = publish(dhis2_client, [pilot()], fleet_url_prefix=PREFIX)
    stored = dhis2_server.datastore()["APK_DISTRIBUTION"]
    versions = stored["versions"]["versions"]
    assert versions[1:] == [FOREIGN_GROUP, FOREIGN_DEFAULT]  # byte-for-byte, same order
    assert versions[0]["downloadURL"].startswith(PREFIX)
    assert stored["latestVersion"] == latest  # fleet has no default: latestVersion untouched
    assert plan.diff.kept == [FOREIGN_GROUP, FOREIGN_DEFAULT]
    assert not plan.diff.latest_changed


def test_repointing_a_channel_replaces_only_fleets_entry(dhis2_server, dhis2_client):
    dhis2_server.put_value("APK_DISTRIBUTION", "versions", {"versions": [FOREIGN_GROUP]})
    publish(dhis2_client, [pilot("2.9.1", "a" * 64)], fleet_url_prefix=PREFIX)
    plan = publish(dhis2_client, [pilot("2.9.2", "b" * 64)], fleet_url_prefix=PREFIX)
    assert [e["version"] for e in plan.diff.removed] == ["2.9.1"]
    assert [e["version"] for e in plan.diff.added] == ["2.9.2"]
    assert plan.diff.kept == [FOREIGN_GROUP]
    versions = dhis2_server.datastore()["APK_DISTRIBUTION"]["versions"]["versions"]
    assert [e["version"] for e in versions] == ["2.9.2", "2.9.0"]

    # Same URL, new user groups: a change, not a remove/add.
    entry = ApkChannelEntry(
        version="2.9.2",
        download_url=f"{PREFIX}{'b' * 64}.apk?token=pilot-token",
        min_sdk=23,
        user_groups=(GROUP_PILOT, "Zz99YyXxWwV"),
    )
    plan = publish(dhis2_client, [entry], fleet_url_prefix=PREFIX)
    assert len(plan.diff.changed) == 1 and not plan.diff.added and not plan.diff.removed
    before, after = plan.diff.changed[0]
    assert before["userGroups"] == [GROUP_PILOT]
    assert after["userGroups"] == [GROUP_PILOT, "Zz99YyXxWwV"]


def test_dry_run_writes_nothing(dhis2_server, dhis2_client):
    dhis2_server.put_value("APK_DISTRIBUTION", "versions", {"versions": [FOREIGN_GROUP]})
    before = dhis2_server.datastore()
    dhis2_server.reset()
    plan = publish(dhis2_client, [pilot(), production()], fleet_url_prefix=PREFIX, dry_run=True)
    assert plan.diff.has_changes and not plan.written
    assert len(plan.diff.added) == 2
    assert plan.diff.latest_after["downloadURL"].endswith("prod-token")
    assert dhis2_server.datastore() == before
    assert writes(dhis2_server) == []


def test_foreign_default_is_not_taken_over_silently(dhis2_server, dhis2_client):
    dhis2_server.put_value("APK_DISTRIBUTION", "versions", {"versions": [FOREIGN_DEFAULT]})
    before = dhis2_server.datastore()
    with pytest.raises(ApkDistributionConflict, match="already has a default version"):
        publish(dhis2_client, [production()], fleet_url_prefix=PREFIX)
    assert dhis2_server.datastore() == before

    plan = publish(dhis2_client, [production()], fleet_url_prefix=PREFIX, take_default=True)
    versions = dhis2_server.datastore()["APK_DISTRIBUTION"]["versions"]["versions"]
    assert versions[0]["isDefault"] is True and versions[0]["downloadURL"].startswith(PREFIX)
    assert versions[1] == dict(FOREIGN_DEFAULT, isDefault=False)
    assert plan.diff.demoted == [dict(FOREIGN_DEFAULT, isDefault=False)]


def test_failed_latest_version_write_restores_versions(dhis2_server, dhis2_client):
    dhis2_server.put_value("APK_DISTRIBUTION", "versions", {"versions": [FOREIGN_GROUP]})
    dhis2_server.put_value(
        "APK_DISTRIBUTION", "latestVersion", {"version": "2.9.0", "downloadURL": "x"}
    )
    before = dhis2_server.datastore()
    dhis2_server.set_faults(
        fail_next=100,
        fail_status=500,
        method="PUT",
        path_prefix="/api/dataStore/APK_DISTRIBUTION/latestVersion",
    )
    with pytest.raises(Dhis2ServerError):
        publish(dhis2_client, [production()], fleet_url_prefix=PREFIX, take_default=True)
    assert dhis2_server.datastore() == before


def test_forbidden_write_changes_nothing(dhis2_server, dhis2_client):
    dhis2_server.set_faults(forbid_next=5, method="POST")
    with pytest.raises(Dhis2Forbidden):
        publish(dhis2_client, [production()], fleet_url_prefix=PREFIX)
    assert dhis2_server.datastore() == {}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (ApkChannelEntry("v2.9.1", PREFIX + "x.apk", 23, is_default=True), "plain dotted"),
        (
            ApkChannelEntry("2.9.1", "http://fleet.example.org/apk/x.apk", 23, is_default=True),
            "HTTPS",
        ),
        (
            ApkChannelEntry("2.9.1", "https://elsewhere.example/x.apk", 23, is_default=True),
            "not under fleet's prefix",
        ),
        (ApkChannelEntry("2.9.1", PREFIX + "x.apk", 23), "needs at least one"),
        (
            ApkChannelEntry("2.9.1", PREFIX + "x.apk", 23, user_groups=("bad uid",)),
            "Invalid DHIS2 user-group",
        ),
        (ApkChannelEntry("2.9.1", PREFIX + "x.apk", 19, is_default=True), "API level"),
        (
            ApkChannelEntry(
                "2.9.1", PREFIX + "x.apk", 28, is_default=True, recommended_android="8.0"
            ),
            "at least 9.0",
        ),
    ],
)
def test_invalid_entries_are_refused(entry, message):
    with pytest.raises(ApkDistributionError, match=message):
        plan_apk_distribution(None, None, [entry], fleet_url_prefix=PREFIX)


def test_two_defaults_and_duplicate_urls_are_refused():
    with pytest.raises(ApkDistributionError, match="Only one channel"):
        plan_apk_distribution(
            None,
            None,
            [production("2.9.1", "a" * 64), production("2.9.2", "b" * 64)],
            fleet_url_prefix=PREFIX,
        )
    with pytest.raises(ApkDistributionError, match="same download URL"):
        plan_apk_distribution(None, None, [pilot(), pilot()], fleet_url_prefix=PREFIX)


def test_malformed_versions_value_is_refused():
    with pytest.raises(ApkDistributionError, match="is not"):
        plan_apk_distribution([FOREIGN_GROUP], None, [pilot()], fleet_url_prefix=PREFIX)


def test_api_level_to_android_version():
    assert android_version_for_api(23) == "6.0"
    assert android_version_for_api(26) == "8.0"
    assert android_version_for_api(32) == "12.1"
    assert android_version_for_api(34) == "14.0"

"""Released channels published into APK_DISTRIBUTION on the DHIS2 test server, in the Capture
app's shape, with a fleet download URL that works; foreign entries kept; tokens masked in
fleet's records; dry run and failures change nothing."""

import hashlib
import io
import os
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from fleet.apk import operations as apk_ops
from fleet.apk.models import Channel, ChannelPointer, Release
from fleet.audit.models import AuditEntry
from fleet.dhis2.apk_distribution import ApkChannelEntry
from fleet.dhis2.channels import channel_entries
from fleet.dhis2.models import Dhis2Publication
from fleet.dhis2.operations import Dhis2Failure
from fleet.dhis2.publishing import publish_apk_distribution
from fleet.errors import Conflict

NS = "APK_DISTRIBUTION"
PREFIX = "https://fleet.test.example/apk/"
GROUP = "Kk12LkEWtXp"
FOREIGN = {"version": "2.8.0", "downloadURL": "https://github.com/dhis2/app.apk",
           "androidOSVersion": {"min": "5.0", "recommended": "8.0"}, "userGroups": [],
           "isDefault": False}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def released(db, app):
    """Two channels pointing com.dhis2 at stored releases: ``production`` (default, 2.9.1,
    minSdk 23) and ``pilot`` (user group GROUP, 3.0.0, minSdk 26). Returns {name: bytes}."""
    files = {}
    channels = {"production": ("2.9.1", 23, True, []), "pilot": ("3.0.0", 26, False, [GROUP])}
    for code, (name, (version, min_sdk, default, groups)) in enumerate(channels.items(), 1):
        data = os.urandom(4096) + name.encode()
        stored = apk_ops.apk_store().store_stream(io.BytesIO(data))
        release = Release(package="com.dhis2", version_code=code, version_name=version,
                          min_sdk=min_sdk, sha256=stored.sha256, size=len(data),
                          file_name=f"dhis2-{version}.apk", status="released")
        channel = Channel(name=name, is_default=default, dhis2_user_groups=groups)
        db.session.add_all([release, channel])
        db.session.flush()
        db.session.add(ChannelPointer(channel=channel, package="com.dhis2", release=release,
                                      rollout_percent=100))
        files[name] = data
    test_channel = Channel(name="lab", is_test=True)
    db.session.add(test_channel)
    db.session.commit()
    return files


def test_released_channels_land_in_capture_app_shape_with_working_urls(
        db, client, server_row, dhis2_server, released, create_user):
    dhis2_server.put_value(NS, "versions", {"versions": [FOREIGN]})
    admin = create_user("admin")
    built = channel_entries(actor=admin)
    assert [name for name, _why in built.skipped] == ["lab"]
    result = publish_apk_distribution(server_row, built.entries, actor=admin)
    db.session.commit()
    assert result.written

    store = dhis2_server.datastore()[NS]
    versions = store["versions"]["versions"]
    assert versions[-1] == FOREIGN  # kept as it was
    fleet_entries = versions[:-1]
    assert [e["version"] for e in fleet_entries] == ["3.0.0", "2.9.1"]
    for entry in fleet_entries:
        assert set(entry) == {"version", "downloadURL", "androidOSVersion", "userGroups",
                              "isDefault"}
    pilot, production = fleet_entries
    assert pilot["androidOSVersion"] == {"min": "8.0", "recommended": "8.0"}
    assert production["androidOSVersion"] == {"min": "6.0", "recommended": "8.0"}
    assert (pilot["userGroups"], pilot["isDefault"]) == ([GROUP], False)
    assert (production["userGroups"], production["isDefault"]) == ([], True)
    assert store["latestVersion"] == {"version": "2.9.1",
                                      "downloadURL": production["downloadURL"]}

    # the URL DHIS2 hands to phones downloads the exact bytes, with the channel token
    for entry, name in ((pilot, "pilot"), (production, "production")):
        assert entry["downloadURL"].startswith(PREFIX) and "token=fdl_" in entry["downloadURL"]
        url = urlsplit(entry["downloadURL"])
        resp = client.get(f"{url.path}?{url.query}")
        assert resp.status_code == 200
        assert hashlib.sha256(resp.data).hexdigest() == hashlib.sha256(released[name]).hexdigest()
    assert client.get(urlsplit(pilot["downloadURL"]).path).status_code == 401  # no token

    # fleet's own records never hold the token
    pub = db.session.get(Dhis2Publication, result.publication_id)
    recorded = repr(pub.diff) + repr(db.session.scalars(select(AuditEntry.after).where(
        AuditEntry.action == "dhis2.publish_apk_distribution")).all())
    assert "fdl_" not in recorded and "token=***" in recorded

    # publishing again is stable (same tokens, same URLs): nothing to write
    again = publish_apk_distribution(server_row, channel_entries(actor=admin).entries,
                                     actor=admin)
    assert not again.has_changes and not again.written


def test_dry_run_and_failures_change_nothing(db, server_row, dhis2_server, released):
    dhis2_server.put_value(NS, "versions", {"versions": [FOREIGN]})
    audit_before = count(db, AuditEntry)
    built = channel_entries(actor=None, dry_run=True)  # no token issued by a dry run
    preview = publish_apk_distribution(server_row, built.entries, actor=None, dry_run=True)
    assert len(preview.diff["added"]) == 2 and preview.diff["kept"] == 1
    db.session.rollback()
    assert dhis2_server.datastore()[NS] == {"versions": {"versions": [FOREIGN]}}
    assert count(db, AuditEntry) == audit_before and count(db, Dhis2Publication) == 0

    entries = channel_entries(actor=None).entries
    dhis2_server.set_faults(fail_next=1, fail_status=409, method="PUT",
                            path_prefix=f"/api/dataStore/{NS}/latestVersion")
    with pytest.raises(Dhis2Failure) as err:  # versions written, latestVersion refused
        publish_apk_distribution(server_row, entries, actor=None)
    db.session.rollback()
    assert "HTTP 409" in str(err.value.message)
    dhis2_server.set_faults()
    assert dhis2_server.datastore()[NS] == {"versions": {"versions": [FOREIGN]}}
    assert count(db, Dhis2Publication) == 0


def test_plain_entries_and_a_foreign_default(db, server_row, dhis2_server):
    foreign_default = {**FOREIGN, "isDefault": True}
    dhis2_server.put_value(NS, "versions", {"versions": [foreign_default]})
    entry = ApkChannelEntry(version="2.9.1", download_url=f"{PREFIX}{'a' * 64}.apk?token=t1",
                            min_sdk=23, is_default=True)
    with pytest.raises(Conflict) as err:
        publish_apk_distribution(server_row, [entry], actor=None)
    assert "default" in str(err.value.message)
    result = publish_apk_distribution(server_row, [entry], actor=None, take_default=True)
    assert result.written and result.diff["demoted"][0]["isDefault"] is False
    versions = dhis2_server.datastore()[NS]["versions"]["versions"]
    assert [v["isDefault"] for v in versions] == [True, False]


def test_job_publishes_after_a_repoint_and_only_then(db, app, monkeypatch, server_row,
                                                     dhis2_server, released):
    from fleet.apk.models import PointerHistory
    from fleet.dhis2.jobs import publish_apks_after_repoint

    assert publish_apks_after_repoint().startswith("off")
    monkeypatch.setitem(app.config, "DHIS2_AUTO_PUBLISH_APKS", "production")
    assert publish_apks_after_repoint() == "no channel re-pointed yet"
    pointer = db.session.scalars(select(ChannelPointer)).first()
    db.session.add(PointerHistory(channel_id=pointer.channel_id, package="com.dhis2",
                                  action="release", release_id=pointer.release_id,
                                  rollout_percent=100, actor_name="tester"))
    db.session.commit()
    message = publish_apks_after_repoint()
    db.session.commit()
    assert message == "production: 2 added, 0 removed, written"
    assert len(dhis2_server.datastore()[NS]["versions"]["versions"]) == 2
    pub = db.session.scalars(select(Dhis2Publication)).one()
    assert pub.actor_name == "system" and pub.written
    assert publish_apks_after_repoint() == "production: up to date"

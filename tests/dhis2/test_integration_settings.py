"""Settings profiles published into ANDROID_SETTINGS_APP on the DHIS2 test server: merged,
read back and verified, recorded and audited; dry runs and every failure mode change nothing
on either side; server secrets are encrypted at rest."""

import pytest
from sqlalchemy import func, select, text

from fleet.audit.models import AuditEntry
from fleet.dhis2.models import Dhis2Publication
from fleet.dhis2.operations import (
    Dhis2Failure,
    Dhis2TimeoutFailure,
    create_server,
    create_settings_profile,
    update_server,
    update_settings_profile,
)
from fleet.dhis2.publishing import publish_settings_profile
from fleet.errors import InvalidInput

NS = "ANDROID_SETTINGS_APP"
SEED = {
    "info": {"dataStoreVersion": "2.0", "androidSettingsVersion": "2.3.0"},
    "generalSettings": {"encryptDB": False, "reservedValues": 100, "matomoID": 7,
                        "matomoURL": "https://matomo.example.org", "smsGateway": "+221700000"},
    "synchronization": {"dataSync": "24h", "metadataSync": "24h",
                        "programSettings": {"globalSettings": {"teiDownload": 500,
                                                               "eventsDownload": 1000},
                                            "specificSettings": {"IpHINAT79UW": {"name": "Child"}}},
                        "dataSetSettings": {"globalSettings": {"periodDSDownload": 30}}},
}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def seeded(dhis2_server):
    for key, value in SEED.items():
        dhis2_server.put_value(NS, key, value)
    return dhis2_server


@pytest.fixture
def profile(db):
    row = create_settings_profile({"name": "field", "encrypt_db": True, "reserved_values": 200,
                                   "data_sync": "6h", "metadata_sync": "7d",
                                   "tei_download": 1500}, actor=None)
    db.session.commit()
    return row


def test_profile_lands_merged_and_verified(db, server_row, seeded, profile, create_user):
    admin = create_user("admin")
    result = publish_settings_profile(server_row, profile, actor=admin)
    db.session.commit()
    assert result.written and result.verified
    store = seeded.datastore()[NS]
    general, sync = store["generalSettings"], store["synchronization"]
    assert general == {**SEED["generalSettings"], "encryptDB": True, "reservedValues": 200}
    assert sync["dataSync"] == "6h" and sync["metadataSync"] == "7d"
    assert sync["programSettings"]["globalSettings"] == {"teiDownload": 1500,
                                                         "eventsDownload": 1000}
    assert sync["programSettings"]["specificSettings"] == SEED["synchronization"][
        "programSettings"]["specificSettings"]
    assert sync["dataSetSettings"] == SEED["synchronization"]["dataSetSettings"]
    assert store["info"] == SEED["info"]
    assert result.read_back == {"generalSettings": general, "synchronization": sync}
    assert {(c["key"], c["path"], c["old"], c["new"]) for c in result.changes} == {
        ("generalSettings", "encryptDB", False, True),
        ("generalSettings", "reservedValues", 100, 200),
        ("synchronization", "dataSync", "24h", "6h"),
        ("synchronization", "metadataSync", "24h", "7d"),
        ("synchronization", "programSettings.globalSettings.teiDownload", 500, 1500)}

    pub = db.session.get(Dhis2Publication, result.publication_id)
    assert (pub.kind, pub.namespace, pub.server_id, pub.actor_name) == (
        "android_settings", NS, server_row.id, admin.username)
    assert (pub.profile_id, pub.profile_version, pub.written, pub.verified) == (
        profile.id, 1, True, True)
    assert len(pub.diff["changes"]) == 5
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "dhis2.publish_settings")).one()
    assert entry.actor_name == admin.username and entry.after["profile"] == "field"

    # a new version of the profile changes only what differs
    update_settings_profile(profile, {"data_sync": "1h"}, actor=admin)
    db.session.commit()
    assert profile.version == 2
    again = publish_settings_profile(server_row, profile, actor=admin)
    assert [(c["path"], c["new"]) for c in again.changes] == [("dataSync", "1h")]
    assert seeded.datastore()[NS]["synchronization"]["dataSync"] == "1h"


def test_empty_namespace_gets_info_and_required_encrypt_db(db, server_row, dhis2_server,
                                                           create_user):
    row = create_settings_profile({"name": "sync-only", "data_sync": "12h"}, actor=None)
    result = publish_settings_profile(server_row, row, actor=create_user("admin"))
    assert result.verified
    store = dhis2_server.datastore()[NS]
    assert store["info"] == {"dataStoreVersion": "2.0"}
    assert store["generalSettings"] == {"encryptDB": False}
    assert store["synchronization"] == {"dataSync": "12h"}


def test_dry_run_writes_nothing_on_either_side(db, server_row, seeded, profile):
    seeded.reset()
    audit_before = count(db, AuditEntry)
    result = publish_settings_profile(server_row, profile, actor=None, dry_run=True)
    assert len(result.changes) == 5 and not result.written
    assert [r for r in seeded.requests_log() if r["method"] != "GET"] == []
    assert seeded.datastore()[NS] == SEED
    assert count(db, Dhis2Publication) == 0
    assert count(db, AuditEntry) == audit_before


def test_invalid_profile_values_are_refused(db):
    with pytest.raises(InvalidInput) as err:
        create_settings_profile({"name": "bad", "data_sync": "2h", "reserved_values": 900},
                                actor=None)
    assert set(err.value.fields) == {"data_sync", "reserved_values"}


def _break(kind, db, server_row, server, tmp_path):
    """Set up one failure mode; returns the expected exception class and message part."""
    if kind == "401":
        update_server(server_row, {"token": "d2pat_wrong_token_0000000000000000"}, actor=None)
        db.session.commit()
        return Dhis2Failure, "refused fleet's credentials (HTTP 401)"
    if kind == "403":
        server.set_faults(forbid_next=1, method="PUT")
        return Dhis2Failure, "not allowed to do this (HTTP 403"
    if kind == "409-second-write":  # generalSettings written, then synchronization refused
        server.set_faults(fail_next=1, fail_status=409, method="PUT",
                          path_prefix=f"/api/dataStore/{NS}/synchronization")
        return Dhis2Failure, "conflict (HTTP 409"
    if kind == "5xx":
        server.set_faults(fail_next=50, fail_status=503)
        return Dhis2Failure, "failed with HTTP 503 even after retrying"
    if kind == "timeout":
        update_server(server_row, {"timeout_seconds": 1}, actor=None)
        db.session.commit()
        server.set_faults(delay_next=50, delay_seconds=1.5, method="GET")
        return Dhis2TimeoutFailure, "did not answer in time"
    if kind == "lost-write":  # DHIS2 answers 200 but keeps the old value: read-back differs
        server.set_faults(ignore_writes_next=1, method="PUT",
                          path_prefix=f"/api/dataStore/{NS}/synchronization")
        return Dhis2Failure, "did not keep the settings fleet wrote"
    if kind == "html":
        server.set_faults(html_next=1)
        return Dhis2Failure, "answer fleet does not understand"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["401", "403", "409-second-write", "5xx", "timeout",
                                  "lost-write", "html"])
def test_failures_give_a_clear_message_and_change_nothing(kind, db, server_row, seeded,
                                                          profile, tmp_path):
    expected, message = _break(kind, db, server_row, seeded, tmp_path)
    audit_before = count(db, AuditEntry)
    with pytest.raises(expected) as err:
        publish_settings_profile(server_row, profile, actor=None)
    db.session.rollback()
    text_ = str(err.value.message)
    assert message in text_, text_
    assert "production" in text_  # names the server
    assert seeded.token not in text_ and "d2pat_wrong" not in text_
    seeded.set_faults()  # clear what is left, then look at DHIS2 directly
    assert seeded.datastore()[NS] == SEED
    assert count(db, Dhis2Publication) == 0
    assert count(db, AuditEntry) == audit_before


def test_tls_error_is_clear_and_a_ca_bundle_fixes_it(db, dhis2_tls_server, fast_dhis2):
    server = create_server({"name": "training", "base_url": dhis2_tls_server.url,
                            "auth_kind": "basic", "username": dhis2_tls_server.username,
                            "password": dhis2_tls_server.password, "timeout_seconds": 2},
                           actor=None)
    row = create_settings_profile({"name": "tls", "allow_screen_capture": False}, actor=None)
    db.session.commit()
    with pytest.raises(Dhis2Failure) as err:
        publish_settings_profile(server, row, actor=None)
    db.session.rollback()
    assert "TLS certificate" in str(err.value.message)
    assert "CA bundle" in str(err.value.message)
    # read DHIS2 through a client with the CA passed per request (the fixture's control
    # session loses its CA when REQUESTS_CA_BUNDLE is set, psf/requests#3829)
    reader = dhis2_tls_server.client(verify=str(dhis2_tls_server.tls.ca))
    assert reader.datastore_keys(NS) == []
    assert count(db, Dhis2Publication) == 0

    update_server(server, {"ca_bundle": str(dhis2_tls_server.tls.ca)}, actor=None)
    result = publish_settings_profile(server, row, actor=None)
    assert result.verified
    assert reader.datastore_get(NS, "generalSettings")["allowScreenCapture"] is False


def test_secrets_are_encrypted_at_rest_and_never_audited(db, server_row, dhis2_server):
    raw = db.session.execute(text("SELECT token, password FROM dhis2_server WHERE id = :i"),
                             {"i": server_row.id}).one()
    assert raw.token and raw.token != dhis2_server.token
    assert dhis2_server.token not in raw.token and raw.password is None
    db.session.expire_all()
    assert server_row.token == dhis2_server.token  # decrypts through the ORM

    basic = create_server({"name": "basic", "base_url": dhis2_server.url, "auth_kind": "basic",
                           "username": "admin", "password": dhis2_server.password}, actor=None)
    db.session.commit()
    raw = db.session.execute(text("SELECT password FROM dhis2_server WHERE id = :i"),
                             {"i": basic.id}).scalar_one()
    assert dhis2_server.password not in raw
    update_server(server_row, {"token": "d2pat_rotated_1111111111111111"}, actor=None)
    db.session.commit()
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "dhis2_server")).all()
    dumped = repr([(e.before, e.after) for e in entries])
    for secret in (dhis2_server.token, dhis2_server.password, "d2pat_rotated"):
        assert secret not in dumped
    assert any((e.after or {}).get("token") == "*** (changed)" for e in entries)


def test_plain_http_is_refused_except_on_loopback(db):
    with pytest.raises(InvalidInput) as err:
        create_server({"name": "remote", "base_url": "http://dhis2.example.org",
                       "auth_kind": "token", "token": "d2pat_x"}, actor=None)
    assert "https" in str(err.value.message)

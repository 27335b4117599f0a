"""The DHIS2 connector through its three edges: JSON API, pages and the ``fleet dhis2`` CLI,
against the DHIS2 test server."""

from sqlalchemy import func, select

from fleet.dhis2.models import Dhis2Publication, Dhis2Server, SettingsProfileRow
from fleet.inventory.models import OrgUnit

NS = "ANDROID_SETTINGS_APP"


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_api_servers_never_show_secrets_and_need_admin(client, db, token_for, dhis2_server,
                                                       fast_dhis2):
    admin, viewer = bearer(token_for("admin")), bearer(token_for("viewer"))
    body = {"name": "production", "base_url": dhis2_server.url, "token": dhis2_server.token,
            "timeout_seconds": 2}
    assert client.post("/api/v1/dhis2/servers", json=body, headers=viewer).status_code == 403
    resp = client.post("/api/v1/dhis2/servers", json=body, headers=admin)
    assert resp.status_code == 201, resp.json
    assert resp.json["is_default"] is True and resp.json["has_secret"] is True
    listed = client.get("/api/v1/dhis2/servers", headers=viewer)
    assert listed.status_code == 200
    assert dhis2_server.token not in listed.get_data(as_text=True)
    assert "token" not in listed.json[0] and "password" not in listed.json[0]
    check = client.post("/api/v1/dhis2/servers/production/check", headers=admin)
    assert check.json["summary"]["version"] == "2.40.4"
    bad = client.post("/api/v1/dhis2/servers", headers=admin, json={
        **body, "name": "bad", "base_url": "ftp://x"})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid"


def test_api_import_and_publish_flow(client, db, token_for, server_row, dhis2_server):
    admin = bearer(token_for("admin"))
    dry = client.post("/api/v1/dhis2/import/orgunits", json={"dry_run": True}, headers=admin)
    assert dry.status_code == 200, dry.json
    assert dry.json["summary"]["created"] == 261 and dry.json["applied"] is False
    assert count(db, OrgUnit) == 0
    done = client.post("/api/v1/dhis2/import/orgunits", json={"server": "production"},
                       headers=admin)
    assert done.json["applied"] is True and count(db, OrgUnit) == 261
    groups = client.post("/api/v1/dhis2/import/usergroups", json={}, headers=admin)
    assert groups.json["summary"]["created"] == 5
    assert len(client.get("/api/v1/dhis2/usergroups", headers=admin).json) == 5

    bad = client.post("/api/v1/dhis2/settings-profiles", headers=admin,
                      json={"name": "x", "metadata_sync": "2d"})
    assert bad.status_code == 422 and "metadata_sync" in bad.json["error"]["fields"]
    made = client.post("/api/v1/dhis2/settings-profiles", headers=admin,
                       json={"name": "field", "encrypt_db": True, "data_sync": "6h"})
    assert made.status_code == 201 and made.json["version"] == 1
    preview = client.post("/api/v1/dhis2/settings-profiles/field/publish", headers=admin,
                          json={"dry_run": True})
    assert preview.json["written"] is False and len(preview.json["changes"]) == 3
    assert NS not in dhis2_server.datastore()
    published = client.post("/api/v1/dhis2/settings-profiles/field/publish", headers=admin,
                            json={})
    assert published.status_code == 200, published.json
    assert published.json["verified"] is True
    assert dhis2_server.datastore()[NS]["generalSettings"] == {"encryptDB": True}
    history = client.get("/api/v1/dhis2/publications", headers=admin).json
    assert history[0]["profile"] == "field" and history[0]["server"] == "production"

    dhis2_server.set_faults(forbid_next=1, method="PUT")
    client.patch("/api/v1/dhis2/settings-profiles/field", headers=admin, json={"data_sync": "1h"})
    refused = client.post("/api/v1/dhis2/settings-profiles/field/publish", headers=admin,
                          json={})
    assert refused.status_code == 502
    assert refused.json["error"]["code"] == "dhis2_error"
    assert "HTTP 403" in refused.json["error"]["message"]
    assert dhis2_server.datastore()[NS]["synchronization"] == {"dataSync": "6h"}
    assert count(db, Dhis2Publication) == 1


def test_pages(client, db, login, server_row, dhis2_server):
    login("admin")
    index = client.get("/dhis2/")
    assert index.status_code == 200 and b"production" in index.data
    assert dhis2_server.token.encode() not in index.data
    edit = client.get(f"/dhis2/servers/{server_row.id}/edit")
    assert edit.status_code == 200 and dhis2_server.token.encode() not in edit.data

    preview = client.post("/dhis2/orgunits", data={"server": "production",
                                                   "action": "preview"})
    assert preview.status_code == 200 and b'id="orgunit-diff"' in preview.data
    assert b"261 org units in DHIS2: 261 new" in preview.data
    assert count(db, OrgUnit) == 0
    applied = client.post("/dhis2/orgunits", data={"server": "production", "action": "apply"})
    assert applied.status_code == 200 and count(db, OrgUnit) == 261

    created = client.post("/dhis2/settings", data={"name": "field", "encrypt_db": "true",
                                                   "reserved_values": "300"})
    assert created.status_code == 302
    row = db.session.scalar(select(SettingsProfileRow))
    page = client.get(f"/dhis2/settings/{row.id}")
    assert b"server-wide" in page.data
    preview = client.post(f"/dhis2/settings/{row.id}", data={"action": "preview",
                                                             "server": "production"})
    assert b'id="settings-changes"' in preview.data and b"reservedValues" in preview.data
    assert NS not in dhis2_server.datastore()
    result = client.post(f"/dhis2/settings/{row.id}", data={"action": "publish",
                                                            "server": "production"})
    assert b'id="settings-verified"' in result.data and b"Read back from DHIS2" in result.data
    assert dhis2_server.datastore()[NS]["generalSettings"]["reservedValues"] == 300
    assert b"field" in client.get("/dhis2/history").data


def test_viewer_cannot_change_anything(client, db, login, server_row):
    login("viewer")
    assert client.get("/dhis2/").status_code == 200
    assert client.post("/dhis2/orgunits", data={"action": "apply"}).status_code == 403
    assert client.post("/dhis2/settings", data={"name": "x"}).status_code == 403
    assert client.get("/dhis2/servers/new").status_code == 403


def test_cli(runner, db, dhis2_server, fast_dhis2):
    result = runner.invoke(args=["dhis2", "servers", "add", "training", "--url",
                                 dhis2_server.url, "--timeout", "2"],
                           env={"FLEET_DHIS2_TOKEN": dhis2_server.token})
    assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["dhis2", "servers", "list"])
    assert "training" in listed.output and dhis2_server.token not in listed.output
    raw = db.session.scalar(select(Dhis2Server.id))
    assert raw is not None

    dry = runner.invoke(args=["dhis2", "import-orgunits", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "261 org units in DHIS2: 261 new" in dry.output and "(dry run)" in dry.output
    assert count(db, OrgUnit) == 0
    done = runner.invoke(args=["dhis2", "import-orgunits", "--server", "training"])
    assert done.exit_code == 0 and count(db, OrgUnit) == 261
    again = runner.invoke(args=["dhis2", "import-orgunits"])
    assert "0 new, 0 linked, 0 updated (0 moved), 261 unchanged" in again.output

    assert runner.invoke(args=["dhis2", "import-usergroups"]).exit_code == 0
    made = runner.invoke(args=["dhis2", "profiles", "set", "field", "--data-sync", "12h",
                               "--encrypt-db", "true"])
    assert made.exit_code == 0 and "field v1" in made.output
    bad = runner.invoke(args=["dhis2", "profiles", "set", "field", "--data-sync", "2h"])
    assert bad.exit_code == 1 and "data_sync" in bad.output
    preview = runner.invoke(args=["dhis2", "publish-settings", "field", "--dry-run"])
    assert "synchronization.dataSync: None -> '12h'" in preview.output
    assert NS not in dhis2_server.datastore()
    published = runner.invoke(args=["dhis2", "publish-settings", "field"])
    assert published.exit_code == 0 and "written and verified" in published.output
    assert dhis2_server.datastore()[NS]["synchronization"]["dataSync"] == "12h"

    dhis2_server.set_faults(fail_next=50, fail_status=500)
    failed = runner.invoke(args=["dhis2", "import-orgunits"])
    assert failed.exit_code == 1 and "HTTP 500 even after retrying" in failed.output


def test_server_edit_page_keeps_a_blank_secret(client, db, login, server_row, dhis2_server):
    login("admin")
    resp = client.post(f"/dhis2/servers/{server_row.id}/edit", data={
        "name": "production", "base_url": dhis2_server.url, "auth_kind": "token", "token": "",
        "timeout_seconds": "7", "verify_tls": "on", "is_default": "on"})
    assert resp.status_code == 302, resp.data
    db.session.expire_all()
    server = db.session.get(Dhis2Server, server_row.id)
    assert server.timeout_seconds == 7 and server.token == dhis2_server.token
    bad = client.post(f"/dhis2/servers/{server_row.id}/edit", data={
        "name": "production", "base_url": "http://dhis2.example.org", "auth_kind": "token"})
    assert bad.status_code == 422 and b"https" in bad.data

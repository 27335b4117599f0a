"""No secret in the logs: a small end-to-end flow through the API (staff login, an API token
issued and used, a SIM with PIN and PUK, a DHIS2 server with a personal access token checked
against the DHIS2 test server of tests/dhis2, a provisioning profile with a PIN, an APK
channel download token and a device health token used) with every logger at DEBUG; none of
the secrets it used may appear in any log record."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import pytest
from fleet_testing import PASSWORD, make_iccid

_DHIS2_TESTS = str(Path(__file__).resolve().parents[1] / "dhis2")
if _DHIS2_TESTS not in sys.path:
    sys.path.insert(0, _DHIS2_TESTS)

from dhis2_fixtures import dhis2_server  # noqa: E402, F401

SIM_PIN = "97531"
SIM_PUK = "86420913"
PROFILE_PIN = "583914"


def _appears(secret: str, text: str) -> bool:
    """``secret`` in ``text``, digits-only secrets only as a whole number."""
    if secret.isdigit():
        return re.search(rf"(?<!\d){secret}(?!\d)", text) is not None
    return secret in text


@pytest.mark.slow
def test_secrets_used_in_a_flow_never_reach_the_logs(app, client, create_user, db, caplog,
                                                     dhis2_server, monkeypatch):  # noqa: F811
    monkeypatch.setitem(app.config, "DHIS2_BACKOFF_SECONDS", 0.01)
    caplog.set_level(logging.DEBUG)
    for name in ("fleet", "werkzeug", "urllib3", "requests", "sqlalchemy.engine"):
        caplog.set_level(logging.DEBUG, logger=name)
    user = create_user("admin")
    assert client.post("/auth/login", data={"username": user.username,
                                            "password": PASSWORD}).status_code == 302
    resp = client.post("/api/v1/tokens", json={"name": "script"})
    assert resp.status_code == 201, resp.json
    api_token = resp.json["token"]
    client.post("/auth/logout")
    client = app.test_client()  # a script: no cookies (a session cookie would shadow the token)
    h = {"Authorization": f"Bearer {api_token}"}
    assert client.get("/api/v1/me", headers=h).status_code == 200

    resp = client.post("/api/v1/sims", headers=h, json={
        "iccid": make_iccid(424242), "carrier": "Orange", "sim_pin": SIM_PIN,
        "sim_puk": SIM_PUK})
    assert resp.status_code == 201, resp.json
    resp = client.post("/api/v1/sims", headers=h, json={
        "iccid": make_iccid(424243), "sim_pin": "12ab"})
    assert resp.status_code == 422  # a refused secret is not echoed into the logs either

    resp = client.post("/api/v1/dhis2/servers", headers=h, json={
        "name": "sec", "base_url": dhis2_server.url, "auth_kind": "token",
        "token": dhis2_server.token, "timeout_seconds": 5})
    assert resp.status_code == 201, resp.json
    resp = client.post("/api/v1/dhis2/servers/sec/check", headers=h)
    assert resp.status_code == 200, resp.json

    resp = client.post("/api/v1/apk/channels", headers=h, json={"name": "sec-logs"})
    assert resp.status_code == 201, resp.json
    resp = client.post("/api/v1/apk/channels/sec-logs/tokens", headers=h, json={})
    assert resp.status_code == 201, resp.json
    download_token = resp.json["token"]
    resp = client.post("/api/v1/provisioning/profiles", headers=h, json={
        "name": "sec-profile", "channel_name": "sec-logs", "pin_policy": "profile",
        "pin": PROFILE_PIN})
    assert resp.status_code == 201, resp.json
    assert client.get("/install/sec-logs",
                      headers={"Authorization": f"Bearer {download_token}"}).status_code == 200

    resp = client.post("/api/v1/devices", headers=h, json={})
    assert resp.status_code == 201, resp.json
    tag = resp.json["asset_tag"]
    resp = client.post(f"/api/v1/devices/{tag}/health-tokens", headers=h)
    assert resp.status_code == 201, resp.json
    health_token = resp.json["token"]
    resp = client.post(f"/api/v1/devices/{tag}/health",
                       headers={"Authorization": f"Bearer {health_token}"}, json={})
    assert resp.status_code < 500

    secrets = {"password": PASSWORD, "api token": api_token, "SIM PIN": SIM_PIN,
               "SIM PUK": SIM_PUK, "DHIS2 token": dhis2_server.token,
               "profile PIN": PROFILE_PIN, "download token": download_token,
               "health token": health_token, "secret key": app.config["SECRET_KEY"]}
    records = caplog.records
    assert len(records) > 10, "the flow logged (nothing to grep otherwise)"
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in records)
    leaked = [name for name, value in secrets.items() if _appears(value, text)]
    assert not leaked, f"secrets in the logs: {leaked}"

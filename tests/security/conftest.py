"""Fixtures for the security tests: a small world of real rows (``world``) and the callers
of the authorization matrix (``callers``): one logged-in session per role, anonymous,
wrong-scope tokens (APK channel download token, device health push token, the metrics token)
and an expired and a revoked staff API token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fleet_testing import PASSWORD

from fleet.auth.models import ROLES

#: Config METRICS_TOKEN set while the matrix runs (the metrics endpoint answers 404 without).
METRICS_TOKEN = "sec-metrics-token-6f1d2c"


@dataclass
class World:
    """Ids and names of the rows the matrix fills URL parameters with."""

    device_tag: str = ""
    device_id: int = 0
    sim_iccid: str = ""
    holder_id: int = 0
    unit_id: int = 0
    channel_id: int = 0
    channel_name: str = ""
    release_id: int = 0
    release_sha256: str = ""
    release_package: str = ""
    target_user_id: int = 0
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture()
def world(db, create_device, create_sim, create_holder, district, create_user):
    """Rows for URL parameters and the plain wrong-scope/expired/revoked tokens."""
    from fleet.apk import operations as apk_ops
    from fleet.apk.models import Release
    from fleet.auth.operations import issue_token, revoke_token
    from fleet.reports import operations as health_ops
    from fleet.timeutil import utcnow

    device = create_device()
    sim = create_sim()
    holder = create_holder()
    channel = apk_ops.create_channel({"name": "sec-field"}, actor=None)
    # A release row in a servable status whose file is not in the store: an authorized
    # download gets past the checks and ends in 404, an unauthorized one in 401/403.
    release = Release(package="org.example.sec", version_code=7, version_name="1.0",
                      sha256="ab" * 32, size=100, file_name="sec.apk", status="approved")
    db.session.add(release)
    db.session.flush()
    _chan_tok, channel_token = apk_ops.issue_download_token(channel=channel, actor=None)
    _health_tok, health_token = health_ops.issue_token(device, actor=None)
    admin = create_user("admin")
    expired, expired_plain = issue_token(admin, "expired", actor=None)
    expired.expires_at = utcnow() - timedelta(minutes=1)
    revoked, revoked_plain = issue_token(admin, "revoked", actor=None)
    revoke_token(revoked.id, actor=None)
    target = create_user("viewer")
    db.session.commit()
    return World(
        device_tag=device.asset_tag, device_id=device.id, sim_iccid=sim.iccid,
        holder_id=holder.id, unit_id=district.id, channel_id=channel.id,
        channel_name=channel.name, release_id=release.id, release_sha256=release.sha256,
        release_package=release.package, target_user_id=target.id,
        tokens={"channel_token": channel_token, "health_token": health_token,
                "metrics_token": METRICS_TOKEN, "expired_token": expired_plain,
                "revoked_token": revoked_plain})


@pytest.fixture()
def caller_client(app, client, create_user, world, monkeypatch):
    """caller_client(caller) -> (test client, headers) acting as that caller: roles log in
    with a session, token callers send ``Authorization: Bearer``."""
    monkeypatch.setitem(app.config, "METRICS_TOKEN", METRICS_TOKEN)

    def make(caller: str):
        if caller in ROLES:
            user = create_user(caller)
            resp = client.post("/auth/login",
                               data={"username": user.username, "password": PASSWORD})
            assert resp.status_code == 302, resp.data
            return client, {}
        if caller == "anonymous":
            return client, {}
        return client, {"Authorization": f"Bearer {world.tokens[caller]}"}

    return make

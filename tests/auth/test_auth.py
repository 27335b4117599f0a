"""Login, roles, API tokens, CSRF, lockout and security headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_testing import PASSWORD, make_imei, make_test_app

from fleet.auth.models import User


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_login_logout_and_wrong_password(client, create_user):
    user = create_user("viewer")
    bad = client.post("/auth/login", data={"username": user.username, "password": "nope-nope-1"})
    assert bad.status_code == 401 and b"Wrong username or password" in bad.data
    ok = client.post("/auth/login", data={"username": user.username, "password": PASSWORD})
    assert ok.status_code == 302
    assert client.get("/devices").status_code == 200
    client.post("/auth/logout")
    assert client.get("/devices").status_code == 302  # back to login


def test_open_redirect_refused(client, create_user):
    user = create_user("viewer")
    resp = client.post(
        "/auth/login?next=https://evil.example/x",
        data={"username": user.username, "password": PASSWORD},
    )
    assert resp.headers["Location"] == "/"


def test_lockout_after_repeated_failures(client, create_user, db):
    user = create_user("logistics")
    for _ in range(5):
        client.post("/auth/login", data={"username": user.username, "password": "wrong-wrong"})
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until is not None
    resp = client.post("/auth/login", data={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 401  # locked even with the right password


def test_viewer_cannot_change_anything(client, token_for):
    tok = token_for("viewer")
    assert client.get("/api/v1/devices", headers=bearer(tok)).status_code == 200
    resp = client.post("/api/v1/devices", json={"imei": make_imei(5)}, headers=bearer(tok))
    assert resp.status_code == 403 and resp.json["error"]["code"] == "forbidden"


def test_technician_cannot_manage_users(client, token_for):
    tok = token_for("technician")
    resp = client.post(
        "/api/v1/users",
        json={"username": "x", "password": "long-enough-pw", "role": "viewer"},
        headers=bearer(tok),
    )
    assert resp.status_code == 403


def test_anonymous_api_gets_401_json(client):
    resp = client.get("/api/v1/devices")
    assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized"


def test_token_issue_use_revoke(client, login, db):
    login("logistics")
    created = client.post("/api/v1/tokens", json={"name": "script"})
    assert created.status_code == 201
    plain = created.json["token"]
    assert plain.startswith("flt_") and created.json["prefix"] == plain[:8]
    from sqlalchemy import select

    from fleet.auth.models import ApiToken

    row = db.session.scalar(select(ApiToken).where(ApiToken.id == created.json["id"]))
    assert row.token_hash != plain and len(row.token_hash) == 64  # only the SHA-256 is stored
    other = client.application.test_client()
    assert other.get("/api/v1/me", headers=bearer(plain)).json["role"] == "logistics"
    revoked = client.delete(f"/api/v1/tokens/{created.json['id']}")
    assert revoked.status_code == 200, revoked.json
    assert other.get("/api/v1/me", headers=bearer(plain)).status_code == 401


def test_expired_token_refused(client, create_user, db):
    from datetime import timedelta

    from fleet.auth.operations import issue_token
    from fleet.timeutil import utcnow

    user = create_user("viewer")
    tok, plain = issue_token(user, "old", actor=None, expires_days=1)
    tok.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 401


def test_password_policy(client, token_for):
    resp = client.post(
        "/api/v1/users",
        json={"username": "shorty", "password": "short", "role": "viewer"},
        headers=bearer(token_for()),
    )
    assert resp.status_code == 422 and "password" in resp.json["error"]["fields"]


def test_admin_manages_users_in_browser_pages(client, login, db):
    login("admin")
    resp = client.post(
        "/auth/users",
        data={
            "username": "fatou",
            "password": "a-good-password",
            "role": "logistics",
            "display_name": "Fatou Sow",
        },
    )
    assert resp.status_code == 302
    page = client.get("/auth/users").get_data(as_text=True)
    assert "fatou" in page and "Fatou Sow" in page


def test_security_headers(client):
    resp = client.get("/auth/login")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    https = client.get("/auth/login", base_url="https://localhost")
    assert https.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.fixture()
def strict_app(tmp_path, app):
    """An app with CSRF, rate limits and secure cookies on, as in production."""
    from fleet.cli import upgrade_database

    strict = make_test_app(
        tmp_path,
        f"sqlite:///{tmp_path / 'strict.sqlite3'}",
        WTF_CSRF_ENABLED=True,
        RATELIMIT_ENABLED=True,
        SESSION_COOKIE_SECURE=True,
        LOGIN_RATE_LIMIT="3 per minute",
    )
    with strict.app_context():
        upgrade_database()
        from fleet.auth.operations import create_user
        from fleet.extensions import db

        create_user("boss", PASSWORD, "admin", actor=None)
        db.session.commit()
    return strict


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_csrf_required_on_forms_and_cookie_api(strict_app):
    c = strict_app.test_client()
    base = "https://localhost"
    c.post("/auth/login", data={"username": "boss", "password": PASSWORD}, base_url=base)
    assert "/auth/login" in c.get("/devices", base_url=base).headers["Location"]  # refused
    token = _csrf(c.get("/auth/login", base_url=base).get_data(as_text=True))
    # Flask-WTF also checks the Referer on HTTPS (WTF_CSRF_SSL_STRICT); browsers send it.
    resp = c.post(
        "/auth/login",
        data={"username": "boss", "password": PASSWORD, "csrf_token": token},
        base_url=base,
        headers={"Referer": f"{base}/auth/login"},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    cookie = next(v for v in resp.headers.getlist("Set-Cookie") if v.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # The API with the session cookie needs the CSRF header...
    resp = c.post("/api/v1/tokens", json={"name": "x"}, base_url=base)
    assert resp.status_code == 400 and "CSRF" in resp.json["error"]["message"]
    page = c.get("/auth/tokens", base_url=base).get_data(as_text=True)
    resp = c.post(
        "/api/v1/tokens", json={"name": "x"}, base_url=base, headers={"X-CSRFToken": _csrf(page)}
    )
    assert resp.status_code == 201
    # ...a bearer token does not.
    other = strict_app.test_client()
    resp = other.post(
        "/api/v1/tokens", json={"name": "y"}, base_url=base, headers=bearer(resp.json["token"])
    )
    assert resp.status_code == 201


def test_login_rate_limited(strict_app):
    c = strict_app.test_client()
    statuses = [
        c.post(
            "/auth/login", data={"username": "boss", "password": "x"}, base_url="https://localhost"
        ).status_code
        for _ in range(5)
    ]
    assert 429 in statuses


def test_session_id_changes_on_login(strict_app):
    """No session fixation: the session cookie set before login is not the one after."""
    c = strict_app.test_client()
    base = "https://localhost"
    c.get("/auth/login", base_url=base)
    before = c.get_cookie("session", domain="localhost")
    token = _csrf(c.get("/auth/login", base_url=base).get_data(as_text=True))
    c.post(
        "/auth/login",
        data={"username": "boss", "password": PASSWORD, "csrf_token": token},
        base_url=base,
        headers={"Referer": f"{base}/auth/login"},
    )
    after = c.get_cookie("session", domain="localhost")
    assert after is not None and (before is None or before.value != after.value)


def test_secrets_generated_once_and_private(tmp_path):
    app1 = make_test_app(
        tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}", SECRET_KEY="", ENCRYPTION_KEY=""
    )
    app2 = make_test_app(
        tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}", SECRET_KEY="", ENCRYPTION_KEY=""
    )
    assert app1.config["ENCRYPTION_KEY"] == app2.config["ENCRYPTION_KEY"]
    assert (Path(tmp_path) / "fernet.key").stat().st_mode & 0o777 == 0o600


def test_token_lookup_never_discards_the_handlers_pending_writes(app, db, create_user):
    """Flask-Login loads the token's user lazily, possibly after the handler has written."""
    from sqlalchemy import select

    from fleet.auth.operations import issue_token, user_for_token
    from fleet.inventory.models import OrgUnit

    user = create_user("logistics")
    _tok, plain = issue_token(user, "t", actor=None)
    db.session.commit()
    with app.test_request_context("/api/v1/org-units", method="POST"):
        db.session.add(OrgUnit(name="Pending", level=1, path="/"))
        db.session.flush()
        assert user_for_token(plain).id == user.id
        db.session.commit()
    assert db.session.scalar(select(OrgUnit).where(OrgUnit.name == "Pending")) is not None


def test_token_last_used_recorded_on_reads(client, token_for, db):
    from sqlalchemy import select

    from fleet.auth.models import ApiToken

    tok = token_for("viewer")
    assert client.get("/api/v1/me", headers=bearer(tok)).status_code == 200
    db.session.expire_all()
    row = db.session.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
    assert row.last_used_at is not None


def test_bearer_token_wins_over_a_cookie_session_without_login(strict_app):
    """A script whose HTTP client kept a cookie from an HTML page still authenticates by its
    token (strong session protection must not hide the token)."""
    from sqlalchemy import select

    from fleet.auth.models import User
    from fleet.auth.operations import issue_token
    from fleet.extensions import db as _db

    with strict_app.app_context():
        boss = _db.session.scalar(select(User).where(User.username == "boss"))
        _tok, plain = issue_token(boss, "script", actor=None)
        _db.session.commit()
    c = strict_app.test_client()
    base = "https://localhost"
    c.get("/auth/login", base_url=base)  # sets a session cookie holding only a CSRF token
    assert c.get_cookie("session", domain="localhost") is not None
    resp = c.get("/api/v1/me", base_url=base, headers=bearer(plain))
    assert resp.status_code == 200 and resp.json["username"] == "boss"
    assert c.get("/api/v1/me", base_url=base, headers=bearer("flt_nope")).status_code == 401

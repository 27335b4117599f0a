"""Security headers on every page and API answer, CSRF on every HTML form POST, and session
fixation on login. The endpoint lists come from the URL map (``matrix_requests``)."""

from __future__ import annotations

import pytest
from fleet_testing import PASSWORD
from matrix_requests import build_url, endpoint_keys


def _check_headers(key: str, resp, *, https: bool) -> list[str]:
    problems = []
    csp = resp.headers.get("Content-Security-Policy", "")
    script = next((part.strip() for part in csp.split(";")
                   if part.strip().startswith(("script-src", "default-src"))
                   and "script-src" in part), "")
    if not csp:
        problems.append("no Content-Security-Policy")
    elif "'unsafe-inline'" in script or "'unsafe-eval'" in script or not script:
        problems.append(f"script-src allows inline script or is missing: {csp!r}")
    if "frame-ancestors 'none'" not in csp or resp.headers.get("X-Frame-Options") != "DENY":
        problems.append("framing not denied")
    if resp.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    hsts = resp.headers.get("Strict-Transport-Security", "")
    if https and "max-age=" not in hsts:
        problems.append("no Strict-Transport-Security over HTTPS")
    if https and hsts:
        age = int(hsts.split("max-age=")[1].split(";")[0])
        if age < 15552000:  # 180 days, the floor of the HSTS preload list requirements
            problems.append(f"HSTS max-age {age} under 180 days")
    return [f"{key} -> {resp.status_code}: {p}" for p in problems]


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_security_headers_on_every_page_and_api_answer(app, login, world, https):
    """Every GET endpoint, as an admin (and anonymously, for the refusals and the login
    page): CSP without inline script, framing denied, nosniff, HSTS on HTTPS only."""
    base = "https://localhost" if https else "http://localhost"
    problems = []
    admin = app.test_client()
    anonymous = app.test_client()
    user = login("admin")  # creates the user; log this client in too
    resp = admin.post("/auth/login", base_url=base,
                      data={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 302
    checked = 0
    for key, rule in endpoint_keys(app):
        method, _path = key.split(" ", 1)
        if method != "GET":
            continue
        url = build_url(rule, world)
        for client in (admin, anonymous):
            resp = client.get(url, base_url=base)
            problems += _check_headers(key, resp, https=https)
            checked += 1
        if not https:
            assert "Strict-Transport-Security" not in resp.headers, key
    assert checked > 100
    assert not problems, "\n".join(problems)


def _html_posts(app):
    return [(key, rule) for key, rule in endpoint_keys(app)
            if key.startswith("POST ") and not rule.rule.startswith("/api/")]


def test_every_html_form_post_without_csrf_token_is_refused(app, client, login, world,
                                                            monkeypatch):
    """With CSRF on (as in production), every HTML POST of a logged-in admin without a token
    answers the CSRF refusal (400 ``csrf`` when JSON is asked for) and changes nothing."""
    from fleet.extensions import db

    login("admin")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    audit_rows = db.session.execute(db.text("SELECT COUNT(*) FROM audit_log")).scalar_one()
    problems = []
    posts = _html_posts(app)
    posts.sort(key=lambda kv: kv[0] == "POST /auth/logout")
    for key, rule in posts:
        resp = client.post(build_url(rule, world), data={"name": "x"},
                           headers={"Accept": "application/json"})
        body = resp.get_json(silent=True) or {}
        if resp.status_code != 400 or body.get("error", {}).get("code") != "csrf":
            problems.append(f"{key}: {resp.status_code} {resp.headers.get('Location', '')}")
    assert len(posts) > 30
    assert not problems, "HTML POSTs accepted without a CSRF token:\n" + "\n".join(problems)
    after = db.session.execute(db.text("SELECT COUNT(*) FROM audit_log")).scalar_one()
    assert after == audit_rows


def test_login_with_csrf_token_works_and_without_is_refused(app, client, create_user,
                                                           monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = create_user("viewer")
    resp = client.post("/auth/login", data={"username": user.username, "password": PASSWORD})
    assert resp.status_code in (302, 400)
    assert client.get("/dashboard").status_code == 302  # still anonymous
    page = client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/auth/login", data={"username": user.username, "password": PASSWORD,
                                            "csrf_token": token})
    assert resp.status_code == 302 and "/auth/login" not in resp.headers["Location"]
    assert client.get("/dashboard").status_code == 200


def test_session_changes_on_login_and_a_pre_login_cookie_stays_anonymous(
        app, client, create_user, monkeypatch):
    """Session fixation: the cookie an attacker could plant before login (here: the one the
    login page set) is not the one that carries the login, and replaying it later gives no
    access."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = create_user("admin")
    page = client.get("/auth/login")
    before = client.get_cookie("session")
    assert before is not None, "the login page sets a session (CSRF token)"
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/auth/login", data={"username": user.username, "password": PASSWORD,
                                            "csrf_token": token})
    assert resp.status_code == 302
    after = client.get_cookie("session")
    assert after is not None and after.value != before.value
    assert client.get("/dashboard").status_code == 200
    attacker = app.test_client()
    attacker.set_cookie("session", before.value)
    resp = attacker.get("/dashboard")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]

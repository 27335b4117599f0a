"""Ids beyond the database's integer are refused at the edge, on SQLite and PostgreSQL.

A path id out of 1..2**31 - 1 (PostgreSQL ``integer``) gets the 404 an unknown id gets (the
``int`` converter of every route is ``fleet.forms.IdConverter``); an id field in a body out of
that range gets 422 naming the field (``fleet.forms.Id``). Before, both reached the database and
overflowed it: a 500 (found by tests/security/test_api_fuzz.py).
"""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from fleet.forms import ID_MAX, IdConverter

#: Path ids that are no row's id: zero, just past PostgreSQL ``integer``, past SQLite's 64 bits,
#: and more digits than Python's int() takes from a string (4,300).
BAD_PATH_IDS = ("0", str(ID_MAX + 1), str(2**63), str(2**64 + 1), "9" * 5000)


def _int_rules(app):
    """(rule, {argument: converter}) for every route with an integer argument."""
    for rule in app.url_map.iter_rules():
        ints = {k: c for k, c in rule._converters.items() if isinstance(c, IntegerConverter)}
        if ints:
            yield rule, ints


def test_every_integer_route_argument_is_bounded(app):
    rules = list(_int_rules(app))
    assert len(rules) > 40  # web and API (fleet had 47 ``<int:...>`` routes)
    for rule, ints in rules:
        for name, conv in ints.items():
            assert type(conv) is IdConverter, (rule.rule, name)
            assert (conv.min, conv.max) == (1, ID_MAX), (rule.rule, name)


def test_openapi_document_shows_the_id_bounds(client):
    doc = client.get("/api/v1/openapi.json").json
    param = next(p for p in doc["paths"]["/api/v1/holders/{holder_id}"]["parameters"]
                 if p["name"] == "holder_id")
    assert (param["schema"]["minimum"], param["schema"]["maximum"]) == (1, ID_MAX)
    body = doc["components"]["schemas"]["CheckoutArgs"]["properties"]["holder_id"]
    assert (body["minimum"], body["maximum"]) == (1, ID_MAX)


@pytest.mark.parametrize("bad", BAD_PATH_IDS, ids=lambda s: s if len(s) < 30 else "5000-digits")
def test_out_of_range_path_id_is_404_like_an_unknown_id(client, token_for, create_holder, bad):
    auth = {"Authorization": f"Bearer {token_for('admin')}"}
    holder = create_holder("Awa Ndiaye")
    assert client.get(f"/api/v1/holders/{holder.id}", headers=auth).status_code == 200
    for url in (f"/api/v1/holders/{bad}", f"/api/v1/apk/releases/{bad}",
                f"/api/v1/agreements/{bad}", f"/api/v1/org-units/{bad}"):
        resp = client.get(url, headers=auth)
        assert resp.status_code == 404, (url[:60], resp.status_code)
        assert resp.json["error"]["code"] == "not_found"
    for url in (f"/api/v1/apk/releases/{bad}/revet", f"/api/v1/scan-audits/{bad}/close"):
        assert client.post(url, headers=auth, json={}).status_code == 404, url[:60]


@pytest.mark.parametrize("bad", BAD_PATH_IDS[:3])
def test_out_of_range_path_id_on_html_pages_is_404(client, login, bad):
    login("admin")
    for url in (f"/holders/{bad}", f"/agreements/{bad}", f"/apk/releases/{bad}",
                f"/provisioning/runs/{bad}"):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("bad", (0, -1, ID_MAX + 1, 2**63, 2**70))
def test_out_of_range_id_in_a_body_is_422_naming_the_field(client, token_for, create_device,
                                                           bad):
    auth = {"Authorization": f"Bearer {token_for('admin')}"}
    resp = client.post("/api/v1/org-units", headers=auth, json={"name": "Pikine", "parent_id": bad})
    assert resp.status_code == 422, resp.json
    assert list(resp.json["error"]["fields"]) == ["parent_id"]
    device = create_device()
    resp = client.post(f"/api/v1/devices/{device.asset_tag}/checkout", headers=auth,
                       json={"holder_id": bad})
    assert resp.status_code == 422 and list(resp.json["error"]["fields"]) == ["holder_id"]
    resp = client.post("/api/v1/apk/channels", headers=auth,
                       json={"name": "district-x", "org_unit_ids": [bad]})
    assert resp.status_code == 422, resp.json
    assert list(resp.json["error"]["fields"]) == ["org_unit_ids.0"]
    assert resp.json["error"]["fields"]["org_unit_ids.0"][0].startswith("Must be greater")


@pytest.mark.parametrize("page", (2, 2**31, 2**62, 2**70))
def test_a_page_past_the_end_is_empty_however_far(client, token_for, create_device, page):
    auth = {"Authorization": f"Bearer {token_for('admin')}"}
    create_device()
    resp = client.get(f"/api/v1/devices?page={page}&per_page=500", headers=auth)
    assert resp.status_code == 200, resp.json
    assert resp.json["items"] == [] and resp.json["meta"]["page"] == page
    assert resp.json["meta"]["total"] >= 1


def test_nul_character_is_refused_at_the_edge(client, token_for):
    """PostgreSQL text cannot hold NUL: 400 before any query (was a 500 on PostgreSQL)."""
    auth = {"Authorization": f"Bearer {token_for('admin')}"}
    resp = client.get("/api/v1/audit?action=a%00b", headers=auth)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "bad_request"
    resp = client.post("/api/v1/org-units", headers=auth, json={"name": "Pik\u0000ine"})
    assert resp.status_code == 400
    assert client.get("/api/v1/audit?action=create", headers=auth).status_code == 200


def test_html_forms_with_out_of_range_ids_or_days_answer_not_a_500(client, login, db,
                                                                    create_device):
    """Ids and day counts posted by HTML forms are bounded like the API's: an id beyond
    PostgreSQL's ``integer`` is "not found", a token lifetime beyond MAX_TOKEN_DAYS is refused
    with the reason, and nothing is written."""
    from sqlalchemy import func, select

    from fleet.apk.models import DownloadToken
    from fleet.auth.models import ApiToken

    user = login("admin")
    device = create_device()
    huge = str(2**40)
    assert client.post(f"/devices/{device.asset_tag}/checkout",
                       data={"holder_id": huge}).status_code == 404
    resp = client.post("/apk/channels", data={"name": "district-b"})
    channel_url = resp.headers["Location"]
    assert client.post(f"{channel_url}/revoke", data={"token_id": huge}).status_code == 404
    page = client.post(f"{channel_url}/release", data={"release_id": huge},
                       follow_redirects=True).get_data(as_text=True)
    assert "No release 0." in page
    refusals = {huge: "Expiry must be from 1 to 3650 days.", "4000": "Expiry must be from 1",
                "-3": "Expiry must be from 1", "soon": "Not a whole number: soon",
                "9" * 40: "Not a whole number"}
    for days, message in refusals.items():
        page = client.post(f"{channel_url}/token", data={"label": "x", "expires_days": days},
                           follow_redirects=True).get_data(as_text=True)
        assert message in page, days
    assert db.session.scalar(select(func.count()).select_from(DownloadToken)) == 0
    before = db.session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id))
    for days, message in refusals.items():
        page = client.post("/auth/tokens", data={"name": "laptop", "expires_days": days},
                           follow_redirects=True).get_data(as_text=True)
        assert message in page, days
    assert db.session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id)) == before

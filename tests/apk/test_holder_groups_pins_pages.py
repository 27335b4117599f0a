"""Pages for holder groups (create, add and remove members) and signer pins (list, re-pin),
which the API had and the web did not: results checked through the API and the audit log."""

from __future__ import annotations

import re

from sqlalchemy import select

from fleet.audit.models import AuditEntry

CERT = "ab" * 32


def _api(client, token, path):
    resp = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.json
    return resp.json


def _group_id(location: str) -> int:
    return int(re.search(r"/apk/holder-groups/(\d+)$", location).group(1))


def test_create_group_search_add_and_remove_members(client, login, staff, db, district,
                                                    create_holder, make_channel):
    amina = create_holder("Amina Diallo", org_unit_id=district.id)
    create_holder("Awa Ndiaye", org_unit_id=district.id)
    create_holder("Moussa Ba")  # no org unit: not in the district search
    _u, token = staff("viewer")
    login("admin")
    resp = client.post("/apk/holder-groups", data={"name": "Superviseurs pilotes"})
    assert resp.status_code == 302
    gid = _group_id(resp.headers["Location"])

    page = client.get(f"/apk/holder-groups/{gid}?district={district.name}").get_data(as_text=True)
    found = re.findall(r'name="add_ids" value="(\d+)"', page)
    assert len(found) == 2 and "Moussa Ba" not in page
    resp = client.post(f"/apk/holder-groups/{gid}", data={"action": "add", "add_ids": found})
    assert resp.status_code == 302
    groups = {g["name"]: g for g in _api(client, token, "/api/v1/apk/holder-groups")}
    assert sorted(groups["Superviseurs pilotes"]["holder_ids"]) == sorted(map(int, found))

    # a member is no longer offered in the search, and can be removed
    page = client.get(f"/apk/holder-groups/{gid}?q=Amina").get_data(as_text=True)
    assert "No holder found." in page
    assert f'name="remove_ids" value="{amina.id}"' in page
    client.post(f"/apk/holder-groups/{gid}", data={"action": "remove", "remove_ids": amina.id})
    groups = {g["name"]: g for g in _api(client, token, "/api/v1/apk/holder-groups")}
    assert amina.id not in groups["Superviseurs pilotes"]["holder_ids"]
    assert len(groups["Superviseurs pilotes"]["holder_ids"]) == 1

    actions = db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.entity_type == "holder_group", AuditEntry.entity_id == str(gid))).all()
    assert actions.count("holder_group.members") == 2 and "holder_group.create" in actions

    # the group can then scope a channel, and its page names that channel
    make_channel("pilot", holder_group_ids=[gid])
    assert "pilot" in client.get(f"/apk/holder-groups/{gid}").get_data(as_text=True)


def test_bad_or_unknown_member_ids_are_refused_and_change_nothing(client, login, staff,
                                                                  create_holder):
    holder = create_holder("Fatou Sow")
    _u, token = staff("viewer")
    login("admin")
    gid = _group_id(client.post("/apk/holder-groups", data={"name": "g1"}).headers["Location"])
    client.post(f"/apk/holder-groups/{gid}", data={"action": "add", "add_ids": holder.id})
    for bad, message in (("abc", "Not an id: abc"), ("-4", "Not an id: -4"),
                         ("99999999999", "Not an id: 99999999999"),
                         ("999999", "Unknown holder 999999.")):
        resp = client.post(f"/apk/holder-groups/{gid}", data={"action": "add", "add_ids": bad},
                           follow_redirects=True)
        assert resp.status_code == 200
        assert message in resp.get_data(as_text=True)
        group = _api(client, token, "/api/v1/apk/holder-groups")[0]
        assert group["holder_ids"] == [holder.id], bad
    # a taken name is refused too
    page = client.post("/apk/holder-groups", data={"name": "g1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "exists" in page
    assert len(_api(client, token, "/api/v1/apk/holder-groups")) == 1


def test_viewers_see_groups_and_pins_but_cannot_change_them(client, login):
    login("viewer")
    page = client.get("/apk/holder-groups").get_data(as_text=True)
    assert "New holder group" not in page
    assert client.post("/apk/holder-groups", data={"name": "x"}).status_code == 403
    page = client.get("/apk/pins").get_data(as_text=True)
    assert "Re-pin a package" not in page
    assert client.post("/apk/pins", data={"package": "com.dhis2", "cert_sha256": CERT,
                                          "reason": "r"}).status_code == 403


def test_repin_page_refuses_bad_input_then_pins(client, login, staff):
    _u, token = staff("viewer")
    login("logistics")
    assert client.post("/apk/pins", data={"package": "com.dhis2", "cert_sha256": CERT,
                                          "reason": "r"}).status_code == 403
    login("admin")
    page = client.post("/apk/pins", data={"package": "com.dhis2", "cert_sha256": "12:34",
                                          "reason": "new key"}).get_data(as_text=True)
    assert "Not a SHA-256 certificate digest." in page
    assert 'value="new key"' not in page and "new key" in page  # the form keeps what was typed
    page = client.post("/apk/pins", data={"package": "com.dhis2", "cert_sha256": CERT,
                                          "reason": " "}).get_data(as_text=True)
    assert "A reason is required." in page
    assert _api(client, token, "/api/v1/apk/pins") == []

    colons = ":".join(CERT[i:i + 2].upper() for i in range(0, 64, 2))
    resp = client.post("/apk/pins", data={"package": "com.dhis2", "cert_sha256": colons,
                                          "reason": "Clé perdue, nouvelle clé"})
    assert resp.status_code == 302
    pins = _api(client, token, "/api/v1/apk/pins")
    assert [(p["package"], p["cert_sha256"]) for p in pins] == [("com.dhis2", CERT)]
    page = client.get("/apk/pins").get_data(as_text=True)
    assert CERT in page and "Clé perdue, nouvelle clé" in page


def test_channel_form_with_a_non_numeric_id_is_refused_not_a_500(client, login, staff):
    _u, token = staff("viewer")
    login("admin")
    resp = client.post("/apk/channels", data={"name": "c1", "org_unit_ids": "x"},
                       follow_redirects=True)
    assert resp.status_code == 200
    assert "Not an id" in resp.get_data(as_text=True)
    assert _api(client, token, "/api/v1/apk/channels") == []

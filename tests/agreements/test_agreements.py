"""Agreements: lifecycle with its step history and audit, illegal moves, the two-copy PDF,
signatures with the SHA-256 of the text shown, scan uploads checked from the bytes, the
follow-up list of stuck agreements, versioned terms."""

from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from agreement_testing import pdf_text, signature_png
from sqlalchemy import func, select

from fleet.agreements import operations as ops
from fleet.agreements.models import Agreement, AgreementScan, AgreementSignature, AgreementStep
from fleet.audit.models import AuditEntry
from fleet.errors import Conflict, IllegalTransition, InvalidInput


def _user(create_user, role="logistics"):
    return create_user(role)


def test_create_prefills_from_device_holder_sim_and_district(db, checked_out, create_user, place):
    district, facility = place
    device = checked_out(model="Galaxy A12")
    user = _user(create_user)
    agreement = ops.create_agreement(
        device,
        actor=user,
        accessories=[{"kind": "Power bank", "description": "Anker 10,000 mAh", "serial": "PB-778"}],
    )
    db.session.commit()
    assert agreement.number == device.box_number
    assert agreement.holder.name == device.holder.name
    assert agreement.sim.iccid == device.current_sims[0].iccid
    assert (agreement.district_name, agreement.facility_name) == (district.name, facility.name)
    assert agreement.ownership == "institution" and agreement.status == "draft"
    assert agreement.terms_text == ops.current_template("institution").text
    assert agreement.terms_sha256 == hashlib.sha256(agreement.terms_text.encode()).hexdigest()
    assert [(i.kind, i.device_id, i.description) for i in agreement.items] == [
        ("Phone", device.id, ""),
        ("Power bank", None, "Anker 10,000 mAh"),
    ]
    assert [s.action for s in agreement.steps] == ["create"]
    assert (
        db.session.scalar(
            select(AuditEntry).where(AuditEntry.action == "agreement.create")
        ).actor_name
        == user.username
    )


def test_full_lifecycle_records_each_step_and_closes_on_return(db, checked_out, create_user):
    device = checked_out()
    user = _user(create_user)
    a = ops.create_agreement(device, actor=user)
    pdf = ops.print_agreement(a, actor=user, page_size="letter")
    assert pdf.startswith(b"%PDF-") and a.status == "printed"
    ops.sign_holder_on_paper(a, actor=user)
    ops.sign_council(a, actor=user, note="Council clerk A. Bello")
    ops.record_copy(a, "district", actor=user)
    assert a.status == "signed_stamped_by_council" and a.district_copy_kept_at is not None
    ops.record_copy(a, "partner", actor=user)
    assert a.status == "filed" and a.partner_copy_returned_by == user.username
    ops.close_agreement(a, actor=user, condition="screen scratched")
    db.session.commit()
    assert a.status == "closed"
    assert device.status == "returned" and device.open_custody is None
    steps = db.session.scalars(
        select(AgreementStep).where(AgreementStep.agreement_id == a.id).order_by(AgreementStep.id)
    ).all()
    assert [(s.action, s.to_status) for s in steps] == [
        ("create", "draft"),
        ("print", "printed"),
        ("sign_holder", "signed_by_holder"),
        ("sign_council", "signed_stamped_by_council"),
        ("keep_district_copy", "signed_stamped_by_council"),
        ("return_partner_copy", "filed"),
        ("close", "closed"),
    ]
    assert {s.by for s in steps[1:]} == {user.username} and all(s.at for s in steps)
    actions = set(
        db.session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.entity_type == "agreement", AuditEntry.entity_id == str(a.id)
            )
        )
    )
    assert {"agreement.print", "agreement.close", "agreement.return_partner_copy"} <= actions


@pytest.mark.parametrize(
    "moves, action",
    [
        ([], "sign_council"),
        ([], "close"),
        (["print"], "close"),
        (["print", "paper"], "keep_district_copy"),
        (["print", "paper"], "reprint"),
    ],
)
def test_illegal_moves_are_refused_with_a_message(db, checked_out, create_user, moves, action):
    device = checked_out()
    user = _user(create_user)
    a = ops.create_agreement(device, actor=user)
    for move in moves:
        if move == "print":
            ops.print_agreement(a, actor=user)
        else:
            ops.sign_holder_on_paper(a, actor=user)
    status = a.status
    steps = len(a.steps)
    with pytest.raises(IllegalTransition) as exc:
        if action == "sign_council":
            ops.sign_council(a, actor=user)
        elif action == "close":
            ops.close_agreement(a, actor=user)
        elif action == "keep_district_copy":
            ops.record_copy(a, "district", actor=user)
        else:  # a signed agreement cannot be printed again
            ops.print_agreement(a, actor=user)
    assert f"is {status}" in str(exc.value.message) and "allowed:" in str(exc.value.message)
    assert a.status == status and len(a.steps) == steps


def test_illegal_move_through_api_and_page(client, login, checked_out, db):
    login("logistics")
    device = checked_out()
    resp = client.post("/api/v1/agreements", json={"device": device.asset_tag})
    assert resp.status_code == 201, resp.json
    aid = resp.json["id"]
    resp = client.post(f"/api/v1/agreements/{aid}/actions/sign_council", json={})
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "illegal_transition"
    assert "is draft" in resp.json["error"]["message"]
    page = client.post(f"/agreements/{aid}/actions/close", data={}, follow_redirects=True)
    assert "is draft: close is not allowed now" in page.get_data(as_text=True)
    assert db.session.get(Agreement, aid).status == "draft"


def test_a_device_must_be_checked_out_and_numbers_are_unique(
    db, create_device, checked_out, create_user
):
    user = _user(create_user)
    shelf = create_device(box_number="B-9999")
    with pytest.raises(IllegalTransition, match="not checked out"):
        ops.create_agreement(shelf, actor=user)
    first = checked_out(box_number="B-7777")
    ops.create_agreement(first, actor=user)
    with pytest.raises(IllegalTransition, match="already has an open agreement"):
        ops.create_agreement(first, actor=user, number="OTHER-1")
    second = checked_out(box_number="B-7777")
    with pytest.raises(Conflict, match="already used"):
        ops.create_agreement(second, actor=user)
    assert ops.create_agreement(second, actor=user, number="B-7777/2").number == "B-7777/2"


def test_end_stolen_records_liability_and_marks_the_device(db, checked_out, create_user):
    device = checked_out()
    user = _user(create_user)
    a = ops.create_agreement(device, actor=user)
    ops.print_agreement(a, actor=user)
    ops.sign_holder_on_paper(a, actor=user)
    with pytest.raises(InvalidInput, match="liable"):
        ops.end_agreement(a, kind="stolen", liability=" ", on=date.today(), report="x", actor=user)
    ops.end_agreement(
        a,
        kind="stolen",
        liability="Institution pays; police report 42/2026",
        on=date.today(),
        report="Taken at the market",
        actor=user,
    )
    db.session.commit()
    assert a.status == "ended_stolen" and a.liability.startswith("Institution pays")
    assert device.status == "stolen" and device.open_custody is None
    with pytest.raises(IllegalTransition):
        ops.close_agreement(a, actor=user)


def test_pdf_has_both_copies_number_and_fields(
    db, checked_out, create_user, tmp_path, client, login
):
    device = checked_out(model="Galaxy A12", manufacturer="Samsung")
    a = ops.create_agreement(
        device,
        actor=_user(create_user),
        accessories=[{"kind": "Power bank", "description": "Anker 10,000 mAh", "serial": "PB-778"}],
    )
    db.session.commit()
    login("logistics")
    resp = client.post(f"/agreements/{a.id}/print", data={"page_size": "a4"})
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    pages = pdf_text(resp.data, tmp_path)
    text = "\n".join(pages)
    district_pages = [p for p in pages if "District copy" in p]
    partner_pages = [p for p in pages if "Partner copy" in p]
    assert district_pages and partner_pages
    sim = device.current_sims[0]
    for copy in (district_pages[0], partner_pages[0]):
        for value in (
            a.number,
            device.asset_tag,
            device.imei,
            device.serial,
            "Galaxy A12",
            sim.iccid,
            sim.msisdn,
            a.district_name,
        ):
            assert value in copy, value
        assert device.holder.name in copy
    assert "Power bank" in text and "PB-778" in text
    assert "Ownership" in text and "maintenance" in text.lower()
    assert a.terms_sha256 in text.replace("\n", "").replace(" ", "")
    db.session.refresh(a)
    assert a.status == "printed" and a.page_size == "a4"


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_signature_stored_with_text_sha_and_signed_pdf(
    db, client, login, checked_out, create_user, app, tmp_path
):
    device = checked_out()
    a = ops.create_agreement(device, actor=_user(create_user))
    ops.print_agreement(a, actor=None)
    db.session.commit()
    login("logistics")
    page = client.get(f"/agreements/{a.id}/sign").get_data(as_text=True)
    assert a.terms_sha256 in page and "signature-pad" in page
    png = signature_png()
    resp = client.post(
        f"/api/v1/agreements/{a.id}/signature",
        json={"signature": _data_url(png), "text_sha256": a.terms_sha256, "signer_name": "N. O."},
    )
    assert resp.status_code == 201, resp.json
    sig = db.session.scalar(
        select(AgreementSignature).where(AgreementSignature.agreement_id == a.id)
    )
    assert sig.text_sha256 == hashlib.sha256(a.terms_text.encode("utf-8")).hexdigest()
    stored = (
        Path(app.config["DATA_DIR"]) / "agreements" / sig.png_sha256[:2] / f"{sig.png_sha256}.png"
    )
    assert stored.read_bytes() == png and sig.png_sha256 == hashlib.sha256(png).hexdigest()
    assert db.session.get(Agreement, a.id).status == "signed_by_holder"
    signed = client.get(f"/agreements/{a.id}/signed.pdf")
    assert signed.status_code == 200
    assert b"/Subtype /Image" in signed.data  # the signature image, on both copies
    unsigned = ops.render_agreement_pdf(ops.agreement_doc(a), page_size="a4")
    assert b"/Subtype /Image" not in unsigned
    assert len(pdf_text(signed.data, tmp_path)) >= 2


def test_signature_refused_when_text_changed_blank_or_not_png(
    db, client, login, checked_out, create_user, store_files
):
    device = checked_out()
    admin = create_user("admin")
    a = ops.create_agreement(device, actor=admin)
    ops.print_agreement(a, actor=admin)
    db.session.commit()
    shown = a.terms_sha256
    login("logistics")
    before = store_files()
    blank = client.post(
        f"/api/v1/agreements/{a.id}/signature",
        json={"signature": _data_url(signature_png(blank=True)), "text_sha256": shown},
    )
    assert blank.status_code == 422 and "blank" in blank.json["error"]["message"]
    notpng = client.post(
        f"/api/v1/agreements/{a.id}/signature",
        json={
            "signature": "data:image/png;base64," + base64.b64encode(b"MZ\x90\x00").decode(),
            "text_sha256": shown,
        },
    )
    assert notpng.status_code == 422
    # an admin edits the terms and the draft takes them: the page the holder saw is stale
    ops.edit_template("institution", a.terms_text + "\n\n7. Added clause.", actor=admin)
    ops.refresh_terms(a, actor=admin)
    ops.print_agreement(a, actor=admin)
    db.session.commit()
    stale = client.post(
        f"/api/v1/agreements/{a.id}/signature",
        json={"signature": _data_url(signature_png()), "text_sha256": shown},
    )
    assert stale.status_code == 409 and "text changed" in stale.json["error"]["message"]
    assert store_files() == before
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AgreementSignature)
            .where(AgreementSignature.agreement_id == a.id)
        )
        == 0
    )
    assert db.session.get(Agreement, a.id).status == "printed"


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"PE\x00\x00" * 8


def test_forged_upload_refused_and_nothing_stored(
    db, client, login, checked_out, create_user, store_files
):
    device = checked_out()
    a = ops.create_agreement(device, actor=_user(create_user))
    ops.print_agreement(a, actor=None)
    db.session.commit()
    login("logistics")
    before = store_files()
    from io import BytesIO

    resp = client.post(
        f"/api/v1/agreements/{a.id}/scans",
        data={"file": (BytesIO(EXE), "signed-copy.pdf"), "copy": "district"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    assert "signed-copy.pdf is not a PDF, JPEG or PNG file" in resp.json["error"]["message"]
    page = client.post(
        f"/agreements/{a.id}/scans",
        data={"file": (BytesIO(EXE), "scan.jpg")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 422 and "nothing was stored" in page.get_data(as_text=True)
    fake_png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    resp = client.post(
        f"/api/v1/agreements/{a.id}/scans",
        data={"file": (BytesIO(fake_png), "scan.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and "cannot be read" in resp.json["error"]["message"]
    assert store_files() == before
    assert db.session.scalar(select(func.count()).select_from(AgreementScan)) == 0


def test_real_scans_kept_by_content_hash_and_size_limited(
    db, client, login, checked_out, create_user, app, monkeypatch
):
    device = checked_out()
    a = ops.create_agreement(device, actor=_user(create_user))
    pdf = ops.print_agreement(a, actor=None)
    db.session.commit()
    login("logistics")
    from io import BytesIO

    resp = client.post(
        f"/api/v1/agreements/{a.id}/scans",
        data={"file": (BytesIO(pdf), "../../etc/passwd.pdf"), "copy": "partner"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["content_type"] == "application/pdf"
    assert resp.json["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert resp.json["original_name"] == "passwd.pdf"
    stored = Path(app.config["DATA_DIR"]) / "agreements" / pdf_sha(pdf)[:2] / f"{pdf_sha(pdf)}.pdf"
    assert stored.read_bytes() == pdf
    got = client.get(f"/agreements/{a.id}/scans/{resp.json['id']}")
    assert got.data == pdf
    png = signature_png()
    monkeypatch.setitem(app.config, "AGREEMENT_SCAN_MAX_BYTES", len(png) - 1)
    big = client.post(
        f"/api/v1/agreements/{a.id}/scans",
        data={"file": (BytesIO(png), "scan.png")},
        content_type="multipart/form-data",
    )
    assert big.status_code == 422 and "limit" in big.json["error"]["message"]


def pdf_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_stuck_list(db, client, login, checked_out, create_user, app, monkeypatch):
    user = _user(create_user)
    old, fresh, filed = (ops.create_agreement(checked_out(), actor=user) for _ in range(3))
    ops.print_agreement(old, actor=user)
    for a in (filed,):
        ops.print_agreement(a, actor=user)
        ops.sign_holder_on_paper(a, actor=user)
        ops.sign_council(a, actor=user)
        ops.record_copy(a, "district", actor=user)
        ops.record_copy(a, "partner", actor=user)
    long_ago = old.status_at - timedelta(days=20)
    old.status_at = long_ago
    filed.status_at = long_ago
    db.session.commit()
    stuck = db.session.scalars(ops.stuck_query()).all()
    assert old in stuck and fresh not in stuck and filed not in stuck
    assert db.session.scalars(ops.stuck_query(30)).all().count(old) == 0
    monkeypatch.setitem(app.config, "AGREEMENT_STUCK_DAYS", 0)
    assert fresh in db.session.scalars(ops.stuck_query()).all()
    login("viewer")
    page = client.get("/agreements/stuck?days=14").get_data(as_text=True)
    assert old.number in page and fresh.number not in page and "printed" in page
    api = client.get("/api/v1/agreements/stuck?days=14").json
    assert [i["number"] for i in api["items"]] == [old.number]


def test_template_versions_and_permissions(db, client, login, create_user, checked_out, token_for):
    device = checked_out(ownership="personal")
    a = ops.create_agreement(device, actor=None)
    db.session.commit()
    assert a.ownership == "personal" and "reimburse" in a.terms_text
    original = a.terms_text
    tech = token_for("technician")
    resp = client.post(
        "/api/v1/agreements",
        json={"device": device.asset_tag},
        headers={"Authorization": f"Bearer {tech}"},
    )
    assert resp.status_code == 403
    logi = token_for("logistics")
    resp = client.post(
        "/api/v1/agreement-templates",
        json={"ownership": "personal", "text": "New BYOD terms."},
        headers={"Authorization": f"Bearer {logi}"},
    )
    assert resp.status_code == 403
    admin = token_for("admin")
    resp = client.post(
        "/api/v1/agreement-templates",
        json={"ownership": "personal", "text": "New BYOD terms."},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert resp.status_code == 201 and resp.json["version"] == 2
    db.session.refresh(a)
    assert a.terms_text == original  # kept the text it was made with
    assert ops.current_template("personal").text == "New BYOD terms."
    assert ops.current_template("institution").version == 1


def test_web_workflow_from_draft_to_filed_and_pages_render(client, login, checked_out, db):
    login("logistics")
    device = checked_out()
    assert client.get(f"/agreements/new?device={device.asset_tag}").status_code == 200
    resp = client.post(
        "/agreements/new",
        data={
            "device": device.asset_tag,
            "number": "",
            "ownership": "personal",
            "accessories": "Power bank: Anker 10,000 mAh\nCase: @" + device.asset_tag,
            "expected_return_on": "2027-01-31",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    a = db.session.scalar(select(Agreement).where(Agreement.device_id == device.id))
    assert a.number == device.box_number and a.ownership == "personal"
    assert [i.kind for i in a.items] == ["Phone", "Power bank", "Case"]
    assert a.expected_return_on == date(2027, 1, 31)
    assert client.post(f"/agreements/{a.id}/print", data={"page_size": "letter"}).status_code == 200
    for action in (
        "sign_holder_paper",
        "sign_council",
        "keep_district_copy",
        "return_partner_copy",
    ):
        assert (
            client.post(f"/agreements/{a.id}/actions/{action}", data={"note": "ok"}).status_code
            == 302
        )
    db.session.refresh(a)
    assert a.status == "filed"
    detail = client.get(f"/agreements/{a.id}").get_data(as_text=True)
    assert "filed" in detail and "Device returned: close" in detail
    for url in (
        "/agreements/",
        "/agreements/stuck",
        "/agreements/templates",
        "/labels/",
        "/labels/audits",
        "/labels/scan",
        f"/agreements/?q={device.asset_tag}",
    ):
        assert client.get(url).status_code == 200, url
    page = client.get(f"/agreements/?q={device.asset_tag}").get_data(as_text=True)
    assert a.number in page
    # a second draft for the same device is refused with the reason on the form
    again = client.post("/agreements/new", data={"device": device.asset_tag, "number": "X-2"})
    assert again.status_code == 409 and "already has an open agreement" in again.get_data(
        as_text=True
    )


def test_viewer_changes_nothing(client, login, checked_out, db):
    device = checked_out()
    a = ops.create_agreement(device, actor=None)
    db.session.commit()
    login("viewer")
    assert client.get(f"/agreements/{a.id}").status_code == 200
    assert client.post(f"/agreements/{a.id}/print", data={}).status_code == 403
    assert client.post(f"/agreements/{a.id}/actions/sign_council").status_code == 403
    assert client.post("/api/v1/agreements", json={"device": device.asset_tag}).status_code == 403
    assert db.session.get(Agreement, a.id).status == "draft"


def test_concurrent_change_is_refused(db, checked_out, create_user):
    from sqlalchemy import text

    user = _user(create_user)
    a = ops.create_agreement(checked_out(), actor=user)
    ops.print_agreement(a, actor=user)
    db.session.commit()
    # someone else moves the same agreement between our read and our write
    db.session.execute(
        text(
            "UPDATE agreement SET lock_version = lock_version + 1, status = 'signed_by_holder' "
            "WHERE id = :id"
        ),
        {"id": a.id},
    )
    with pytest.raises(Conflict, match="changed by someone else"):
        ops.sign_holder_on_paper(a, actor=user)
    db.session.rollback()  # (also undoes the simulated concurrent UPDATE of this test)
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AgreementStep)
            .where(AgreementStep.agreement_id == a.id, AgreementStep.action == "sign_holder")
        )
        == 0
    )


def test_new_page_lists_devices_awaiting_an_agreement_and_api_print(client, login, checked_out, db):
    login("logistics")
    waiting, covered = checked_out(), checked_out()
    a = ops.create_agreement(covered, actor=None)
    db.session.commit()
    page = client.get("/agreements/new").get_data(as_text=True)
    assert f"/agreements/new?device={waiting.asset_tag}" in page
    assert f"device={covered.asset_tag}" not in page
    resp = client.post(f"/api/v1/agreements/{a.id}/print?page_size=letter")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF-")
    assert client.get(f"/api/v1/agreements/{a.id}").json["status"] == "printed"
    bad = client.post(f"/api/v1/agreements/{a.id}/print?page_size=a3")
    assert bad.status_code == 422

"""Ownership agreement PDF: two numbered copies, fields, terms, signature, page sizes."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import unicodedata
from datetime import date, datetime

import pytest
from PIL import Image, ImageChops, ImageDraw

from fleet.labels.agreement_pdf import (
    AgreementDevice,
    AgreementDoc,
    AgreementRenderError,
    render_agreement_pdf,
    terms_sha256,
)

TERMS = """1. The device remains the property of the Ministry of Health. The holder uses it for \
DHIS2 data collection during the campaign and returns it, with charger and power bank, at the end.

2. The holder keeps the device charged and reports loss or theft to the supervisor within
24 hours. Maintenance is paid by the programme; loss through negligence is charged at the
depreciated value.

3. Airtime and data bundles are reimbursed monthly at the rate set by the district <office> & \
partner."""


def make_doc(**changes) -> AgreementDoc:
    doc = AgreementDoc(
        number="000123",
        holder_name="Алексей Смирнов",
        district="Enugu East",
        ownership_model="institution",
        terms_text=TERMS,
        devices=[
            AgreementDevice(
                "PH-000123", "Phone", "Samsung", "Galaxy A14", "356938035643809", None, "R58T1ABC"
            ),
            AgreementDevice("PB-000123", "Power bank", model="Anker 10000"),
        ],
        holder_role="Vaccinator",
        holder_msisdn="+2348031234567",
        facility="Abakpa Nike PHC",
        sim_iccid="8923401234567890128",
        sim_msisdn="+2348039876543",
        sim_carrier="MTN",
        issued_on=date(2026, 11, 20),
        expected_return_on=date(2027, 2, 28),
        terms_version="institution-v3",
        organisation="Ministry of Health, Enugu State",
        partner="HISP Nigeria",
    )
    return dataclasses.replace(doc, **changes)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text))


@pytest.mark.parametrize("page_size, points", [("a4", (595, 842)), ("letter", (612, 792))])
def test_two_numbered_copies_with_every_field(tools, page_size, points):
    doc = make_doc()
    pdf = render_agreement_pdf(doc, page_size=page_size)
    pages = [squash(p) for p in tools.text(pdf)]
    assert len(pages) == 2
    assert "DISTRICT COPY" in pages[0] and "PARTNER COPY" not in pages[0]
    assert "PARTNER COPY" in pages[1] and "DISTRICT COPY" not in pages[1]
    assert "Agreement No. 000123 · District copy · page 1" in pages[0]
    assert "Agreement No. 000123 · Partner copy · page 1" in pages[1]
    for page in pages:
        for value in [
            "Agreement No. 000123",
            "Алексей Смирнов",
            "Vaccinator",
            "Enugu East",
            "Abakpa Nike PHC",
            "Institution-owned device",
            "PH-000123",
            "Samsung Galaxy A14",
            "356938035643809",
            "R58T1ABC",
            "PB-000123",
            "Power bank",
            "8923401234567890128",
            "+2348039876543",
            "MTN",
            "2026-11-20",
            "2027-02-28",
            "version institution-v3",
            "Holder signature and date",
            "Council signature and stamp",
            "district <office> & partner",  # escaped, not eaten as markup
            f"Terms text SHA-256: {hashlib.sha256(TERMS.encode()).hexdigest()}",
        ]:
            assert value in page, value
    images = tools.rasterise(pdf, 72)
    # A4 is 595.28 x 841.89 pt; pdftoppm rounds that to 595 or 596 pixels at 72 dpi.
    assert len(images) == 2 and all(
        abs(got - want) <= 1 for im in images for got, want in zip(im.size, points, strict=True))
    fonts = tools.fonts(pdf)
    assert fonts and all(f["emb"] == "yes" and "DejaVuSans" in f["name"] for f in fonts), fonts


def test_terms_sha256_is_of_the_exact_utf8_text():
    text = "Terms — version 2\n\nΌροι"
    assert terms_sha256(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert terms_sha256(text) != terms_sha256(text + " ")


def test_hash_can_be_left_out(tools):
    pages = tools.text(render_agreement_pdf(make_doc(show_terms_sha256=False)))
    assert not any("SHA-256" in p for p in pages)


def test_long_terms_wrap_and_each_copy_starts_on_its_own_page(tools):
    paragraphs = [
        f"Clause {i}. " + " ".join(f"word{i}x{j}" for j in range(60)) for i in range(1, 26)
    ]
    doc = make_doc(terms_text="\n\n".join(paragraphs))
    pages = [squash(p) for p in tools.text(render_agreement_pdf(doc))]
    assert len(pages) >= 4 and len(pages) % 2 == 0
    half = len(pages) // 2
    copies = [" ".join(pages[:half]), " ".join(pages[half:])]
    assert "DISTRICT COPY" in pages[0] and "PARTNER COPY" in pages[half]
    assert f"Agreement No. 000123 · Partner copy · page {half}" in pages[-1]
    assert f"Agreement No. 000123 · District copy · page {half}" in pages[half - 1]
    for copy in copies:
        for i in (1, 13, 25):  # nothing is cut off at the right margin or between pages
            for j in (0, 30, 59):
                assert f"word{i}x{j}" in copy


def _red_pixels(image: Image.Image) -> int:
    r, g, b = image.convert("RGB").split()
    red = r.point(lambda v: 255 if v > 180 else 0)
    low_g = g.point(lambda v: 255 if v < 90 else 0)
    low_b = b.point(lambda v: 255 if v < 90 else 0)
    return ImageChops.multiply(ImageChops.multiply(red, low_g), low_b).histogram()[255]


def _signature_png() -> bytes:
    im = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    draw.line([(20, 150), (120, 40), (220, 160), (380, 50), (580, 120)], fill="red", width=8)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_captured_signature_is_printed_on_both_copies(tools):
    signed = make_doc(signature_png=_signature_png(), signed_at=datetime(2026, 11, 20, 10, 30))
    pages = tools.rasterise(render_agreement_pdf(signed), 100, color=True)
    assert len(pages) == 2
    assert all(_red_pixels(p) > 300 for p in pages)
    unsigned = tools.rasterise(render_agreement_pdf(make_doc()), 100, color=True)
    assert all(_red_pixels(p) == 0 for p in unsigned)
    text = tools.text(render_agreement_pdf(signed))
    assert all("Signed 2026-11-20 10:30" in p for p in text)


def test_forged_signature_is_refused():
    exe = b"MZ\x90\x00" + b"\x00" * 200
    with pytest.raises(AgreementRenderError, match="PNG"):
        render_agreement_pdf(make_doc(signature_png=exe))
    truncated = _signature_png()[:60]
    with pytest.raises(AgreementRenderError, match="PNG"):
        render_agreement_pdf(make_doc(signature_png=truncated))


def test_bad_inputs_are_refused():
    with pytest.raises(AgreementRenderError, match="Ownership"):
        render_agreement_pdf(make_doc(ownership_model="rented"))
    with pytest.raises(AgreementRenderError, match="Page size"):
        render_agreement_pdf(make_doc(), page_size="a5")
    with pytest.raises(AgreementRenderError, match="number"):
        render_agreement_pdf(make_doc(number=" "))


def test_byod_and_other_scripts(tools):
    doc = make_doc(ownership_model="byod", holder_name="Ελένη Ọkafọ̀", district="Łódź")
    pages = [squash(p) for p in tools.text(render_agreement_pdf(doc))]
    for page in pages:
        assert "Personal device (BYOD)" in page
        assert "Ελένη Ọkafọ̀" in page
        assert "Łódź" in page


def test_arabic_holder_name_is_drawn(tools):
    # drawn as a shaped image (reportlab has no Arabic shaping): the holder cell is not blank
    arabic = tools.rasterise(render_agreement_pdf(make_doc(holder_name="فاطمة الزهراء")), 100)
    empty = tools.rasterise(render_agreement_pdf(make_doc(holder_name="")), 100)
    assert sum(arabic[0].histogram()[:128]) > sum(empty[0].histogram()[:128]) + 100

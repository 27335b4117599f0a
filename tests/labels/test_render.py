"""Labels rendered in every format and decoded back by the real zbarimg."""

from __future__ import annotations

import io
import unicodedata
import zipfile

import pytest
from PIL import Image
from reportlab.lib.units import mm

from fleet.labels.fonts import missing_glyphs
from fleet.labels.payload import DeviceLabelInfo, PayloadTemplate, parse_payload
from fleet.labels.render import (
    FORMATS,
    LabelRenderError,
    LabelSpec,
    SheetFormat,
    labels_for_device,
    render_label_png,
    render_labels,
)

HOLDERS = ["Ngozi Ọkafọ̀", "Алексей Смирнов", "Ελένη Παπαδοπούλου", "Amina Diallo", "Zoë Müller"]
DISTRICTS = ["Enugu East", "Sokoto North", "Dakar", "Kénitra", "Łódź"]


def device(i: int) -> DeviceLabelInfo:
    return DeviceLabelInfo(
        asset_tag=f"PH-{i:06d}",
        holder=HOLDERS[i % len(HOLDERS)],
        msisdn=f"+23480312{i:05d}",
        district=DISTRICTS[i % len(DISTRICTS)],
        box_number=f"{i:06d}",
        model="Samsung Galaxy A14",
    )


def distinct_specs(n: int) -> list[LabelSpec]:
    """n labels, every one with its own payload, cycling through the four kinds."""
    specs = []
    i = 0
    while len(specs) < n:
        specs.extend(labels_for_device(device(i)))
        i += 1
    specs = specs[:n]
    # the two agreement labels of a device share a payload; make every payload distinct
    out = []
    for k, s in enumerate(specs):
        payload = s.payload if s.kind != "agreement-partner" else s.payload + f";F=copy {k}"
        out.append(LabelSpec(payload, s.title, s.lines, s.kind))
    return out


def test_labels_for_device_gives_the_four_kinds():
    specs = labels_for_device(device(7))
    assert [s.kind for s in specs] == ["phone", "box", "agreement-district", "agreement-partner"]
    phone, box, district_copy, partner_copy = specs
    assert phone.title == "PH-000007"
    assert phone.lines == ("Ελένη Παπαδοπούλου", "Dakar")
    assert parse_payload(phone.payload)["holder"] == "Ελένη Παπαδοπούλου"
    assert box.title == "Box 000007" and box.payload == phone.payload
    assert district_copy.title == partner_copy.title == "No. 000007"
    assert district_copy.lines[0] == "District copy" and partner_copy.lines[0] == "Partner copy"
    assert parse_payload(district_copy.payload) == {
        "asset_tag": "PH-000007",
        "agreement_number": "000007",
    }
    with pytest.raises(LabelRenderError, match="kind"):
        labels_for_device(device(1), kinds=("phone", "mug"))


@pytest.mark.parametrize("fmt", ["thermal-62mm", "thermal-50x25"])
@pytest.mark.parametrize("dpi", [203, 300])
def test_thermal_png_decodes_at_printer_resolution(tools, fmt, dpi):
    thermal = FORMATS[fmt]
    for spec in labels_for_device(device(1)) + labels_for_device(device(2)):
        png = render_label_png(spec, fmt, dpi=dpi)
        with Image.open(io.BytesIO(png)) as im:
            assert im.mode == "1"
            assert im.size == (
                round(thermal.width_mm / 25.4 * dpi),
                round(thermal.height_mm / 25.4 * dpi),
            )
            assert tuple(round(v) for v in im.info["dpi"]) == (dpi, dpi)
        assert tools.decode(png) == [spec.payload]


def test_thermal_largest_allowed_payload_still_decodes_at_203_dpi(tools):
    # a version-10 payload on the smallest label at the coarsest printer
    payload = "FLEET1;T=PH-1;H=" + "x" * (213 - 16)
    for fmt in ("thermal-50x25", "thermal-62mm"):
        png = render_label_png(LabelSpec(payload, "PH-1", ("x",)), fmt, dpi=203)
        assert tools.decode(png) == [payload]


def test_thermal_zip_holds_one_png_per_label_in_order(tools):
    specs = distinct_specs(6)
    data = render_labels(specs, "thermal-50x25", dpi=203)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert names == [f"{i:04d}-{s.kind}.png" for i, s in enumerate(specs, start=1)]
        for name, spec in zip(names, specs, strict=True):
            assert tools.decode(zf.read(name)) == [spec.payload]


def _slot_crop(page: Image.Image, sheet: SheetFormat, slot: int, dpi: int) -> Image.Image:
    x, y = sheet.origin(slot)  # points, PDF origin bottom-left
    px = dpi / 72
    left = round(x * px)
    top = round((sheet.page_size[1] - y - sheet.label_h) * px)
    return page.crop((left, top, left + round(sheet.label_w * px), top + round(sheet.label_h * px)))


@pytest.mark.parametrize("fmt", ["a4-l7160", "letter-5160"])
@pytest.mark.parametrize("offset", [0, 5])
def test_sheet_every_position_decodes(tools, fmt, offset):
    sheet = FORMATS[fmt]
    n = sheet.per_sheet - offset + 2  # fills the first sheet and spills onto a second
    specs = distinct_specs(n)
    pdf = render_labels(specs, fmt, start_offset=offset)
    dpi = 300
    pages = tools.rasterise(pdf, dpi)
    assert len(pages) == 2
    w_in, h_in = sheet.page_size[0] / 72, sheet.page_size[1] / 72
    # pdftoppm rounds the page size in pixels up or to nearest, depending on the version
    assert all(abs(got - want) <= 1 for got, want in
               zip(pages[0].size, (w_in * dpi, h_in * dpi), strict=True))
    for slot in range(offset):  # the used part of the sheet stays blank
        crop = _slot_crop(pages[0], sheet, slot, dpi)
        assert crop.getextrema() == (255, 255)
        assert tools.decode(crop) == []
    expected = iter(specs)
    for page_no, page in enumerate(pages):
        first = offset if page_no == 0 else 0
        last = sheet.per_sheet if page_no == 0 else 2
        for slot in range(first, last):
            spec = next(expected)
            assert tools.decode(_slot_crop(page, sheet, slot, dpi)) == [spec.payload], (
                page_no,
                slot,
            )
    assert next(expected, None) is None
    # positions after the last label on the second page are blank
    assert _slot_crop(pages[1], sheet, 2, dpi).getextrema() == (255, 255)


def test_sheet_geometry_matches_avery_specs():
    l7160 = FORMATS["a4-l7160"]
    assert (l7160.cols, l7160.rows) == (3, 7)
    assert (round(l7160.label_w / mm, 2), round(l7160.label_h / mm, 2)) == (63.5, 38.1)
    # symmetric margins on 210 x 297 mm: the grid is exactly centred on the sheet
    right = 210 - (l7160.left + 2 * l7160.pitch_x + l7160.label_w) / mm
    bottom = 297 - (l7160.top + 6 * l7160.pitch_y + l7160.label_h) / mm
    assert round(right, 2) == round(l7160.left / mm, 2) == 7.25
    assert round(bottom, 2) == round(l7160.top / mm, 2) == 15.15
    s5160 = FORMATS["letter-5160"]
    assert (s5160.cols, s5160.rows) == (3, 10)
    assert (s5160.label_w / 72, s5160.label_h / 72) == (2.625, 1.0)
    assert round((s5160.left + 2 * s5160.pitch_x + s5160.label_w) / 72 + s5160.left / 72, 4) == 8.5


def test_unicode_names_render_with_the_embedded_font(tools):
    names = ["Ngozi Ọkafọ̀", "Алексей", "Ελένη", "فاطمة الزهراء"]
    specs = [
        labels_for_device(DeviceLabelInfo(asset_tag=f"PH-{i}", holder=n, district="Łódź"))[0]
        for i, n in enumerate(names)
    ]
    for name in names:
        assert missing_glyphs(name) == []
    pdf = render_labels(specs, "a4-l7160")
    fonts = tools.fonts(pdf)
    dejavu = [f for f in fonts if "DejaVuSans" in f["name"]]
    assert dejavu, fonts
    assert all(f["emb"] == "yes" for f in fonts), fonts  # no un-embedded base-14 font
    text = unicodedata.normalize("NFC", tools.text(pdf)[0])
    for name in ["Ngozi Ọkafọ̀", "Алексей", "Ελένη", "Łódź"]:
        assert name in text
    pages = tools.rasterise(pdf, 300)
    sheet = FORMATS["a4-l7160"]
    for slot, spec in enumerate(specs):
        assert tools.decode(_slot_crop(pages[0], sheet, slot, 300)) == [spec.payload]


def test_arabic_name_is_drawn_shaped_in_the_pdf(tools):
    # reportlab cannot shape Arabic; the renderer draws it as an image made by Pillow/raqm,
    # so the label's text area is not blank although no text is extracted for it.
    spec = LabelSpec("FLEET1;T=PH-1", "PH-1", ("فاطمة الزهراء",))
    blank = LabelSpec("FLEET1;T=PH-1", "PH-1", ())
    sheet = FORMATS["a4-l7160"]
    crops = []
    for s in (spec, blank):
        page = tools.rasterise(render_labels([s], "a4-l7160"), 150)[0]
        crop = _slot_crop(page, sheet, 0, 150)
        # the text column right of the QR code
        crops.append(crop.crop((int(crop.width * 0.6), 0, crop.width, crop.height)))
    dark = [sum(c.histogram()[:128]) for c in crops]
    assert dark[0] > dark[1] + 200, dark


def test_cjk_is_reported_as_missing_from_dejavu():
    assert missing_glyphs("王小明 Amina") == ["王", "小", "明"]


def test_bad_arguments_are_refused():
    specs = distinct_specs(2)
    with pytest.raises(LabelRenderError, match="between 0 and 20"):
        render_labels(specs, "a4-l7160", start_offset=21)
    with pytest.raises(LabelRenderError, match="between 0 and 29"):
        render_labels(specs, "letter-5160", start_offset=-1)
    with pytest.raises(LabelRenderError, match="Unknown label format"):
        render_labels(specs, "a5-whatever")
    with pytest.raises(LabelRenderError, match="203 or 300"):
        render_labels(specs, "thermal-62mm", dpi=600)
    with pytest.raises(LabelRenderError, match="No labels"):
        render_labels([], "a4-l7160")
    with pytest.raises(LabelRenderError, match="sheets"):
        render_labels(specs, "thermal-62mm", start_offset=3)


def test_privacy_labels_decode_to_tag_and_url(tools):
    template = PayloadTemplate(privacy=True, url_template="https://fleet.test/d/{asset_tag}")
    spec = labels_for_device(device(3), template, kinds=("phone",))[0]
    assert parse_payload(spec.payload) == {
        "asset_tag": "PH-000003",
        "url": "https://fleet.test/d/PH-000003",
    }
    png = render_label_png(spec, "thermal-50x25", dpi=203)
    assert tools.decode(png) == [spec.payload]


def test_pillow_shapes_arabic_with_raqm():
    # Arabic on labels (and the RTL images in PDFs) needs Pillow's raqm layout, which loads
    # the system's libfribidi (Debian libfribidi0) at run time.
    from PIL import ImageFont, features

    from fleet.labels.fonts import FontSet, pil_font

    assert features.check("raqm"), "Pillow has no raqm layout: apt-get install libfribidi0"
    path = FontSet.default().regular
    shaped = pil_font(path, 40).getlength("فاطمة")
    basic = ImageFont.truetype(str(path), 40, layout_engine=ImageFont.Layout.BASIC)
    assert shaped != basic.getlength("فاطمة")  # joined forms have other advances

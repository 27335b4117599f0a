"""The ownership agreement PDF: two numbered copies ("District copy", "Partner copy").

Practice from the DHIS2 Android implementation guide (Rollout): the box and both copies of
the phone agreement carry the same number; the holder signs; the council signs and stamps
both copies; one copy stays with the district, the other goes back to the partner.
Ownership (institution or personal/BYOD), maintenance and loss responsibility and
airtime/data reimbursement are part of the agreement (they come in the terms text).

Each copy starts on a new page and repeats everything: header with the number and the copy
name, the device(s), SIM, holder, district, ownership model and dates, the terms text
(paragraphs separated by blank lines), the SHA-256 of the terms text, and boxes for the
holder's signature, the supervisor's signature and the council's signature and stamp.
Every page's footer names the agreement number, the copy and the page within the copy.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from PIL import ImageDraw, UnidentifiedImageError
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from fleet.labels.fonts import FontSet, needs_shaping, pil_font

__all__ = [
    "COPIES",
    "AgreementDevice",
    "AgreementDoc",
    "AgreementRenderError",
    "render_agreement_pdf",
    "terms_sha256",
]

COPIES: tuple[str, str] = ("District copy", "Partner copy")
OWNERSHIP_MODELS = {
    "institution": "Institution-owned device",
    "personal": "Personal device (BYOD)",
    "byod": "Personal device (BYOD)",
}
PAGE_SIZES = {"a4": A4, "letter": LETTER}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 2 * 1024 * 1024


class AgreementRenderError(ValueError):
    """The agreement cannot be rendered (bad page size, ownership model or signature image)."""


@dataclass(frozen=True)
class AgreementDevice:
    """One item covered by the agreement (a phone, or an accessory such as a power bank)."""

    asset_tag: str
    kind: str = "Phone"
    manufacturer: str | None = None
    model: str | None = None
    imei: str | None = None
    imei2: str | None = None
    serial: str | None = None


@dataclass(frozen=True)
class AgreementDoc:
    """Everything printed on an agreement (plain input; the lead maps models to this).

    Args:
        number: agreement number (the box number by default, issue 3).
        holder_name: campaign worker's full name (any script; see ``docs/labels.md``).
        district: district (org unit) name.
        ownership_model: ``"institution"`` or ``"personal"`` (alias ``"byod"``).
        terms_text: the exact terms shown to the holder; paragraphs separated by blank
            lines. Its SHA-256 (of the UTF-8 bytes, as given) is printed when
            ``show_terms_sha256``.
        devices: the phone and its accessories.
        signature_png: the holder's captured signature (PNG bytes, at most 2 MiB), printed
            in the holder's signature box of both copies.
    """

    number: str
    holder_name: str
    district: str
    ownership_model: str
    terms_text: str
    devices: Sequence[AgreementDevice] = field(default_factory=tuple)
    holder_role: str | None = None
    holder_msisdn: str | None = None
    facility: str | None = None
    sim_iccid: str | None = None
    sim_msisdn: str | None = None
    sim_carrier: str | None = None
    issued_on: date | None = None
    expected_return_on: date | None = None
    terms_version: str | None = None
    organisation: str | None = None
    partner: str | None = None
    signature_png: bytes | None = None
    signed_at: datetime | None = None
    printed_at: datetime | None = None
    show_terms_sha256: bool = True
    title: str = "Device ownership agreement"


def terms_sha256(text: str) -> str:
    """SHA-256 (hex, 64 characters) of ``text`` encoded as UTF-8, exactly as given."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- helpers


class _CopyMarker(Flowable):
    """Zero-size flowable that tells the page callback which copy is being drawn."""

    def __init__(self, copy_name: str):
        super().__init__()
        self.copy_name = copy_name
        self.width = self.height = 0

    def wrap(self, avail_w, avail_h):
        return 0, 0

    def draw(self):
        self.canv._fleet_copy = self.copy_name
        self.canv._fleet_copy_start = self.canv.getPageNumber()


class _ShapedText(Flowable):
    """Right-to-left / Arabic-script text shaped by Pillow (raqm), drawn as a 600 dpi image,
    because reportlab draws glyphs in logical order without joining."""

    def __init__(self, text: str, fonts: FontSet, size: float, bold: bool = False):
        super().__init__()
        scale = 600 / 72
        font = pil_font(fonts.bold_path if bold else fonts.regular, round(size * scale))
        ascent, descent = font.getmetrics()
        width = max(1, int(font.getlength(text)) + 2)
        img = PILImage.new("L", (width, ascent + descent), 255)
        ImageDraw.Draw(img).text((0, 0), text, font=font, fill=0)
        alpha = img.point(lambda v: 255 - v)
        rgba = PILImage.new("RGBA", img.size, (0, 0, 0, 255))
        rgba.putalpha(alpha)
        buf = io.BytesIO()
        rgba.save(buf, "PNG")
        buf.seek(0)
        self._img = Image(buf, width=img.width / scale, height=img.height / scale, mask="auto")
        self.width, self.height = img.width / scale, img.height / scale

    def wrap(self, avail_w, avail_h):
        return self.width, self.height

    def draw(self):
        self._img.drawOn(self.canv, 0, 0)


def _fmt_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [b.strip("\n") for b in re.split(r"\n[ \t]*\n", text)]
    return [b for b in blocks if b.strip()]


def _signature_image(png: bytes, max_w: float, max_h: float) -> Image:
    if len(png) > MAX_SIGNATURE_BYTES:
        raise AgreementRenderError("The signature image is larger than 2 MiB.")
    if not png.startswith(PNG_MAGIC):
        raise AgreementRenderError("The signature must be a PNG image.")
    try:
        with PILImage.open(io.BytesIO(png)) as im:
            im.verify()
        with PILImage.open(io.BytesIO(png)) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise AgreementRenderError("The signature PNG cannot be read.") from exc
    if w == 0 or h == 0:
        raise AgreementRenderError("The signature PNG is empty.")
    scale = min(max_w / w, max_h / h)
    return Image(io.BytesIO(png), width=w * scale, height=h * scale, mask="auto")


class _Styles:
    def __init__(self, fonts: FontSet):
        self.fonts = fonts
        regular, bold = fonts.reportlab_names()
        # so <b> in Paragraph markup selects the bold file (idempotent)
        pdfmetrics.registerFontFamily(
            regular, normal=regular, bold=bold, italic=regular, boldItalic=bold
        )
        self.regular, self.bold = regular, bold
        self.body = ParagraphStyle("body", fontName=regular, fontSize=9.5, leading=12.5)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=7.5, leading=9.5)
        self.label = ParagraphStyle(
            "label", parent=self.body, fontName=bold, fontSize=8.5, leading=11
        )
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=9, leading=11.5)
        self.h1 = ParagraphStyle("h1", parent=self.body, fontName=bold, fontSize=15, leading=19)
        self.h2 = ParagraphStyle(
            "h2", parent=self.body, fontName=bold, fontSize=11, leading=14, spaceBefore=6
        )
        self.copy = ParagraphStyle(
            "copy", parent=self.h2, alignment=TA_RIGHT, fontSize=12, textColor=colors.white
        )

    def text(self, value: str | None, style: ParagraphStyle | None = None):
        """A cell: Paragraph, or shaped image for right-to-left text."""
        style = style or self.cell
        value = value or ""
        if needs_shaping(value):
            return _ShapedText(value, self.fonts, style.fontSize, bold=style.fontName == self.bold)
        return Paragraph(escape(value), style)


# --------------------------------------------------------------------------- document


def _copy_story(doc: AgreementDoc, copy_name: str, st: _Styles, width: float) -> list:
    story: list = [_CopyMarker(copy_name)]
    head = Table(
        [
            [
                Paragraph(escape(doc.title), st.h1),
                Paragraph(escape(copy_name.upper()), st.copy),
            ],
            [
                Paragraph(f"Agreement No. <b>{escape(doc.number)}</b>", st.h2),
                Paragraph(escape(doc.organisation or ""), st.body),
            ],
        ],
        colWidths=[width * 0.62, width * 0.38],
    )
    head.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), st.regular),
                ("BACKGROUND", (1, 0), (1, 0), colors.black),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
            ]
        )
    )
    story += [head, Spacer(1, 3 * mm)]

    ownership = OWNERSHIP_MODELS[doc.ownership_model.lower()]
    rows = [
        ("Holder", st.text(doc.holder_name), "Role", st.text(doc.holder_role)),
        ("Holder MSISDN", st.text(doc.holder_msisdn), "District", st.text(doc.district)),
        ("Facility", st.text(doc.facility), "Ownership", st.text(ownership)),
        (
            "Issued on",
            st.text(_fmt_date(doc.issued_on)),
            "Return by",
            st.text(_fmt_date(doc.expected_return_on)),
        ),
        ("SIM ICCID", st.text(doc.sim_iccid), "SIM MSISDN", st.text(doc.sim_msisdn)),
        ("SIM carrier", st.text(doc.sim_carrier), "Partner", st.text(doc.partner)),
    ]
    data = [[Paragraph(a, st.label), b, Paragraph(c, st.label), d] for a, b, c, d in rows]
    facts = Table(data, colWidths=[width * 0.15, width * 0.35, width * 0.15, width * 0.35])
    facts.setStyle(_grid_style(font=st.regular))
    story += [facts, Spacer(1, 3 * mm)]

    story.append(Paragraph("Devices", st.h2))
    dev_rows = [[Paragraph(h, st.label) for h in ("Item", "Asset tag", "Model", "IMEI", "Serial")]]
    for d in doc.devices:
        model = " ".join(x for x in (d.manufacturer, d.model) if x)
        imei = " / ".join(x for x in (d.imei, d.imei2) if x)
        dev_rows.append([st.text(v) for v in (d.kind, d.asset_tag, model, imei, d.serial)])
    if len(dev_rows) == 1:
        dev_rows.append([st.text("") for _ in range(5)])
    devices = Table(
        dev_rows,
        colWidths=[width * f for f in (0.14, 0.16, 0.26, 0.26, 0.18)],
        repeatRows=1,
    )
    devices.setStyle(_grid_style(font=st.regular, header=True))
    story += [devices, Spacer(1, 3 * mm)]

    version = f" (version {escape(doc.terms_version)})" if doc.terms_version else ""
    story.append(Paragraph(f"Terms{version}", st.h2))
    for block in _paragraphs(doc.terms_text):
        if needs_shaping(block):
            for line in block.split("\n"):
                story.append(st.text(line, st.body))
            story.append(Spacer(1, 2 * mm))
        else:
            html = "<br/>".join(escape(line) for line in block.split("\n"))
            story.append(Paragraph(html, st.body))
            story.append(Spacer(1, 2 * mm))
    if doc.show_terms_sha256:
        story.append(Paragraph(f"Terms text SHA-256: {terms_sha256(doc.terms_text)}", st.small))
    story.append(Spacer(1, 4 * mm))
    story.append(KeepTogether(_signature_block(doc, st, width)))
    return story


def _grid_style(*, font: str, header: bool = False) -> TableStyle:
    cmds = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        cmds.append(("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)))
    else:
        cmds += [
            ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.93, 0.93, 0.93)),
            ("BACKGROUND", (2, 0), (2, -1), colors.Color(0.93, 0.93, 0.93)),
        ]
    return TableStyle(cmds)


def _signature_block(doc: AgreementDoc, st: _Styles, width: float) -> list:
    box_h = 32 * mm
    col_w = width / 3
    holder_cell: list = []
    if doc.signature_png:
        holder_cell.append(_signature_image(doc.signature_png, col_w - 8, box_h - 14 * mm))
        if doc.signed_at:
            holder_cell.append(Paragraph(f"Signed {_fmt_date(doc.signed_at)}", st.small))
    captions = [
        "Holder signature and date",
        "Supervisor signature and date",
        "Council signature and stamp",
    ]
    table = Table(
        [
            [Paragraph(c, st.label) for c in captions],
            [holder_cell, "", ""],
            [
                Paragraph("Name: " + escape(doc.holder_name), st.small)
                if not needs_shaping(doc.holder_name)
                else st.text(doc.holder_name, st.small),
                Paragraph("Name:", st.small),
                Paragraph("Date:", st.small),
            ],
        ],
        colWidths=[col_w] * 3,
        rowHeights=[None, box_h, None],
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), st.regular),
                ("BOX", (0, 0), (0, -1), 0.8, colors.black),
                ("BOX", (1, 0), (1, -1), 0.8, colors.black),
                ("BOX", (2, 0), (2, -1), 0.8, colors.black),
                ("VALIGN", (0, 1), (-1, 1), "BOTTOM"),
            ]
        )
    )
    return [Paragraph("Signatures", st.h2), table]


def render_agreement_pdf(
    doc: AgreementDoc,
    *,
    page_size: Literal["a4", "letter"] = "a4",
    fonts: FontSet | None = None,
) -> bytes:
    """Render the agreement as a PDF with a District copy and a Partner copy.

    Args:
        doc: the agreement's content.
        page_size: ``"a4"`` (210 x 297 mm) or ``"letter"`` (8.5 x 11 in).
        fonts: fonts (default: bundled DejaVu Sans, embedded as subsets).

    Returns:
        PDF bytes. Each copy starts on a new page (one page per copy unless the terms are
        long); the footer of every page reads ``Agreement No. N · District copy · page i``.

    Raises:
        AgreementRenderError: unknown page size or ownership model; empty number; signature
            not a readable PNG or larger than 2 MiB.
    """
    if page_size not in PAGE_SIZES:
        raise AgreementRenderError("Page size must be 'a4' or 'letter'.")
    if doc.ownership_model.lower() not in OWNERSHIP_MODELS:
        raise AgreementRenderError("Ownership model must be 'institution' or 'personal' (BYOD).")
    if not doc.number or not str(doc.number).strip():
        raise AgreementRenderError("An agreement needs a number.")
    st = _Styles(fonts or FontSet.default())
    size = PAGE_SIZES[page_size]
    buf = io.BytesIO()
    margin = 15 * mm
    template = BaseDocTemplate(
        buf,
        pagesize=size,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + 4 * mm,
        title=f"Agreement {doc.number}",
        author=doc.organisation or "fleet",
        creator="fleet",
        subject="Device ownership agreement: District copy and Partner copy",
        initialFontName=st.regular,  # no unembedded Helvetica in the page resources
    )
    width = size[0] - 2 * margin

    def footer(canv, _doc):
        copy_name = getattr(canv, "_fleet_copy", COPIES[0])
        page = canv.getPageNumber() - getattr(canv, "_fleet_copy_start", 1) + 1
        canv.saveState()
        canv.setFont(st.regular, 7.5)
        text = f"Agreement No. {doc.number} \u00b7 {copy_name} \u00b7 page {page}"
        if doc.printed_at:
            text += f" \u00b7 printed {_fmt_date(doc.printed_at)}"
        canv.drawString(margin, margin - 2 * mm, text)
        canv.restoreState()

    story: list = []
    for i, copy_name in enumerate(COPIES):
        if i:
            story.append(PageBreak())
        story += _copy_story(doc, copy_name, st, width)
    frame = Frame(
        template.leftMargin,
        template.bottomMargin,
        template.width,
        template.height,
        id="body",
    )
    # onPageEnd, not onPage: the copy marker of a page has been drawn by then.
    template.addPageTemplates([PageTemplate(id="copy", frames=[frame], onPageEnd=footer)])
    template.build(story)
    return buf.getvalue()

"""Render asset labels: PDF sheets (Avery L7160, 5160) and thermal-printer PNGs.

One layout for every format: the QR code (with its 4-module quiet zone, ISO/IEC 18004) on
the left, the human-readable text beside it: a large bold title (asset tag, box or agreement
number) and up to three smaller lines (holder, district, copy name...), all in a Unicode font
(:mod:`fleet.labels.fonts`).

Formats (``fmt``):

``a4-l7160``
    A4 sheet, 3 x 7 labels of 63.5 x 38.1 mm (Avery L7160 / J8160). Geometry from Avery's
    template specification for L7160: top margin 15.15 mm, side margin 7.25 mm, horizontal
    pitch 66.0 mm, vertical pitch 38.1 mm (so 2.5 mm between columns, none between rows);
    glabels' ``avery-iso-templates.xml`` agrees (``dx=187.2pt`` = 66.04 mm, ``dy=108pt``).
``letter-5160``
    US Letter sheet, 3 x 10 labels of 2.625 x 1 in (Avery 5160). Avery's template: top margin
    0.5 in, side margin 0.1875 in (3/16), horizontal pitch 2.75 in, vertical pitch 1 in.
``thermal-62mm``
    62 mm continuous tape (e.g. Brother DK-22205), each label 62 mm across the tape and
    29 mm long; 2 mm side padding because QL printers do not print the outer ~1.5 mm.
``thermal-50x25``
    50 x 25 mm die-cut thermal labels (Zebra/TSC/Xprinter stock), 1 mm padding.

Sheets come out as one PDF; the QR is drawn as vector rectangles (one per horizontal run of
dark modules), so it is sharp at any printer resolution. Thermal labels come out as PNGs at
the printer's resolution (203 or 300 dpi), 1 bit per pixel, QR modules a whole number of
printer dots; :func:`render_labels` returns them in a ZIP (``0001-phone.png``, ...), one
file per label, which label-printer tools (``brother_ql``, CUPS ``lp -o ppi=...``) print
directly.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import inch, mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas as rl_canvas

from fleet.labels.fonts import FontSet, needs_shaping, pil_font
from fleet.labels.payload import (
    ELLIPSIS,
    DeviceLabelInfo,
    PayloadTemplate,
    build_payload,
    encode_fields,
    make_qr,
)

__all__ = [
    "FORMATS",
    "LABEL_KINDS",
    "LabelRenderError",
    "LabelSpec",
    "SheetFormat",
    "ThermalFormat",
    "iter_label_pngs",
    "labels_for_device",
    "render_label_png",
    "render_labels",
    "render_sheet_pdf",
]

QUIET_ZONE = 4  # modules; ISO/IEC 18004 quiet zone for QR Code
PT_PER_MM = mm  # reportlab: 1 mm in points
Format = Literal["a4-l7160", "letter-5160", "thermal-62mm", "thermal-50x25"]
LabelKind = Literal["phone", "box", "agreement-district", "agreement-partner"]
LABEL_KINDS: tuple[str, ...] = ("phone", "box", "agreement-district", "agreement-partner")
COPY_NAMES = {"agreement-district": "District copy", "agreement-partner": "Partner copy"}


class LabelRenderError(ValueError):
    """A label cannot be rendered as asked (bad format, offset, dpi or too dense a QR)."""


@dataclass(frozen=True)
class LabelSpec:
    """One label to print.

    Args:
        payload: text encoded in the QR code (see :mod:`fleet.labels.payload`).
        title: large bold line (asset tag, box number, agreement number).
        lines: up to three smaller lines (holder, district, "District copy"...).
        kind: one of :data:`LABEL_KINDS` (used in file names; the layout is the same).
    """

    payload: str
    title: str
    lines: tuple[str, ...] = ()
    kind: str = "phone"


@dataclass(frozen=True)
class SheetFormat:
    """A sheet of labels; all lengths in PDF points (1/72 in)."""

    name: str
    page_size: tuple[float, float]
    label_w: float
    label_h: float
    cols: int
    rows: int
    left: float
    top: float
    pitch_x: float
    pitch_y: float
    padding: float

    @property
    def per_sheet(self) -> int:
        return self.cols * self.rows

    def origin(self, slot: int) -> tuple[float, float]:
        """Bottom-left corner (points, PDF coordinates) of label ``slot`` (0-based,
        row-major: left to right, then top to bottom)."""
        row, col = divmod(slot, self.cols)
        x = self.left + col * self.pitch_x
        y = self.page_size[1] - self.top - row * self.pitch_y - self.label_h
        return x, y


@dataclass(frozen=True)
class ThermalFormat:
    """A thermal-printer label; lengths in millimetres."""

    name: str
    width_mm: float
    height_mm: float
    padding_mm: float


FORMATS: dict[str, SheetFormat | ThermalFormat] = {
    "a4-l7160": SheetFormat(
        name="a4-l7160",
        page_size=A4,
        label_w=63.5 * mm,
        label_h=38.1 * mm,
        cols=3,
        rows=7,
        left=7.25 * mm,
        top=15.15 * mm,
        pitch_x=66.0 * mm,
        pitch_y=38.1 * mm,
        padding=2.0 * mm,
    ),
    "letter-5160": SheetFormat(
        name="letter-5160",
        page_size=LETTER,
        label_w=2.625 * inch,
        label_h=1.0 * inch,
        cols=3,
        rows=10,
        left=0.1875 * inch,
        top=0.5 * inch,
        pitch_x=2.75 * inch,
        pitch_y=1.0 * inch,
        padding=1.5 * mm,
    ),
    "thermal-62mm": ThermalFormat("thermal-62mm", 62.0, 29.0, 2.0),
    "thermal-50x25": ThermalFormat("thermal-50x25", 50.0, 25.0, 1.0),
}
THERMAL_DPIS = (203, 300)


# --------------------------------------------------------------------------- label content


def labels_for_device(
    device: DeviceLabelInfo,
    template: PayloadTemplate | None = None,
    *,
    kinds: Sequence[str] = LABEL_KINDS,
    shorten: bool = False,
) -> list[LabelSpec]:
    """The labels one device needs, in ``kinds`` order.

    - ``phone``: sticker for the back of the phone / battery compartment (DHIS2 Android
      implementation guide, Rollout): QR = template payload; title = asset tag; lines =
      holder, district.
    - ``box``: QR = template payload; title = box number (or asset tag); lines = asset tag,
      model, district.
    - ``agreement-district`` / ``agreement-partner``: for the two numbered agreement copies;
      QR = ``FLEET1;T=<asset tag>;N=<agreement number>``; title = ``No. <number>``; lines =
      "District copy" / "Partner copy", asset tag, holder. The agreement number defaults to
      the box number, then the asset tag (issue 3: "the box number by default").

    Raises:
        UnknownTemplateField, PayloadTooLarge, PayloadError: from
            :func:`~fleet.labels.payload.build_payload`.
        LabelRenderError: unknown kind.
    """
    unknown = [k for k in kinds if k not in LABEL_KINDS]
    if unknown:
        raise LabelRenderError(
            f"Unknown label kind(s): {', '.join(unknown)}. Known: {', '.join(LABEL_KINDS)}."
        )
    payload = build_payload(device, template, shorten=shorten)
    number = device.agreement_number or device.box_number or device.asset_tag
    specs = []
    for kind in kinds:
        if kind == "phone":
            lines = (device.holder or "", device.district or "")
            specs.append(LabelSpec(payload, device.asset_tag, _nonempty(lines), kind))
        elif kind == "box":
            title = f"Box {device.box_number}" if device.box_number else device.asset_tag
            lines = (
                device.asset_tag if device.box_number else "",
                device.model or "",
                device.district or "",
            )
            specs.append(LabelSpec(payload, title, _nonempty(lines), kind))
        else:
            agreement_payload = encode_fields(
                {"asset_tag": device.asset_tag, "agreement_number": number}
            )
            lines = (COPY_NAMES[kind], device.asset_tag, device.holder or "")
            specs.append(LabelSpec(agreement_payload, f"No. {number}", _nonempty(lines), kind))
    return specs


def _nonempty(lines: Iterable[str]) -> tuple[str, ...]:
    return tuple(line for line in lines if line and line.strip())


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _TextItem:
    text: str
    bold: bool
    size: float  # points
    baseline: float  # distance from the label's top edge to the baseline, points
    x: float  # from the label's left edge, points


@dataclass(frozen=True)
class _Layout:
    qr_x: float  # from left edge, points
    qr_y: float  # from top edge, points
    qr_side: float  # including quiet zone, points
    texts: tuple[_TextItem, ...]


Measure = Callable[[str, bool, float], float]  # (text, bold, size pt) -> width pt


def _fit_text(text: str, bold: bool, max_w: float, size: float, min_size: float, measure):
    while size > min_size and measure(text, bold, size) > max_w:
        size = max(min_size, size - 0.5)
    if measure(text, bold, size) <= max_w:
        return text, size
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits with an ellipsis
        mid = (lo + hi + 1) // 2
        if measure(text[:mid].rstrip() + ELLIPSIS, bold, size) <= max_w:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ELLIPSIS, size


def _layout(spec: LabelSpec, w: float, h: float, pad: float, measure: Measure) -> _Layout:
    qr_side = min(h - 2 * pad, w * 0.55)
    gap = 1.0 * mm
    text_x = pad + qr_side + gap
    text_w = w - text_x - pad
    avail_h = h - 2 * pad
    title_size = max(7.0, min(16.0, h / mm * 0.38))
    line_size = max(5.0, title_size * 0.62)
    lines = list(spec.lines[:3])
    leading = 1.22

    def block_height(n: int, ts: float, ls: float) -> float:
        return leading * (ts + n * ls)

    while block_height(len(lines), title_size, line_size) > avail_h and line_size > 5.0:
        title_size = max(6.0, title_size - 0.5)
        line_size = max(5.0, line_size - 0.5)
    while lines and block_height(len(lines), title_size, line_size) > avail_h:
        lines.pop()
    title, title_size = _fit_text(spec.title, True, text_w, title_size, 6.0, measure)
    fitted = [_fit_text(line, False, text_w, line_size, 5.0, measure) for line in lines]
    total = block_height(len(fitted), title_size, line_size)
    y = (h - total) / 2
    items = []
    y += leading * title_size
    items.append(_TextItem(title, True, title_size, y - 0.22 * title_size, text_x))
    for text, size in fitted:
        y += leading * line_size
        items.append(_TextItem(text, False, size, y - 0.22 * size, text_x))
    qr_y = (h - qr_side) / 2
    return _Layout(pad, qr_y, qr_side, tuple(items))


def _runs(matrix: Sequence[Sequence[bool]]) -> Iterator[tuple[int, int, int]]:
    """(row, first column, length) of each horizontal run of dark modules."""
    for r, row in enumerate(matrix):
        c, n = 0, len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                yield r, start, c - start
            else:
                c += 1


# --------------------------------------------------------------------------- PDF sheets


class _PdfText:
    def __init__(self, fonts: FontSet):
        self.fonts = fonts
        self.regular, self.bold = fonts.reportlab_names()

    def measure(self, text: str, bold: bool, size: float) -> float:
        if needs_shaping(text):
            font = pil_font(self.fonts.bold_path if bold else self.fonts.regular, 100)
            return font.getlength(text) * size / 100
        return pdfmetrics.stringWidth(text, self.bold if bold else self.regular, size)

    def draw(self, c: rl_canvas.Canvas, x: float, y: float, item: _TextItem) -> None:
        if needs_shaping(item.text):
            _draw_shaped_text(c, x, y, item, self.fonts)
        else:
            c.setFont(self.bold if item.bold else self.regular, item.size)
            c.drawString(x, y, item.text)


def _draw_shaped_text(c, x: float, y: float, item: _TextItem, fonts: FontSet) -> None:
    """Right-to-left / Arabic text: shape with Pillow (raqm) into a 600 dpi bitmap."""
    scale = 600 / 72  # pixels per point
    font = pil_font(fonts.bold_path if item.bold else fonts.regular, round(item.size * scale))
    left, top, right, bottom = font.getbbox(item.text)
    ascent, descent = font.getmetrics()
    width = max(1, int(font.getlength(item.text)) + 2)
    img = Image.new("L", (width, ascent + descent), 255)
    ImageDraw.Draw(img).text((0, 0), item.text, font=font, fill=0)
    mask = img.point(lambda v: 255 - v)
    black = Image.new("RGBA", img.size, (0, 0, 0, 255))
    black.putalpha(mask)
    c.drawImage(
        ImageReader(black),
        x,
        y - descent / scale,
        width=img.width / scale,
        height=img.height / scale,
        mask="auto",
    )


@functools.lru_cache(maxsize=16)
def _matrix(payload: str) -> tuple[int, tuple[tuple[bool, ...], ...]]:
    """(version, modules) of the payload's QR code; cached because the phone sticker and the
    box label, and the two agreement-number labels, of one device share a payload."""
    qr = make_qr(payload)
    return qr.version, tuple(tuple(bool(m) for m in row) for row in qr.get_matrix())


def _draw_label_pdf(c, text: _PdfText, spec: LabelSpec, x0, y0, w, h, pad, outline) -> None:
    layout = _layout(spec, w, h, pad, text.measure)
    _, matrix = _matrix(spec.payload)
    n = len(matrix)
    module = layout.qr_side / (n + 2 * QUIET_ZONE)
    qx = x0 + layout.qr_x + QUIET_ZONE * module
    qtop = y0 + h - layout.qr_y - QUIET_ZONE * module  # PDF y of the symbol's top edge
    # One filled path of rectangles in module units: the matrix maps (col, row) to the page,
    # so every coordinate is a small integer (compact, exact) - PDF operators written directly
    # because 300 reportlab path.rect() calls per label cost more than the QR itself.
    ops = [f"q {module:.4f} 0 0 {-module:.4f} {qx:.4f} {qtop:.4f} cm"]
    ops += [f"{col} {r} {length} 1 re" for r, col, length in _runs(matrix)]
    ops.append("f Q")
    c.setFillGray(0)
    c.addLiteral("\n".join(ops))
    for item in layout.texts:
        text.draw(c, x0 + item.x, y0 + h - item.baseline, item)
    if outline:
        c.setLineWidth(0.25)
        c.setStrokeGray(0.6)
        c.roundRect(x0, y0, w, h, 1.5 * mm, stroke=1, fill=0)
        c.setStrokeGray(0)


def render_sheet_pdf(
    labels: Iterable[LabelSpec],
    fmt: str,
    *,
    start_offset: int = 0,
    fonts: FontSet | None = None,
    outline: bool = False,
    out: io.BufferedIOBase | None = None,
) -> bytes | None:
    """Render labels onto label sheets as one PDF.

    Args:
        labels: label specs (any iterable; consumed once, so a generator keeps memory low).
        fmt: ``"a4-l7160"`` or ``"letter-5160"``.
        start_offset: number of label positions already used on the first sheet (0-based
            slot of the first label, row-major from top left), to reuse a partly used sheet;
            ``0 <= start_offset < labels per sheet``.
        fonts: fonts for the text (default: bundled DejaVu Sans).
        outline: draw a thin grey outline of every label position (alignment test prints).
        out: binary file to write to; when given, returns None.

    Returns:
        the PDF bytes (A4 or US Letter pages), or None when ``out`` is given.

    Raises:
        LabelRenderError: unknown sheet format or offset out of range.
        PayloadTooLarge: a payload needs more than QR version 40.
    """
    sheet = FORMATS.get(fmt)
    if not isinstance(sheet, SheetFormat):
        raise LabelRenderError(f"Unknown sheet format {fmt!r}: use a4-l7160 or letter-5160.")
    if not 0 <= start_offset < sheet.per_sheet:
        raise LabelRenderError(
            f"Start offset must be between 0 and {sheet.per_sheet - 1} for {fmt} "
            f"({sheet.per_sheet} labels per sheet)."
        )
    text = _PdfText(fonts or FontSet.default())
    target = out if out is not None else io.BytesIO()
    c = rl_canvas.Canvas(
        target, pagesize=sheet.page_size, pageCompression=1, initialFontName=text.regular
    )
    c.setTitle(f"fleet labels ({fmt})")
    c.setCreator("fleet")
    slot = start_offset
    drawn = 0
    for spec in labels:
        if slot == sheet.per_sheet:
            c.showPage()
            slot = 0
        x0, y0 = sheet.origin(slot)
        _draw_label_pdf(c, text, spec, x0, y0, sheet.label_w, sheet.label_h, sheet.padding, outline)
        slot += 1
        drawn += 1
    if drawn == 0:
        raise LabelRenderError("No labels to print.")
    c.showPage()
    c.save()
    return None if out is not None else target.getvalue()


# --------------------------------------------------------------------------- thermal PNG


def render_label_png(
    spec: LabelSpec, fmt: str = "thermal-50x25", *, dpi: int = 300, fonts: FontSet | None = None
) -> bytes:
    """Render one thermal label as a 1-bit PNG at the printer's resolution.

    Args:
        spec: the label.
        fmt: ``"thermal-62mm"`` (62 x 29 mm) or ``"thermal-50x25"``.
        dpi: printer resolution, 203 or 300 dots per inch; the PNG carries it as pHYs.
        fonts: fonts (default: bundled DejaVu Sans).

    Returns:
        PNG bytes, ``round(width_mm / 25.4 * dpi)`` x ``round(height_mm / 25.4 * dpi)`` px.

    Raises:
        LabelRenderError: unknown format or dpi, or the QR would need modules smaller than
            2 printer dots (payload too dense for this label size at this dpi).
    """
    img = _label_image(spec, fmt, dpi, fonts or FontSet.default())
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(dpi, dpi), optimize=False)
    return buf.getvalue()


def _label_image(spec: LabelSpec, fmt: str, dpi: int, fonts: FontSet) -> Image.Image:
    thermal = FORMATS.get(fmt)
    if not isinstance(thermal, ThermalFormat):
        raise LabelRenderError(
            f"Unknown thermal format {fmt!r}: use thermal-62mm or thermal-50x25."
        )
    if dpi not in THERMAL_DPIS:
        raise LabelRenderError("Thermal printer resolution must be 203 or 300 dpi.")
    px_per_pt = dpi / 72.0
    w_px = round(thermal.width_mm / 25.4 * dpi)
    h_px = round(thermal.height_mm / 25.4 * dpi)

    def measure(text: str, bold: bool, size: float) -> float:
        font = pil_font(fonts.bold_path if bold else fonts.regular, round(size * px_per_pt))
        return font.getlength(text) / px_per_pt

    w_pt, h_pt = w_px / px_per_pt, h_px / px_per_pt
    layout = _layout(spec, w_pt, h_pt, thermal.padding_mm * mm, measure)
    version, matrix = _matrix(spec.payload)
    n = len(matrix)
    side_px = int(layout.qr_side * px_per_pt)
    module = side_px // (n + 2 * QUIET_ZONE)
    if module < 2:
        raise LabelRenderError(
            f"The QR code (version {version}) is too dense for a {fmt} label at {dpi} dpi: "
            "use a shorter payload or the 300 dpi printer."
        )
    img = Image.new("1", (w_px, h_px), 1)
    draw = ImageDraw.Draw(img)
    symbol = module * (n + 2 * QUIET_ZONE)
    qx = round(layout.qr_x * px_per_pt) + (side_px - symbol) // 2 + QUIET_ZONE * module
    qy = (h_px - symbol) // 2 + QUIET_ZONE * module
    for r, col, length in _runs(matrix):
        x = qx + col * module
        y = qy + r * module
        draw.rectangle((x, y, x + length * module - 1, y + module - 1), fill=0)
    text_x_min = qx + (n + QUIET_ZONE) * module
    for item in layout.texts:
        path = fonts.bold_path if item.bold else fonts.regular
        font = pil_font(path, round(item.size * px_per_pt))
        x = max(round(item.x * px_per_pt), text_x_min)
        draw.text((x, round(item.baseline * px_per_pt)), item.text, font=font, fill=0, anchor="ls")
    return img


def iter_label_pngs(
    labels: Iterable[LabelSpec], fmt: str, *, dpi: int = 300, fonts: FontSet | None = None
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(file name, PNG bytes)`` per label, e.g. ``("0001-phone.png", b"...")``.

    Lazy: one label image in memory at a time. Errors as :func:`render_label_png`.
    """
    fonts = fonts or FontSet.default()
    for i, spec in enumerate(labels, start=1):
        yield f"{i:04d}-{spec.kind}.png", render_label_png(spec, fmt, dpi=dpi, fonts=fonts)


# --------------------------------------------------------------------------- entry point


def render_labels(
    labels: Iterable[LabelSpec],
    fmt: Format | str,
    *,
    dpi: int = 300,
    start_offset: int = 0,
    fonts: FontSet | None = None,
    outline: bool = False,
) -> bytes:
    """Render a print run of labels.

    Args:
        labels: label specs, e.g. from :func:`labels_for_device` for each device.
        fmt: ``"a4-l7160"``, ``"letter-5160"``, ``"thermal-62mm"`` or ``"thermal-50x25"``.
        dpi: thermal printer resolution (203 or 300); ignored for sheets (vector PDF).
        start_offset: sheets only: label positions already used on the first sheet.
        fonts: fonts for the text (default: bundled DejaVu Sans).
        outline: sheets only: draw label outlines.

    Returns:
        sheets: PDF bytes. Thermal: ZIP bytes holding one PNG per label
        (``0001-phone.png``, ``0002-box.png``, ... in input order), each at ``dpi``.

    Raises:
        LabelRenderError: unknown format, bad dpi or offset, no labels, QR too dense.
        PayloadTooLarge: a payload exceeds QR version 40.
    """
    sheet = FORMATS.get(fmt)
    if sheet is None:
        raise LabelRenderError(f"Unknown label format {fmt!r}: use one of {', '.join(FORMATS)}.")
    if isinstance(sheet, SheetFormat):
        result = render_sheet_pdf(
            labels, fmt, start_offset=start_offset, fonts=fonts, outline=outline
        )
        assert result is not None
        return result
    if start_offset:
        raise LabelRenderError("A start offset only applies to label sheets, not thermal rolls.")
    buf = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, png in iter_label_pngs(labels, fmt, dpi=dpi, fonts=fonts):
            zf.writestr(name, png)
            count += 1
    if count == 0:
        raise LabelRenderError("No labels to print.")
    return buf.getvalue()

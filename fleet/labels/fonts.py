"""Unicode fonts for labels and agreement PDFs (reportlab and Pillow).

fleet ships DejaVu Sans and DejaVu Sans Bold (Debian ``fonts-dejavu-core`` 2.37, licence in
``fleet/fonts/LICENSE``) so holder names in Latin with diacritics, Cyrillic, Greek, Armenian,
Georgian, Hebrew and Arabic script render. DejaVu has no CJK (Chinese, Japanese, Korean),
Devanagari, Bengali, Ethiopic, Thai or Myanmar glyphs: a deployment that needs them passes a
:class:`FontSet` with other TrueType files (e.g. Noto Sans), see ``docs/labels.md``.

Shaping: Pillow (PNG labels) lays text out with libraqm when present (Arabic joining and
right-to-left order). reportlab (PDF) draws glyphs one by one in logical order, so
right-to-left text would print reversed and unjoined; :func:`needs_shaping` tells callers when
to draw such text as an image made by Pillow instead (the renderers here do that).
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont, features
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

__all__ = ["FONT_DIR", "FontSet", "missing_glyphs", "needs_shaping", "pil_font"]

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"


@dataclass(frozen=True)
class FontSet:
    """A regular and a bold TrueType font used for all label and agreement text.

    Args:
        regular: path to a ``.ttf`` file (TrueType outlines; reportlab cannot embed CFF/OTF).
        bold: path to the bold ``.ttf``; defaults to ``regular``.
    """

    regular: Path
    bold: Path | None = None

    @classmethod
    def default(cls) -> FontSet:
        """The bundled DejaVu Sans pair."""
        return cls(FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf")

    @property
    def bold_path(self) -> Path:
        return Path(self.bold or self.regular)

    def reportlab_names(self) -> tuple[str, str]:
        """Register both fonts with reportlab (once) and return ``(regular, bold)`` names.

        Raises:
            FileNotFoundError: a font file does not exist.
            reportlab.pdfbase.ttfonts.TTFError: not a usable TrueType file.
        """
        return _register(Path(self.regular)), _register(self.bold_path)


@functools.lru_cache(maxsize=32)
def _register(path: Path) -> str:
    path = path.resolve()
    if not path.is_file():
        raise FileNotFoundError(f"Font file not found: {path}")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    name = f"{path.stem}-{digest}"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, str(path)))
    return name


@functools.lru_cache(maxsize=256)
def pil_font(path: Path, size_px: int) -> ImageFont.FreeTypeFont:
    """Pillow font for ``path`` at ``size_px`` pixels (em size), cached.

    Uses the raqm layout engine (shaping, bidi) when Pillow has it.
    """
    engine = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(path), size=max(1, int(size_px)), layout_engine=engine)


@functools.lru_cache(maxsize=8)
def _cmap(path: Path) -> frozenset[int]:
    font = TTFont(f"probe-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}", str(path))
    return frozenset(font.face.charToGlyph)


def missing_glyphs(text: str, fonts: FontSet | None = None) -> list[str]:
    """Characters of ``text`` that the regular font of ``fonts`` has no glyph for.

    Whitespace and control characters are ignored. Use it to warn before printing a holder
    name that would show empty boxes (e.g. CJK or Devanagari with DejaVu).

    Returns:
        the distinct missing characters, in order of first appearance.
    """
    fonts = fonts or FontSet.default()
    cmap = _cmap(Path(fonts.regular).resolve())
    seen: list[str] = []
    for ch in text:
        if ch.isspace() or unicodedata.category(ch).startswith("C"):
            continue
        if ord(ch) not in cmap and ch not in seen:
            seen.append(ch)
    return seen


def needs_shaping(text: str) -> bool:
    """True if ``text`` holds right-to-left or Arabic-script characters that reportlab
    cannot lay out (bidi classes R, AL, AN)."""
    return any(unicodedata.bidirectional(ch) in ("R", "AL", "AN") for ch in text)

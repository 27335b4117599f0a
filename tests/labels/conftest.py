"""Real decoders and PDF tools for the label tests.

zbarimg (Debian zbar-tools) decodes QR codes; pdftoppm, pdftotext and pdffonts (Debian
poppler-utils) rasterise PDFs, extract their text and list their fonts. A missing tool fails
the test with the package to install; nothing is skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

PACKAGES = {
    "zbarimg": "zbar-tools",
    "pdftoppm": "poppler-utils",
    "pdftotext": "poppler-utils",
    "pdffonts": "poppler-utils",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {PACKAGES[name]}")
    return path


class Tools:
    """Thin wrappers around the real command-line tools, working in ``tmp``."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self._n = 0

    def _path(self, suffix: str) -> Path:
        self._n += 1
        return self.tmp / f"f{self._n:04d}{suffix}"

    def decode(self, image: Path | Image.Image | bytes) -> list[str]:
        """QR texts zbarimg finds in an image (file, Pillow image or PNG bytes)."""
        if isinstance(image, Image.Image):
            path = self._path(".png")
            image.save(path)
        elif isinstance(image, bytes):
            path = self._path(".png")
            path.write_bytes(image)
        else:
            path = image
        proc = subprocess.run(
            [_tool("zbarimg"), "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(path)],
            capture_output=True,
            timeout=60,
        )
        # zbarimg exits 4 when it finds no symbol.
        assert proc.returncode in (0, 4), proc.stderr.decode(errors="replace")
        out = proc.stdout.decode("utf-8")
        return [line for line in out.split("\n") if line]

    def rasterise(self, pdf: bytes, dpi: int, *, color: bool = False) -> list[Image.Image]:
        """Every page of ``pdf`` as a Pillow image at ``dpi`` (pdftoppm)."""
        src = self._path(".pdf")
        src.write_bytes(pdf)
        prefix = self._path("")
        mode = [] if color else ["-gray"]
        subprocess.run(
            [_tool("pdftoppm"), "-r", str(dpi), *mode, "-png", str(src), str(prefix)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        pages = sorted(
            self.tmp.glob(prefix.name + "-*.png"),
            key=lambda p: int(p.stem.rsplit("-", 1)[1]),
        )
        assert pages, "pdftoppm produced no page"
        images = []
        for page in pages:
            with Image.open(page) as im:
                im.load()
                images.append(im.copy() if color else im.convert("L"))
        return images

    def text(self, pdf: bytes) -> list[str]:
        """Text of each page (pdftotext -layout; pages split at form feeds)."""
        src = self._path(".pdf")
        src.write_bytes(pdf)
        proc = subprocess.run(
            [_tool("pdftotext"), "-layout", "-enc", "UTF-8", str(src), "-"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        pages = proc.stdout.decode("utf-8").split("\f")
        if pages and not pages[-1].strip():
            pages.pop()
        return pages

    def fonts(self, pdf: bytes) -> list[dict[str, str]]:
        """Fonts of ``pdf`` as pdffonts lists them: ``{"name", "emb", "sub", "uni"}``."""
        src = self._path(".pdf")
        src.write_bytes(pdf)
        proc = subprocess.run(
            [_tool("pdffonts"), str(src)], check=True, capture_output=True, timeout=60
        )
        rows = []
        for line in proc.stdout.decode().splitlines()[2:]:
            tokens = line.split()
            if len(tokens) < 7:
                continue
            # ... emb sub uni objnum gen
            rows.append(
                {"name": tokens[0], "emb": tokens[-5], "sub": tokens[-4], "uni": tokens[-3]}
            )
        return rows


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    return Tools(tmp_path)

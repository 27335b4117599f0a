"""Helpers for the agreement, label-printing and scanning tests: the real tools (pdftotext,
pdftoppm from poppler-utils; zbarimg from zbar-tools; ffmpeg) and a signature-pad-like PNG.
(A uniquely named module: ``conftest`` is not unique across test folders.)"""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

PACKAGES = {
    "zbarimg": "zbar-tools",
    "pdftoppm": "poppler-utils",
    "pdftotext": "poppler-utils",
    "ffmpeg": "ffmpeg",
}
_seq = itertools.count(1)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {PACKAGES[name]}")
    return path


def pdf_text(pdf: bytes, tmp: Path) -> list[str]:
    """Text of each page (pdftotext -layout)."""
    src = tmp / f"t{next(_seq)}.pdf"
    src.write_bytes(pdf)
    out = subprocess.run(
        [tool("pdftotext"), "-layout", "-enc", "UTF-8", str(src), "-"],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout.decode()
    pages = out.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def rasterise(pdf: bytes, dpi: int, tmp: Path) -> list[Path]:
    """PNG files of each page at ``dpi`` (pdftoppm, grey)."""
    n = next(_seq)
    src = tmp / f"r{n}.pdf"
    src.write_bytes(pdf)
    subprocess.run(
        [tool("pdftoppm"), "-r", str(dpi), "-gray", "-png", str(src), str(tmp / f"r{n}")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return sorted(tmp.glob(f"r{n}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def zbar(path: Path) -> list[str]:
    """QR texts zbarimg finds in an image file."""
    proc = subprocess.run(
        [tool("zbarimg"), "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(path)],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode in (0, 4), proc.stderr.decode(errors="replace")
    return [line for line in proc.stdout.decode("utf-8").split("\n") if line]


def signature_png(blank: bool = False) -> bytes:
    """A PNG like the signature pad's: white canvas, black strokes unless ``blank``."""
    im = Image.new("RGBA", (600, 220), "white")
    if not blank:
        draw = ImageDraw.Draw(im)
        draw.line(
            [(40, 150), (120, 60), (200, 170), (300, 50), (420, 160), (560, 80)],
            fill="black",
            width=4,
        )
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def seed_checked_out(app, n: int, *, district_name: str = "Kano Municipal"):
    """In ``app`` (a live server's app): country > region > district > facility, and ``n``
    phones with paired SIMs checked out to holders there (committed). Returns
    ``(district_id, [asset tags])``."""
    from fleet_testing import make_iccid, make_imei

    from fleet.extensions import db
    from fleet.inventory import operations as inv

    with app.app_context():
        base = next(_seq) * 1000
        country = inv.create_org_unit({"name": f"Nigeria {base}"}, actor=None)
        region = inv.create_org_unit(
            {"name": f"Kano State {base}", "parent_id": country.id}, actor=None
        )
        district = inv.create_org_unit(
            {"name": f"{district_name} {base}", "parent_id": region.id}, actor=None
        )
        facility = inv.create_org_unit(
            {"name": f"Gwale PHC {base}", "parent_id": district.id}, actor=None
        )
        tags = []
        for i in range(n):
            holder = inv.create_holder(
                {
                    "name": f"Ngozi Ọkafọ̀ {base + i}",
                    "msisdn": f"+2348031{base + i:06d}",
                    "org_unit_id": facility.id,
                },
                actor=None,
            )
            device = inv.register_device(
                {
                    "imei": make_imei(base + i),
                    "model": "Galaxy A12",
                    "manufacturer": "Samsung",
                    "serial": f"R58N{base + i}",
                    "box_number": f"B-{base + i}",
                    "org_unit_id": facility.id,
                },
                actor=None,
            )
            sim = inv.register_sim(
                {
                    "iccid": make_iccid(base + i),
                    "msisdn": f"+2348099{base + i:06d}",
                    "carrier": "MTN",
                },
                actor=None,
            )
            inv.pair_sim(device, sim, actor=None)
            inv.checkout(device, holder, actor=None)
            tags.append(device.asset_tag)
        db.session.commit()
        return district.id, tags

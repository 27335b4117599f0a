"""Run summary and per-phone handover slips as one PDF (reportlab, A4, DejaVu Sans).

Page 1 is the run summary (one row per phone). Then one slip per provisioned phone: asset tag,
serial, IMEI, model, holder, installed versions, encryption, and the screen-lock PIN when the
profile gives each phone a random one (the slip is the only place that PIN is shown; hand it
over with the phone). A profile-wide PIN is not printed.
"""

from __future__ import annotations

import io
from pathlib import Path

from fleet.provisioning.models import Run

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"


def _fonts() -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "FleetSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("FleetSans", str(FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("FleetSans-Bold", str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    return "FleetSans", "FleetSans-Bold"


def write_slips(run: Run) -> bytes:
    """The PDF bytes for ``run``: summary page, then a slip per phone whose status is done."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    regular, bold = _fonts()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle(f"fleet provisioning run {run.id}")
    width, height = A4
    y = height - 20 * mm
    c.setFont(bold, 14)
    c.drawString(20 * mm, y, f"Provisioning run {run.id}: {run.profile.name} "
                             f"v{run.profile_version}")
    y -= 8 * mm
    c.setFont(regular, 9)
    c.drawString(20 * mm, y, f"Station {run.station.name if run.station else 'local'}; "
                             f"started {run.started_at:%Y-%m-%d %H:%M} by {run.started_by}; "
                             f"status {run.status}")
    y -= 10 * mm
    c.setFont(bold, 9)
    for x, head in ((20, "Asset tag"), (50, "Serial"), (85, "Model"), (125, "Status"),
                    (145, "Note")):
        c.drawString(x * mm, y, head)
    c.setFont(regular, 8)
    for it in run.items:
        y -= 5 * mm
        if y < 20 * mm:
            c.showPage()
            c.setFont(regular, 8)
            y = height - 20 * mm
        c.drawString(20 * mm, y, it.device.asset_tag if it.device else "-")
        c.drawString(50 * mm, y, (it.serial or it.adb_serial)[:20])
        c.drawString(85 * mm, y, str((it.facts or {}).get("model") or "")[:22])
        c.drawString(125 * mm, y, it.status)
        note = it.message if it.status != "done" else ""
        c.drawString(145 * mm, y, (f"at {it.resume_step}: " if it.resume_step else "")
                     + note[:40])
    c.showPage()
    for it in run.items:
        if it.status != "done" or it.device is None:
            continue
        d = it.device
        facts = it.facts or {}
        y = height - 25 * mm
        c.setFont(bold, 16)
        c.drawString(20 * mm, y, f"Handover slip - {d.asset_tag}")
        c.setFont(regular, 11)
        rows = [
            ("Serial", it.serial or ""),
            ("IMEI", it.imei or d.imei or ""),
            ("Phone", f"{facts.get('manufacturer', '')} {facts.get('model', '')}, Android "
                      f"{facts.get('android_version', '')} (API {facts.get('api_level', '')})"),
            ("Holder", d.holder.name if d.holder else "-"),
            ("Profile", f"{run.profile.name} v{run.profile_version}"),
            ("Apps", ", ".join(f"{p.package} {p.version_name or p.version_code}"
                               for p in _installed(it))),
            ("Encryption", f"{facts.get('crypto_state') or 'unknown'}"),
            ("Provisioned", f"{it.finished_at:%Y-%m-%d %H:%M} UTC, run {run.id}"
             if it.finished_at else ""),
        ]
        if run.profile.pin_policy == "random" and it.pin:
            rows.append(("Screen-lock PIN", it.pin))
        elif run.profile.pin_policy == "profile":
            rows.append(("Screen-lock PIN", "the profile PIN (ask your supervisor)"))
        y -= 12 * mm
        for label, value in rows:
            c.setFont(bold, 11)
            c.drawString(20 * mm, y, label)
            c.setFont(regular, 11)
            c.drawString(60 * mm, y, str(value)[:80])
            y -= 8 * mm
        y -= 10 * mm
        c.setFont(regular, 10)
        c.drawString(20 * mm, y, "Received by (name, signature, date):")
        c.line(20 * mm, y - 15 * mm, 190 * mm, y - 15 * mm)
        c.showPage()
    c.save()
    return buf.getvalue()


def _installed(item):
    from sqlalchemy import select

    from fleet.extensions import db
    from fleet.provisioning.models import InstalledPackage

    return list(db.session.scalars(select(InstalledPackage).where(
        InstalledPackage.item_id == item.id).order_by(InstalledPackage.package)))

"""Health exports: the fleet table as CSV/XLSX (through the inventory's formula-neutralising
writers) and a one-page-per-district PDF summary for district review meetings (reportlab,
DejaVu fonts from ``fleet/fonts`` via ``fleet.labels.fonts``)."""

from __future__ import annotations

import io
from collections.abc import Iterator

from fleet.inventory import exports as inv_exports
from fleet.labels.fonts import FontSet
from fleet.reports.compliance import RULES
from fleet.timeutil import utcnow

#: Export columns (MB are MiB; last_seen in UTC ISO 8601).
COLUMNS = ("asset_tag", "status", "district", "holder", "model", "last_seen", "source",
           "compliant", "failing_rules", "battery_level", "battery_health", "storage_free_mb",
           "storage_total_mb", "ram_total_mb", "ram_available_mb", "android_version",
           "api_level", "security_patch", "crypto_state", "screen_lock_set",
           "capture_version_name", "capture_version_code", "app_pss_mb", "iccid")


def iter_rows(rows: list[dict]) -> Iterator[list]:
    """Cells per device from ``queries.fleet_rows``, neutralised against formula injection."""
    for r in rows:
        device, state, report = r["device"], r["state"], r["report"]
        seen = state.last_seen_at if state else None
        values = {
            "asset_tag": device.asset_tag, "status": device.status, "district": r["district"],
            "holder": device.holder.name if device.holder else None, "model": device.model,
            "last_seen": seen.isoformat() if seen else None,
            "source": report.source if report else None,
            "compliant": None if state is None else state.compliant,
            "failing_rules": " ".join(f["rule"] for f in (state.failing if state else [])),
        }
        for col in COLUMNS:
            if col not in values:
                values[col] = getattr(report, col) if report is not None else None
        yield [inv_exports.neutralise(values[c]) for c in COLUMNS]


def export(rows: list[dict], fmt: str) -> bytes:
    """``fmt`` 'csv' or 'xlsx'."""
    cells = iter_rows(rows)
    if fmt == "xlsx":
        return inv_exports.to_xlsx(COLUMNS, cells, title="health")
    return inv_exports.to_csv(COLUMNS, cells)


def summary_pdf(summary: dict, *, title: str = "Fleet health summary") -> bytes:
    """A4 PDF: fleet totals, the district table, failing rules, last-seen buckets, app
    versions per channel, then the non-compliant devices with their failing rules."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    regular, bold = FontSet.default().reportlab_names()
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=11)
    head = ParagraphStyle("head", fontName=bold, fontSize=12, leading=15, spaceBefore=6)
    big = ParagraphStyle("title", fontName=bold, fontSize=16, leading=20)
    style = TableStyle([("FONT", (0, 0), (-1, -1), regular, 8),
                        ("FONT", (0, 0), (-1, 0), bold, 8),
                        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                        ("VALIGN", (0, 0), (-1, -1), "TOP")])

    def table(header, data, widths=None):
        t = Table([header, *data] if data else [header, ["—"] * len(header)],
                  colWidths=widths, repeatRows=1)
        t.setStyle(style)
        return t

    story = [Paragraph(title, big),
             Paragraph(f"{utcnow():%Y-%m-%d %H:%M} UTC · {summary['total']} devices", body),
             Paragraph("Districts", head),
             table(["District", "Devices", "Compliant", "Non-compliant", "Not checked"],
                   [[d, c.get("total", 0), c.get("compliant", 0), c.get("non_compliant", 0),
                     c.get("unchecked", 0)] for d, c in summary["by_district"].items()]),
             Paragraph("Failing rules", head),
             table(["Rule", "Devices"], [[str(RULES.get(k, k)), n]
                                         for k, n in summary["rules"].items()]),
             Paragraph("Last seen", head),
             table(["Last report", "Devices"], [list(x) for x in summary["last_seen"]]),
             Paragraph("Capture app versions per channel", head),
             table(["Channel", "Version", "Devices"],
                   [[ch, ver, n] for ch, vs in summary["versions"].items()
                    for ver, n in vs.items()]),
             Spacer(1, 4 * mm), Paragraph("Non-compliant devices", head)]
    rows = []
    for r in summary["failing"]:
        failing = "; ".join(f["message"] or f["rule"] for f in r["state"].failing)
        rows.append([r["device"].asset_tag, r["district"],
                     r["device"].holder.name if r["device"].holder else "",
                     Paragraph(failing, body)])
    story.append(table(["Asset tag", "District", "Holder", "Failing"], rows,
                       [28 * mm, 32 * mm, 36 * mm, 84 * mm]))
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=title, leftMargin=15 * mm, rightMargin=15 * mm,
                      topMargin=15 * mm, bottomMargin=15 * mm).build(story)
    return out.getvalue()

"""Export the device, SIM and holder lists (same filters as the pages) to CSV and XLSX.

Cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) are
neutralised with a leading apostrophe (OWASP "CSV Injection"). SIM PIN/PUK are never exported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from fleet.extensions import db
from fleet.inventory import queries
from fleet.inventory.models import WORKLOAD_COLUMNS

COLUMNS = {
    "devices": (
        "asset_tag",
        "box_number",
        "serial",
        "imei",
        "imei2",
        "manufacturer",
        "model",
        "android_version",
        "api_level",
        "ram_mb",
        "storage_gb",
        "ownership",
        "status",
        "org_unit",
        "holder",
        "sims",
        "notes",
    ),
    "sims": (
        "iccid",
        "msisdn",
        "imsi",
        "carrier",
        "data_plan",
        "bundle_expires_on",
        "glued_in",
        "status",
        "device",
        "notes",
    ),
    "holders": (
        "name",
        "role",
        "msisdn",
        "org_unit",
        "dhis2_username",
        "national_id",
        "active",
        *WORKLOAD_COLUMNS,
        "notes",
    ),
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> object:
    """Make a cell safe to open in a spreadsheet: text that starts like a formula gets a
    leading apostrophe. Numbers are kept as numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _value(obj, column: str):
    if column == "org_unit":
        return obj.org_unit.name if obj.org_unit else None
    if column == "holder":
        return obj.holder.name if obj.holder else None
    if column == "sims":
        return " ".join(s.iccid for s in obj.current_sims)
    if column == "device":
        dev = obj.current_device
        return dev.asset_tag if dev else None
    value = getattr(obj, column)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def iter_rows(kind: str, filters: dict) -> Iterator[list]:
    """Rows (lists of cell values) for ``kind`` with ``filters``, streamed in batches."""
    stmt = {
        "devices": queries.device_query,
        "sims": queries.sim_query,
        "holders": queries.holder_query,
    }[kind](**filters)
    for obj in db.session.scalars(stmt.execution_options(yield_per=1000)):
        yield [neutralise(_value(obj, c)) for c in COLUMNS[kind]]


def _header(columns: str | Sequence[str]) -> list[str]:
    """Column names: a sequence as given, or the inventory's columns for a kind name."""
    return list(COLUMNS[columns]) if isinstance(columns, str) else list(columns)


def to_csv(columns: str | Sequence[str], rows: Iterable[list]) -> bytes:
    """CSV bytes, UTF-8 with BOM so spreadsheet programs read accents right.

    ``columns`` is the header row (or an inventory kind, 'devices', for its columns); ``rows``
    are lists of cells already passed through :func:`neutralise`."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(_header(columns))
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def to_xlsx(
    columns: str | Sequence[str], rows: Iterable[list], *, title: str | None = None
) -> bytes:
    """XLSX bytes (write-only workbook, constant memory per row); same arguments as
    :func:`to_csv`, ``title`` names the sheet."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet((title or (columns if isinstance(columns, str) else "fleet"))[:31])
    sheet.append(_header(columns))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export(kind: str, fmt: str, filters: dict | None = None) -> bytes:
    """Export ``kind`` in ``fmt`` ('csv' or 'xlsx')."""
    rows = iter_rows(kind, filters or {})
    return to_xlsx(kind, rows) if fmt == "xlsx" else to_csv(kind, rows)

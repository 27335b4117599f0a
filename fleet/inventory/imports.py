"""Bulk import of devices, SIM cards and holders from CSV and XLSX procurement sheets.

Every row is validated with the same marshmallow schema as the API and the forms, then
against the database and the rest of the file. A dry run reports per-row errors (row number
as the spreadsheet shows it, column, reason). An import with any error writes nothing unless
``valid_only`` is set; then only valid rows are written. One transaction either way.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from fleet.errors import FleetError, InvalidInput
from fleet.inventory import operations as ops
from fleet.inventory.schemas import DeviceCreateArgs, HolderCreateArgs, SimCreateArgs

log = logging.getLogger(__name__)

KINDS = ("devices", "sims", "holders")

#: Header aliases met on procurement sheets, normalised (lowercase, letters and digits only).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "devices": {
        "asset_tag": (
            "assettag",
            "tag",
            "asset",
            "assetno",
            "assetnumber",
            "assetid",
            "devicenumber",
            "phonenumber_tag",
            "numero",
            "etiquette",
        ),
        "box_number": ("box", "boxno", "boxnumber", "carton", "cartonno", "boite"),
        "serial": ("serial", "serialno", "serialnumber", "sn", "sno", "numerodeserie"),
        "imei": ("imei", "imei1", "imeino", "imeinumber", "imeislot1", "imei01"),
        "imei2": ("imei2", "imeislot2", "imei02", "secondimei"),
        "manufacturer": ("manufacturer", "brand", "make", "marque", "fabricant"),
        "model": ("model", "devicemodel", "modele", "modelo"),
        "android_version": ("android", "androidversion", "osversion", "os"),
        "api_level": ("api", "apilevel", "sdk", "sdklevel"),
        "ram_mb": ("ram", "rammb", "ramgb", "memory", "memoire"),
        "storage_gb": ("storage", "storagegb", "rom", "internalstorage", "stockage"),
        "ownership": ("ownership", "owner", "propriete"),
        "status": ("status", "statut", "estado"),
        "org_unit": ("district", "orgunit", "location", "facility", "orgunitname", "distrito"),
        "notes": ("notes", "note", "remarks", "comment", "comments", "observations"),
    },
    "sims": {
        "iccid": ("iccid", "simserial", "simnumber", "simno", "iccidnumber", "simcardnumber"),
        "msisdn": (
            "msisdn",
            "phone",
            "phonenumber",
            "mobile",
            "mobilenumber",
            "telephone",
            "numero",
        ),
        "imsi": ("imsi",),
        "carrier": ("carrier", "operator", "network", "operateur", "operadora"),
        "data_plan": ("dataplan", "plan", "bundle", "forfait"),
        "bundle_expires_on": ("bundleexpireson", "bundleexpiry", "expiry", "expires", "expiration"),
        "sim_pin": ("pin", "simpin", "pin1"),
        "sim_puk": ("puk", "simpuk", "puk1"),
        "glued_in": ("glued", "gluedin", "glue"),
        "status": ("status", "statut"),
        "notes": ("notes", "remarks", "comment"),
        "device": ("device", "assettag", "phone_tag", "deviceimei", "pairedwith", "inphone"),
    },
    "holders": {
        "name": ("name", "fullname", "holder", "worker", "nom", "nome", "nombre", "chwname"),
        "role": ("role", "function", "fonction"),
        "msisdn": ("msisdn", "phone", "phonenumber", "mobile", "telephone"),
        "org_unit": ("district", "orgunit", "facility", "location", "healtharea"),
        "dhis2_username": ("dhis2username", "username", "dhis2user", "login"),
        "national_id": ("nationalid", "idnumber", "nin"),
        "notes": ("notes", "remarks", "comment"),
        "expected_teis": ("expectedteis", "teis", "offlineteis", "tei"),
        "events_per_tei": ("eventspertei",),
        "attributes_per_tei": ("attributespertei",),
        "capture_org_units": ("captureorgunits",),
        "search_org_units": ("searchorgunits",),
        "programs": ("programs",),
        "program_rules": ("programrules",),
        "largest_option_set": ("largestoptionset", "optionsetsize"),
        "reserved_values": ("reservedvalues",),
    },
}
SCHEMAS = {"devices": DeviceCreateArgs, "sims": SimCreateArgs, "holders": HolderCreateArgs}
REQUIRED_COLUMNS = {"devices": (), "sims": ("iccid",), "holders": ("name",)}
ROLE_WORDS = {
    "chw": "campaign_worker",
    "worker": "campaign_worker",
    "vaccinator": "campaign_worker",
    "supervisor": "supervisor",
    "superviseur": "supervisor",
    "technician": "technician",
}

#: Largest spreadsheet accepted (rows), beyond which an import is refused before parsing on.
MAX_ROWS = 100_000


def _norm(header: str) -> str:
    """'Téléphone ' -> 'telephone', 'IMEI 1' -> 'imei1', 'Serial No.' -> 'serialno'."""
    text = unicodedata.normalize("NFKD", str(header or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass
class RowError:
    row: int
    column: str
    message: str

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": str(self.message)}


@dataclass
class ImportReport:
    """What an import found and did. ``errors`` name the spreadsheet row and column."""

    kind: str
    dry_run: bool
    valid_only: bool
    encoding: str = ""
    columns: dict = field(default_factory=dict)
    ignored_columns: list = field(default_factory=list)
    total_rows: int = 0
    valid_rows: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.errors})

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "valid_only": self.valid_only,
            "encoding": self.encoding,
            "columns": self.columns,
            "ignored_columns": self.ignored_columns,
            "total_rows": self.total_rows,
            "valid_rows": self.valid_rows,
            "rejected_rows": self.rejected_rows,
            "imported": self.imported,
            "errors": [e.to_dict() for e in self.errors],
        }


# ---- reading files -------------------------------------------------------------------------


def _cell(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: UTF-8 (with or without BOM), else Windows-1252/Latin-1.
    Returns (text, encoding name)."""
    try:
        return data.decode("utf-8-sig"), (
            "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        )
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            return data.decode("latin-1"), "latin-1"


def read_table(filename: str, data: bytes) -> tuple[list[str], Iterator[tuple[int, list]], str]:
    """Headers, an iterator of (spreadsheet row number, cell values) and the encoding.

    CSV (comma, semicolon or tab, sniffed) or XLSX (first sheet). Raises InvalidInput for an
    unreadable file."""
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    if name and not name.endswith((".csv", ".txt", ".tsv")):
        raise InvalidInput(_l("Upload a .csv or .xlsx file."), fields={"file": _l("Wrong type.")})
    if b"\x00" in data[:4096]:
        raise InvalidInput(
            _l("This is not a text CSV file (binary content)."), fields={"file": _l("Not CSV.")}
        )
    text, encoding = decode_text(data)
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        headers = next(reader)
    except StopIteration:
        raise InvalidInput(_l("The file is empty."), fields={"file": _l("Empty.")}) from None
    except csv.Error as exc:
        raise InvalidInput(_l("The CSV file cannot be read: %(e)s", e=str(exc))) from exc

    def rows():
        try:
            yield from enumerate(reader, start=2)
        except csv.Error as exc:
            raise InvalidInput(
                _l(
                    "The CSV file cannot be read near line %(n)s: %(e)s",
                    n=reader.line_num,
                    e=str(exc),
                )
            ) from exc

    return headers, rows(), encoding


def _read_xlsx(data: bytes):
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(
            _l("This is not a readable XLSX file."), fields={"file": _l("Not XLSX.")}
        ) from exc
    sheet = book.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    try:
        headers = [_cell(v) or "" for v in next(it)]
    except StopIteration:
        raise InvalidInput(_l("The sheet is empty."), fields={"file": _l("Empty.")}) from None

    def rows():
        for number, row in enumerate(it, start=2):
            yield number, [_cell(v) for v in row]
        book.close()

    return headers, rows(), "xlsx"


# ---- value clean-up before the schema ------------------------------------------------------

_GB = re.compile(r"^\s*([\d.,]+)\s*(gb|go|g|gib)?\s*$", re.I)
_MB = re.compile(r"^\s*([\d.,]+)\s*(mb|mo|m|mib)\s*$", re.I)


def parse_ram_mb(text: str) -> int | str:
    """'2 GB' -> 2048, '3GB' -> 3072, '2048' or '2048 MB' -> 2048. Bare numbers under 64 are
    read as GB (procurement sheets write '2' for 2 GB). Unparseable text is returned as is so
    the schema reports it."""
    m = _MB.match(text)
    if m:
        return int(float(m.group(1).replace(",", ".")))
    m = _GB.match(text)
    if m:
        value = float(m.group(1).replace(",", "."))
        return int(value * 1024) if (m.group(2) or value < 64) else int(value)
    return text


def parse_storage_gb(text: str) -> int | str:
    m = _GB.match(text)
    return int(float(m.group(1).replace(",", "."))) if m else text


def _clean(kind: str, values: dict) -> dict:
    if kind == "devices":
        if values.get("ram_mb"):
            values["ram_mb"] = parse_ram_mb(values["ram_mb"])
        if values.get("storage_gb"):
            values["storage_gb"] = parse_storage_gb(values["storage_gb"])
        for key in ("ownership", "status"):
            if values.get(key):
                values[key] = values[key].strip().lower().replace(" ", "_")
        if values.get("ownership") in ("byod", "personal/byod", "own", "personnel"):
            values["ownership"] = "personal"
    if kind == "holders" and values.get("role"):
        role = values["role"].strip().lower().replace(" ", "_")
        values["role"] = ROLE_WORDS.get(role, role)
    if kind == "sims" and values.get("glued_in") is not None:
        values["glued_in"] = values["glued_in"].strip().lower() in (
            "1",
            "yes",
            "y",
            "true",
            "oui",
            "x",
            "sim",
        )
    return values


# ---- the import ----------------------------------------------------------------------------


def map_columns(kind: str, headers: list[str]) -> tuple[dict[int, str], list[str]]:
    """Map column positions to field names by alias; returns (mapping, ignored headers)."""
    lookup = {}
    for field_name, aliases in ALIASES[kind].items():
        lookup[_norm(field_name)] = field_name
        for alias in aliases:
            lookup.setdefault(_norm(alias), field_name)
    mapping, ignored, used = {}, [], set()
    for i, header in enumerate(headers):
        target = lookup.get(_norm(header))
        if target and target not in used:
            mapping[i] = target
            used.add(target)
        elif str(header or "").strip():
            ignored.append(str(header))
    return mapping, ignored


def import_table(
    kind: str,
    filename: str,
    data: bytes,
    *,
    actor,
    dry_run: bool = False,
    valid_only: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate and (unless ``dry_run``) import a sheet of ``kind`` ('devices', 'sims',
    'holders'). Nothing is written when any row is refused, unless ``valid_only``.

    ``progress(n)`` is called with the count of rows checked so far. The caller commits.
    Raises InvalidInput for an unreadable file or a missing required column."""
    if kind not in KINDS:
        raise InvalidInput(_l("Unknown import kind %(k)s.", k=kind))
    headers, rows, encoding = read_table(filename, data)
    mapping, ignored = map_columns(kind, headers)
    report = ImportReport(
        kind=kind,
        dry_run=dry_run,
        valid_only=valid_only,
        encoding=encoding,
        columns={headers[i]: f for i, f in mapping.items()},
        ignored_columns=ignored,
    )
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in mapping.values()]
    if not mapping or missing:
        raise InvalidInput(
            _l(
                "No column for %(c)s; columns found: %(h)s.",
                c=", ".join(missing) or _l("any known field"),
                h=", ".join(h for h in headers if h) or "-",
            ),
            fields={"file": _l("Missing columns.")},
        )
    header_of = {f: headers[i] for i, f in mapping.items()}
    schema = SCHEMAS[kind]()
    parsed: list[tuple[int, dict]] = []
    for number, cells in rows:
        if not any(c is not None and str(c).strip() for c in cells):
            continue  # blank line
        report.total_rows += 1
        if report.total_rows > MAX_ROWS:
            raise InvalidInput(_l("A sheet may hold at most %(n)d rows.", n=MAX_ROWS))
        values = {f: (cells[i] if i < len(cells) else None) for i, f in mapping.items()}
        values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
        values = _clean(kind, {k: v for k, v in values.items() if v not in (None, "")})
        try:
            parsed.append((number, schema.load(values)))
        except ma.ValidationError as exc:
            for key, messages in exc.normalized_messages().items():
                for message in messages if isinstance(messages, list) else [messages]:
                    report.errors.append(RowError(number, header_of.get(key, key), message))
        if progress and report.total_rows % 200 == 0:
            progress(report.total_rows)
    checker = {"devices": ops.DeviceChecker, "sims": ops.SimChecker, "holders": ops.HolderChecker}[
        kind
    ].for_rows([d for _, d in parsed])
    valid: list[dict] = []
    for number, item in parsed:
        try:
            checker.check(item, number)
        except FleetError as exc:
            fields = exc.fields or {"": exc.message}
            for key in fields:
                report.errors.append(RowError(number, header_of.get(key, key), exc.message))
            continue
        valid.append(item)
    if progress:
        progress(report.total_rows)
    report.errors.sort(key=lambda e: (e.row, e.column))
    report.valid_rows = len(valid)
    if dry_run or (report.errors and not valid_only) or not valid:
        return report
    bulk = {
        "devices": ops.register_devices_bulk,
        "sims": ops.register_sims_bulk,
        "holders": ops.register_holders_bulk,
    }[kind]
    report.imported = bulk(valid, actor=actor)
    log.info(
        "imported %d %s from %s (%d rows refused)",
        report.imported,
        kind,
        filename,
        report.rejected_rows,
    )
    return report

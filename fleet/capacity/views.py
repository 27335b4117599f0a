"""Capacity pages: the planners' calculator, the fleet report (with CSV/XLSX export) and the
calibration status. Read-only: every page is a GET, so a calculation is a shareable URL."""

from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, Response, abort, render_template, request
from flask_babel import lazy_gettext as _l

from fleet.auth.access import require
from fleet.inventory import queries as inventory_queries

from .chart import memory_chart
from .inputs import DEVICE_RANGES, FORM_FACTORS, WORKLOAD_RANGES, CapacityInputError, Workload
from .model import PURCHASABLE_RAM_MB
from .operations import current_calibration, estimate_from_fields
from .report import export_report, fleet_report
from .schemas import EstimateArgs

bp = Blueprint("capacity", __name__, url_prefix="/capacity")

#: Calculator form: (field, label, unit); ranges and whole/decimal from inputs.py.
DEVICE_FORM = (
    ("ram_mb", _l("RAM"), _l("MB, nominal: 2048 for a 2 GB phone")),
    ("api_level", _l("Android API level"), _l("29 = Android 10")),
    ("total_storage_mb", _l("Storage"), _l("MB, nominal: 32768 for 32 GB; empty = unknown")),
    ("free_storage_mb", _l("Free storage"), _l("MB free on /data; empty = unknown")),
)
WORKLOAD_FORM = (
    ("teis", _l("TEIs held offline"), _l("tracked entity instances")),
    ("events_per_tei", _l("Events per TEI"), _l("average")),
    ("attributes_per_tei", _l("Attributes per TEI"), _l("tracked entity attributes")),
    ("capture_org_units", _l("Capture org units"), _l("assigned for data capture")),
    ("search_org_units", _l("Search org units"), _l("assigned for search")),
    ("programs", _l("Programs"), ""),
    ("program_rules", _l("Program rules"), _l("all programs")),
    ("option_set_size", _l("Largest option set"), _l("options")),
    ("reserved_values", _l("Reserved values"), _l("per auto-generated attribute")),
    ("media_files_per_tei", _l("Media files per TEI"), _l("images, files")),
    ("media_avg_kb", _l("Average media file size"), _l("KB")),
)
#: Above this many devices the all-districts page lists districts only; one district lists all.
REPORT_PAGE_ROWS = 500
FORM_KEYS = {name for name, _, _ in DEVICE_FORM + WORKLOAD_FORM} | {"form_factor", "encrypt_db"}


def _step(name: str) -> str:
    kind, low, high, _unit = {**DEVICE_RANGES, **WORKLOAD_RANGES}[name]
    return f'min="{low:g}" max="{high:g}" step="{"1" if kind == "int" else "any"}"'


def _defaults() -> dict:
    empty = Workload(teis=0)
    return {name: getattr(empty, name) for name, _, _ in WORKLOAD_FORM if name != "teis"}


@bp.get("/")
@require("read")
def calculator():
    """The calculator: the form, and when submitted the verdict, reasons with their sources,
    the estimates with their assumptions, the recommended RAM, the largest TEI count at ok and
    the memory chart. 422 when an input is refused, with the message next to the field."""
    # Only the form's own fields: other query parameters (?lang=fr) are not inputs.
    submitted = {k: v for k, v in request.args.items() if k in FORM_KEYS}
    form = submitted or _defaults()
    errors: dict[str, list[str]] = {}
    result = chart = None
    if submitted:
        try:
            args = EstimateArgs().load(submitted)
            result = estimate_from_fields(args)
        except ma.ValidationError as exc:
            errors = {k: [str(m) for m in (v if isinstance(v, list) else [v])]
                      for k, v in exc.normalized_messages().items()}
        except CapacityInputError as exc:
            errors = {exc.field: [exc.message]}
        if result is not None:
            chart = memory_chart(result)
    return render_template(
        "capacity/calculator.html", form=form, errors=errors, result=result, chart=chart,
        device_form=DEVICE_FORM, workload_form=WORKLOAD_FORM, step=_step,
        form_factors=FORM_FACTORS,
        calibration=current_calibration(),
    ), (422 if errors else 200)


@bp.get("/report")
@require("read")
def report():
    """The fleet report, all districts or ``?district=NAME``: totals, procurement, a line per
    district, and each device (all districts' devices only up to ``REPORT_PAGE_ROWS``; the
    exports always hold every device)."""
    district = request.args.get("district", "").strip() or None
    result = fleet_report(district)
    return render_template(
        "capacity/report.html", report=result, district=district,
        districts=inventory_queries.districts(), purchasable=PURCHASABLE_RAM_MB,
        show_rows=district is not None or len(result.rows) <= REPORT_PAGE_ROWS,
        page_rows=REPORT_PAGE_ROWS,
    )


@bp.get("/report.<fmt>")
@require("read")
def report_export(fmt):
    """The fleet report as CSV or XLSX, one row per device (same ``?district=``)."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    district = request.args.get("district", "").strip() or None
    body = export_report(fleet_report(district), fmt)
    mime = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx"
            else "text/csv; charset=utf-8")
    return Response(body, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="fleet-capacity-report.{fmt}"'})


@bp.get("/calibration")
@require("read")
def calibration():
    """Whether the memory coefficients are calibrated, why not, and every coefficient in use."""
    return render_template("capacity/calibration.html", status=current_calibration())

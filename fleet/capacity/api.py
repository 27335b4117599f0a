"""JSON API for capacity estimation under /api/v1/capacity: the calculator, the fleet report and
the calibration status. Nothing here changes the database."""

from __future__ import annotations

from fleet.apiutil import api_blueprint
from fleet.auth.access import require
from fleet.errors import InvalidInput

from .chart import memory_chart
from .inputs import CapacityInputError
from .operations import current_calibration, estimate_from_fields
from .report import fleet_report
from .results import Estimate
from .schemas import CalibrationSchema, EstimateArgs, EstimateSchema, ReportArgs, ReportSchema

blp = api_blueprint("capacity_api", __name__, url_prefix="/api/v1/capacity",
                    description="Capacity estimation: RAM and storage for offline Tracker loads")
blueprints = (blp,)


def _estimate(args: dict) -> Estimate:
    try:
        return estimate_from_fields(args)
    except CapacityInputError as exc:  # 422 naming the field, message as the CLI shows it
        raise InvalidInput(f"{exc.field}: {exc.message}", fields={exc.field: exc.message}) from exc


@blp.post("/estimate")
@blp.arguments(EstimateArgs)
@blp.response(200, EstimateSchema)
@require("read")
def post_estimate(args):
    """Judge a device and workload: verdict, reasons with sources, estimates, recommended RAM,
    largest TEI count at ok, and the memory curve against TEI count."""
    result = _estimate(args)
    chart = memory_chart(result)
    return {
        **result.to_dict(),
        "memory_curve": [{"teis": t, "memory_mb": m} for t, m in chart["samples"]],
    }


@blp.get("/report")
@blp.arguments(ReportArgs, location="query")
@blp.response(200, ReportSchema)
@require("read")
def get_report(args):
    """Every device with a holder whose workload is recorded, judged, grouped by district;
    phones at risk; RAM sizes to procure."""
    return fleet_report(args.get("district")).to_dict()


@blp.get("/calibration")
@blp.response(200, CalibrationSchema)
@require("read")
def get_calibration():
    """Whether the memory coefficients are calibrated from the fleet's own readings, the fit
    and the coefficients in use."""
    return current_calibration().to_dict()

"""marshmallow schemas for the capacity calculator (API body and HTML form) and its answers.

``EstimateArgs`` checks types only; ranges are the model's (``inputs.WORKLOAD_RANGES``,
``inputs.DEVICE_RANGES``), shown in the OpenAPI document as minimum/maximum and enforced by
``DeviceSpec``/``Workload``, so the API, the page and the CLI refuse the same values with the
same message (a ``CapacityInputError`` becomes a 422 naming the field).
"""

from __future__ import annotations

import marshmallow as ma

from .inputs import DEVICE_RANGES, FORM_FACTORS, WORKLOAD_RANGES

REQUIRED = ("ram_mb", "api_level", "teis")


class WholeNumber(ma.fields.Integer):
    """An integer that refuses a fraction (marshmallow's non-strict Integer turns 1.5 into 1)
    but, unlike ``strict=True``, takes the digits an HTML form sends as text."""

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


def _number(name: str, spec: tuple[str, float, float, str]) -> ma.fields.Field:
    kind, low, high, unit = spec
    cls = WholeNumber if kind == "int" else ma.fields.Float
    meta = {"minimum": low, "maximum": high, "description": unit}
    if name in REQUIRED:
        return cls(required=True, metadata=meta)
    return cls(load_default=None, allow_none=True, metadata=meta)


class _EstimateBase(ma.Schema):
    """Unknown keys are refused; blank strings (an empty form field) count as absent, so the
    model's default applies."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def _blank_to_absent(self, data, **kwargs):
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data


#: Device and workload of one estimate, flat (field names as in DeviceSpec and Workload).
EstimateArgs = _EstimateBase.from_dict(
    {
        **{n: _number(n, s) for n, s in {**DEVICE_RANGES, **WORKLOAD_RANGES}.items()},
        "form_factor": ma.fields.String(
            load_default="phone", validate=ma.validate.OneOf(FORM_FACTORS)
        ),
        "encrypt_db": ma.fields.Boolean(
            load_default=False, metadata={"description": "DHIS2 generalSettings.encryptDB"}
        ),
    },
    name="EstimateArgs",
)


class ReportArgs(ma.Schema):
    district = ma.fields.String(load_default=None, metadata={
        "description": "District name, code or DHIS2 UID; all districts when absent"})


class EstimateSchema(ma.Schema):
    """``Estimate.to_dict()`` plus ``memory_curve``; see docs/capacity.md."""

    verdict = ma.fields.String(metadata={"enum": ["ok", "marginal", "insufficient"]})
    reasons = ma.fields.List(ma.fields.Dict())
    notes = ma.fields.List(ma.fields.Dict())
    device = ma.fields.Dict()
    workload = ma.fields.Dict()
    database = ma.fields.Dict()
    media_mb = ma.fields.Float()
    storage_needed_mb = ma.fields.Float()
    memory = ma.fields.Dict()
    memory_budget_mb = ma.fields.Float()
    memory_ok_limit_mb = ma.fields.Float()
    recommended_ram_mb = ma.fields.Integer(allow_none=True)
    recommendation = ma.fields.Dict()
    max_teis_ok = ma.fields.Integer(allow_none=True)
    max_teis_marginal = ma.fields.Integer(allow_none=True)
    calibrated = ma.fields.Boolean()
    coefficients_source = ma.fields.String()
    memory_curve = ma.fields.List(ma.fields.Dict(), metadata={
        "description": "[{teis, memory_mb}] estimated working memory against TEI count"})


class ReportSchema(ma.Schema):
    """``FleetReport.to_dict()``."""

    district_filter = ma.fields.String(allow_none=True)
    totals = ma.fields.Dict()
    procurement = ma.fields.List(ma.fields.Dict())
    not_fixable_by_ram = ma.fields.List(ma.fields.String())
    calibrated = ma.fields.Boolean()
    coefficients_source = ma.fields.String()
    reason_sources = ma.fields.Dict(metadata={
        "description": "reason code -> the sources it cites (listed once for the report)"})
    districts = ma.fields.List(ma.fields.Dict())


class CalibrationSchema(ma.Schema):
    """``CalibrationStatus.to_dict()``."""

    calibrated = ma.fields.Boolean()
    explanation = ma.fields.String()
    health_readings = ma.fields.Integer(allow_none=True)
    points_with_workload = ma.fields.Integer()
    fit = ma.fields.Dict()
    coefficients = ma.fields.Dict()

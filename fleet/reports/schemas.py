"""marshmallow schemas: the pushed health report (input), reports/tokens and compliance
findings (output), the compliance list's filters (input).

A pushed report carries the same fields as a pulled one. Every measured field may be null
(unknown); integers are strict (``"12"`` is refused), unknown keys are refused.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate as v

from fleet.apiutil import PageArgs, PageSchema
from fleet.inventory.models import DEVICE_STATUSES
from fleet.reports import parsers
from fleet.reports.compliance import RULES, STATES
from fleet.reports.parsers import BATTERY_HEALTH, BATTERY_STATUS

_PKG = r"^[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+$"


def _int(lo: int, hi: int, **kw) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, allow_none=True, validate=v.Range(lo, hi), **kw)


class PackageVersionArgs(ma.Schema):
    version_code = _int(0, 2**63 - 1)
    version_name = ma.fields.String(allow_none=True, validate=v.Length(max=60))
    installed = ma.fields.Boolean(allow_none=True)


class HealthPushArgs(ma.Schema):
    """``POST /api/v1/devices/<asset_tag>/health`` body. Units: MB (MiB), °C, seconds."""

    report_id = ma.fields.String(required=True, validate=[
        v.Length(min=8, max=64), v.Regexp(r"^[A-Za-z0-9._:-]+$")],
        metadata={"description": "Idempotency key chosen by the agent (UUID recommended)."})
    collected_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=None)
    battery_level = _int(0, 100)
    battery_health = ma.fields.String(allow_none=True,
                                      validate=v.OneOf(sorted(BATTERY_HEALTH.values())))
    battery_temperature_c = ma.fields.Float(allow_none=True, validate=v.Range(-40, 120))
    battery_status = ma.fields.String(allow_none=True,
                                      validate=v.OneOf(sorted(BATTERY_STATUS.values())))
    battery_charging = ma.fields.Boolean(allow_none=True)
    storage_total_mb = _int(0, 2**40)
    storage_free_mb = _int(0, 2**40)
    ram_total_mb = _int(1, 2**24)
    ram_available_mb = _int(0, 2**24)
    android_version = ma.fields.String(allow_none=True, validate=v.Length(max=20))
    api_level = _int(1, 99)
    security_patch = ma.fields.String(allow_none=True,
                                      validate=v.Regexp(r"^\d{4}-\d{2}-\d{2}$"))
    uptime_s = _int(0, 10**9)
    crypto_state = ma.fields.String(allow_none=True, validate=v.OneOf(
        ["encrypted", "unencrypted", "unsupported"]))
    screen_lock_set = ma.fields.Boolean(allow_none=True)
    packages = ma.fields.Dict(keys=ma.fields.String(validate=[v.Length(max=255), v.Regexp(_PKG)]),
                              values=ma.fields.Nested(PackageVersionArgs), load_default=dict,
                              validate=v.Length(max=50))
    app_pss_mb = ma.fields.Float(allow_none=True, validate=v.Range(0, 2**20))
    imei = ma.fields.String(allow_none=True, validate=v.Length(equal=15))
    iccid = ma.fields.String(allow_none=True, validate=v.Length(min=19, max=20))
    raw = ma.fields.Dict(keys=ma.fields.String(validate=v.Length(max=60)),
                         values=ma.fields.String(validate=v.Length(max=32768)),
                         load_default=dict, validate=v.Length(max=20))

    @ma.validates("imei")
    def _imei(self, value, **_kw):
        if value is not None and parsers.clean_imei(value) is None:
            raise ma.ValidationError("Not a valid IMEI (15 digits, Luhn).")

    @ma.validates("iccid")
    def _iccid(self, value, **_kw):
        if value is not None and parsers.clean_iccid(value) is None:
            raise ma.ValidationError("Not a valid ICCID (19-20 digits from 89, Luhn).")

    @ma.validates_schema
    def _storage(self, data, **_kw):
        total, free = data.get("storage_total_mb"), data.get("storage_free_mb")
        if total is not None and free is not None and free > total:
            raise ma.ValidationError("Free storage exceeds total.", "storage_free_mb")


class HealthReportSchema(ma.Schema):
    id = ma.fields.Integer()
    report_id = ma.fields.String()
    source = ma.fields.String()
    received_at = ma.fields.DateTime()
    collected_at = ma.fields.DateTime(allow_none=True)
    station = ma.fields.String(allow_none=True)
    battery_level = ma.fields.Integer(allow_none=True)
    battery_health = ma.fields.String(allow_none=True)
    battery_temperature_c = ma.fields.Float(allow_none=True)
    battery_status = ma.fields.String(allow_none=True)
    battery_charging = ma.fields.Boolean(allow_none=True)
    storage_total_mb = ma.fields.Integer(allow_none=True)
    storage_free_mb = ma.fields.Integer(allow_none=True)
    ram_total_mb = ma.fields.Integer(allow_none=True)
    ram_available_mb = ma.fields.Integer(allow_none=True)
    android_version = ma.fields.String(allow_none=True)
    api_level = ma.fields.Integer(allow_none=True)
    security_patch = ma.fields.String(allow_none=True)
    uptime_s = ma.fields.Integer(allow_none=True)
    crypto_state = ma.fields.String(allow_none=True)
    screen_lock_set = ma.fields.Boolean(allow_none=True)
    packages = ma.fields.Dict()
    capture_version_code = ma.fields.Integer(allow_none=True)
    capture_version_name = ma.fields.String(allow_none=True)
    app_pss_mb = ma.fields.Float(allow_none=True)
    imei = ma.fields.String(allow_none=True)
    iccid = ma.fields.String(allow_none=True)


class PushResultSchema(ma.Schema):
    id = ma.fields.Integer()
    report_id = ma.fields.String()
    received_at = ma.fields.DateTime()
    compliant = ma.fields.Boolean(allow_none=True)
    failing = ma.fields.List(ma.fields.Dict())


class HealthTokenSchema(ma.Schema):
    id = ma.fields.Integer()
    prefix = ma.fields.String()
    token = ma.fields.String(metadata={"description": "Shown once."})
    created_at = ma.fields.DateTime()


# ---- compliance -----------------------------------------------------------------------------

class FindingSchema(ma.Schema):
    """One compliance rule's answer for one device."""

    rule = ma.fields.String(metadata={"description": "Rule id.", "enum": sorted(RULES)})
    title = ma.fields.String(metadata={"description": "What the rule checks (translated)."})
    status = ma.fields.String(validate=v.OneOf(STATES),
                              metadata={"description": "pass, fail or unknown (an input the "
                                        "phone did not report: never fail)."})
    message = ma.fields.String(metadata={"description": "Why it failed or is unknown; empty "
                                         "when it passed."})
    evidence = ma.fields.Dict(metadata={"description": "The values and thresholds the rule "
                                        "used (MB, %, days); rule-specific keys."})
    evaluated_at = ma.fields.AwareDateTime(allow_none=True)


class DeviceComplianceSchema(ma.Schema):
    """``GET /api/v1/devices/<asset_tag>/compliance``: every rule, evaluated now."""

    asset_tag = ma.fields.String()
    compliant = ma.fields.Boolean(metadata={"description": "No rule fails."})
    evaluated_at = ma.fields.AwareDateTime()
    findings = ma.fields.List(ma.fields.Nested(FindingSchema))


class ComplianceRowSchema(ma.Schema):
    """A device of ``GET /api/v1/compliance``, with its stored verdict."""

    asset_tag = ma.fields.String()
    status = ma.fields.String(metadata={"description": "The device's inventory status."})
    org_unit_id = ma.fields.Integer(allow_none=True)
    holder_id = ma.fields.Integer(allow_none=True)
    compliant = ma.fields.Boolean(allow_none=True, metadata={
        "description": "null: not checked yet (no report and no `fleet health check` since "
                       "the device was registered)."})
    evaluated_at = ma.fields.AwareDateTime(allow_none=True)
    last_seen_at = ma.fields.AwareDateTime(allow_none=True)
    failing = ma.fields.List(ma.fields.Nested(FindingSchema))


class CompliancePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(ComplianceRowSchema))


class ComplianceFilterArgs(PageArgs):
    """Query of ``GET /api/v1/compliance``; every filter optional, all of them combined."""

    rule = ma.fields.String(validate=v.OneOf(sorted(RULES)),
                            metadata={"description": "Only devices failing this rule."})
    district = ma.fields.Integer(validate=v.Range(1, 2**31 - 1), metadata={
        "description": "Org unit id: devices at this org unit or below it."})
    status = ma.fields.String(validate=v.OneOf(DEVICE_STATUSES), metadata={
        "description": "Device status; without it, every device but the retired ones."})
    compliant = ma.fields.Boolean(metadata={"description": "true: compliant devices only; "
                                            "false: non-compliant ones only."})

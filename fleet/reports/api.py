"""Health JSON API: devices push reports with their own token; staff read reports, compliance
findings and issue push tokens.

``GET /api/v1/devices/<asset_tag>/compliance`` evaluates every rule now (as the device's health
page does); ``GET /api/v1/compliance`` lists devices with their stored verdicts (refreshed on
each report and by the stale-device job / ``fleet health check``). Both need ``read``, like the
dashboard.

``POST /api/v1/devices/<asset_tag>/health`` is authenticated by a per-device token
(``Authorization: Bearer fdh_...``), checked before the body is parsed; the body is limited to
config HEALTH_MAX_BODY_BYTES (64 KiB) and the endpoint to HEALTH_PUSH_RATE_LIMIT per device
and client address. Answers: 201 stored; 401 missing/bad token; 403 token of another device;
404 unknown device; 409 report id already received; 413 body too large; 422 invalid body;
429 rate limited. Nothing is stored on any 4xx.
"""

from __future__ import annotations

import time

from flask import abort, current_app, g, request
from flask_login import current_user
from sqlalchemy.exc import OperationalError

from fleet.apiutil import api_blueprint, paginate
from fleet.auth.access import actor, require
from fleet.extensions import db, limiter
from fleet.inventory.models import Device
from fleet.reports import operations as ops
from fleet.reports import queries
from fleet.reports.models import DeviceHealth
from fleet.reports.schemas import (
    ComplianceFilterArgs,
    CompliancePageSchema,
    DeviceComplianceSchema,
    HealthPushArgs,
    HealthReportSchema,
    HealthTokenSchema,
    PushResultSchema,
)

blp = api_blueprint("health_api", __name__, description="Device health reports")

PUSH_ENDPOINT = "health_api.push_report"
#: Attempts at storing a pushed report when SQLite reports the database locked.
ATTEMPTS = 6


def _push_limit() -> str:
    return current_app.config.get("HEALTH_PUSH_RATE_LIMIT", "30 per minute")


def _push_key() -> str:
    return f"health:{(request.view_args or {}).get('asset_tag', '')}:{request.remote_addr}"


@blp.before_request
def _authenticate_push():
    """Device token and body size, before the body is read or parsed."""
    if request.endpoint != PUSH_ENDPOINT:
        return
    # Resolve the (user) identity now: Flask-Login's request loader ends the session's
    # transaction (fleet.auth.operations.user_for_token rolls back), and it runs lazily the
    # first time anything (e.g. the locale selector rendering a message) reads current_user.
    # Loaded here, before this request writes, it cannot discard the report being stored.
    _ = current_user.is_authenticated
    request.max_content_length = int(current_app.config.get("HEALTH_MAX_BODY_BYTES", 65536))
    if (request.content_length or 0) > request.max_content_length:
        abort(413)
    device = ops.device_by_asset_tag(request.view_args["asset_tag"])
    header = request.headers.get("Authorization", "")
    token = ops.valid_token(header[7:].strip()) if header.startswith("Bearer ") else None
    if token is None:
        abort(401, "A valid device token is required (Authorization: Bearer fdh_...).")
    if token.device_id != device.id:
        abort(403, "This token belongs to another device.")
    g.health_device_id, g.health_token_id = device.id, token.id


def _locked(exc: OperationalError) -> bool:
    """SQLite's "database is locked": a write refused because another process wrote since
    this transaction read (no busy wait for a stale snapshot). PostgreSQL never raises it."""
    return "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower()


@blp.post("/devices/<asset_tag>/health")
@limiter.limit(_push_limit, key_func=_push_key)
@blp.arguments(HealthPushArgs)
@blp.response(201, PushResultSchema)
@blp.doc(security=[{"bearer": []}])
def push_report(args, asset_tag):
    """Store a health report pushed by the device's agent or an MDM webhook."""
    raw = args.pop("raw", {})
    for attempt in range(ATTEMPTS):
        # End the read-only transaction of the authentication, then write first: on SQLite the
        # write lock is then waited for (busy timeout) before this transaction reads anything,
        # instead of failing at once on a read snapshot another process has made stale.
        db.session.rollback()
        try:
            ops.touch_token(g.health_token_id)
            device = db.session.get(Device, g.health_device_id)
            report = ops.record_report(device, dict(args), source="push", raw=raw,
                                       savepoint=False)
            state = db.session.get(DeviceHealth, device.id)
            result = {"id": report.id, "report_id": report.report_id,
                      "received_at": report.received_at,
                      "compliant": state.compliant if state else None,
                      "failing": state.failing if state else []}
            db.session.commit()
            return result
        except OperationalError as exc:
            db.session.rollback()
            if attempt == ATTEMPTS - 1 or not _locked(exc):
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


@blp.get("/devices/<asset_tag>/health")
@blp.response(200, HealthReportSchema(many=True))
@require("read")
def list_reports(asset_tag):
    """The device's latest reports (up to 200), oldest first."""
    return ops.history(ops.device_by_asset_tag(asset_tag))


@blp.post("/devices/<asset_tag>/health-tokens")
@blp.response(201, HealthTokenSchema)
@require("inventory:write")
def issue_token(asset_tag):
    """Issue a push token for the device (the plain token is in this answer only)."""
    token, plain = ops.issue_token(ops.device_by_asset_tag(asset_tag), actor=actor())
    db.session.commit()
    return {"id": token.id, "prefix": token.prefix, "token": plain,
            "created_at": token.created_at}


@blp.get("/devices/<asset_tag>/compliance")
@blp.response(200, DeviceComplianceSchema)
@require("read")
def device_compliance(asset_tag):
    """Every compliance rule for the device, evaluated now: status pass/fail/unknown, message
    and evidence. 404 for an unknown asset tag."""
    return queries.device_compliance(ops.device_by_asset_tag(asset_tag))


@blp.get("/compliance")
@blp.arguments(ComplianceFilterArgs, location="query")
@blp.response(200, CompliancePageSchema)
@require("read")
def list_compliance(args):
    """Devices (all but retired unless ``status`` says otherwise) with their stored verdict and
    failing rules, by asset tag; filters combine. 422 names a bad filter."""
    page, per_page = args.pop("page"), args.pop("per_page")
    result = paginate(queries.compliance_query(**args), page, per_page)
    result.items = queries.compliance_rows(result.items)
    return result.dump()

"""Health JSON API: devices push reports with their own token; staff read reports and issue
push tokens.

``POST /api/v1/devices/<asset_tag>/health`` is authenticated by a per-device token
(``Authorization: Bearer fdh_...``), checked before the body is parsed; the body is limited to
config HEALTH_MAX_BODY_BYTES (64 KiB) and the endpoint to HEALTH_PUSH_RATE_LIMIT per device
and client address. Answers: 201 stored; 401 missing/bad token; 403 token of another device;
404 unknown device; 409 report id already received; 413 body too large; 422 invalid body;
429 rate limited. Nothing is stored on any 4xx.
"""

from __future__ import annotations

from flask import abort, current_app, g, request

from fleet.apiutil import api_blueprint
from fleet.auth.access import actor, require
from fleet.extensions import db, limiter
from fleet.reports import operations as ops
from fleet.reports.models import DeviceHealth
from fleet.reports.schemas import (
    HealthPushArgs,
    HealthReportSchema,
    HealthTokenSchema,
    PushResultSchema,
)

blp = api_blueprint("health_api", __name__, description="Device health reports")

PUSH_ENDPOINT = "health_api.push_report"


def _push_limit() -> str:
    return current_app.config.get("HEALTH_PUSH_RATE_LIMIT", "30 per minute")


def _push_key() -> str:
    return f"health:{(request.view_args or {}).get('asset_tag', '')}:{request.remote_addr}"


@blp.before_request
def _authenticate_push():
    """Device token and body size, before the body is read or parsed."""
    if request.endpoint != PUSH_ENDPOINT:
        return
    request.max_content_length = int(current_app.config.get("HEALTH_MAX_BODY_BYTES", 65536))
    if (request.content_length or 0) > request.max_content_length:
        abort(413)
    device = ops.device_by_asset_tag(request.view_args["asset_tag"])
    header = request.headers.get("Authorization", "")
    token_device = ops.token_device(header[7:].strip()) if header.startswith("Bearer ") else None
    if token_device is None:
        db.session.rollback()
        abort(401, "A valid device token is required (Authorization: Bearer fdh_...).")
    if token_device.id != device.id:
        db.session.rollback()
        abort(403, "This token belongs to another device.")
    g.health_device = device


@blp.post("/devices/<asset_tag>/health")
@limiter.limit(_push_limit, key_func=_push_key)
@blp.arguments(HealthPushArgs)
@blp.response(201, PushResultSchema)
@blp.doc(security=[{"bearer": []}])
def push_report(args, asset_tag):
    """Store a health report pushed by the device's agent or an MDM webhook."""
    device = g.health_device
    raw = args.pop("raw", {})
    report = ops.record_report(device, args, source="push", raw=raw)
    state = db.session.get(DeviceHealth, device.id)
    db.session.commit()
    return {"id": report.id, "report_id": report.report_id, "received_at": report.received_at,
            "compliant": state.compliant if state else None,
            "failing": state.failing if state else []}


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

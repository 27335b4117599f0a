"""JSON API for the scanner: stock audits by scanning, and quick check-in / check-out from a
scanned label. Browser sessions send the CSRF token in the X-CSRFToken header."""

from __future__ import annotations

import marshmallow as ma

from fleet.apiutil import api_blueprint
from fleet.auth.access import actor, require
from fleet.extensions import db
from fleet.forms import Id
from fleet.forms import StrictSchema as _Input
from fleet.labels import scanning

blp = api_blueprint("labels_api", __name__, description="Label scanning: audits, check-in/out")



class AuditCreateArgs(_Input):
    district = ma.fields.String(required=True, metadata={"description": "name, code or UID"})


class ScanArgs(_Input):
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000),
                            metadata={"description": "the decoded QR text"})


class ScanCheckoutArgs(ScanArgs):
    holder_id = Id(required=True)
    condition = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))


class ScanCheckinArgs(ScanArgs):
    condition = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))
    status = ma.fields.String(load_default="returned",
                              validate=ma.validate.OneOf(("returned", "in_repair")))


class EntrySchema(ma.Schema):
    id = ma.fields.Integer()
    raw = ma.fields.String()
    asset_tag = ma.fields.String(allow_none=True)
    outcome = ma.fields.String()
    at = ma.fields.DateTime()
    by = ma.fields.String()


class AuditSchema(ma.Schema):
    id = ma.fields.Integer()
    district = ma.fields.Function(lambda a: a.org_unit.name)
    status = ma.fields.String()
    started_at = ma.fields.DateTime()
    started_by = ma.fields.String()
    closed_at = ma.fields.DateTime(allow_none=True)
    counts = ma.fields.Method("_counts")
    missing = ma.fields.Method("_missing")
    entries = ma.fields.List(ma.fields.Nested(EntrySchema))

    def _counts(self, audit):
        return counts(scanning.audit_summary(audit))

    def _missing(self, audit):
        return [d.asset_tag for d in scanning.audit_summary(audit)["missing"]]


class ScanResultSchema(ma.Schema):
    entry = ma.fields.Nested(EntrySchema)
    new = ma.fields.Boolean()
    counts = ma.fields.Dict()


class DeviceBriefSchema(ma.Schema):
    asset_tag = ma.fields.String()
    status = ma.fields.String()
    model = ma.fields.String()
    holder = ma.fields.Function(lambda d: d.holder.name if d.holder else None)
    checked_out = ma.fields.Function(lambda d: d.open_custody is not None)


def counts(summary: dict) -> dict:
    return {"expected": summary["expected"], "present": len(summary["present"]),
            "missing": len(summary["missing"]), "foreign": len(summary["foreign"]),
            "unknown": len(summary["unknown"]), "not_fleet": len(summary["not_fleet"])}


@blp.post("/scan-audits")
@blp.arguments(AuditCreateArgs)
@blp.response(201, AuditSchema)
@require("inventory:write")
def start_audit(args):
    audit = scanning.start_audit(args["district"], actor=actor())
    db.session.commit()
    return audit


@blp.get("/scan-audits/<int:audit_id>")
@blp.response(200, AuditSchema)
@require("read")
def get_audit(audit_id):
    return scanning.get_audit(audit_id)


@blp.post("/scan-audits/<int:audit_id>/scans")
@blp.arguments(ScanArgs)
@blp.response(200, ScanResultSchema)
@require("inventory:write")
def scan(args, audit_id):
    audit = scanning.get_audit(audit_id)
    entry, new = scanning.record_scan(audit, args["text"], actor=actor())
    db.session.commit()
    return {"entry": entry, "new": new, "counts": counts(scanning.audit_summary(audit))}


@blp.post("/scan-audits/<int:audit_id>/close")
@blp.response(200, AuditSchema)
@require("inventory:write")
def close_audit(audit_id):
    audit = scanning.close_audit(scanning.get_audit(audit_id), actor=actor())
    db.session.commit()
    return audit


@blp.post("/scan/lookup")
@blp.arguments(ScanArgs)
@blp.response(200, DeviceBriefSchema)
@require("read")
def lookup(args):
    return scanning.device_for_scan(args["text"])


@blp.post("/scan/checkout")
@blp.arguments(ScanCheckoutArgs)
@blp.response(200, DeviceBriefSchema)
@require("inventory:write")
def checkout(args):
    custody = scanning.scan_checkout(args["text"], args["holder_id"], actor=actor(),
                                     condition=args.get("condition"))
    db.session.commit()
    return custody.device


@blp.post("/scan/checkin")
@blp.arguments(ScanCheckinArgs)
@blp.response(200, DeviceBriefSchema)
@require("inventory:write")
def checkin(args):
    custody = scanning.scan_checkin(args["text"], actor=actor(), condition=args.get("condition"),
                                    status=args["status"])
    db.session.commit()
    return custody.device

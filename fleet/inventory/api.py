"""JSON API for the inventory under /api/v1: parse -> operation -> commit -> dump."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, request
from flask_login import current_user

from fleet.apiutil import PageSchema, api_blueprint, paginate
from fleet.audit.operations import query_entries
from fleet.auth.access import actor, require
from fleet.errors import InvalidInput
from fleet.extensions import db
from fleet.inventory import exports, imports, queries
from fleet.inventory import operations as ops
from fleet.inventory.models import Holder, OrgUnit
from fleet.inventory.schemas import (
    AuditEntrySchema,
    CheckinArgs,
    CheckoutArgs,
    CustodySchema,
    DeviceCreateArgs,
    DeviceFilterArgs,
    DeviceSchema,
    DeviceUpdateArgs,
    HolderCreateArgs,
    HolderFilterArgs,
    HolderSchema,
    HolderUpdateArgs,
    LossArgs,
    OrgUnitCreateArgs,
    OrgUnitSchema,
    PairArgs,
    PairingSchema,
    SimCreateArgs,
    SimFilterArgs,
    SimSchema,
    SimSecretsSchema,
    SimUpdateArgs,
    StatusChangeArgs,
)

devices = api_blueprint("devices_api", __name__, description="Devices, custody and SIM pairing")
sims = api_blueprint("sims_api", __name__, description="SIM cards")
holders = api_blueprint("holders_api", __name__, description="Holders and org units")
transfers = api_blueprint("transfers_api", __name__, description="Bulk import and export, audit")
blueprints = (devices, sims, holders, transfers)


# ---- devices -------------------------------------------------------------------------------


@devices.get("/devices")
@devices.arguments(DeviceFilterArgs, location="query")
@devices.response(200, PageSchema)
@require("read")
def list_devices(args):
    page, per_page = args.pop("page"), args.pop("per_page")
    return paginate(queries.device_query(**args), page, per_page).dump(DeviceSchema)


@devices.post("/devices")
@devices.arguments(DeviceCreateArgs)
@devices.response(201, DeviceSchema)
@require("inventory:write")
def register_device(args):
    device = ops.register_device(args, actor=actor())
    db.session.commit()
    return device


@devices.get("/devices/<ref>")
@devices.response(200, DeviceSchema)
@require("read")
def get_device(ref):
    return ops.find_device(ref)


@devices.patch("/devices/<ref>")
@devices.arguments(DeviceUpdateArgs(partial=True))
@devices.response(200, DeviceSchema)
@require("inventory:write")
def update_device(args, ref):
    device = ops.update_device(ops.find_device(ref), args, actor=actor())
    db.session.commit()
    return device


@devices.post("/devices/<ref>/status")
@devices.arguments(StatusChangeArgs)
@devices.response(200, DeviceSchema)
@require("inventory:write")
def change_status(args, ref):
    device = ops.change_status(
        ops.find_device(ref), args["status"], actor=actor(), note=args.get("note")
    )
    db.session.commit()
    return device


@devices.post("/devices/<ref>/checkout")
@devices.arguments(CheckoutArgs)
@devices.response(201, CustodySchema)
@require("inventory:write")
def checkout(args, ref):
    holder = db.get_or_404(Holder, args["holder_id"])
    custody = ops.checkout(
        ops.find_device(ref), holder, actor=actor(), condition=args.get("condition")
    )
    db.session.commit()
    return custody


@devices.post("/devices/<ref>/checkin")
@devices.arguments(CheckinArgs)
@devices.response(200, CustodySchema)
@require("inventory:write")
def checkin(args, ref):
    custody = ops.checkin(
        ops.find_device(ref), actor=actor(), condition=args.get("condition"), status=args["status"]
    )
    db.session.commit()
    return custody


@devices.post("/devices/<ref>/loss")
@devices.arguments(LossArgs)
@devices.response(200, DeviceSchema)
@require("inventory:write")
def report_loss(args, ref):
    device = ops.report_loss(
        ops.find_device(ref),
        kind=args["kind"],
        on=args["date"],
        report=args["report"],
        actor=actor(),
    )
    db.session.commit()
    return device


@devices.post("/devices/<ref>/sims")
@devices.arguments(PairArgs)
@devices.response(201, PairingSchema)
@require("inventory:write")
def pair_sim(args, ref):
    pairing = ops.pair_sim(ops.find_device(ref), ops.find_sim(args["iccid"]), actor=actor())
    db.session.commit()
    return pairing


@devices.get("/devices/<ref>/custody")
@devices.response(200, CustodySchema(many=True))
@require("read")
def custody_history(ref):
    return ops.find_device(ref).custody


@devices.get("/devices/<ref>/sims")
@devices.response(200, PairingSchema(many=True))
@require("read")
def pairing_history(ref):
    return ops.find_device(ref).pairings


# ---- SIM cards -----------------------------------------------------------------------------


def _sim_schema():
    return SimSecretsSchema if current_user.can("secrets:view") else SimSchema


@sims.get("/sims")
@sims.arguments(SimFilterArgs, location="query")
@sims.response(200, PageSchema)
@require("read")
def list_sims(args):
    page, per_page = args.pop("page"), args.pop("per_page")
    return paginate(queries.sim_query(**args), page, per_page).dump(SimSchema)


@sims.post("/sims")
@sims.arguments(SimCreateArgs)
@sims.response(201, SimSchema)
@require("inventory:write")
def register_sim(args):
    sim = ops.register_sim(args, actor=actor())
    db.session.commit()
    return sim


@sims.get("/sims/<ref>")
@sims.alt_response(
    200, schema=SimSecretsSchema, description="sim_pin/sim_puk only for roles that may see secrets."
)
@require("read")
def get_sim(ref):
    return _sim_schema()().dump(ops.find_sim(ref))


@sims.patch("/sims/<ref>")
@sims.arguments(SimUpdateArgs(partial=True))
@sims.response(200, SimSchema)
@require("inventory:write")
def update_sim(args, ref):
    sim = ops.update_sim(ops.find_sim(ref), args, actor=actor())
    db.session.commit()
    return sim


@sims.delete("/sims/<ref>/pairing")
@sims.response(200, PairingSchema)
@require("inventory:write")
def unpair_sim(ref):
    pairing = ops.unpair_sim(ops.find_sim(ref), actor=actor())
    db.session.commit()
    return pairing


# ---- holders and org units -----------------------------------------------------------------


@holders.get("/holders")
@holders.arguments(HolderFilterArgs, location="query")
@holders.response(200, PageSchema)
@require("read")
def list_holders(args):
    page, per_page = args.pop("page"), args.pop("per_page")
    return paginate(queries.holder_query(**args), page, per_page).dump(HolderSchema)


@holders.post("/holders")
@holders.arguments(HolderCreateArgs)
@holders.response(201, HolderSchema)
@require("inventory:write")
def create_holder(args):
    holder = ops.create_holder(args, actor=actor())
    db.session.commit()
    return holder


@holders.get("/holders/<int:holder_id>")
@holders.response(200, HolderSchema)
@require("read")
def get_holder(holder_id):
    return db.get_or_404(Holder, holder_id)


@holders.patch("/holders/<int:holder_id>")
@holders.arguments(HolderUpdateArgs(partial=True))
@holders.response(200, HolderSchema)
@require("inventory:write")
def update_holder(args, holder_id):
    holder = ops.update_holder(db.get_or_404(Holder, holder_id), args, actor=actor())
    db.session.commit()
    return holder


@holders.get("/org-units")
@holders.response(200, OrgUnitSchema(many=True))
@require("read")
def list_org_units():
    return queries.org_unit_tree()


@holders.post("/org-units")
@holders.arguments(OrgUnitCreateArgs)
@holders.response(201, OrgUnitSchema)
@require("inventory:write")
def create_org_unit(args):
    unit = ops.create_org_unit(args, actor=actor())
    db.session.commit()
    return unit


@holders.get("/org-units/<int:unit_id>")
@holders.response(200, OrgUnitSchema)
@require("read")
def get_org_unit(unit_id):
    return db.get_or_404(OrgUnit, unit_id)


# ---- import / export / audit ---------------------------------------------------------------


class ImportArgs(ma.Schema):
    dry_run = ma.fields.Boolean(load_default=False)
    valid_only = ma.fields.Boolean(load_default=False)


class ExportArgs(ma.Schema):
    format = ma.fields.String(load_default="csv", validate=ma.validate.OneOf(("csv", "xlsx")))


class AuditArgs(ma.Schema):
    entity_type = ma.fields.String(load_default=None)
    entity_id = ma.fields.String(load_default=None)
    action = ma.fields.String(load_default=None)
    actor = ma.fields.String(load_default=None)
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


@transfers.post("/imports/<kind>")
@transfers.arguments(ImportArgs, location="query")
@transfers.response(200, ma.Schema.from_dict({"report": ma.fields.Dict()}))
@require("inventory:write")
def import_sheet(args, kind):
    """Upload a CSV/XLSX as multipart field ``file``. 422 with the report when rows are refused
    and nothing was written."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput(
            "Send the sheet as multipart field 'file'.", fields={"file": "Required."}
        )
    report = imports.import_table(kind, upload.filename, upload.read(), actor=actor(), **args)
    db.session.commit()
    status = 422 if report.errors and not report.imported and not args["dry_run"] else 200
    return {"report": report.to_dict()}, status


@transfers.get("/exports/<kind>")
@transfers.arguments(ExportArgs, location="query")
@require("read")
def export_sheet(args, kind):
    if kind not in exports.COLUMNS:
        raise InvalidInput(f"Unknown export {kind}.")
    filters = {k: v for k, v in request.args.items() if k not in ("format",)}
    fmt = args["format"]
    body = exports.export(kind, fmt, filters)
    mime = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if fmt == "xlsx"
        else "text/csv; charset=utf-8"
    )
    return Response(
        body,
        mimetype=mime,
        headers={"Content-Disposition": f'attachment; filename="fleet-{kind}.{fmt}"'},
    )


@transfers.get("/audit")
@transfers.arguments(AuditArgs, location="query")
@transfers.response(200, PageSchema)
@require("read")
def audit_log(args):
    page, per_page = args.pop("page"), args.pop("per_page")
    return paginate(query_entries(**args), page, per_page).dump(AuditEntrySchema)

"""Inventory pages: devices, SIM cards, holders, org units, imports and exports."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from fleet.apiutil import paginate
from fleet.audit.operations import query_entries
from fleet.auth.access import actor, require
from fleet.errors import FleetError
from fleet.extensions import db
from fleet.forms import form_data as _form_data
from fleet.forms import form_id, submit_form
from fleet.forms import load_form as _load
from fleet.inventory import exports, imports, queries
from fleet.inventory import operations as ops
from fleet.inventory.models import (
    DEVICE_STATUSES,
    DEVICE_TRANSITIONS,
    HOLDER_ROLES,
    OWNERSHIPS,
    SIM_STATUSES,
    Holder,
    OrgUnit,
)
from fleet.inventory.schemas import (
    INITIAL_STATUSES,
    DeviceCreateArgs,
    DeviceUpdateArgs,
    HolderCreateArgs,
    HolderUpdateArgs,
    OrgUnitCreateArgs,
    SimCreateArgs,
)

bp = Blueprint("inventory", __name__)

DEVICE_FILTERS = ("q", "status", "district", "holder", "model")


def _common():
    return {
        "statuses": DEVICE_STATUSES,
        "districts": queries.districts(),
        "org_units": queries.org_unit_tree(),
        "ownerships": OWNERSHIPS,
        "initial_statuses": INITIAL_STATUSES,
        "sim_statuses": SIM_STATUSES,
        "holder_roles": HOLDER_ROLES,
    }


# ---- dashboard -----------------------------------------------------------------------------


@bp.get("/dashboard")
@require("read")
def dashboard():
    counts = queries.status_counts()
    recent = db.session.scalars(query_entries().limit(15)).all()
    return render_template(
        "inventory/dashboard.html",
        counts=counts,
        total=sum(counts.values()),
        recent=recent,
        statuses=DEVICE_STATUSES,
    )


# ---- devices -------------------------------------------------------------------------------


@bp.get("/devices")
@require("read")
def devices():
    filters = {k: request.args.get(k, "").strip() for k in DEVICE_FILTERS}
    page = paginate(
        queries.device_query(**{k: v for k, v in filters.items() if v}),
        request.args.get("page", 1, type=int),
        50,
    )
    return render_template("inventory/devices.html", page=page, filters=filters, **_common())


@bp.route("/devices/new", methods=["GET", "POST"])
@require("inventory:write")
def new_device():
    form, errors = {}, {}
    if request.method == "POST":
        form = _form_data()
        device, errors = submit_form(
            DeviceCreateArgs(), form, lambda d: ops.register_device(d, actor=actor()),
            error_field="asset_tag")
        if device is not None:
            flash(_("Device %(t)s registered.", t=device.asset_tag), "success")
            return redirect(url_for("inventory.device", tag=device.asset_tag))
    return render_template(
        "inventory/device_form.html", form=form, errors=errors, device=None, **_common()
    ), (422 if errors else 200)


@bp.get("/devices/<tag>")
@require("read")
def device(tag):
    dev = ops.find_device(tag)
    audit = db.session.scalars(
        query_entries(entity_type="device", entity_id=str(dev.id)).limit(50)
    ).all()
    holders = db.session.scalars(
        select(Holder).where(Holder.active.is_(True)).order_by(Holder.name).limit(500)
    ).all()
    return render_template(
        "inventory/device.html",
        device=dev,
        audit=audit,
        holders=holders,
        moves=sorted(DEVICE_TRANSITIONS[dev.status]),
        **_common(),
    )


@bp.route("/devices/<tag>/edit", methods=["GET", "POST"])
@require("inventory:write")
def edit_device(tag):
    dev = ops.find_device(tag)
    errors = {}
    form = {k: getattr(dev, k) for k in ops.DEVICE_COLUMNS if k != "status"}
    form["org_unit_id"] = dev.org_unit_id
    if request.method == "POST":
        form = _form_data()
        saved, errors = submit_form(DeviceUpdateArgs(partial=True), form,
                                    lambda d: ops.update_device(dev, d, actor=actor()))
        if saved is not None:
            flash(_("Device %(t)s saved.", t=dev.asset_tag), "success")
            return redirect(url_for("inventory.device", tag=dev.asset_tag))
    return render_template(
        "inventory/device_form.html", form=form, errors=errors, device=dev, **_common()
    ), (422 if errors else 200)


def _device_action(tag, fn, success: str):
    dev = ops.find_device(tag)
    try:
        fn(dev)
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(url_for("inventory.device", tag=dev.asset_tag))


@bp.post("/devices/<tag>/status")
@require("inventory:write")
def device_status(tag):
    return _device_action(
        tag,
        lambda d: ops.change_status(
            d, request.form.get("status", ""), actor=actor(), note=request.form.get("note") or None
        ),
        _("Status changed."),
    )


@bp.post("/devices/<tag>/checkout")
@require("inventory:write")
def device_checkout(tag):
    holder = db.get_or_404(Holder, form_id("holder_id") or 0)
    return _device_action(
        tag,
        lambda d: ops.checkout(d, holder, actor=actor(), condition=request.form.get("condition")),
        _("Checked out to %(h)s.", h=holder.name),
    )


@bp.post("/devices/<tag>/checkin")
@require("inventory:write")
def device_checkin(tag):
    status = request.form.get("status", "returned")
    if status not in ("returned", "in_repair"):
        abort(400)
    return _device_action(
        tag,
        lambda d: ops.checkin(
            d, actor=actor(), condition=request.form.get("condition"), status=status
        ),
        _("Checked in."),
    )


@bp.post("/devices/<tag>/loss")
@require("inventory:write")
def device_loss(tag):
    from fleet.inventory.schemas import LossArgs

    data, errors = _load(LossArgs(), _form_data(("kind", "date", "report")))
    if data is None:
        flash("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), "error")
        return redirect(url_for("inventory.device", tag=tag))
    return _device_action(
        tag,
        lambda d: ops.report_loss(
            d, kind=data["kind"], on=data["date"], report=data["report"], actor=actor()
        ),
        _("Recorded as %(k)s.", k=data["kind"]),
    )


@bp.post("/devices/<tag>/pair")
@require("inventory:write")
def device_pair(tag):
    from fleet.inventory.fields import normalize_iccid

    try:
        iccid = normalize_iccid(request.form.get("iccid", ""))
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("inventory.device", tag=tag))
    return _device_action(
        tag,
        lambda d: ops.pair_sim(d, ops.find_sim(iccid), actor=actor()),
        _("SIM %(s)s paired.", s=iccid),
    )


@bp.post("/sims/<iccid>/unpair")
@require("inventory:write")
def sim_unpair(iccid):
    sim = ops.find_sim(iccid)
    back = request.form.get("back") or url_for("inventory.sim", iccid=sim.iccid)
    try:
        ops.unpair_sim(sim, actor=actor())
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("SIM %(s)s unpaired.", s=sim.iccid), "success")
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/")


# ---- SIM cards -----------------------------------------------------------------------------


@bp.get("/sims")
@require("read")
def sims():
    filters = {k: request.args.get(k, "").strip() for k in ("q", "status")}
    page = paginate(
        queries.sim_query(**{k: v for k, v in filters.items() if v}),
        request.args.get("page", 1, type=int),
        50,
    )
    return render_template("inventory/sims.html", page=page, filters=filters, **_common())


@bp.route("/sims/new", methods=["GET", "POST"])
@require("inventory:write")
def new_sim():
    form, errors = {}, {}
    if request.method == "POST":
        form = _form_data()
        form["glued_in"] = "glued_in" in request.form
        sim, errors = submit_form(SimCreateArgs(), form,
                                  lambda d: ops.register_sim(d, actor=actor()))
        if sim is not None:
            flash(_("SIM %(s)s registered.", s=sim.iccid), "success")
            return redirect(url_for("inventory.sim", iccid=sim.iccid))
    return render_template("inventory/sim_form.html", form=form, errors=errors, **_common()), (
        422 if errors else 200
    )


@bp.get("/sims/<iccid>")
@require("read")
def sim(iccid):
    s = ops.find_sim(iccid)
    audit = db.session.scalars(
        query_entries(entity_type="sim", entity_id=str(s.id)).limit(50)
    ).all()
    show_secrets = current_user.can("secrets:view") and request.args.get("reveal") == "1"
    return render_template("inventory/sim.html", sim=s, audit=audit, show_secrets=show_secrets)


# ---- holders and org units -----------------------------------------------------------------


@bp.get("/holders")
@require("read")
def holders():
    filters = {k: request.args.get(k, "").strip() for k in ("q", "district", "role")}
    page = paginate(
        queries.holder_query(**{k: v for k, v in filters.items() if v}),
        request.args.get("page", 1, type=int),
        50,
    )
    return render_template("inventory/holders.html", page=page, filters=filters, **_common())


@bp.route("/holders/new", methods=["GET", "POST"])
@bp.route("/holders/<int:holder_id>/edit", methods=["GET", "POST"])
@require("inventory:write")
def edit_holder(holder_id=None):
    holder = db.get_or_404(Holder, holder_id) if holder_id else None
    form = {k: getattr(holder, k) for k in ops.HOLDER_COLUMNS} if holder else {}
    if holder:
        form["org_unit_id"] = holder.org_unit_id
    errors = {}
    if request.method == "POST":
        form = _form_data()
        if holder:
            form["active"] = "active" in request.form
        schema = HolderUpdateArgs(partial=True) if holder else HolderCreateArgs()
        existing = holder
        saved, errors = submit_form(schema, form, lambda d: (
            ops.update_holder(existing, d, actor=actor()) if existing
            else ops.create_holder(d, actor=actor())))
        if saved is not None:
            flash(_("Holder %(h)s saved.", h=saved.name), "success")
            return redirect(url_for("inventory.holder", holder_id=saved.id))
    return render_template(
        "inventory/holder_form.html", form=form, errors=errors, holder=holder, **_common()
    ), (422 if errors else 200)


@bp.get("/holders/<int:holder_id>")
@require("read")
def holder(holder_id):
    h = db.get_or_404(Holder, holder_id)
    from fleet.inventory.models import Custody

    custody = db.session.scalars(
        select(Custody).where(Custody.holder_id == h.id).order_by(Custody.id.desc())
    ).all()
    audit = db.session.scalars(
        query_entries(entity_type="holder", entity_id=str(h.id)).limit(50)
    ).all()
    return render_template("inventory/holder.html", holder=h, custody=custody, audit=audit)


@bp.route("/org-units", methods=["GET", "POST"])
@require("read")
def org_units():
    errors, form = {}, {}
    if request.method == "POST":
        if not current_user.can("inventory:write"):
            abort(403)
        form = _form_data()
        unit, errors = submit_form(OrgUnitCreateArgs(), form,
                                   lambda d: ops.create_org_unit(d, actor=actor()))
        if unit is not None:
            flash(_("Org unit %(n)s added.", n=unit.name), "success")
            return redirect(url_for("inventory.org_units"))
    return render_template(
        "inventory/org_units.html", units=queries.org_unit_tree(), form=form, errors=errors
    ), (422 if errors else 200)


# ---- import and export ---------------------------------------------------------------------


@bp.route("/import", methods=["GET", "POST"], endpoint="imports")
@require("read")
def import_page():
    report = None
    if request.method == "POST":
        if not current_user.can("inventory:write"):
            abort(403)
        upload = request.files.get("file")
        kind = request.form.get("kind", "devices")
        if upload is None or not upload.filename:
            flash(_("Choose a CSV or XLSX file."), "error")
            return render_template("inventory/import.html", report=None, kinds=imports.KINDS), 422
        try:
            report = imports.import_table(
                kind,
                upload.filename,
                upload.read(),
                actor=actor(),
                dry_run=request.form.get("mode") == "dry_run",
                valid_only=request.form.get("mode") == "valid_only",
            )
        except FleetError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
            return render_template("inventory/import.html", report=None, kinds=imports.KINDS), 422
        db.session.commit()
        if report.imported:
            flash(_("%(n)s rows imported.", n=report.imported), "success")
        elif report.errors and not report.dry_run:
            flash(
                _(
                    "Nothing was imported: %(n)s rows have errors. Fix them, or import only the "
                    "valid rows.",
                    n=report.rejected_rows,
                ),
                "error",
            )
    return render_template("inventory/import.html", report=report, kinds=imports.KINDS)


@bp.get("/export/<kind>.<fmt>")
@require("read")
def export(kind, fmt):
    if kind not in exports.COLUMNS or fmt not in ("csv", "xlsx"):
        abort(404)
    filters = {k: v for k, v in request.args.items() if v}
    mime = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if fmt == "xlsx"
        else "text/csv; charset=utf-8"
    )
    return Response(
        exports.export(kind, fmt, filters),
        mimetype=mime,
        headers={"Content-Disposition": f'attachment; filename="fleet-{kind}.{fmt}"'},
    )


@bp.app_template_filter("status_label")
def _status_label(status: str) -> str:
    from fleet.inventory.models import DEVICE_STATUS_LABELS

    return str(DEVICE_STATUS_LABELS.get(status, status))


@bp.app_template_filter("org_unit_options")
def _org_unit_options(units: list[OrgUnit]):
    return [(u.id, "\u00a0\u00a0" * (u.level - 1) + u.name) for u in units]

"""Label pages: choose devices and download labels; stock audits by scanning; the scanner for
quick check-in and check-out."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from fleet.apiutil import paginate
from fleet.auth.access import actor, require
from fleet.errors import FleetError, InvalidInput
from fleet.extensions import db
from fleet.inventory import queries as inventory_queries
from fleet.inventory.models import DEVICE_STATUSES
from fleet.labels import scanning
from fleet.labels.deviceinfo import setting
from fleet.labels.models import ScanAudit

bp = Blueprint("labels", __name__, url_prefix="/labels")

FORMATS = (("a4-l7160", "A4 · Avery L7160 (21)"), ("letter-5160", "US Letter · Avery 5160 (30)"),
           ("thermal-62mm", "Thermal 62 mm tape (PNG)"),
           ("thermal-50x25", "Thermal 50 x 25 mm (PNG)"))
FORMAT_FILES = {"a4-l7160": ("pdf", "application/pdf"), "letter-5160": ("pdf", "application/pdf"),
                "thermal-62mm": ("zip", "application/zip"),
                "thermal-50x25": ("zip", "application/zip")}


@bp.get("/")
@require("read")
def index():
    filters = {k: request.args.get(k, "").strip() for k in ("q", "status", "district")}
    page = paginate(inventory_queries.device_query(**{k: v for k, v in filters.items() if v}),
                    request.args.get("page", 1, type=int), 100)
    return render_template("labels/index.html", page=page, filters=filters, formats=FORMATS,
                           statuses=DEVICE_STATUSES, districts=inventory_queries.districts(),
                           privacy=setting("LABEL_PRIVACY_MODE"),
                           fields=setting("LABEL_PAYLOAD_FIELDS"))


@bp.post("/print")
@require("read")
def print_labels():
    form = request.form
    fmt = form.get("format", "a4-l7160")
    tags = form.getlist("tag")
    try:
        if fmt not in FORMAT_FILES:
            raise InvalidInput(_("Unknown label format %(f)s.", f=fmt))
        devices = scanning.select_devices(
            tags=tags, status=None if tags else (form.get("status") or None),
            district=None if tags else (form.get("district") or None))
        kinds = form.getlist("kinds") or ["phone", "box", "agreement"]
        data = scanning.print_labels(devices, fmt, kinds=kinds,
                                     dpi=form.get("dpi", 300, type=int),
                                     start_offset=form.get("offset", 0, type=int), actor=actor())
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("labels.index"))
    db.session.commit()
    ext, mime = FORMAT_FILES[fmt]
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="fleet-labels-{fmt}.{ext}"'})


@bp.route("/audits", methods=["GET", "POST"])
@require("read")
def audits():
    if request.method == "POST":
        from flask_login import current_user

        if not current_user.can("inventory:write"):
            return redirect(url_for("labels.audits"))
        try:
            audit = scanning.start_audit(request.form.get("district", ""), actor=actor())
        except FleetError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
            return redirect(url_for("labels.audits"))
        db.session.commit()
        return redirect(url_for("labels.audit", audit_id=audit.id))
    rows = db.session.scalars(select(ScanAudit).order_by(ScanAudit.id.desc()).limit(100)).all()
    return render_template("labels/audits.html", audits=rows,
                           districts=inventory_queries.districts())


@bp.get("/audits/<int:audit_id>")
@require("read")
def audit(audit_id):
    a = scanning.get_audit(audit_id)
    return render_template("labels/audit.html", audit=a, summary=scanning.audit_summary(a))


@bp.post("/audits/<int:audit_id>/close")
@require("inventory:write")
def close_audit(audit_id):
    a = scanning.get_audit(audit_id)
    try:
        scanning.close_audit(a, actor=actor(), notes=request.form.get("notes", ""))
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
    return redirect(url_for("labels.audit", audit_id=a.id))


@bp.get("/scan")
@require("inventory:write")
def scan():
    return render_template("labels/scan.html", holders=scanning.holders_for_picker(limit=1000))

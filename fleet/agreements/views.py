"""Agreement pages: list, create, detail with lifecycle actions, print, in-person signing,
scan upload, follow-up list of stuck agreements, terms templates."""

from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fleet.agreements import operations as ops
from fleet.agreements.api import run_step
from fleet.agreements.models import OWNERSHIP_VARIANTS, STATUSES
from fleet.agreements.schemas import STEP_ACTIONS, StepArgs
from fleet.apiutil import paginate
from fleet.audit.operations import query_entries
from fleet.auth.access import actor, require
from fleet.errors import FleetError
from fleet.extensions import db
from fleet.inventory import queries as inventory_queries
from fleet.inventory.operations import find_device

bp = Blueprint("agreements", __name__, url_prefix="/agreements")


def _back(agreement):
    return redirect(url_for("agreements.detail", agreement_id=agreement.id))


@bp.get("/")
@require("read")
def index():
    filters = {k: request.args.get(k, "").strip() for k in ("q", "status", "district")}
    page = paginate(ops.agreement_query(**{k: v for k, v in filters.items() if v}),
                    request.args.get("page", 1, type=int), 50)
    return render_template("agreements/index.html", page=page, filters=filters,
                           statuses=STATUSES, districts=inventory_queries.districts())


@bp.get("/stuck")
@require("read")
def stuck():
    days = request.args.get("days", type=int)
    if days is None or days < 0:
        days = int(ops.setting("AGREEMENT_STUCK_DAYS"))
    rows = db.session.scalars(ops.stuck_query(days).limit(1000)).all()
    return render_template("agreements/stuck.html", rows=rows, days=days,
                           days_at_step=ops.days_at_step)


def parse_accessories(text: str) -> list[dict]:
    """Accessory lines of the form ``Kind: description`` or ``Kind: @ASSET-TAG`` (a
    registered device). A line without a colon is a description of kind "Accessory"."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        kind, _sep, rest = line.partition(":") if ":" in line else ("Accessory", ":", line)
        rest = rest.strip()
        if rest.startswith("@"):
            out.append({"kind": kind.strip(), "device": rest[1:].strip()})
        else:
            out.append({"kind": kind.strip(), "description": rest})
    return out


@bp.route("/new", methods=["GET", "POST"])
@require("agreements:write")
def new():
    form = {"device": request.args.get("device", "")}
    errors: dict = {}
    status = 200
    device = None
    if form["device"]:
        try:
            device = find_device(form["device"])
        except FleetError as exc:
            flash(str(exc.message), "error")
    if request.method == "POST":
        form = {k: v for k, v in request.form.items() if k != "csrf_token"}
        try:
            device = find_device(form.get("device", ""))
            agreement = ops.create_agreement(
                device, actor=actor(), number=form.get("number") or None,
                ownership=form.get("ownership") or None,
                accessories=parse_accessories(form.get("accessories", "")),
                expected_return_on=_date(form.get("expected_return_on")),
                notes=form.get("notes", ""))
        except FleetError as exc:
            db.session.rollback()
            errors = {k: [str(v)] for k, v in exc.fields.items()}
            status = exc.status
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Agreement %(n)s drafted.", n=agreement.number), "success")
            return _back(agreement)
    awaiting = ops.devices_awaiting_agreement() if device is None else []
    return render_template("agreements/new.html", form=form, errors=errors, device=device,
                           ownerships=OWNERSHIP_VARIANTS, awaiting=awaiting), status


def _date(value):
    if not value:
        return None
    try:
        return ma.fields.Date().deserialize(value)
    except ma.ValidationError as exc:
        from fleet.errors import InvalidInput

        raise InvalidInput(_("Invalid date %(d)s.", d=value),
                           fields={"expected_return_on": exc.messages}) from exc


@bp.get("/<int:agreement_id>")
@require("read")
def detail(agreement_id):
    agreement = ops.get_agreement(agreement_id)
    audit = db.session.scalars(query_entries(entity_type="agreement",
                                             entity_id=str(agreement.id)).limit(50)).all()
    return render_template("agreements/detail.html", a=agreement, audit=audit,
                           allowed=ops.allowed_actions(agreement))


@bp.post("/<int:agreement_id>/print")
@require("agreements:write")
def print_pdf(agreement_id):
    agreement = ops.get_agreement(agreement_id)
    try:
        pdf = ops.print_agreement(agreement, actor=actor(),
                                  page_size=request.form.get("page_size", "a4"))
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _back(agreement)
    db.session.commit()
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="agreement-{agreement.id}.pdf"'})


@bp.get("/<int:agreement_id>/signed.pdf")
@require("read")
def signed_pdf(agreement_id):
    agreement = ops.get_agreement(agreement_id)
    return Response(ops.signed_pdf(agreement), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="agreement-{agreement.id}-signed.pdf"'})


@bp.get("/<int:agreement_id>/sign")
@require("agreements:write")
def sign(agreement_id):
    agreement = ops.get_agreement(agreement_id)
    if agreement.status != "printed":
        flash(_("Agreement %(n)s is %(s)s; the holder signs a printed agreement.",
                n=agreement.number, s=agreement.status), "error")
        return _back(agreement)
    paragraphs = [p for p in agreement.terms_text.split("\n\n")]
    return render_template("agreements/sign.html", a=agreement, paragraphs=paragraphs)


@bp.get("/<int:agreement_id>/signature.png")
@require("read")
def signature_png(agreement_id):
    agreement = ops.get_agreement(agreement_id)
    if agreement.holder_signature is None:
        abort(404)
    return Response(ops.signature_bytes(agreement.holder_signature), mimetype="image/png")


@bp.post("/<int:agreement_id>/actions/<action>")
@require("agreements:write")
def action(agreement_id, action):
    if action not in STEP_ACTIONS:
        abort(404)
    agreement = ops.get_agreement(agreement_id)
    try:
        args = StepArgs().load({k: v for k, v in request.form.items() if k != "csrf_token"})
        run_step(agreement, action, args)
    except ma.ValidationError as exc:
        db.session.rollback()
        flash("; ".join(f"{k}: {' '.join(map(str, v))}"
                        for k, v in exc.normalized_messages().items()), "error")
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("Agreement %(n)s: %(s)s.", n=agreement.number, s=agreement.status), "success")
    return _back(agreement)


@bp.post("/<int:agreement_id>/scans")
@require("agreements:write")
def upload_scan(agreement_id):
    agreement = ops.get_agreement(agreement_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a PDF, JPEG or PNG file."), "error")
        return _back(agreement)
    try:
        ops.upload_scan(agreement, upload.read(), filename=upload.filename,
                        copy=request.form.get("copy", "district"), actor=actor())
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return render_template("agreements/detail.html", a=agreement, audit=[],
                               allowed=ops.allowed_actions(agreement)), exc.status
    db.session.commit()
    flash(_("Scan kept with agreement %(n)s.", n=agreement.number), "success")
    return _back(agreement)


@bp.get("/<int:agreement_id>/scans/<int:scan_id>")
@require("read")
def scan(agreement_id, scan_id):
    agreement = ops.get_agreement(agreement_id)
    match = next((s for s in agreement.scans if s.id == scan_id), None)
    if match is None:
        abort(404)
    ext = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[match.content_type]
    return Response(ops.scan_bytes(match), mimetype=match.content_type, headers={
        "Content-Disposition":
            f'attachment; filename="agreement-{agreement.id}-scan-{match.id}.{ext}"'})


@bp.route("/templates", methods=["GET", "POST"])
@require("read")
def templates():
    if request.method == "POST":
        if not current_user.can("agreements:templates"):
            abort(403)
        try:
            tpl = ops.edit_template(request.form.get("ownership", ""), request.form.get("text", ""),
                                    actor=actor(), name=request.form.get("name") or None)
        except FleetError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("%(n)s saved as version %(v)s.", n=tpl.name, v=tpl.version), "success")
        return redirect(url_for("agreements.templates"))
    return render_template("agreements/templates.html", templates=ops.current_templates())

"""APK repository pages: releases, upload (with progress), release detail and review actions,
channels (point, rollback, rollout, tokens), the phone install page and its printable poster."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from fleet.apiutil import paginate
from fleet.apk import operations as ops
from fleet.apk.downloads import presented_token, record_token_use
from fleet.apk.models import (
    RELEASE_STATUSES,
    RELEASE_TRANSITIONS,
    Channel,
    DownloadToken,
    HolderGroup,
    Release,
    SignerPin,
)
from fleet.apk.uploads import detached_actor
from fleet.audit.operations import query_entries
from fleet.auth.access import actor, require
from fleet.errors import FleetError, InvalidInput
from fleet.extensions import db
from fleet.forms import ID_MAX, form_id, form_int
from fleet.inventory import queries as inventory_queries

bp = Blueprint("apk", __name__)


def _fail(exc: FleetError):
    db.session.rollback()
    flash(str(exc.message), "error")


# ---- releases ------------------------------------------------------------------------------

@bp.get("/apk/releases")
@require("read")
def releases():
    stmt = select(Release).order_by(Release.id.desc())
    status = request.args.get("status", "")
    if status in RELEASE_STATUSES:
        stmt = stmt.where(Release.status == status)
    page = paginate(stmt, request.args.get("page", 1, type=int), 50)
    return render_template("apk/releases.html", page=page, status=status,
                           statuses=RELEASE_STATUSES)


@bp.route("/apk/releases/upload", methods=["GET", "POST"])
@require("apk:upload")
def upload():
    """Upload page. The JS (static/js/apk-upload.js) sends the file to the API with progress;
    without JS the form posts here (werkzeug spools the file part to disk past 500 KB)."""
    if request.method == "POST":
        upload_file = request.files.get("file")
        if upload_file is None or not upload_file.filename:
            flash(_("Choose an APK file."), "error")
            return redirect(url_for("apk.upload"))
        try:
            release, created = ops.upload_apk(upload_file.stream, file_name=upload_file.filename,
                                              actor=detached_actor(),
                                              release_notes=request.form.get("notes", ""))
            db.session.commit()
        except FleetError as exc:
            _fail(exc)
            return redirect(url_for("apk.upload"))
        if not created:
            flash(_("This file was uploaded before: showing the existing release."), "info")
        return redirect(url_for("apk.release", release_id=release.id))
    return render_template("apk/upload.html", max_bytes=_max_bytes())


def _max_bytes() -> int:
    from flask import current_app

    return int(current_app.config["MAX_APK_BYTES"])


@bp.get("/apk/releases/<int:release_id>")
@require("read")
def release(release_id):
    rel = ops.get_release(release_id)
    audit = db.session.scalars(query_entries(entity_type="apk_release",
                                             entity_id=str(rel.id)).limit(50)).all()
    channels = db.session.scalars(select(Channel).order_by(Channel.name)).all()
    pin = (db.session.scalar(select(SignerPin).where(SignerPin.package == rel.package))
           if rel.package else None)
    return render_template("apk/release.html", release=rel, audit=audit, channels=channels,
                           pin=pin, allowed=RELEASE_TRANSITIONS[rel.status],
                           four_eyes=ops.four_eyes_required())


@bp.post("/apk/releases/<int:release_id>/<action>")
@require("apk:upload")
def release_action(release_id, action):
    rel = ops.get_release(release_id)
    form = request.form
    needs_approve = action in ("approve", "reject", "withdraw", "revet", "release")
    if needs_approve and not current_user.can("apk:approve"):
        abort(403)
    try:
        if action == "testing":
            ops.start_testing(rel, actor=actor())
        elif action == "approve":
            ops.approve_release(rel, actor=actor())
        elif action == "reject":
            ops.reject_release(rel, form.get("reason", ""), actor=actor())
        elif action == "withdraw":
            ops.withdraw_release(rel, form.get("reason", ""), actor=actor())
        elif action == "revet":
            ops.revet_release(rel, actor=actor())
        elif action == "notes":
            ops.update_notes(rel, form.get("release_notes", ""), actor=actor())
        elif action == "release":
            ops.release_to_channel(rel, ops.find_channel(form.get("channel", "")),
                                   rollout_percent=form.get("rollout_percent", 100, type=int),
                                   actor=actor())
        else:
            abort(404)
        db.session.commit()
        flash(_("Done."), "success")
    except FleetError as exc:
        _fail(exc)
    return redirect(url_for("apk.release", release_id=release_id))


# ---- channels ------------------------------------------------------------------------------

@bp.route("/apk/channels", methods=["GET", "POST"])
@require("read")
def channels():
    if request.method == "POST":
        if not current_user.can("apk:approve"):
            abort(403)
        form = request.form
        try:
            channel = ops.create_channel({
                "name": form.get("name", ""), "description": form.get("description", ""),
                "is_test": bool(form.get("is_test")), "is_default": bool(form.get("is_default")),
                "dhis2_user_groups": [u for u in form.get("dhis2_user_groups", "").split()
                                      if u],
                "org_unit_ids": _form_ids("org_unit_ids"),
                "holder_group_ids": _form_ids("holder_group_ids"),
            }, actor=actor())
            db.session.commit()
            return redirect(url_for("apk.channel", channel_id=channel.id))
        except FleetError as exc:
            _fail(exc)
    rows = db.session.scalars(select(Channel).order_by(Channel.name)).all()
    groups = db.session.scalars(select(HolderGroup).order_by(HolderGroup.name)).all()
    return render_template("apk/channels.html", channels=rows, groups=groups,
                           org_units=inventory_queries.org_unit_tree())


@bp.get("/apk/channels/<int:channel_id>")
@require("read")
def channel(channel_id):
    chan = db.get_or_404(Channel, channel_id)
    tokens = db.session.scalars(select(DownloadToken).where(
        DownloadToken.channel_id == chan.id).order_by(DownloadToken.id.desc())).all()
    candidates = db.session.scalars(select(Release).where(
        Release.status.in_(("in_testing", "approved", "released", "superseded")))
        .order_by(Release.package, Release.version_code.desc())).all()
    issued = session.pop("apk_issued_token", None)
    return render_template("apk/channel.html", channel=chan, tokens=tokens,
                           history=ops.channel_history(chan), candidates=candidates,
                           issued=issued if issued and issued.get("channel") == chan.id else None)


@bp.post("/apk/channels/<int:channel_id>/<action>")
@require("apk:approve")
def channel_action(channel_id, action):
    chan = db.get_or_404(Channel, channel_id)
    form = request.form
    try:
        if action == "release":
            ops.release_to_channel(ops.get_release(form_id("release_id") or 0), chan,
                                   rollout_percent=form.get("rollout_percent", 100, type=int),
                                   actor=actor())
        elif action == "rollback":
            _pointer, warning = ops.rollback_channel(
                chan, ops.get_release(form_id("release_id") or 0), actor=actor())
            flash(warning, "warning")
        elif action == "rollout":
            ops.set_rollout(chan, form.get("package", ""),
                            form.get("rollout_percent", 100, type=int), actor=actor())
        elif action == "token":
            _token, plain = ops.issue_download_token(
                channel=chan, label=form.get("label", ""),
                expires_days=form_int("expires_days"), actor=actor())
            session["apk_issued_token"] = {"channel": chan.id, "token": plain}
        elif action == "revoke":
            token = db.get_or_404(DownloadToken, form_id("token_id") or 0)
            ops.revoke_download_token(token, actor=actor())
        else:
            abort(404)
        db.session.commit()
        if action != "rollback":
            flash(_("Done."), "success")
    except FleetError as exc:
        _fail(exc)
    return redirect(url_for("apk.channel", channel_id=channel_id))


def _qr_png_data_uri(data: str) -> str:
    """A PNG QR code of ``data`` (error correction M, 4-module quiet zone) as a data: URI."""
    import base64

    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image().save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@bp.get("/apk/channels/<int:channel_id>/poster")
@require("apk:approve")
def poster(channel_id):
    """A printable A4 poster with the QR code of the channel's install page (with ``token``,
    which must be a live token of this channel)."""
    chan = db.get_or_404(Channel, channel_id)
    plain = request.args.get("token", "")
    token = ops.valid_download_token(plain)
    if token is None or token.channel_id != chan.id:
        flash(_("Issue a channel token first: the poster's QR code carries it."), "error")
        return redirect(url_for("apk.channel", channel_id=chan.id))
    url = url_for("apk.install", channel=chan.name, token=plain, _external=True)
    releases = [p.release for p in chan.pointers if p.rollout_percent >= 100]
    return render_template("apk/poster.html", channel=chan, url=url, qr_png=_qr_png_data_uri(url),
                           releases=releases)


# ---- install page for phones ---------------------------------------------------------------

@bp.get("/install/<channel>")
def install(channel):
    """Mobile page: the channel's current version(s), size, SHA-256, notes, download button.
    Needs a token of this channel (``?token=``) or a staff session."""
    chan = db.session.scalar(select(Channel).where(Channel.name == channel))
    if chan is None:
        abort(404)
    plain = presented_token()
    if plain:
        token = ops.valid_download_token(plain)
        if token is None:
            abort(401)
        if ops.token_channel(token) is not chan:
            abort(403)
        device_id = token.device_id
        record_token_use(token)
        chan = db.session.scalar(select(Channel).where(Channel.name == channel))
    elif current_user.is_authenticated:
        device_id = None
    else:
        abort(401)
    items = []
    for pointer in chan.pointers:
        rel = ops.release_for(chan, pointer.package, device_id)
        if rel is not None:
            items.append(rel)
    return render_template("apk/install.html", channel=chan, releases=items, token=plain)


# ---- holder groups and signer pins ---------------------------------------------------------

def _form_ids(field: str) -> list[int]:
    """The integer ids posted in the form list ``field``; InvalidInput naming the field for a
    value that is not a positive integer."""
    ids = []
    for value in request.form.getlist(field):
        if not value:
            continue
        if not value.isdigit() or len(value) > len(str(ID_MAX)) or not 1 <= int(value) <= ID_MAX:
            raise InvalidInput(_("Not an id: %(v)s", v=value[:20]), fields={field: _("Not an id.")})
        ids.append(int(value))
    return ids


@bp.route("/apk/holder-groups", methods=["GET", "POST"])
@require("read")
def holder_groups():
    """Holder groups (channels can be scoped to them): list, and a create form for approvers."""
    if request.method == "POST":
        if not current_user.can("apk:approve"):
            abort(403)
        try:
            group = ops.create_holder_group(request.form.get("name", ""), [], actor=actor())
            db.session.commit()
            return redirect(url_for("apk.holder_group", group_id=group.id))
        except FleetError as exc:
            _fail(exc)
    groups = db.session.scalars(select(HolderGroup).order_by(HolderGroup.name)).all()
    return render_template("apk/holder_groups.html", groups=groups)


@bp.route("/apk/holder-groups/<int:group_id>", methods=["GET", "POST"])
@require("read")
def holder_group(group_id):
    """One holder group: its members (approvers remove them) and a holder search (``q``,
    ``district``) whose results approvers add."""
    if request.method == "POST" and not current_user.can("apk:approve"):
        abort(403)
    group = db.get_or_404(HolderGroup, group_id)
    if request.method == "POST":
        try:
            members = [h.id for h in group.holders]
            if request.form.get("action") == "add":
                members += _form_ids("add_ids")
            else:
                removed = set(_form_ids("remove_ids"))
                members = [i for i in members if i not in removed]
            ops.set_holder_group_members(group, members, actor=actor())
            db.session.commit()
            flash(_("Done."), "success")
        except FleetError as exc:
            _fail(exc)
        return redirect(url_for("apk.holder_group", group_id=group_id,
                                q=request.args.get("q", ""),
                                district=request.args.get("district", "")))
    q, district = request.args.get("q", "").strip(), request.args.get("district", "")
    candidates = None
    if q or district:
        member_ids = {h.id for h in group.holders}
        stmt = inventory_queries.holder_query(q=q, district=district or None)
        candidates = [h for h in db.session.scalars(stmt.limit(101)).all()
                      if h.id not in member_ids]
    channels = db.session.scalars(select(Channel).where(Channel.holder_groups.contains(group))
                                  .order_by(Channel.name)).all()
    return render_template("apk/holder_group.html", group=group, q=q, district=district,
                           districts=inventory_queries.districts(), candidates=candidates,
                           channels=channels)


@bp.route("/apk/pins", methods=["GET", "POST"])
@require("read")
def pins():
    """Signer certificate pins per package; admins re-pin a package to another signer with a
    reason (audited): phones with the old signer's build refuse the new one."""
    if request.method == "POST":
        if not current_user.can("apk:repin"):
            abort(403)
        try:
            ops.repin_signer(request.form.get("package", "").strip(),
                             request.form.get("cert_sha256", ""),
                             request.form.get("reason", ""), actor=actor())
            db.session.commit()
            flash(_("Done."), "success")
            return redirect(url_for("apk.pins"))
        except FleetError as exc:
            _fail(exc)
    rows = db.session.scalars(select(SignerPin).order_by(SignerPin.package)).all()
    return render_template("apk/pins.html", pins=rows, form=request.form)

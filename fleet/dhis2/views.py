"""DHIS2 connector pages: servers (admin; secrets never shown back), org unit import with a
dry-run diff then apply, user groups, Android settings profiles (edit, preview the values that
change on the whole server, publish, read-back), APK_DISTRIBUTION publishing, history."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fleet.auth.access import actor, require
from fleet.dhis2 import channels, importing, publishing
from fleet.dhis2 import operations as ops
from fleet.dhis2.android_settings import DATA_SYNC_PERIODS, METADATA_SYNC_PERIODS
from fleet.dhis2.models import Dhis2Server
from fleet.dhis2.schemas import (
    Dhis2ServerCreateArgs,
    Dhis2ServerUpdateArgs,
    SettingsProfileArgs,
    SettingsProfileUpdateArgs,
)
from fleet.errors import FleetError
from fleet.extensions import db
from fleet.forms import field_errors as _errors_of
from fleet.forms import load_form as _load
from fleet.forms import submit_form

bp = Blueprint("dhis2", __name__, url_prefix="/dhis2")

SERVER_FORM_FIELDS = ("name", "base_url", "auth_kind", "token", "username", "password",
                      "ca_bundle", "verify_tls", "timeout_seconds", "is_default")
PROFILE_FORM_FIELDS = ("name", "description", "encrypt_db", "allow_screen_capture",
                       "reserved_values", "data_sync", "metadata_sync", "tei_download")


def _server_form() -> dict:
    form = {k: request.form.get(k, "") for k in SERVER_FORM_FIELDS}
    form["verify_tls"] = "verify_tls" in request.form
    form["is_default"] = "is_default" in request.form
    return form


def _chosen_server() -> Dhis2Server:
    return ops.find_server(request.values.get("server") or None)


# ---- overview and servers ------------------------------------------------------------------

@bp.get("/")
@require("read")
def index():
    return render_template("dhis2/index.html", servers=ops.list_servers(),
                           publications=publishing.publications(limit=10))


@bp.route("/servers/new", methods=["GET", "POST"])
@require("dhis2:publish")
def new_server():
    form, errors = {"auth_kind": "token", "verify_tls": True, "timeout_seconds": 30}, {}
    if request.method == "POST":
        form = _server_form()
        data, errors = _load(Dhis2ServerCreateArgs(), form)
        if data is not None:
            try:
                server = ops.create_server(data, actor=actor())
            except FleetError as exc:
                db.session.rollback()
                errors = _errors_of(exc) or {"base_url": [str(exc.message)]}
                flash(str(exc.message), "error")
            else:
                db.session.commit()
                flash(_("DHIS2 server %(n)s added.", n=server.name), "success")
                return redirect(url_for("dhis2.index"))
    form.pop("token", None), form.pop("password", None)  # never echo a secret
    return render_template("dhis2/server_form.html", form=form, errors=errors, server=None), (
        422 if errors else 200)


@bp.route("/servers/<int:server_id>/edit", methods=["GET", "POST"])
@require("dhis2:publish")
def edit_server(server_id):
    server = db.get_or_404(Dhis2Server, server_id)
    errors = {}
    form = {k: getattr(server, k) for k in SERVER_FORM_FIELDS if k not in ("token", "password")}
    if request.method == "POST":
        form = _server_form()
        data, errors = _load(Dhis2ServerUpdateArgs(partial=True), form)
        if data is not None:
            try:
                ops.update_server(server, data, actor=actor())
            except FleetError as exc:
                db.session.rollback()
                errors = _errors_of(exc) or {"base_url": [str(exc.message)]}
                flash(str(exc.message), "error")
            else:
                db.session.commit()
                flash(_("DHIS2 server %(n)s saved.", n=server.name), "success")
                return redirect(url_for("dhis2.index"))
        form.pop("token", None), form.pop("password", None)
    return render_template("dhis2/server_form.html", form=form, errors=errors, server=server), (
        422 if errors else 200)


@bp.post("/servers/<int:server_id>/check")
@require("dhis2:publish")
def check_server(server_id):
    server = db.get_or_404(Dhis2Server, server_id)
    try:
        info = ops.check_server(server)
    except FleetError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("%(n)s answers: DHIS2 %(v)s (%(s)s).", n=server.name, v=info.get("version"),
                s=info.get("systemName") or "-"), "success")
    return redirect(url_for("dhis2.index"))


# ---- org units and user groups -------------------------------------------------------------

@bp.route("/orgunits", methods=["GET", "POST"])
@require("dhis2:publish")
def org_units():
    report = None
    if request.method == "POST":
        apply = request.form.get("action") == "apply"
        try:
            report = importing.import_org_units(_chosen_server(), actor=actor(),
                                                dry_run=not apply)
        except FleetError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            if apply:
                db.session.commit()
                flash(_("Org units imported."), "success")
            else:
                db.session.rollback()
    return render_template("dhis2/orgunits.html", servers=ops.list_servers(), report=report,
                           selected=request.form.get("server", ""))


@bp.route("/usergroups", methods=["GET", "POST"])
@require("read")
def user_groups():
    report = None
    if request.method == "POST":
        if not current_user.can("dhis2:publish"):
            abort(403)
        try:
            report = importing.import_user_groups(_chosen_server(), actor=actor())
        except FleetError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("User groups imported."), "success")
    return render_template("dhis2/usergroups.html", servers=ops.list_servers(), report=report,
                           groups=importing.user_groups())


# ---- settings profiles ---------------------------------------------------------------------

def _profile_form() -> dict:
    return {k: request.form.get(k, "") for k in PROFILE_FORM_FIELDS}


def _profile_ctx(**kw) -> dict:
    return {"data_sync_periods": DATA_SYNC_PERIODS, "metadata_sync_periods": METADATA_SYNC_PERIODS,
            "servers": ops.list_servers(), **kw}


@bp.route("/settings", methods=["GET", "POST"])
@require("read")
def profiles():
    form, errors = {}, {}
    if request.method == "POST":
        if not current_user.can("dhis2:publish"):
            abort(403)
        form = _profile_form()
        row, errors = submit_form(
            SettingsProfileArgs(), form,
            lambda d: ops.create_settings_profile(d, actor=actor()), error_field="name")
        if row is not None:
            flash(_("Profile %(n)s created.", n=row.name), "success")
            return redirect(url_for("dhis2.profile", ref=row.id))
    return render_template("dhis2/profiles.html", profiles=ops.list_profiles(), form=form,
                           errors=errors, **_profile_ctx()), (422 if errors else 200)


@bp.route("/settings/<int:ref>", methods=["GET", "POST"])
@require("read")
def profile(ref):
    row = ops.find_profile(ref)
    errors, preview, result = {}, None, None
    form = {k: getattr(row, k) for k in PROFILE_FORM_FIELDS}
    if request.method == "POST":
        if not current_user.can("dhis2:publish"):
            abort(403)
        action = request.form.get("action", "save")
        if action == "save":
            form = _profile_form()
            data, errors = _load(SettingsProfileUpdateArgs(partial=True), form)
            if data is not None:
                # an emptied field means "leave DHIS2's value alone"
                data.update({k: None for k in PROFILE_FORM_FIELDS[2:] if k not in data})
                try:
                    ops.update_settings_profile(row, data, actor=actor())
                except FleetError as exc:
                    db.session.rollback()
                    errors = _errors_of(exc)
                    flash(str(exc.message), "error")
                else:
                    db.session.commit()
                    flash(_("Profile saved (version %(v)s).", v=row.version), "success")
                    return redirect(url_for("dhis2.profile", ref=row.id))
        else:
            try:
                outcome = publishing.publish_settings_profile(
                    _chosen_server(), row, actor=actor(), dry_run=action != "publish")
            except FleetError as exc:
                db.session.rollback()
                flash(str(exc.message), "error")
            else:
                if action == "publish":
                    db.session.commit()
                    result = outcome
                    flash(_("Published to %(s)s and verified.", s=outcome.server), "success")
                else:
                    db.session.rollback()
                    preview = outcome
    return render_template("dhis2/profile.html", profile=row, form=form, errors=errors,
                           preview=preview, result=result,
                           selected=request.form.get("server", ""), **_profile_ctx()), (
        422 if errors else 200)


# ---- APK distribution and history ----------------------------------------------------------

@bp.route("/apks", methods=["GET", "POST"])
@require("dhis2:publish")
def apks():
    result, skipped = None, []
    if request.method == "POST":
        apply = request.form.get("action") == "publish"
        try:
            server = _chosen_server()
            built = channels.channel_entries(actor=actor(), dry_run=not apply)
            skipped = built.skipped
            result = publishing.publish_apk_distribution(
                server, built.entries, actor=actor(), dry_run=not apply,
                take_default="take_default" in request.form)
        except FleetError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            if apply:
                db.session.commit()
                flash(_("APK_DISTRIBUTION published to %(s)s.", s=result.server), "success")
            else:
                db.session.rollback()
    return render_template("dhis2/apks.html", servers=ops.list_servers(), result=result,
                           skipped=skipped, selected=request.form.get("server", ""))


@bp.get("/history")
@require("read")
def history():
    return render_template("dhis2/history.html", publications=publishing.publications())

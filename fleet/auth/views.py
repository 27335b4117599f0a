"""Login, logout, user administration and API tokens (HTML)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from fleet.auth import operations as ops
from fleet.auth.access import actor, require
from fleet.auth.models import ROLES, ApiToken, User
from fleet.errors import FleetError
from fleet.extensions import csrf, db, limiter
from fleet.forms import form_int

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _safe_next(target: str | None) -> str:
    if (
        target
        and not urlsplit(target).netloc
        and target.startswith("/")
        and not target.startswith("//")
    ):
        return target
    return url_for("web.index")


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt  # checked below, after the rate limit, so refused attempts count too
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if request.method == "POST":
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        user = ops.authenticate(request.form.get("username", ""), request.form.get("password", ""))
        db.session.commit()  # failure counters or last_login_at
        if user is None:
            flash(_("Wrong username or password, or the account is locked."), "error")
            return render_template(
                "auth/login.html", username=request.form.get("username", "")
            ), 401
        login_user(user)  # Flask-Login regenerates the session id (no fixation)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", username="")


@bp.post("/logout")
def logout():
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/users")
@require("users:manage")
def users():
    rows = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("auth/users.html", users=rows, roles=ROLES, errors={}, form={})


@bp.post("/users")
@require("users:manage")
def create_user():
    form = request.form
    try:
        ops.create_user(
            form.get("username", ""),
            form.get("password", ""),
            form.get("role", ""),
            actor=actor(),
            display_name=form.get("display_name", ""),
            email=form.get("email", ""),
        )
    except FleetError as exc:
        db.session.rollback()
        rows = db.session.scalars(select(User).order_by(User.username)).all()
        flash(str(exc.message), "error")
        return render_template(
            "auth/users.html",
            users=rows,
            roles=ROLES,
            errors={k: [str(v)] for k, v in exc.fields.items()},
            form=form,
        ), exc.status
    db.session.commit()
    flash(_("User %(u)s created.", u=form.get("username")), "success")
    return redirect(url_for("auth.users"))


@bp.post("/users/<int:user_id>")
@require("users:manage")
def update_user(user_id: int):
    user = db.get_or_404(User, user_id)
    form = request.form
    if user.id == current_user.id and (
        form.get("active") == "0" or form.get("role", "admin") != "admin"
    ):
        flash(_("You cannot demote or deactivate yourself."), "error")
        return redirect(url_for("auth.users"))
    ops.update_user(
        user,
        actor=actor(),
        role=form.get("role") or None,
        active={"1": True, "0": False}.get(form.get("active", "")),
        password=form.get("password") or None,
    )
    db.session.commit()
    flash(_("User %(u)s updated.", u=user.username), "success")
    return redirect(url_for("auth.users"))


@bp.get("/tokens")
@require("read")
def tokens():
    stmt = select(ApiToken).order_by(ApiToken.id.desc())
    if not current_user.can("users:manage"):
        stmt = stmt.where(ApiToken.user_id == current_user.id)
    return render_template(
        "auth/tokens.html", tokens=db.session.scalars(stmt).all(), new_token=None
    )


@bp.post("/tokens")
@require("read")
def issue_token():
    try:
        _token, plain = ops.issue_token(
            current_user,
            request.form.get("name", ""),
            actor=actor(),
            expires_days=form_int("expires_days"),
        )
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("auth.tokens"))
    db.session.commit()
    stmt = select(ApiToken).order_by(ApiToken.id.desc())
    if not current_user.can("users:manage"):
        stmt = stmt.where(ApiToken.user_id == current_user.id)
    return render_template(
        "auth/tokens.html", tokens=db.session.scalars(stmt).all(), new_token=plain
    )


@bp.post("/tokens/<int:token_id>/revoke")
@require("read")
def revoke_token(token_id: int):
    token = db.get_or_404(ApiToken, token_id)
    if token.user_id != current_user.id and not current_user.can("users:manage"):
        abort(403)
    ops.revoke_token(token_id, actor=actor())
    db.session.commit()
    flash(_("Token revoked."), "success")
    return redirect(url_for("auth.tokens"))

"""App-wide web wiring: security headers, error pages and JSON errors, template helpers, the
home page and the health probe."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from fleet.errors import FleetError
from fleet.extensions import api, db

log = logging.getLogger(__name__)
bp = Blueprint("web", __name__)

#: Content-Security-Policy: no inline script, no third-party origins (assets are vendored).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'self'; object-src 'none'"
)


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for("inventory.dashboard"))


@bp.get("/healthz")
def healthz():
    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _json_error(status: int, code: str, message: str, fields: dict | None = None):
    resp = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
    resp.status_code = status
    return resp


def flat_field_messages(messages: dict, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{field: [message, ...]}``, the envelope's ``fields``.

    A list item or nested field gets a dotted name: ``{"org_unit_ids": {0: ["Not a valid
    integer."]}}`` becomes ``{"org_unit_ids.0": ["Not a valid integer."]}``."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_field_messages(value, f"{name}."))
        else:
            flat.setdefault(name, []).extend(
                str(m) for m in (value if isinstance(value, list) else [value]))
    return flat


def handle_http_exception(exc: HTTPException):
    """One handler for every HTTP error: JSON under /api/, an HTML page elsewhere."""
    if _wants_json():
        fields = {}
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:  # webargs/marshmallow: {"json": {"field": ["msg"]}}
            for _location, errs in messages.items():
                if isinstance(errs, dict):
                    fields.update(flat_field_messages(errs))
        # Field errors carry the same code as a domain rule's InvalidInput (fleet.errors).
        code = "invalid" if fields else (exc.name or "error").lower().replace(" ", "_")
        message = exc.description if not fields else _("The input is not valid.")
        resp = _json_error(exc.code or 500, code, str(message), fields)
        for key, value in ((data.get("headers") if isinstance(data, dict) else None) or {}).items():
            resp.headers[key] = value
        return resp
    return render_template("error.html", error=exc), exc.code or 500


def handle_fleet_error(exc: FleetError):
    db.session.rollback()
    if _wants_json():
        return jsonify(exc.to_dict()), exc.status
    flash(str(exc.message), "error")
    return render_template("error.html", error=exc), exc.status


def handle_csrf_error(exc: CSRFError):
    if _wants_json():
        return _json_error(400, "csrf", str(exc.description))
    flash(_("Your form expired or was sent from another page. Please try again."), "error")
    return redirect(request.referrer or url_for("web.index"))


def _security_headers(resp):
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return resp


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul_characters():
    """400 for a NUL character (U+0000) anywhere in the query string, a url-encoded form or a
    JSON body.

    PostgreSQL text cannot hold NUL, so such a value failed in the database (a 500, found by the
    fuzz test on ``GET /api/v1/audit?action=...%00``); no field of fleet takes one. Multipart
    bodies are left alone: APK uploads stream them, and reading ``request.form`` here would
    consume the stream."""
    from werkzeug.exceptions import BadRequest

    json_body = request.get_json(silent=True) if request.is_json else None
    form = request.form if request.mimetype == "application/x-www-form-urlencoded" else {}
    if _has_nul(dict(request.args.lists())) or _has_nul(dict(form.lists()) if form else {}) \
            or _has_nul(json_body):
        raise BadRequest(_("The request contains a NUL character, which no field accepts."))


def _fresh_identity():
    """Forget any identity cached in ``g``: an app context reused across requests (tests, a
    CLI pushing one context) must not carry one caller's login into the next request."""
    g.pop("_login_user", None)
    g.pop("auth_via_token", None)
    from fleet.auth.access import resolve_bearer_token

    resolve_bearer_token(request)


def init_app(app: Flask) -> None:
    """Install handlers and template helpers on ``app``."""
    app.register_blueprint(bp)
    app.before_request(refuse_nul_characters)
    app.before_request(_fresh_identity)
    from fleet.auth.access import save_token_use

    app.after_request(save_token_use)
    api.handle_http_exception = handle_http_exception  # flask-smorest registers it app-wide
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(FleetError, handle_fleet_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.after_request(_security_headers)
    app.jinja_env.globals.update(
        format_datetime=format_datetime, format_decimal=format_decimal, get_locale=get_locale
    )
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.filters["zip_pairs"] = lambda values: [(v, v) for v in values]

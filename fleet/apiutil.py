"""Helpers shared by every domain's JSON API: blueprints under /api/v1, CSRF for cookie
sessions, pagination and the error schema."""

from __future__ import annotations

import math

import marshmallow as ma
from flask import g, request
from flask_smorest import Blueprint
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError as WTFValidationError

from fleet.extensions import csrf

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _csrf_for_cookie_sessions():
    """Token callers need no CSRF token; browser sessions calling the API do (X-CSRFToken)."""
    from flask import current_app
    from flask_login import current_user
    from werkzeug.exceptions import BadRequest

    if request.method not in UNSAFE or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    # current_user first: loading it is what sets g.auth_via_token for bearer tokens.
    if current_user.is_authenticated and not getattr(g, "auth_via_token", False):
        try:
            validate_csrf(request.headers.get("X-CSRFToken", ""))
        except WTFValidationError as exc:
            raise BadRequest(f"CSRF: {exc}") from exc


def api_blueprint(name: str, import_name: str, *, url_prefix: str = "/api/v1", **kw) -> Blueprint:
    """A flask-smorest blueprint under /api/v1, exempt from form CSRF but checking the CSRF
    header when a browser session (not a bearer token) makes an unsafe call."""
    blp = Blueprint(name, import_name, url_prefix=url_prefix, **kw)
    csrf.exempt(blp)
    blp.before_request(_csrf_for_cookie_sessions)
    return blp


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(
        required=True,
        metadata={"description": "Machine-readable: not_found, invalid (input refused: "
                  "``fields`` names what), conflict, forbidden, csrf ... "
                  "(fleet/errors.py, fleet/web.py)."},
    )
    message = ma.fields.String(required=True, metadata={"description": "For people, translated."})
    field_messages = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        data_key="fields",
        required=True,
        metadata={"description": "Input field (dotted for list items: ``org_unit_ids.0``) -> "
                  "its messages; empty when the error names no field."},
    )


class ErrorSchema(ma.Schema):
    """fleet's error answer, ``{"error": {"code", "message", "fields"}}``: the ``ERROR_SCHEMA``
    of the OpenAPI document (every documented error and the default response). Built by
    ``FleetError.to_dict`` and ``fleet.web``; never used to dump."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class PageMetaSchema(ma.Schema):
    page = ma.fields.Integer(metadata={"description": "This page's number, from 1."})
    per_page = ma.fields.Integer()
    total = ma.fields.Integer(metadata={"description": "Items on all pages."})
    pages = ma.fields.Integer(metadata={"description": "Number of pages, at least 1."})


class PageSchema(ma.Schema):
    """The answer of a paged list (:meth:`Page.dump`). A list whose items are documented
    subclasses it: ``items = ma.fields.List(ma.fields.Nested(ItemSchema))``."""

    items = ma.fields.List(ma.fields.Dict())
    meta = ma.fields.Nested(PageMetaSchema)


class Page:
    """One page of a query: ``items``, ``page``, ``per_page``, ``total``, ``pages``."""

    def __init__(self, items, page: int, per_page: int, total: int):
        self.items, self.page, self.per_page, self.total = items, page, per_page, total
        self.pages = max(1, math.ceil(total / per_page)) if per_page else 1

    def meta(self) -> dict:
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "pages": self.pages,
        }

    def dump(self, schema: type[ma.Schema] | None = None) -> dict:
        """The answer of every paged list: ``{"items": [...], "meta": {"page", "per_page",
        "total", "pages"}}``. ``schema`` (a marshmallow Schema class) dumps the items; None
        leaves them as they are, for a response schema that nests the item schema."""
        items = self.items if schema is None else schema(many=True).dump(self.items)
        return {"items": items, "meta": self.meta()}


def paginate(stmt, page: int, per_page: int) -> Page:
    """Run ``stmt`` (a select of one entity) for one page, with a COUNT for the total.

    A page past the end (``page`` counts from 1, however large) has no items, and no query is
    sent for them: an offset beyond the database's 64-bit OFFSET would fail there (a 500)."""
    from sqlalchemy import func, select

    from fleet.extensions import db

    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    offset = (page - 1) * per_page
    items = db.session.scalars(stmt.limit(per_page).offset(offset)).all() \
        if offset < (total or 0) else []
    return Page(items, page, per_page, total or 0)

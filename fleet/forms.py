"""Input parsing shared by every domain's API and HTML forms: one validation library
(marshmallow), the same schemas for JSON bodies, form posts and import rows."""

from __future__ import annotations

import marshmallow as ma
from flask import request

from fleet.errors import FleetError


class StrictSchema(ma.Schema):
    """An input schema that refuses unknown keys."""

    class Meta:
        unknown = ma.RAISE


class InputSchema(StrictSchema):
    """An input schema where blank strings count as absent (``None``) and unknown keys are
    refused: what HTML forms and spreadsheets send."""

    @ma.pre_load
    def _blank_to_none(self, data, **kwargs):
        if isinstance(data, dict):
            return {
                k: (None if isinstance(v, str) and v.strip() == "" else v) for k, v in data.items()
            }
        return data


def form_data(keys=None) -> dict:
    """The posted form as a dict, without the CSRF token; only ``keys`` when given."""
    return {
        k: v for k, v in request.form.items() if k != "csrf_token" and (keys is None or k in keys)
    }


def load_form(schema: ma.Schema, data: dict) -> tuple[dict | None, dict]:
    """Validate form data with the API's schema: (data, {}) or (None, {field: [messages]})."""
    try:
        return schema.load(data), {}
    except ma.ValidationError as exc:
        return None, {
            k: [str(m) for m in (v if isinstance(v, list) else [v])]
            for k, v in exc.normalized_messages().items()
        }


def field_errors(exc: FleetError) -> dict:
    """A domain error's fields as the {field: [messages]} the form templates show."""
    return {k: [str(v)] for k, v in exc.fields.items()}


def submit_form(schema: ma.Schema, form: dict, operation, *, error_field: str | None = None):
    """Validate ``form`` with ``schema``, run ``operation(data)`` and commit.

    Returns ``(result, {})`` on success, or ``(None, {field: [messages]})`` after rolling back
    and flashing the domain error. ``error_field`` names the field that shows a domain error
    that names none."""
    from flask import flash

    from fleet.extensions import db

    data, errors = load_form(schema, form)
    if data is None:
        return None, errors
    try:
        result = operation(data)
    except FleetError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        errors = field_errors(exc)
        if not errors and error_field:
            errors = {error_field: [str(exc.message)]}
        return None, errors
    db.session.commit()
    return result, {}

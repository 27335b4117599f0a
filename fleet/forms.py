"""Input parsing shared by every domain's API and HTML forms: one validation library
(marshmallow), the same schemas for JSON bodies, form posts and import rows."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter, ValidationError

from fleet.errors import FleetError, InvalidInput

#: The largest row id: every id column is a PostgreSQL ``integer`` (4 bytes signed), 2**31 - 1.
ID_MAX = 2**31 - 1


class Id(ma.fields.Integer):
    """A row id in an input schema (body or query): an integer from 1 to :data:`ID_MAX`.

    Anything else (zero, negative, beyond PostgreSQL's ``integer``) is a validation error naming
    the field (422 in the API, a field message in forms) instead of a database overflow (500).
    Extra validators passed as ``validate=`` apply too; the range shows in the OpenAPI document.
    """

    def __init__(self, **kwargs):
        extra = kwargs.pop("validate", None)
        extra = [] if extra is None else extra if isinstance(extra, list) else [extra]
        super().__init__(validate=[ma.validate.Range(min=1, max=ID_MAX), *extra], **kwargs)


class IdConverter(IntegerConverter):
    """The ``int`` URL converter of every fleet route: matches ids 1 to :data:`ID_MAX` only.

    An id out of that range (``0``, beyond PostgreSQL's ``integer``, thousands of digits) does
    not match the rule, so the answer is the same 404 as for an unknown id; the view and the
    database never see it. Registered as ``int`` on the app's ``url_map`` before any blueprint
    (``create_app``), so plain ``<int:name>`` routes use it; the OpenAPI document shows the
    bounds (flask-smorest reads ``min``/``max``).
    """

    def __init__(self, map, fixed_digits=0, min=1, max=ID_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)

    def to_python(self, value: str) -> int:
        """The id as an ``int``; raises ``ValidationError`` (no match) when out of range."""
        if self.max is not None and len(value.lstrip("0")) > len(str(self.max)):
            raise ValidationError()  # before int(): Python refuses > 4,300 digits (ValueError)
        return super().to_python(value)


def form_id(name: str) -> int | None:
    """The row id posted in the HTML form field ``name``: an ``int`` from 1 to :data:`ID_MAX`,
    or None when the field is absent, blank, not a number or out of that range (the caller's
    lookup then answers "not found" instead of a database overflow)."""
    value = (request.form.get(name) or "").strip()
    if not value.isdigit() or len(value) > len(str(ID_MAX)):
        return None
    number = int(value)
    return number if 1 <= number <= ID_MAX else None


def form_int(name: str) -> int | None:
    """The whole number posted in the HTML form field ``name`` (sign allowed), None when the
    field is absent or blank. Raises InvalidInput naming the field for anything else, so text
    typed by mistake is refused rather than read as "not given"; range checks stay with the
    operation."""
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    digits = value.lstrip("+-")
    if not digits.isdigit() or len(digits) > 18:
        raise InvalidInput(_l("Not a whole number: %(v)s", v=value[:20]),
                           fields={name: _l("A whole number.")})
    return int(value)


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

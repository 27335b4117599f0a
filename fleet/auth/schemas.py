"""marshmallow schemas for users and tokens: output (``FooSchema``) and input (``FooArgs``)."""

from __future__ import annotations

import marshmallow as ma

from fleet.auth.models import ROLES
from fleet.crypto import MAX_TOKEN_DAYS


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    email = ma.fields.String()
    role = ma.fields.String()
    active = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    last_login_at = ma.fields.DateTime(allow_none=True)


class UserCreateArgs(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    password = ma.fields.String(required=True, load_only=True)
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
    display_name = ma.fields.String(load_default="")
    email = ma.fields.String(load_default="")


class TokenSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String()
    user = ma.fields.Function(lambda t: t.user.username)
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime(allow_none=True)
    revoked_at = ma.fields.DateTime(allow_none=True)
    last_used_at = ma.fields.DateTime(allow_none=True)


class TokenCreatedSchema(TokenSchema):
    token = ma.fields.Function(
        lambda t: t.plain_token, metadata={"description": "The token; shown only in this answer."}
    )


class TokenCreateArgs(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    expires_days = ma.fields.Integer(
        load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_TOKEN_DAYS)
    )

"""JSON API: the current user, users (admin) and API tokens."""

from __future__ import annotations

from flask_login import current_user
from sqlalchemy import select

from fleet.apiutil import api_blueprint
from fleet.auth import operations as ops
from fleet.auth.access import actor, require
from fleet.auth.models import User
from fleet.auth.schemas import (
    TokenCreateArgs,
    TokenCreatedSchema,
    TokenSchema,
    UserCreateArgs,
    UserSchema,
)
from fleet.extensions import db

blp = api_blueprint("auth_api", __name__, description="Users and API tokens")


@blp.get("/me")
@blp.response(200, UserSchema)
@require("read")
def me():
    return current_user


@blp.get("/users")
@blp.response(200, UserSchema(many=True))
@require("users:manage")
def list_users():
    return db.session.scalars(select(User).order_by(User.username)).all()


@blp.post("/users")
@blp.arguments(UserCreateArgs)
@blp.response(201, UserSchema)
@require("users:manage")
def create_user(args):
    user = ops.create_user(actor=actor(), **args)
    db.session.commit()
    return user


@blp.post("/tokens")
@blp.arguments(TokenCreateArgs)
@blp.response(201, TokenCreatedSchema)
@require("read")
def create_token(args):
    token, plain = ops.issue_token(
        current_user, args["name"], actor=actor(), expires_days=args.get("expires_days")
    )
    db.session.commit()
    token.plain_token = plain  # not a column: exists only for this answer
    return token


@blp.delete("/tokens/<int:token_id>")
@blp.response(200, TokenSchema)
@require("read")
def revoke_token(token_id: int):
    from flask import abort

    from fleet.auth.models import ApiToken

    token = db.get_or_404(ApiToken, token_id)
    if token.user_id != current_user.id and not current_user.can("users:manage"):
        abort(403)
    ops.revoke_token(token_id, actor=actor())
    db.session.commit()
    return token

"""Who is asking: session login for pages, ``Authorization: Bearer`` tokens for the API, and the
``require`` decorator both use."""

from __future__ import annotations

import functools

from flask import abort, g, request
from flask_login import current_user

from fleet.auth.models import ApiToken, User
from fleet.auth.operations import user_for_token
from fleet.extensions import db, login_manager


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


def resolve_bearer_token(req) -> None:
    """before_request: a request carrying ``Authorization: Bearer <token>`` is that token's
    user, or anonymous when the token is unknown, expired or revoked; its cookies play no
    part. (Left to Flask-Login, a cookie session without a login in it, e.g. one that only
    holds a CSRF token, would fail "strong" session protection and hide a valid token.)"""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return
    user = user_for_token(header[7:].strip())
    g._login_user = user if user is not None else login_manager.anonymous_user()
    g.auth_via_token = user is not None


def save_token_use(response):
    """after_request: on a safe request whose only change is a token's ``last_used_at``,
    commit it; a busy database only costs the bookkeeping, never the answer."""
    from flask import request
    from sqlalchemy.exc import OperationalError

    if getattr(g, "auth_via_token", False) and request.method in ("GET", "HEAD", "OPTIONS"):
        session = db.session()
        if (
            session.dirty
            and all(isinstance(o, ApiToken) for o in session.dirty)
            and not session.new
            and not session.deleted
        ):
            try:
                session.commit()
            except OperationalError:
                session.rollback()
    return response


def require(permission: str = "read"):
    """Decorator: 401 when anonymous, 403 when the user's role lacks ``permission``."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if not current_user.is_authenticated:
                if request.path.startswith("/api/"):
                    abort(401)
                return login_manager.unauthorized()
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        inner.fleet_permission = permission
        return inner

    return wrap


def actor():
    """The acting user for operations (the logged-in user or token owner)."""
    return current_user._get_current_object() if current_user.is_authenticated else None

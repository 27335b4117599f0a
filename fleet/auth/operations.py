"""User and API token operations. They flush and audit; the caller commits."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from fleet.audit.operations import record, snapshot
from fleet.auth.models import ROLES, ApiToken, User
from fleet.crypto import MAX_TOKEN_DAYS, hash_token, new_token
from fleet.errors import Conflict, InvalidInput, NotFound
from fleet.extensions import db
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

#: Password policy: at least this many characters (NIST SP 800-63B §5.1.1.2 asks for >= 8;
#: we ask 10 because staff accounts can read SIM PUKs).
MIN_PASSWORD_LENGTH = 10
#: Lockout: this many failed logins in a row lock the account for LOCKOUT_MINUTES.
MAX_FAILED_LOGINS = 5
LOCKOUT_MINUTES = 15


def check_password_policy(password: str) -> None:
    """Raise :class:`InvalidInput` on ``password`` if it is too short or all one character."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            _l("Password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            fields={"password": _l("Too short.")},
        )
    if len(set(password)) < 4:
        raise InvalidInput(_l("Password is too simple."), fields={"password": _l("Too simple.")})


def create_user(
    username: str, password: str, role: str, *, actor, display_name: str = "", email: str = ""
) -> User:
    """Create a staff user. Raises InvalidInput (role, password) or Conflict (username taken)."""
    username = (username or "").strip()
    if not username:
        raise InvalidInput(_l("Username is required."), fields={"username": _l("Required.")})
    if role not in ROLES:
        raise InvalidInput(_l("Unknown role."), fields={"role": _l("Unknown role.")})
    check_password_policy(password)
    exists = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if exists:
        raise Conflict(
            _l("Username %(u)s is taken.", u=username), fields={"username": _l("Taken.")}
        )
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        role=role,
        display_name=display_name or username,
        email=email,
        active=True,
    )
    db.session.add(user)
    db.session.flush()
    record(actor, "user.create", user, after=snapshot(user))
    return user


def update_user(
    user: User,
    *,
    actor,
    role: str | None = None,
    active: bool | None = None,
    display_name: str | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, active flag, name or password (audited)."""
    before = snapshot(user)
    if role is not None:
        if role not in ROLES:
            raise InvalidInput(_l("Unknown role."), fields={"role": _l("Unknown role.")})
        user.role = role
    if active is not None:
        user.active = active
    if display_name is not None:
        user.display_name = display_name
    if password:
        check_password_policy(password)
        user.password_hash = generate_password_hash(password)
        user.failed_logins = 0
        user.locked_until = None
    db.session.flush()
    record(actor, "user.update", user, before=before, after=snapshot(user))
    return user


def authenticate(username: str, password: str, *, now: datetime | None = None) -> User | None:
    """Check a password. Returns the user, or None. Counts failures and locks after
    MAX_FAILED_LOGINS for LOCKOUT_MINUTES (the caller commits either way)."""
    now = now or utcnow()
    user = db.session.scalar(
        select(User).where(func.lower(User.username) == (username or "").lower())
    )
    if user is None:
        generate_password_hash(password or "x")  # same cost whether or not the user exists
        return None
    if not user.active or user.is_locked(now):
        return None
    if not check_password_hash(user.password_hash, password or ""):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + timedelta(minutes=LOCKOUT_MINUTES)
            user.failed_logins = 0
            log.warning("user %s locked after repeated failed logins", user.username)
        return None
    user.failed_logins = 0
    user.last_login_at = now
    return user


def issue_token(
    user: User, name: str, *, actor, expires_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create an API token for ``user``. Returns (row, plain token); the plain token is shown
    once and never stored."""
    if not (name or "").strip():
        raise InvalidInput(_l("Token name is required."), fields={"name": _l("Required.")})
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise InvalidInput(_l("Expiry must be from 1 to %(n)s days.", n=MAX_TOKEN_DAYS),
                           fields={"expires_days": _l("From 1 to %(n)s.", n=MAX_TOKEN_DAYS)})
    plain = new_token("flt")
    token = ApiToken(
        name=name.strip(),
        user=user,
        token_hash=hash_token(plain),
        prefix=plain[:8],
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
    )
    db.session.add(token)
    db.session.flush()
    record(actor, "token.issue", token, after=snapshot(token))
    return token, plain


def revoke_token(token_id: int, *, actor) -> ApiToken:
    """Revoke a token (idempotent)."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_l("No such token."))
    if token.revoked_at is None:
        before = snapshot(token)
        token.revoked_at = utcnow()
        db.session.flush()
        record(actor, "token.revoke", token, before=before, after=snapshot(token))
    return token


#: ``last_used_at`` is written at most this often per token (seconds), so read-only API calls
#: do not each take the database's write lock.
TOKEN_TOUCH_INTERVAL = 60


def user_for_token(plain: str) -> User | None:
    """The active user behind a valid bearer token, or None.

    Marks ``last_used_at`` (at most every TOKEN_TOUCH_INTERVAL seconds) as a pending change in
    the session. It never commits or rolls back: Flask-Login calls this whenever
    ``current_user`` is first read, possibly after the handler has pending writes. A request
    that commits saves it; on safe requests, ``fleet.auth.access.save_token_use`` commits it
    after the response, best effort."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain)))
    now = utcnow()
    if token is None or not token.is_valid(now) or not token.user.active:
        return None
    if (
        token.last_used_at is None
        or (now - token.last_used_at).total_seconds() > TOKEN_TOUCH_INTERVAL
    ):
        token.last_used_at = now
    return token.user


def ensure_admin(username: str, password: str) -> tuple[User, bool]:
    """Create the first admin if no admin exists. Returns (user, created)."""
    admin = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id))
    if admin is not None:
        return admin, False
    return create_user(username, password, "admin", actor=None, display_name="Administrator"), True

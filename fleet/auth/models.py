"""Staff users and their API tokens."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.extensions import UTCDateTime, db
from fleet.timeutil import utcnow

ROLES = ("admin", "logistics", "technician", "viewer")

#: What each role may do. Viewers change nothing; technicians cannot edit agreements or users
#: (issue 2); SIM PIN/PUK are shown only to logistics and admin (issue 2, item 5).
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "read",
            "inventory:write",
            "agreements:write",
            "agreements:templates",
            "users:manage",
            "secrets:view",
            "apk:upload",
            "apk:approve",
            "apk:repin",
            "provision",
            "dhis2:publish",
        }
    ),
    "logistics": frozenset(
        {"read", "inventory:write", "agreements:write", "secrets:view", "apk:upload"}
    ),
    "technician": frozenset({"read", "inventory:write", "provision", "apk:upload"}),
    "viewer": frozenset({"read"}),
}


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("role IN ('admin','logistics','technician','viewer')", name="role"),
    )

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @property
    def audit_label(self) -> str:
        return self.username

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.active)

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class ApiToken(db.Model):
    """A bearer token for scripts. Only its SHA-256 is stored; it acts as its user."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters, shown in lists so a user can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def audit_label(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_valid(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

"""DHIS2 connector tables: configured DHIS2 servers, user groups imported from them, Android
settings profiles, and the record of every publication to a DHIS2 dataStore.

Org units imported from DHIS2 go into the inventory's ``org_unit`` table (keyed by DHIS2 UID),
not into a table of this domain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.crypto import EncryptedText
from fleet.dhis2.android_settings import DATA_SYNC_PERIODS, METADATA_SYNC_PERIODS
from fleet.extensions import UTCDateTime, db
from fleet.timeutil import utcnow

AUTH_KINDS = ("token", "basic")
PUBLISH_KINDS = ("android_settings", "apk_distribution")

#: Profile attributes, in the order of :class:`fleet.dhis2.android_settings.SettingsProfile`.
PROFILE_FIELDS = ("encrypt_db", "allow_screen_capture", "reserved_values", "data_sync",
                  "metadata_sync", "tei_download")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class Dhis2Server(db.Model):
    """One DHIS2 server fleet talks to (e.g. ``production``, ``training``).

    Secrets (``token``, ``password``) are stored Fernet-encrypted (:class:`EncryptedText`) and
    never shown back. At most one server is the default (partial unique index).
    """

    __tablename__ = "dhis2_server"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    base_url: Mapped[str] = mapped_column(String(300))
    auth_kind: Mapped[str] = mapped_column(String(10), default="token")
    #: DHIS2 personal access token (``d2pat_...``), encrypted at rest.
    token: Mapped[str | None] = mapped_column(EncryptedText())
    username: Mapped[str | None] = mapped_column(String(100))
    #: Password for basic auth, encrypted at rest.
    password: Mapped[str | None] = mapped_column(EncryptedText())
    #: Path of a PEM CA bundle for a server with a private CA (empty: the system store).
    ca_bundle: Mapped[str | None] = mapped_column(String(400))
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Read timeout per request, seconds.
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=30)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                 onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(f"auth_kind IN {_in(AUTH_KINDS)}", name="auth_kind"),
        CheckConstraint("timeout_seconds BETWEEN 1 AND 600", name="timeout"),
        Index("uq_dhis2_server_default", "is_default", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
    )

    @property
    def audit_label(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.token if self.auth_kind == "token" else self.password)


class Dhis2UserGroup(db.Model):
    """A DHIS2 user group as last imported from one server. ``present`` is false when the last
    import did not see it any more (never deleted: channels may still name it)."""

    __tablename__ = "dhis2_user_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("dhis2_server.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(11))
    name: Mapped[str] = mapped_column(String(230))
    code: Mapped[str | None] = mapped_column(String(50))
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    server: Mapped[Dhis2Server] = relationship()

    __table_args__ = (UniqueConstraint("server_id", "uid", name="uq_dhis2_user_group_server_uid"),)

    @property
    def audit_label(self) -> str:
        return f"{self.name} ({self.uid})"


class SettingsProfileRow(db.Model):
    """A named Android settings profile (DHIS2 ``ANDROID_SETTINGS_APP``). ``None`` in a field
    means "leave DHIS2's value alone". ``version`` goes up by one on every change."""

    __tablename__ = "dhis2_settings_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    encrypt_db: Mapped[bool | None] = mapped_column(Boolean)
    allow_screen_capture: Mapped[bool | None] = mapped_column(Boolean)
    reserved_values: Mapped[int | None] = mapped_column(Integer)
    data_sync: Mapped[str | None] = mapped_column(String(10))
    metadata_sync: Mapped[str | None] = mapped_column(String(10))
    tei_download: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                 onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(f"data_sync IS NULL OR data_sync IN {_in(DATA_SYNC_PERIODS)}",
                        name="data_sync"),
        CheckConstraint(f"metadata_sync IS NULL OR metadata_sync IN {_in(METADATA_SYNC_PERIODS)}",
                        name="metadata_sync"),
        CheckConstraint("reserved_values IS NULL OR reserved_values BETWEEN 0 AND 500",
                        name="reserved_values"),
        CheckConstraint("tei_download IS NULL OR tei_download BETWEEN 0 AND 100000",
                        name="tei_download"),
        CheckConstraint("version >= 1", name="version"),
    )

    @property
    def audit_label(self) -> str:
        return f"{self.name} v{self.version}"

    def values(self) -> dict:
        """``{field: value}`` for every profile field (``None`` = leave alone)."""
        return {name: getattr(self, name) for name in PROFILE_FIELDS}


class Dhis2Publication(db.Model):
    """One publication to a DHIS2 dataStore that changed (or confirmed) what DHIS2 holds:
    what (``kind``, profile and version), where (server, namespace), when, by whom, and the
    diff. Dry runs and failures are not recorded (they change nothing)."""

    __tablename__ = "dhis2_publication"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("dhis2_server.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    namespace: Mapped[str] = mapped_column(String(60))
    profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("dhis2_settings_profile.id", ondelete="SET NULL"))
    profile_version: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(80))
    #: True when DHIS2 was written (false: it already held these values).
    written: Mapped[bool] = mapped_column(Boolean, default=False)
    #: True when the values were read back and matched (settings).
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The diff shown before publishing: for settings ``{"changes": [{key, path, old, new}]}``;
    #: for APKs ``{"added", "changed", "removed", "kept", "latest_before", "latest_after"}``.
    diff: Mapped[dict] = mapped_column(JSON)

    server: Mapped[Dhis2Server] = relationship()
    profile: Mapped[SettingsProfileRow | None] = relationship()

    __table_args__ = (CheckConstraint(f"kind IN {_in(PUBLISH_KINDS)}", name="kind"),)

    @property
    def audit_label(self) -> str:
        return f"{self.kind} to {self.server.name if self.server else self.server_id}"


class ChannelDownloadToken(db.Model):
    """The channel download token fleet puts in the ``downloadURL`` it publishes to DHIS2.

    fleet stores download tokens hashed (``apk_download_token``), but must publish the same
    URL on every run (or the Capture app would see a new entry each time), so the plain token
    of this one token per channel is kept here, Fernet-encrypted. ``channel_id`` and
    ``download_token_id`` refer to ``apk_channel`` and ``apk_download_token``; they carry no
    foreign key so this migration does not depend on the APK repository's.
    """

    __tablename__ = "dhis2_channel_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(Integer, unique=True)
    download_token_id: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def audit_label(self) -> str:
        return f"channel {self.channel_id}"

"""Time helpers: every timestamp fleet stores is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` with UTC attached when it is naive (taken as UTC); aware values and None as they
    are. Columns of type ``fleet.extensions.UTCDateTime`` (all of fleet's) already read back
    aware, on SQLite too, so only values from elsewhere need this."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)

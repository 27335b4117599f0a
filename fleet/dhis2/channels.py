"""Adapter from the APK repository (:mod:`fleet.apk`) to ``APK_DISTRIBUTION`` entries.

Each non-test channel that points the Capture app package (``DHIS2_CAPTURE_PACKAGE``, default
``com.dhis2``, DESIGN.md) at a release becomes one :class:`ApkChannelEntry`:

- ``version``: the release's versionName; ``min_sdk``: its minSdk;
- ``download_url``: ``<PUBLIC_URL>/apk/<sha256>.apk?token=<channel token>`` (fleet's HTTPS
  download, :mod:`fleet.apk.downloads`), with one download token per channel issued by
  :func:`fleet.apk.operations.issue_download_token` on first publication and kept encrypted
  in ``dhis2_channel_token`` (a revoked one is replaced);
- ``user_groups``: the channel's ``dhis2_user_groups``; ``is_default``: the default channel.

APK_DISTRIBUTION has no notion of staged rollout: a channel part-way through a rollout
publishes the release most of its devices get (the previous one below 50 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from fleet.apk import operations as apk_ops
from fleet.apk.models import Channel, DownloadToken
from fleet.dhis2.apk_distribution import ApkChannelEntry
from fleet.dhis2.models import ChannelDownloadToken
from fleet.dhis2.publishing import fleet_url_prefix
from fleet.extensions import db

DEFAULT_CAPTURE_PACKAGE = "com.dhis2"
#: Stand-in token shown by a dry run for a channel that has no DHIS2 token yet.
NEW_TOKEN_PLACEHOLDER = "new"


@dataclass
class ChannelEntries:
    """``entries`` to publish, and ``skipped``: ``[(channel name, reason)]``."""

    entries: list[ApkChannelEntry] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _channel_token(channel: Channel, *, actor, dry_run: bool) -> str:
    row = db.session.scalar(select(ChannelDownloadToken).where(
        ChannelDownloadToken.channel_id == channel.id))
    if row is not None:
        live = db.session.get(DownloadToken, row.download_token_id)
        if live is not None and live.revoked_at is None and live.expires_at is None:
            return row.token
    if dry_run:
        return NEW_TOKEN_PLACEHOLDER
    token, plain = apk_ops.issue_download_token(channel=channel, label="DHIS2 APK_DISTRIBUTION",
                                                actor=actor)
    if row is None:
        row = ChannelDownloadToken(channel_id=channel.id, download_token_id=token.id, token=plain)
        db.session.add(row)
    else:
        row.download_token_id, row.token = token.id, plain
    db.session.flush()
    return plain


def channel_entries(*, actor, dry_run: bool = False, package: str | None = None
                    ) -> ChannelEntries:
    """Build the entries of every released channel (see module docstring). Issues a channel
    token (audited by the APK repository) for a channel that has none, unless ``dry_run``.

    Raises: InvalidInput when ``PUBLIC_URL`` is not set to an https:// URL.
    """
    package = package or current_app.config.get("DHIS2_CAPTURE_PACKAGE", DEFAULT_CAPTURE_PACKAGE)
    prefix = fleet_url_prefix()
    out = ChannelEntries()
    for channel in db.session.scalars(select(Channel).order_by(Channel.name)):
        if channel.is_test:
            out.skipped.append((channel.name, "test channel"))
            continue
        pointer = next((p for p in channel.pointers if p.package == package), None)
        if pointer is None:
            out.skipped.append((channel.name, f"no release of {package}"))
            continue
        release = pointer.release
        if pointer.rollout_percent < 50 and pointer.previous_release is not None:
            release = pointer.previous_release
        groups = tuple(channel.dhis2_user_groups or ())
        if not channel.is_default and not groups:
            out.skipped.append((channel.name, "no DHIS2 user groups and not the default"))
            continue
        if not release.version_name or release.min_sdk is None:
            out.skipped.append((channel.name, "release without versionName or minSdk"))
            continue
        token = _channel_token(channel, actor=actor, dry_run=dry_run)
        out.entries.append(ApkChannelEntry(
            version=release.version_name,
            download_url=f"{prefix}{release.sha256}.apk?token={token}",
            min_sdk=int(release.min_sdk), user_groups=groups, is_default=bool(channel.is_default)))
    return out

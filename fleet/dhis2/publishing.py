"""Publish from fleet into a DHIS2 server's dataStore: an Android settings profile into
``ANDROID_SETTINGS_APP`` and the released Capture app versions into ``APK_DISTRIBUTION``.

Both show the change first (``dry_run=True`` reads DHIS2 and writes nothing on either side),
then write through the library (:mod:`fleet.dhis2.android_settings`,
:mod:`fleet.dhis2.apk_distribution`), which merges into what DHIS2 holds and restores the keys
it already wrote when a later write fails. Settings are read back and verified; when the
read-back differs, fleet puts the previous values back and reports the failure. A successful
publication is recorded in ``dhis2_publication`` and the audit log; a failure records nothing.

Download URLs carry channel tokens: fleet stores and shows them with the token masked
(``token=***``); only DHIS2 receives the real URL (the Capture app needs it).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fleet.audit.operations import record
from fleet.dhis2 import android_settings, apk_distribution
from fleet.dhis2.android_settings import SettingsVerificationError
from fleet.dhis2.apk_distribution import ApkChannelEntry
from fleet.dhis2.client import Dhis2Client, Dhis2Error
from fleet.dhis2.models import Dhis2Publication, Dhis2Server, SettingsProfileRow
from fleet.dhis2.operations import Dhis2Failure, client_for, dhis2_errors, profile_of
from fleet.errors import InvalidInput
from fleet.extensions import db

log = logging.getLogger(__name__)

SETTINGS_KEYS = (android_settings.KEY_INFO, android_settings.KEY_GENERAL,
                 android_settings.KEY_SYNC)
#: Query parameters whose value is a secret in a download URL.
SECRET_QUERY_PARAMS = frozenset({"token", "t", "access_token"})


def _actor_fields(actor) -> dict:
    return {"actor_id": getattr(actor, "id", None),
            "actor_name": getattr(actor, "username", None) or "system"}


# ---- Android settings ----------------------------------------------------------------------

@dataclass
class SettingsPublication:
    """Result of :func:`publish_settings_profile`.

    ``changes``: ``[{"key", "path", "old", "new"}]`` (what the page shows before publishing);
    ``written``: DHIS2 was changed; ``verified``: every written key read back equal;
    ``read_back``: ``{key: value}`` as read from DHIS2 after writing;
    ``publication_id``: the ``dhis2_publication`` row (None for a dry run).
    """

    server: str
    profile: str
    profile_version: int
    dry_run: bool
    changes: list[dict] = field(default_factory=list)
    written: bool = False
    verified: bool = False
    read_back: dict = field(default_factory=dict)
    publication_id: int | None = None

    def to_dict(self) -> dict:
        return {"server": self.server, "profile": self.profile,
                "profile_version": self.profile_version, "dry_run": self.dry_run,
                "changes": self.changes, "written": self.written, "verified": self.verified,
                "read_back": self.read_back, "publication_id": self.publication_id}


def _restore_settings(client: Dhis2Client, before: dict) -> None:
    """Put back every settings key whose value differs from ``before`` (best effort)."""
    now = {key: client.datastore_get(android_settings.NAMESPACE, key) for key in before}
    changed = {key: before[key] for key in before if now[key] != before[key]}
    for key, value in changed.items():
        try:
            if value is None:
                client.datastore_delete(android_settings.NAMESPACE, key)
            elif now[key] is None:
                client.datastore_create(android_settings.NAMESPACE, key, value)
            else:
                client.datastore_update(android_settings.NAMESPACE, key, value)
        except Dhis2Error:
            log.exception("could not restore %s/%s", android_settings.NAMESPACE, key)


def publish_settings_profile(server: Dhis2Server, profile: SettingsProfileRow, *, actor,
                             dry_run: bool = False) -> SettingsPublication:
    """Publish ``profile`` into ``ANDROID_SETTINGS_APP`` on ``server`` (server-wide: every
    phone syncing with that DHIS2 gets these settings).

    Reads ``info``, ``generalSettings`` and ``synchronization``, merges the profile's values
    (fields it leaves empty and every unrelated key are kept), and unless ``dry_run`` writes
    the keys that change, reads them back and verifies. Records a ``dhis2_publication`` row and
    a ``dhis2.publish_settings`` audit entry. Flushes, never commits.

    Raises:
        InvalidInput: the profile holds a value the Android SDK does not accept.
        Conflict: DHIS2 holds another settings layout (``info.dataStoreVersion`` not 2.0).
        Dhis2Failure / Dhis2TimeoutFailure: DHIS2 refused or failed (nothing changed on
            either side), or the read-back differed (previous values restored).
    """
    result = SettingsPublication(server=server.name, profile=profile.name,
                                 profile_version=profile.version, dry_run=dry_run)
    wanted = profile_of(profile)
    with dhis2_errors(server), client_for(server) as client:
        before = {key: client.datastore_get(android_settings.NAMESPACE, key)
                  for key in SETTINGS_KEYS}
        try:
            plan = android_settings.publish_settings(client, wanted, dry_run=dry_run)
        except SettingsVerificationError as exc:
            _restore_settings(client, before)
            raise Dhis2Failure(_l(
                "DHIS2 server “%(s)s” did not keep the settings fleet wrote (%(d)s). fleet put "
                "the previous values back; check the server and try again.",
                s=server.name, d=str(exc))) from exc
        result.changes = [{"key": c.key, "path": c.path, "old": c.old, "new": c.new}
                          for c in plan.changes]
        if dry_run:
            return result
        result.written = plan.written
        result.read_back = {key: client.datastore_get(android_settings.NAMESPACE, key)
                            for key in (plan.values or SETTINGS_KEYS)}
    # publish_settings verified what it wrote; with nothing to write DHIS2 already held it
    result.verified = True
    pub = Dhis2Publication(server_id=server.id, kind="android_settings",
                           namespace=android_settings.NAMESPACE, profile_id=profile.id,
                           profile_version=profile.version, written=result.written,
                           verified=result.verified, diff={"changes": result.changes},
                           **_actor_fields(actor))
    db.session.add(pub)
    db.session.flush()
    result.publication_id = pub.id
    record(actor, "dhis2.publish_settings", pub, label=f"{profile.name} v{profile.version} to "
           f"{server.name}", after={"server": server.name, "profile": profile.name,
                                    "profile_version": profile.version, "written": result.written,
                                    "changes": result.changes})
    return result


# ---- APK distribution ----------------------------------------------------------------------

def redact_url(url: object) -> object:
    """``https://f/apk/x.apk?token=abc`` -> ``https://f/apk/x.apk?token=***``."""
    if not isinstance(url, str) or "?" not in url:
        return url
    parts = urlsplit(url)
    query = [(k, "***" if k.lower() in SECRET_QUERY_PARAMS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _redact(value):
    if isinstance(value, dict):
        return {k: (redact_url(v) if k == "downloadURL" else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return copy.deepcopy(value)


def fleet_url_prefix() -> str:
    """fleet's public download prefix, ``<PUBLIC_URL>/apk/`` (``FLEET_PUBLIC_URL``, e.g.
    ``https://fleet.example.org``): marks the ``APK_DISTRIBUTION`` entries fleet owns.

    Raises: InvalidInput when ``PUBLIC_URL`` is not an https:// URL.
    """
    base = str(current_app.config.get("PUBLIC_URL") or "").strip().rstrip("/")
    if not base.startswith("https://"):
        raise InvalidInput(_l("Set FLEET_PUBLIC_URL to fleet's public https:// address (the "
                              "phones download from it) before publishing APKs to DHIS2."))
    return f"{base}/apk/"


@dataclass
class ApkPublication:
    """Result of :func:`publish_apk_distribution`; ``diff`` is the redacted diff
    (``added``, ``changed`` as ``[before, after]``, ``removed``, ``demoted``: entries;
    ``unchanged``/``kept``: counts; ``latest_before``/``latest_after``)."""

    server: str
    dry_run: bool
    diff: dict
    has_changes: bool
    written: bool = False
    publication_id: int | None = None

    def to_dict(self) -> dict:
        return {"server": self.server, "dry_run": self.dry_run, "diff": self.diff,
                "has_changes": self.has_changes, "written": self.written,
                "publication_id": self.publication_id}


def _diff_dict(diff: apk_distribution.ApkDistributionDiff) -> dict:
    return _redact({
        "added": diff.added,
        "changed": [[before, after] for before, after in diff.changed],
        "removed": diff.removed,
        "demoted": diff.demoted,
        "unchanged": len(diff.unchanged),
        "kept": len(diff.kept),
        "latest_before": diff.latest_before,
        "latest_after": diff.latest_after,
    })


def publish_apk_distribution(server: Dhis2Server, entries: Iterable[ApkChannelEntry], *, actor,
                             dry_run: bool = False, take_default: bool = False,
                             url_prefix: str | None = None) -> ApkPublication:
    """Publish the complete set of fleet's channel entries into ``APK_DISTRIBUTION``
    (``versions`` and ``latestVersion``, in the Capture app's shape), keeping every entry
    fleet did not create. Entries fleet published before and that are not in ``entries`` are
    removed.

    Args:
        entries: one :class:`ApkChannelEntry` per released channel.
        take_default: let fleet's default entry replace a default entry fleet did not create.
        url_prefix: fleet's download prefix; default :func:`fleet_url_prefix`.

    Records a ``dhis2_publication`` row (kind ``apk_distribution``) and a
    ``dhis2.publish_apk_distribution`` audit entry unless ``dry_run``. Flushes, never commits.

    Raises:
        InvalidInput: invalid entries (version not dotted numbers, URL not HTTPS under the
            prefix, bad user-group UID...), or no ``PUBLIC_URL``.
        Conflict: a foreign default exists (without ``take_default``) or DHIS2 changed while
            publishing.
        Dhis2Failure / Dhis2TimeoutFailure: DHIS2 refused or failed; nothing changed.
    """
    prefix = url_prefix or fleet_url_prefix()
    entries = list(entries)
    with dhis2_errors(server), client_for(server) as client:
        plan = apk_distribution.publish(client, entries, fleet_url_prefix=prefix,
                                        dry_run=dry_run, take_default=take_default)
    result = ApkPublication(server=server.name, dry_run=dry_run, diff=_diff_dict(plan.diff),
                            has_changes=plan.diff.has_changes, written=plan.written)
    if dry_run:
        return result
    pub = Dhis2Publication(server_id=server.id, kind="apk_distribution",
                           namespace=apk_distribution.NAMESPACE, written=plan.written,
                           verified=False, diff=result.diff, **_actor_fields(actor))
    db.session.add(pub)
    db.session.flush()
    result.publication_id = pub.id
    record(actor, "dhis2.publish_apk_distribution", pub, label=f"APK versions to {server.name}",
           after={"server": server.name, "written": plan.written, "entries": len(entries),
                  "diff": result.diff})
    return result


def publications(limit: int = 200, server: Dhis2Server | None = None) -> list[Dhis2Publication]:
    """The latest publications, newest first."""
    stmt = select(Dhis2Publication).order_by(Dhis2Publication.id.desc()).limit(limit)
    if server is not None:
        stmt = stmt.where(Dhis2Publication.server_id == server.id)
    return list(db.session.scalars(stmt))

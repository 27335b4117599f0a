"""Provisioning operations on profiles and stations: the only place they change. Each takes
``actor``, flushes, audits (PINs and SSH keys masked: their columns are named ``pin`` and
``private_key``) and never commits.

Errors: InvalidInput (422), Conflict (409, name taken), NotFound (404).
"""

from __future__ import annotations

import logging

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fleet.audit.operations import record, snapshot
from fleet.errors import Conflict, InvalidInput, NotFound
from fleet.extensions import db
from fleet.provisioning.models import (
    CAPACITY_CHECKS,
    PIN_POLICIES,
    PLAY_STORE_POLICIES,
    STATION_KINDS,
    Profile,
    Station,
)

log = logging.getLogger(__name__)

PROFILE_FIELDS = ("description", "channel_name", "packages", "release_ids", "pin_policy", "pin",
                  "pin_length", "require_encryption", "location_on", "auto_time",
                  "screen_off_timeout_s", "play_store", "permissions", "min_api_level",
                  "min_ram_mb", "min_free_storage_mb", "min_battery", "dhis2_settings_profile",
                  "capacity_check")
STATION_FIELDS = ("kind", "adb_host", "adb_port", "ssh_host", "ssh_port", "ssh_username",
                  "private_key", "known_hosts")


def _bad(field: str, message) -> InvalidInput:
    return InvalidInput(message, fields={field: message})


def _check_profile(p: Profile) -> None:
    if p.pin_policy not in PIN_POLICIES:
        raise _bad("pin_policy", _l("PIN policy is one of none, profile, random."))
    if p.play_store not in PLAY_STORE_POLICIES:
        raise _bad("play_store", _l("Play Store policy is one of leave, no_auto_update, "
                                    "disabled."))
    if p.capacity_check not in CAPACITY_CHECKS:
        raise _bad("capacity_check", _l("Capacity check is one of off, warn, block."))
    if not 4 <= (p.pin_length or 0) <= 16:
        raise _bad("pin_length", _l("A PIN has 4 to 16 digits."))
    if p.pin_policy == "profile":
        if not p.pin or not p.pin.isdigit() or not 4 <= len(p.pin) <= 16:
            raise _bad("pin", _l("The profile PIN is 4 to 16 digits."))
    elif p.pin_policy != "profile" and p.pin:
        p.pin = None
    if not p.channel_name and not p.release_ids:
        raise _bad("channel_name", _l("Name a channel or releases to install."))
    if p.channel_name:
        from fleet.apk.operations import find_channel

        find_channel(p.channel_name)
        if not p.packages:
            p.packages = ["com.dhis2"]
    for rid in p.release_ids or []:
        from fleet.apk.models import Release

        if db.session.get(Release, int(rid)) is None:
            raise _bad("release_ids", _l("No release %(r)s.", r=rid))
    for entry in p.permissions or []:
        if not isinstance(entry, dict) or not entry.get("package") or \
                not entry.get("permission"):
            raise _bad("permissions", _l("Each permission is {package, permission}."))
    if p.screen_off_timeout_s is not None and not 5 <= p.screen_off_timeout_s <= 86400:
        raise _bad("screen_off_timeout_s", _l("Screen-off timeout is 5 to 86400 seconds."))
    if p.min_battery is not None and not 0 <= p.min_battery <= 100:
        raise _bad("min_battery", _l("Battery is a percentage."))
    if p.dhis2_settings_profile:
        from fleet.dhis2.operations import find_profile

        find_profile(p.dhis2_settings_profile)


def find_profile(ref: str | int) -> Profile:
    """A provisioning profile by id or name. Raises NotFound."""
    if isinstance(ref, int) or str(ref).isdigit():
        p = db.session.get(Profile, int(ref))
    else:
        p = db.session.scalar(select(Profile).where(Profile.name == str(ref)))
    if p is None:
        raise NotFound(_l("No provisioning profile %(n)s.", n=ref))
    return p


def list_profiles() -> list[Profile]:
    return list(db.session.scalars(select(Profile).order_by(Profile.name)))


def create_profile(name: str, data: dict, *, actor) -> Profile:
    """A new profile (version 1) from ``data`` (keys of PROFILE_FIELDS). Raises InvalidInput,
    Conflict."""
    name = (name or "").strip()
    if not name:
        raise _bad("name", _l("A profile needs a name."))
    if db.session.scalar(select(Profile.id).where(Profile.name == name)) is not None:
        raise Conflict(_l("A profile %(n)s exists.", n=name), fields={"name": _l("Taken.")})
    p = Profile(name=name, version=1, description="", packages=[], release_ids=[],
                permissions=[], pin_policy="none", pin_length=6, require_encryption=True,
                location_on=True, auto_time=True, play_store="leave", capacity_check="warn")
    for key in PROFILE_FIELDS:
        if key in data and data[key] is not None:
            setattr(p, key, data[key])
    _check_profile(p)
    db.session.add(p)
    db.session.flush()
    record(actor, "provisioning.profile.create", p, after=snapshot(p))
    log.info("provisioning profile %s created by %s", p.name,
             getattr(actor, "username", "system"))
    return p


def update_profile(p: Profile, data: dict, *, actor) -> Profile:
    """Change a profile; the version goes up by one when anything changed."""
    before = snapshot(p)
    for key in PROFILE_FIELDS:
        if key in data:
            setattr(p, key, data[key])
    _check_profile(p)
    after = snapshot(p)
    if after != before:
        p.version += 1
        db.session.flush()
        record(actor, "provisioning.profile.update", p, before=before, after=snapshot(p))
    return p


def find_station(ref: str | int) -> Station:
    if isinstance(ref, int) or str(ref).isdigit():
        s = db.session.get(Station, int(ref))
    else:
        s = db.session.scalar(select(Station).where(Station.name == str(ref)))
    if s is None:
        raise NotFound(_l("No station %(n)s.", n=ref))
    return s


def list_stations() -> list[Station]:
    return list(db.session.scalars(select(Station).order_by(Station.name)))


def _check_station(s: Station) -> None:
    if s.kind not in STATION_KINDS:
        raise _bad("kind", _l("A station is local or ssh."))
    for key in ("adb_port", "ssh_port"):
        if not 1 <= int(getattr(s, key) or 0) <= 65535:
            raise _bad(key, _l("A port is 1 to 65535."))
    if s.kind == "ssh":
        for key in ("ssh_host", "ssh_username", "private_key", "known_hosts"):
            if not getattr(s, key):
                raise _bad(key, _l("An SSH station needs a host, a username, a private key "
                                   "and the host's known_hosts entry."))
        from fleet.provisioning.stations import StationError, host_keys_from, load_private_key

        try:
            load_private_key(s.private_key)
        except StationError as exc:
            raise _bad("private_key", str(exc)) from exc
        try:
            keys = host_keys_from(s.known_hosts)
        except Exception as exc:
            raise _bad("known_hosts", str(exc)) from exc
        if len(keys) == 0:
            raise _bad("known_hosts", _l("No host key in the known_hosts text."))


def create_station(name: str, data: dict, *, actor) -> Station:
    """A new station from ``data`` (keys of STATION_FIELDS). Raises InvalidInput, Conflict."""
    name = (name or "").strip()
    if not name:
        raise _bad("name", _l("A station needs a name."))
    if db.session.scalar(select(Station.id).where(Station.name == name)) is not None:
        raise Conflict(_l("A station %(n)s exists.", n=name), fields={"name": _l("Taken.")})
    s = Station(name=name, kind="local", adb_host="127.0.0.1", adb_port=5037, ssh_port=22)
    for key in STATION_FIELDS:
        if data.get(key) is not None:
            setattr(s, key, data[key])
    _check_station(s)
    db.session.add(s)
    db.session.flush()
    record(actor, "provisioning.station.create", s, after=snapshot(s))
    return s


def update_station(s: Station, data: dict, *, actor) -> Station:
    before = snapshot(s)
    for key in STATION_FIELDS:
        if key in data:
            setattr(s, key, data[key])
    _check_station(s)
    db.session.flush()
    record(actor, "provisioning.station.update", s, before=before, after=snapshot(s))
    return s

"""What one phone gets in a run: the releases (with their files in the APK store), settings,
PIN, permissions and the capacity verdict, as a :class:`~fleet.provisioning.pipeline.Plan`;
and matching a phone to the inventory. Reads the database, changes nothing but the run item's
random PIN (flushed by the caller)."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import or_, select

from fleet.errors import InvalidInput
from fleet.extensions import db
from fleet.inventory.models import Device
from fleet.provisioning.models import Profile, RunItem
from fleet.provisioning.pipeline import ApkPlan, Plan


def releases_for(profile: Profile, device_id: int | None) -> list:
    """The ``fleet.apk.models.Release`` rows the profile installs on a device: its explicit
    releases, then for a channel the release it serves that device for each package (staged
    rollout honoured). Raises InvalidInput when a release is missing, unservable or its file
    is not in the store."""
    from fleet.apk.models import SERVABLE_STATUSES, Release
    from fleet.apk.operations import find_channel, release_for

    out = []
    for rid in profile.release_ids or []:
        rel = db.session.get(Release, int(rid))
        if rel is None:
            raise InvalidInput(f"release {rid} of profile {profile.name} does not exist")
        out.append(rel)
    if profile.channel_name:
        channel = find_channel(profile.channel_name)
        for package in profile.packages or ["com.dhis2"]:
            if any(r.package == package for r in out):
                continue
            rel = release_for(channel, package, device_id)
            if rel is None:
                raise InvalidInput(f"channel {channel.name} serves no release of {package}")
            out.append(rel)
    for rel in out:
        if rel.status not in SERVABLE_STATUSES:
            raise InvalidInput(f"release {rel.id} ({rel.package} {rel.version_name}) is "
                               f"{rel.status}, not installable")
    return out


def _apk_plans(releases) -> list[ApkPlan]:
    from fleet.apk.storage import ApkStore

    store = ApkStore(current_app.config["APK_STORE_DIR"])
    plans = []
    for rel in releases:
        path = store.path_for(rel.sha256)
        if not path.is_file():
            raise InvalidInput(f"the APK file of release {rel.id} is missing from the store")
        plans.append(ApkPlan(rel.package, int(rel.version_code), rel.version_name, str(path),
                             rel.sha256, rel.signer_sha256, rel.min_sdk, int(rel.size)))
    return plans


def device_settings(profile: Profile, api_level: int | None) -> list[tuple[str, str, str]]:
    """``settings put`` triples for the profile (AOSP ``Settings.Secure.LOCATION_MODE`` 3 =
    high accuracy; ``Settings.Global.AUTO_TIME``/``AUTO_TIME_ZONE``;
    ``Settings.System.SCREEN_OFF_TIMEOUT`` in milliseconds)."""
    out = []
    if profile.location_on:
        out.append(("secure", "location_mode", "3"))
    if profile.auto_time:
        out += [("global", "auto_time", "1"), ("global", "auto_time_zone", "1")]
    if profile.screen_off_timeout_s:
        out.append(("system", "screen_off_timeout", str(profile.screen_off_timeout_s * 1000)))
    return out


def new_pin(length: int) -> str:
    """A random PIN of ``length`` digits (``secrets``), avoiding one repeated digit."""
    while True:
        pin = "".join(str(secrets.randbelow(10)) for _ in range(length))
        if len(set(pin)) > 1:
            return pin


def known_pins(serial: str | None) -> list[str]:
    """Screen-lock PINs fleet may have set on the phone with this serial (latest first): the
    random PINs of its items, finished or not, so a later run can verify or change the lock
    fleet set. Unfinished items count: a run killed (or a phone unplugged) after the pin step
    but before the record step left that item's PIN on the phone; a PIN never set costs one
    refused ``locksettings set-pin --old`` try."""
    if not serial:
        return []
    rows = db.session.scalars(select(RunItem).where(
        RunItem.serial == serial, RunItem.pin.is_not(None))
        .order_by(RunItem.id.desc()).limit(5))
    out: list[str] = []
    for row in rows:
        if row.pin and row.pin not in out:
            out.append(row.pin)
    return out


def match_device(facts: dict) -> Device | None:
    """The inventory device with the phone's serial (ro.serialno) or IMEI, or None."""
    clauses = []
    if facts.get("serial"):
        clauses.append(Device.serial == facts["serial"])
    if facts.get("imei"):
        clauses += [Device.imei == facts["imei"], Device.imei2 == facts["imei"]]
    if not clauses:
        return None
    return db.session.scalar(select(Device).where(or_(*clauses)).order_by(Device.id).limit(1))


def capacity_verdict(device: Device | None, facts: dict,
                     profile: Profile) -> tuple[str, str] | None:
    """(verdict, message) of the capacity model for the phone and its holder
    (``fleet.capacity.operations.device_verdict``), using the inventory RAM or, when unknown,
    what the phone reports; ``("not judged", ...)`` without a holder; None when the profile's
    check is off. Never raises: a model error gives ``unknown``."""
    if profile.capacity_check == "off":
        return None
    from fleet.capacity.operations import device_verdict

    subject = SimpleNamespace(
        ram_mb=(device.ram_mb if device is not None and device.ram_mb else facts["ram_mb"]),
        api_level=facts["api_level"],
        storage_gb=device.storage_gb if device is not None else None)
    holder = device.holder if device is not None else None
    if holder is None:
        return ("not judged", "no holder assigned yet")
    try:
        v = device_verdict(subject, holder, free_storage_mb=facts.get("free_storage_mb"))
    except Exception as exc:  # the capacity model must not stop provisioning
        return ("unknown", f"capacity model error: {exc}")
    reasons = "; ".join(getattr(r, "message", str(r)) for r in v.reasons[:2])
    if v.unknown:
        reasons = "; ".join(m for _f, m in v.unknown)
    return (v.verdict, f"(holder {holder.name}) {reasons}".strip())


def build_plan(profile: Profile, item: RunItem, device: Device | None, facts: dict) -> Plan:
    """The :class:`Plan` for one phone. Raises InvalidInput when a release cannot be installed
    (missing, unservable, file not in the store)."""
    apks = _apk_plans(releases_for(profile, device.id if device is not None else None))
    pin = None
    if profile.pin_policy == "profile":
        pin = profile.pin
    elif profile.pin_policy == "random":
        if not item.pin:
            # a phone fleet already locked keeps its PIN (its holder has that slip)
            previous = known_pins(item.serial)
            item.pin = previous[0] if previous else new_pin(profile.pin_length)
        pin = item.pin
    return Plan(
        apks=apks, pin=pin, old_pins=[p for p in known_pins(item.serial) if p != pin],
        require_encryption=profile.require_encryption,
        settings=device_settings(profile, facts.get("api_level")),
        play_store=profile.play_store,
        permissions=[(p["package"], p["permission"]) for p in profile.permissions or []],
        min_api_level=profile.min_api_level, min_ram_mb=profile.min_ram_mb,
        min_free_storage_mb=profile.min_free_storage_mb, min_battery=profile.min_battery,
        capacity=capacity_verdict(device, facts, profile),
        capacity_check=profile.capacity_check)

"""From inventory rows to what labels and agreements print: the district above an org unit and
:class:`~fleet.labels.payload.DeviceLabelInfo` for a device.

Settings (``app.config``, overridable as ``FLEET_*`` environment variables):

- ``LABEL_PAYLOAD_FIELDS``: comma-separated payload fields (docs/labels.md, default the guide's
  ``asset_tag,holder,msisdn,district``).
- ``LABEL_PRIVACY_MODE``: true to encode only the asset tag and the device page URL.
- ``LABEL_BASE_URL``: the public base URL used for device page URLs outside a request (CLI),
  e.g. ``https://fleet.example.org``; default ``https://<HOST>:<PORT>``.
"""

from __future__ import annotations

from flask import current_app, has_request_context, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fleet.extensions import db
from fleet.inventory.models import Device, OrgUnit, SimPairing
from fleet.labels.payload import DEFAULT_FIELDS, DeviceLabelInfo, PayloadTemplate

#: DHIS2 campaign hierarchy: country 1 > region 2 > district 3 > facility 4.
DISTRICT_LEVEL = 3

SETTINGS = {
    "LABEL_PAYLOAD_FIELDS": ",".join(DEFAULT_FIELDS),
    "LABEL_PRIVACY_MODE": False,
    "LABEL_BASE_URL": "",
}


def setting(name: str):
    return current_app.config.get(name, SETTINGS[name])


def payload_template() -> PayloadTemplate:
    """The deployment's payload template from LABEL_PAYLOAD_FIELDS and LABEL_PRIVACY_MODE.

    Raises UnknownTemplateField (a ValueError) naming the unknown field."""
    fields = setting("LABEL_PAYLOAD_FIELDS")
    privacy = setting("LABEL_PRIVACY_MODE")
    if isinstance(privacy, str):
        privacy = privacy.strip().lower() in ("1", "true", "yes", "on")
    return PayloadTemplate(fields=fields, privacy=bool(privacy))


def district_of(unit: OrgUnit | None) -> OrgUnit | None:
    """The level-3 (district) org unit at or above ``unit``; None above district level or
    without a unit. Uses the materialised path (``/1/4/17/``): one query."""
    if unit is None:
        return None
    if unit.level == DISTRICT_LEVEL:
        return unit
    if unit.level < DISTRICT_LEVEL:
        return None
    ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    return db.session.scalar(select(OrgUnit).where(OrgUnit.id.in_(ids),
                                                   OrgUnit.level == DISTRICT_LEVEL))


def facility_of(unit: OrgUnit | None) -> OrgUnit | None:
    """The unit itself when it is below district level (a facility), else None."""
    return unit if unit is not None and unit.level > DISTRICT_LEVEL else None


def device_url(asset_tag: str) -> str:
    """Absolute URL of the device page, built with ``url_for(_external=True)``; outside a
    request inside a request context for LABEL_BASE_URL."""
    if has_request_context():
        return url_for("inventory.device", tag=asset_tag, _external=True)
    base = setting("LABEL_BASE_URL") or (
        f"https://{current_app.config.get('HOST', '127.0.0.1')}:"
        f"{current_app.config.get('PORT', 8443)}")
    with current_app.test_request_context(base_url=base):
        return url_for("inventory.device", tag=asset_tag, _external=True)


def label_info(device: Device, *, agreement_number: str | None = None,
               districts: dict | None = None) -> DeviceLabelInfo:
    """The label data of one device: holder, MSISDN/ICCID of the paired SIM, district (level
    3 above the device's org unit, else the holder's), facility, box/agreement number.

    ``districts``: a dict the caller keeps across devices to cache org unit id -> district
    (one query per distinct org unit instead of one per device)."""
    unit = device.org_unit or (device.holder.org_unit if device.holder else None)
    if districts is None or unit is None:
        district = district_of(unit)
    else:
        if unit.id not in districts:
            districts[unit.id] = district_of(unit)
        district = districts[unit.id]
    facility = facility_of(unit)
    sims = device.current_sims
    sim = sims[0] if sims else None
    return DeviceLabelInfo(
        asset_tag=device.asset_tag,
        holder=device.holder.name if device.holder else None,
        msisdn=sim.msisdn if sim else None,
        iccid=sim.iccid if sim else None,
        district=district.name if district else None,
        facility=facility.name if facility else None,
        box_number=device.box_number,
        agreement_number=agreement_number,
        imei=device.imei,
        serial=device.serial,
        model=device.model or None,
        url=device_url(device.asset_tag),
    )


def devices_with_relations(stmt):
    """Add the eager loads label building needs to a ``select(Device)``."""
    return stmt.options(selectinload(Device.holder), selectinload(Device.org_unit),
                        selectinload(Device.pairings).selectinload(SimPairing.sim))

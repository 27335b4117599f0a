"""marshmallow schemas for the inventory: outputs (``FooSchema``) and inputs (``FooCreateArgs``,
``FooUpdateArgs``). The same input schemas validate API bodies, HTML forms and import rows."""

from __future__ import annotations

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from fleet.forms import Id
from fleet.forms import InputSchema as _Input
from fleet.inventory.fields import ICCID, IMEI, MSISDN, Text, WholeNumber
from fleet.inventory.models import DEVICE_STATUSES, HOLDER_ROLES, OWNERSHIPS, SIM_STATUSES


def _int(lo, hi, **kw):
    return WholeNumber(allow_none=True, validate=ma.validate.Range(min=lo, max=hi), **kw)


# ---- org units ---------------------------------------------------------------------------


class OrgUnitSchema(ma.Schema):
    id = ma.fields.Integer()
    uid = ma.fields.String(allow_none=True)
    name = ma.fields.String()
    code = ma.fields.String(allow_none=True)
    level = ma.fields.Integer()
    level_name = ma.fields.String()
    parent_id = ma.fields.Integer(allow_none=True)
    path = ma.fields.String()


class OrgUnitCreateArgs(_Input):
    name = Text(required=True, validate=ma.validate.Length(max=230))
    uid = Text(
        allow_none=True,
        validate=ma.validate.Regexp(
            r"^[A-Za-z][A-Za-z0-9]{10}$",
            error=_l("A DHIS2 UID is 11 letters or digits, letter first."),
        ),
    )
    code = Text(allow_none=True, validate=ma.validate.Length(max=50))
    level = _int(1, 10, load_default=None)
    parent_id = Id(allow_none=True, load_default=None)
    parent = Text(
        allow_none=True,
        load_default=None,
        metadata={"description": "Parent by UID, code or name (instead of parent_id)."},
    )


# ---- holders -----------------------------------------------------------------------------

class HolderSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    role = ma.fields.String()
    msisdn = ma.fields.String(allow_none=True)
    org_unit_id = ma.fields.Integer(allow_none=True)
    org_unit = ma.fields.Function(lambda h: h.org_unit.name if h.org_unit else None)
    dhis2_username = ma.fields.String(allow_none=True)
    national_id = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean()
    notes = ma.fields.String()
    expected_teis = ma.fields.Integer(allow_none=True)
    events_per_tei = ma.fields.Float(allow_none=True)
    attributes_per_tei = ma.fields.Integer(allow_none=True)
    capture_org_units = ma.fields.Integer(allow_none=True)
    search_org_units = ma.fields.Integer(allow_none=True)
    programs = ma.fields.Integer(allow_none=True)
    program_rules = ma.fields.Integer(allow_none=True)
    largest_option_set = ma.fields.Integer(allow_none=True)
    reserved_values = ma.fields.Integer(allow_none=True)


class HolderCreateArgs(_Input):
    name = Text(required=True, validate=ma.validate.Length(min=1, max=200))
    role = Text(load_default="campaign_worker", validate=ma.validate.OneOf(HOLDER_ROLES))
    msisdn = MSISDN(allow_none=True)
    org_unit_id = Id(allow_none=True)
    org_unit = Text(allow_none=True, metadata={"description": "Org unit by UID, code or name."})
    dhis2_username = Text(allow_none=True, validate=ma.validate.Length(max=100))
    national_id = Text(allow_none=True, validate=ma.validate.Length(max=60))
    notes = Text(allow_none=True)
    expected_teis = _int(0, 1_000_000)
    events_per_tei = ma.fields.Float(allow_none=True, validate=ma.validate.Range(min=0, max=1000))
    attributes_per_tei = _int(0, 1000)
    capture_org_units = _int(0, 100_000)
    search_org_units = _int(0, 100_000)
    programs = _int(0, 1000)
    program_rules = _int(0, 100_000)
    largest_option_set = _int(0, 1_000_000)
    reserved_values = _int(0, 100_000)


class HolderUpdateArgs(HolderCreateArgs):
    name = Text(validate=ma.validate.Length(min=1, max=200))
    role = Text(validate=ma.validate.OneOf(HOLDER_ROLES))
    active = ma.fields.Boolean()


# ---- SIM cards ---------------------------------------------------------------------------


class SimSchema(ma.Schema):
    id = ma.fields.Integer()
    iccid = ma.fields.String()
    msisdn = ma.fields.String(allow_none=True)
    imsi = ma.fields.String(allow_none=True)
    carrier = ma.fields.String()
    data_plan = ma.fields.String()
    bundle_expires_on = ma.fields.Date(allow_none=True)
    glued_in = ma.fields.Boolean()
    status = ma.fields.String()
    notes = ma.fields.String()
    has_pin = ma.fields.Function(lambda s: bool(s.sim_pin))
    has_puk = ma.fields.Function(lambda s: bool(s.sim_puk))
    device = ma.fields.Function(lambda s: s.current_device.asset_tag if s.current_device else None)


class SimSecretsSchema(SimSchema):
    """Output with SIM PIN/PUK, only for roles with ``secrets:view`` (logistics, admin)."""

    sim_pin = ma.fields.String(allow_none=True)
    sim_puk = ma.fields.String(allow_none=True)


class SimCreateArgs(_Input):
    iccid = ICCID(required=True)
    msisdn = MSISDN(allow_none=True)
    imsi = Text(
        allow_none=True,
        validate=ma.validate.Regexp(r"^\d{6,15}$", error=_l("IMSI is 6 to 15 digits.")),
    )
    carrier = Text(allow_none=True, validate=ma.validate.Length(max=80))
    data_plan = Text(allow_none=True, validate=ma.validate.Length(max=120))
    bundle_expires_on = ma.fields.Date(allow_none=True)
    sim_pin = Text(
        allow_none=True,
        load_only=True,
        validate=ma.validate.Regexp(r"^\d{4,8}$", error=_l("A SIM PIN is 4 to 8 digits.")),
    )
    sim_puk = Text(
        allow_none=True,
        load_only=True,
        validate=ma.validate.Regexp(r"^\d{8}$", error=_l("A PUK is 8 digits.")),
    )
    glued_in = ma.fields.Boolean(load_default=False)
    status = Text(load_default="active", validate=ma.validate.OneOf(SIM_STATUSES))
    notes = Text(allow_none=True)
    device = Text(allow_none=True, metadata={"description": "Asset tag or IMEI to pair with."})


class SimUpdateArgs(SimCreateArgs):
    iccid = ICCID()
    glued_in = ma.fields.Boolean()
    status = Text(validate=ma.validate.OneOf(SIM_STATUSES))


# ---- devices -----------------------------------------------------------------------------


class DeviceSchema(ma.Schema):
    id = ma.fields.Integer()
    asset_tag = ma.fields.String()
    box_number = ma.fields.String(allow_none=True)
    serial = ma.fields.String(allow_none=True)
    imei = ma.fields.String(allow_none=True)
    imei2 = ma.fields.String(allow_none=True)
    manufacturer = ma.fields.String()
    model = ma.fields.String()
    android_version = ma.fields.String(allow_none=True)
    api_level = ma.fields.Integer(allow_none=True)
    ram_mb = ma.fields.Integer(allow_none=True)
    storage_gb = ma.fields.Integer(allow_none=True)
    ownership = ma.fields.String()
    status = ma.fields.String()
    org_unit_id = ma.fields.Integer(allow_none=True)
    org_unit = ma.fields.Function(lambda d: d.org_unit.name if d.org_unit else None)
    holder_id = ma.fields.Integer(allow_none=True)
    holder = ma.fields.Function(lambda d: d.holder.name if d.holder else None)
    sims = ma.fields.Function(lambda d: [s.iccid for s in d.current_sims])
    notes = ma.fields.String()
    loss_date = ma.fields.Date(allow_none=True)
    loss_report = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


#: Statuses a device may be registered in (the others need a holder or an event).
INITIAL_STATUSES = ("in_stock", "provisioned", "in_repair", "returned", "retired")


class DeviceCreateArgs(_Input):
    asset_tag = Text(
        allow_none=True,
        validate=ma.validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$",
            error=_l("Asset tag: up to 40 letters, digits, '.', '_', '/', '-'."),
        ),
    )
    box_number = Text(allow_none=True, validate=ma.validate.Length(max=40))
    serial = Text(allow_none=True, validate=ma.validate.Length(max=64))
    imei = IMEI(allow_none=True)
    imei2 = IMEI(allow_none=True)
    manufacturer = Text(allow_none=True, validate=ma.validate.Length(max=80))
    model = Text(allow_none=True, validate=ma.validate.Length(max=80))
    android_version = Text(
        allow_none=True,
        validate=ma.validate.Regexp(
            r"^\d+(\.\d+){0,2}$", error=_l("Android version like 10 or 8.1.")
        ),
    )
    api_level = _int(1, 99)
    ram_mb = _int(256, 65536, metadata={"description": "RAM in MB (MiB as Android reports)."})
    storage_gb = _int(1, 4096)
    ownership = Text(load_default="institution", validate=ma.validate.OneOf(OWNERSHIPS))
    status = Text(load_default="in_stock", validate=ma.validate.OneOf(INITIAL_STATUSES))
    org_unit_id = Id(allow_none=True)
    org_unit = Text(allow_none=True, metadata={"description": "Org unit by UID, code or name."})
    notes = Text(allow_none=True)

    @ma.validates_schema
    def _imeis_differ(self, data, **kwargs):
        if data.get("imei") and data.get("imei") == data.get("imei2"):
            raise ma.ValidationError(str(_l("IMEI2 must differ from IMEI.")), "imei2")


class DeviceUpdateArgs(DeviceCreateArgs):
    ownership = Text(validate=ma.validate.OneOf(OWNERSHIPS))
    status = Text(validate=ma.validate.OneOf(DEVICE_STATUSES))


class DeviceFilterArgs(ma.Schema):
    q = ma.fields.String(
        load_default=None,
        metadata={"description": "Asset tag, IMEI, serial, ICCID, MSISDN or holder name (prefix)."},
    )
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DEVICE_STATUSES))
    district = ma.fields.String(
        load_default=None,
        metadata={"description": "Org unit name/UID; includes everything below it."},
    )
    holder = ma.fields.String(load_default=None)
    model = ma.fields.String(load_default=None)
    imei = ma.fields.String(load_default=None)
    iccid = ma.fields.String(load_default=None)
    msisdn = ma.fields.String(load_default=None)
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class SimFilterArgs(ma.Schema):
    q = ma.fields.String(load_default=None)
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(SIM_STATUSES))
    paired = ma.fields.Boolean(load_default=None)
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class HolderFilterArgs(ma.Schema):
    q = ma.fields.String(load_default=None)
    district = ma.fields.String(load_default=None)
    role = ma.fields.String(load_default=None)
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class StatusChangeArgs(_Input):
    status = Text(required=True, validate=ma.validate.OneOf(DEVICE_STATUSES))
    note = Text(allow_none=True)


class CheckoutArgs(_Input):
    holder_id = Id(required=True)
    condition = Text(allow_none=True)


class CheckinArgs(_Input):
    condition = Text(allow_none=True)
    status = Text(load_default="returned", validate=ma.validate.OneOf(("returned", "in_repair")))


class LossArgs(_Input):
    kind = Text(required=True, validate=ma.validate.OneOf(("lost", "stolen")))
    date = ma.fields.Date(required=True)
    report = Text(required=True, validate=ma.validate.Length(min=1, max=5000))


class PairArgs(_Input):
    iccid = ICCID(required=True)


class CustodySchema(ma.Schema):
    id = ma.fields.Integer()
    device = ma.fields.Function(lambda c: c.device.asset_tag)
    holder = ma.fields.Function(lambda c: c.holder.name)
    holder_id = ma.fields.Integer()
    checked_out_at = ma.fields.DateTime()
    checked_out_by = ma.fields.String()
    checkout_condition = ma.fields.String()
    checked_in_at = ma.fields.DateTime(allow_none=True)
    checked_in_by = ma.fields.String(allow_none=True)
    checkin_condition = ma.fields.String(allow_none=True)


class PairingSchema(ma.Schema):
    id = ma.fields.Integer()
    iccid = ma.fields.Function(lambda p: p.sim.iccid)
    device = ma.fields.Function(lambda p: p.device.asset_tag)
    paired_at = ma.fields.DateTime()
    paired_by = ma.fields.String()
    unpaired_at = ma.fields.DateTime(allow_none=True)
    unpaired_by = ma.fields.String(allow_none=True)


class AuditEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.DateTime()
    actor_name = ma.fields.String()
    action = ma.fields.String()
    entity_type = ma.fields.String()
    entity_id = ma.fields.String()
    entity_label = ma.fields.String()
    before = ma.fields.Dict(allow_none=True)
    after = ma.fields.Dict(allow_none=True)

"""marshmallow schemas for agreements: outputs (``FooSchema``) and inputs (``FooArgs``)."""

from __future__ import annotations

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from fleet.agreements.models import ACTIONS, OWNERSHIP_VARIANTS, STATUSES
from fleet.forms import InputSchema as _Input


class TemplateSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    ownership = ma.fields.String()
    version = ma.fields.Integer()
    text = ma.fields.String()
    created_at = ma.fields.DateTime()
    created_by = ma.fields.String()


class TemplateEditArgs(_Input):
    ownership = ma.fields.String(required=True, validate=ma.validate.OneOf(OWNERSHIP_VARIANTS))
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50_000))
    name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=120))


class ItemSchema(ma.Schema):
    kind = ma.fields.String()
    asset_tag = ma.fields.Function(lambda i: i.device.asset_tag if i.device else None)
    description = ma.fields.String()
    serial = ma.fields.String(allow_none=True)


class StepSchema(ma.Schema):
    action = ma.fields.String()
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String()
    at = ma.fields.DateTime()
    by = ma.fields.String()
    note = ma.fields.String()


class SignatureSchema(ma.Schema):
    id = ma.fields.Integer()
    signer_name = ma.fields.String()
    png_sha256 = ma.fields.String()
    text_sha256 = ma.fields.String()
    signed_at = ma.fields.DateTime()
    by = ma.fields.String()


class ScanSchema(ma.Schema):
    id = ma.fields.Integer()
    sha256 = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    original_name = ma.fields.String()
    copy = ma.fields.String()
    uploaded_at = ma.fields.DateTime()
    by = ma.fields.String()


class AgreementSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    status = ma.fields.String()
    status_at = ma.fields.DateTime()
    device = ma.fields.Function(lambda a: a.device.asset_tag)
    holder = ma.fields.Function(lambda a: a.holder.name)
    holder_id = ma.fields.Integer()
    sim_iccid = ma.fields.Function(lambda a: a.sim.iccid if a.sim else None)
    sim_msisdn = ma.fields.Function(lambda a: a.sim.msisdn if a.sim else None)
    ownership = ma.fields.String()
    district = ma.fields.String(attribute="district_name")
    facility = ma.fields.String(attribute="facility_name")
    terms_version = ma.fields.String()
    terms_sha256 = ma.fields.String()
    terms_text = ma.fields.String()
    issued_on = ma.fields.Date()
    expected_return_on = ma.fields.Date(allow_none=True)
    printed_at = ma.fields.DateTime(allow_none=True)
    district_copy_kept_at = ma.fields.DateTime(allow_none=True)
    district_copy_kept_by = ma.fields.String(allow_none=True)
    partner_copy_returned_at = ma.fields.DateTime(allow_none=True)
    partner_copy_returned_by = ma.fields.String(allow_none=True)
    liability = ma.fields.String(allow_none=True)
    items = ma.fields.List(ma.fields.Nested(ItemSchema))
    steps = ma.fields.List(ma.fields.Nested(StepSchema))
    signatures = ma.fields.List(ma.fields.Nested(SignatureSchema))
    scans = ma.fields.List(ma.fields.Nested(ScanSchema))


class AgreementBriefSchema(AgreementSchema):
    class Meta:
        exclude = ("terms_text", "steps", "signatures", "scans", "items")


class AgreementListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AgreementBriefSchema))
    meta = ma.fields.Dict()


class AccessoryArgs(_Input):
    kind = ma.fields.String(load_default="Accessory", validate=ma.validate.Length(max=60))
    device = ma.fields.String(allow_none=True, metadata={"description": "asset tag or IMEI"})
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=300))
    serial = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=64))


class AgreementCreateArgs(_Input):
    device = ma.fields.String(required=True, metadata={"description": "asset tag or IMEI"})
    number = ma.fields.String(allow_none=True, validate=ma.validate.Length(min=1, max=40),
                              metadata={"description": "default: the box number"})
    ownership = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(OWNERSHIP_VARIANTS))
    accessories = ma.fields.List(ma.fields.Nested(AccessoryArgs), load_default=list)
    issued_on = ma.fields.Date(allow_none=True)
    expected_return_on = ma.fields.Date(allow_none=True)
    notes = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))


class AgreementFilterArgs(ma.Schema):
    q = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    district = ma.fields.String()
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class StuckArgs(ma.Schema):
    days = ma.fields.Integer(validate=ma.validate.Range(min=0, max=3650))


#: Actions reachable through POST /agreements/<id>/actions/<action>.
STEP_ACTIONS = ("sign_holder_paper", "sign_council", "keep_district_copy",
                "return_partner_copy", "close", "end_lost", "end_stolen", "refresh_terms")
assert all(a in ACTIONS or a in ("sign_holder_paper", "refresh_terms") for a in STEP_ACTIONS)


class StepArgs(_Input):
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))
    condition = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))
    liability = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))
    report = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))
    date = ma.fields.Date(allow_none=True)


class SignatureArgs(_Input):
    signature = ma.fields.String(required=True, metadata={
        "description": "PNG data URL (data:image/png;base64,...) from the signature pad"})
    text_sha256 = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"^[0-9a-fA-F]{64}$", error=_l("A SHA-256 is 64 hex digits.")))
    signer_name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))


class PrintArgs(ma.Schema):
    page_size = ma.fields.String(load_default="a4", validate=ma.validate.OneOf(("a4", "letter")))

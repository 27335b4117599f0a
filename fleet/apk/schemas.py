"""marshmallow schemas for the APK repository: outputs (``FooSchema``) and inputs
(``FooArgs``)."""

from __future__ import annotations

import marshmallow as ma

from fleet.apk.models import RELEASE_STATUSES
from fleet.crypto import MAX_TOKEN_DAYS
from fleet.forms import Id
from fleet.forms import StrictSchema as _Input


class CheckSchema(ma.Schema):
    name = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pass | fail | warn"})
    reason = ma.fields.String()
    details = ma.fields.Dict()


class ReleaseSchema(ma.Schema):
    id = ma.fields.Integer()
    package = ma.fields.String(allow_none=True)
    version_code = ma.fields.Integer(allow_none=True, data_key="versionCode")
    version_name = ma.fields.String(allow_none=True, data_key="versionName")
    min_sdk = ma.fields.Integer(allow_none=True, data_key="minSdk")
    target_sdk = ma.fields.Integer(allow_none=True, data_key="targetSdk")
    sha256 = ma.fields.String()
    size = ma.fields.Integer(metadata={"description": "bytes"})
    file_name = ma.fields.String()
    signer_sha256 = ma.fields.String(allow_none=True)
    signer_subject = ma.fields.String(allow_none=True)
    schemes = ma.fields.Method("_schemes")
    status = ma.fields.String()
    reasons = ma.fields.List(ma.fields.String())
    checks = ma.fields.List(ma.fields.Nested(CheckSchema))
    release_notes = ma.fields.String()
    uploaded_by = ma.fields.String()
    approved_by = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    vetted_at = ma.fields.DateTime(allow_none=True)
    approved_at = ma.fields.DateTime(allow_none=True)
    released_at = ma.fields.DateTime(allow_none=True)
    withdrawn_at = ma.fields.DateTime(allow_none=True)
    download_path = ma.fields.Method("_download_path")

    def _schemes(self, obj):
        return [s for s in (obj.schemes or "").split(",") if s]

    def _download_path(self, obj):
        return f"/apk/{obj.sha256}/{obj.friendly_name}"


class ReleaseDetailSchema(ReleaseSchema):
    report = ma.fields.Dict(allow_none=True)


class ReleaseFilterArgs(ma.Schema):
    package = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(RELEASE_STATUSES))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class UploadQueryArgs(ma.Schema):
    notes = ma.fields.String(load_default="")
    filename = ma.fields.String(load_default="")


class ReasonArgs(_Input):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class NotesArgs(_Input):
    release_notes = ma.fields.String(required=True, validate=ma.validate.Length(max=20000))


class ReleaseToChannelArgs(_Input):
    channel = ma.fields.String(required=True, metadata={"description": "channel name or id"})
    rollout_percent = ma.fields.Integer(load_default=100, validate=ma.validate.Range(0, 100))
    note = ma.fields.String(load_default="")


class RollbackArgs(_Input):
    release_id = Id(required=True)
    note = ma.fields.String(load_default="")


class RolloutArgs(_Input):
    package = ma.fields.String(required=True)
    rollout_percent = ma.fields.Integer(required=True, validate=ma.validate.Range(0, 100))


class PointerSchema(ma.Schema):
    package = ma.fields.String()
    release = ma.fields.Nested(ReleaseSchema)
    previous_release = ma.fields.Nested(ReleaseSchema, allow_none=True)
    rollout_percent = ma.fields.Integer()
    updated_at = ma.fields.DateTime()
    updated_by = ma.fields.String()


class RepointResultSchema(PointerSchema):
    warning = ma.fields.String(allow_none=True)


class ChannelSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String()
    is_test = ma.fields.Boolean()
    is_default = ma.fields.Boolean()
    dhis2_user_groups = ma.fields.List(ma.fields.String())
    org_unit_ids = ma.fields.Method("_units")
    holder_group_ids = ma.fields.Method("_groups")
    pointers = ma.fields.List(ma.fields.Nested(PointerSchema))

    def _units(self, obj):
        return [u.id for u in obj.org_units]

    def _groups(self, obj):
        return [g.id for g in obj.holder_groups]


_UID = ma.validate.Regexp(r"^[A-Za-z][A-Za-z0-9]{10}$", error="Not a DHIS2 UID.")


class ChannelCreateArgs(_Input):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=60))
    description = ma.fields.String(load_default="")
    is_test = ma.fields.Boolean(load_default=False)
    is_default = ma.fields.Boolean(load_default=False)
    dhis2_user_groups = ma.fields.List(ma.fields.String(validate=_UID), load_default=list)
    org_unit_ids = ma.fields.List(Id(), load_default=list)
    holder_group_ids = ma.fields.List(Id(), load_default=list)


class ChannelUpdateArgs(_Input):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=60))
    description = ma.fields.String()
    is_test = ma.fields.Boolean()
    is_default = ma.fields.Boolean()
    dhis2_user_groups = ma.fields.List(ma.fields.String(validate=_UID))
    org_unit_ids = ma.fields.List(Id())
    holder_group_ids = ma.fields.List(Id())


class HistorySchema(ma.Schema):
    id = ma.fields.Integer()
    package = ma.fields.String()
    action = ma.fields.String()
    release_id = ma.fields.Integer(allow_none=True)
    previous_release_id = ma.fields.Integer(allow_none=True)
    rollout_percent = ma.fields.Integer()
    note = ma.fields.String()
    actor_name = ma.fields.String()
    at = ma.fields.DateTime()


class ApkTokenSchema(ma.Schema):
    id = ma.fields.Integer()
    prefix = ma.fields.String()
    label = ma.fields.String()
    channel_id = ma.fields.Integer(allow_none=True)
    device_id = ma.fields.Integer(allow_none=True)
    created_by = ma.fields.String()
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime(allow_none=True)
    revoked_at = ma.fields.DateTime(allow_none=True)
    last_used_at = ma.fields.DateTime(allow_none=True)


class IssuedTokenSchema(ApkTokenSchema):
    token = ma.fields.String(metadata={"description": "the plain token, shown once"})
    install_url = ma.fields.String(allow_none=True)


class ApkTokenCreateArgs(_Input):
    label = ma.fields.String(load_default="", validate=ma.validate.Length(max=100))
    expires_days = ma.fields.Integer(load_default=None, allow_none=True,
                                     validate=ma.validate.Range(min=1, max=MAX_TOKEN_DAYS))


class PinSchema(ma.Schema):
    package = ma.fields.String()
    cert_sha256 = ma.fields.String()
    release_id = ma.fields.Integer(allow_none=True)
    pinned_by = ma.fields.String()
    reason = ma.fields.String()
    pinned_at = ma.fields.DateTime()


class RepinArgs(_Input):
    cert_sha256 = ma.fields.String(required=True)
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class HolderGroupSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    holder_ids = ma.fields.Method("_holders")

    def _holders(self, obj):
        return [h.id for h in obj.holders]


class HolderGroupCreateArgs(_Input):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    holder_ids = ma.fields.List(Id(), load_default=list)


class UpdateCheckArgs(ma.Schema):
    versionCode = ma.fields.Integer(  # noqa: N815
        required=True, validate=ma.validate.Range(min=0, max=2**63 - 1),
        metadata={"description": "Android's 64-bit longVersionCode of the installed app"})
    device = ma.fields.String(load_default=None,
                              metadata={"description": "asset tag or IMEI (channel tokens)"})
    token = ma.fields.String(load_default=None)


class UpdateSchema(ma.Schema):
    versionCode = ma.fields.Integer()  # noqa: N815
    versionName = ma.fields.String(allow_none=True)  # noqa: N815
    sha256 = ma.fields.String()
    size = ma.fields.Integer()
    downloadURL = ma.fields.String()  # noqa: N815
    minSdk = ma.fields.Integer(allow_none=True)  # noqa: N815
    releaseNotes = ma.fields.String()  # noqa: N815

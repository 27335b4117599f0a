"""marshmallow schemas of the provisioning API: input (``*Args``) and output (``*Schema``)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from fleet.forms import Id
from fleet.provisioning.models import CAPACITY_CHECKS, PIN_POLICIES, PLAY_STORE_POLICIES


class ProvPermissionGrant(ma.Schema):
    package = fields.String(required=True, validate=validate.Length(1, 255))
    permission = fields.String(required=True, validate=validate.Length(1, 255))


class ProvProfileArgs(ma.Schema):
    """A profile as given by a client; the PIN is write-only."""

    name = fields.String(required=True, validate=validate.Length(1, 60))
    description = fields.String()
    channel_name = fields.String(allow_none=True)
    packages = fields.List(fields.String())
    release_ids = fields.List(Id())
    pin_policy = fields.String(validate=validate.OneOf(PIN_POLICIES))
    pin = fields.String(load_only=True, allow_none=True, validate=validate.Regexp(r"^\d{4,16}$"))
    pin_length = fields.Integer(validate=validate.Range(4, 16))
    require_encryption = fields.Boolean()
    location_on = fields.Boolean()
    auto_time = fields.Boolean()
    screen_off_timeout_s = fields.Integer(allow_none=True, validate=validate.Range(5, 86400))
    play_store = fields.String(validate=validate.OneOf(PLAY_STORE_POLICIES))
    permissions = fields.List(fields.Nested(ProvPermissionGrant))
    min_api_level = fields.Integer(allow_none=True, validate=validate.Range(1, 99))
    min_ram_mb = fields.Integer(allow_none=True, validate=validate.Range(0, 2**24))
    min_free_storage_mb = fields.Integer(allow_none=True, validate=validate.Range(0, 2**30))
    min_battery = fields.Integer(allow_none=True, validate=validate.Range(0, 100))
    dhis2_settings_profile = fields.String(allow_none=True)
    capacity_check = fields.String(validate=validate.OneOf(CAPACITY_CHECKS))


class ProvProfileSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    version = fields.Integer()
    description = fields.String()
    channel_name = fields.String(allow_none=True)
    packages = fields.List(fields.String())
    release_ids = fields.List(fields.Integer())
    pin_policy = fields.String()
    pin_length = fields.Integer()
    require_encryption = fields.Boolean()
    location_on = fields.Boolean()
    auto_time = fields.Boolean()
    screen_off_timeout_s = fields.Integer(allow_none=True)
    play_store = fields.String()
    permissions = fields.List(fields.Dict())
    min_api_level = fields.Integer(allow_none=True)
    min_ram_mb = fields.Integer(allow_none=True)
    min_free_storage_mb = fields.Integer(allow_none=True)
    min_battery = fields.Integer(allow_none=True)
    dhis2_settings_profile = fields.String(allow_none=True)
    capacity_check = fields.String()
    updated_at = fields.DateTime()


class ProvStationArgs(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 60))
    kind = fields.String(load_default="local", validate=validate.OneOf(("local", "ssh")))
    adb_host = fields.String()
    adb_port = fields.Integer(validate=validate.Range(1, 65535))
    ssh_host = fields.String(allow_none=True)
    ssh_port = fields.Integer(validate=validate.Range(1, 65535))
    ssh_username = fields.String(allow_none=True)
    private_key = fields.String(load_only=True, allow_none=True)
    known_hosts = fields.String(allow_none=True)


class ProvStationSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    adb_host = fields.String()
    adb_port = fields.Integer()
    ssh_host = fields.String(allow_none=True)
    ssh_port = fields.Integer()
    ssh_username = fields.String(allow_none=True)
    known_hosts = fields.String(allow_none=True)
    has_private_key = fields.Function(lambda s: bool(s.private_key))


class ProvRunResumeArgs(ma.Schema):
    """Resuming a run: only these phones (default: every phone the station sees), as at start."""

    serials = fields.List(fields.String(), load_default=list)
    watch = fields.Boolean(load_default=False)
    timeout = fields.Float(allow_none=True, load_default=None,
                           validate=validate.Range(1, 24 * 3600))
    concurrency = fields.Integer(load_default=8, validate=validate.Range(1, 64))


class ProvRunStartArgs(ProvRunResumeArgs):
    profile = fields.String(required=True)
    station = fields.String(allow_none=True, load_default=None)
    all = fields.Boolean(load_default=False)


class ProvStepSchema(ma.Schema):
    step = fields.String()
    status = fields.String()
    duration_s = fields.Float()
    error = fields.String(allow_none=True)
    output = fields.String()


class ProvItemSchema(ma.Schema):
    id = fields.Integer()
    adb_serial = fields.String()
    serial = fields.String(allow_none=True)
    imei = fields.String(allow_none=True)
    asset_tag = fields.String(allow_none=True)
    model = fields.String(allow_none=True)
    status = fields.String()
    step = fields.String(allow_none=True)
    resume_step = fields.String(allow_none=True)
    message = fields.String()
    steps = fields.List(fields.Nested(ProvStepSchema))


class ProvRunSchema(ma.Schema):
    id = fields.Integer()
    profile = fields.String()
    profile_version = fields.Integer()
    station = fields.String(allow_none=True)
    status = fields.String()
    #: Why the run stopped early (e.g. its process died), else empty.
    note = fields.String()
    active = fields.Boolean()
    started_by = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    items = fields.List(fields.Nested(ProvItemSchema))


class ProvProfileUpdateArgs(ProvProfileArgs):
    """Profile changes: every field optional (the name is in the URL)."""

    name = fields.String(validate=validate.Length(1, 60))

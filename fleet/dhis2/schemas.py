"""marshmallow schemas of the DHIS2 connector: outputs (``FooSchema``, never carrying a secret)
and inputs (``FooArgs``). The same input schemas validate API bodies, forms and CLI options."""

from __future__ import annotations

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from fleet.dhis2.android_settings import (
    DATA_SYNC_PERIODS,
    MAX_RESERVED_VALUES,
    MAX_TEI_DOWNLOAD,
    METADATA_SYNC_PERIODS,
)
from fleet.dhis2.models import AUTH_KINDS
from fleet.forms import InputSchema as _Input


class Dhis2ServerSchema(ma.Schema):
    """A configured server. Secrets are never dumped: only whether one is stored."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    base_url = ma.fields.String()
    auth_kind = ma.fields.String()
    username = ma.fields.String(allow_none=True)
    has_secret = ma.fields.Boolean()
    ca_bundle = ma.fields.String(allow_none=True)
    verify_tls = ma.fields.Boolean()
    timeout_seconds = ma.fields.Integer()
    is_default = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class Dhis2ServerCreateArgs(_Input):
    name = ma.fields.String(required=True, validate=[
        ma.validate.Length(min=1, max=60),
        ma.validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                           error=_l("Letters, digits, '.', '_' and '-' only."))])
    base_url = ma.fields.String(required=True, validate=ma.validate.Length(max=300),
                                metadata={"description": "DHIS2 root, e.g. https://dhis2.example.org"})
    auth_kind = ma.fields.String(load_default="token", validate=ma.validate.OneOf(AUTH_KINDS))
    token = ma.fields.String(allow_none=True, load_only=True,
                             metadata={"description": "DHIS2 personal access token (d2pat_...)"})
    username = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=100))
    password = ma.fields.String(allow_none=True, load_only=True)
    ca_bundle = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=400),
                                 metadata={"description": "Path of a PEM CA bundle on the server"})
    verify_tls = ma.fields.Boolean(load_default=True)
    timeout_seconds = ma.fields.Integer(load_default=30, validate=ma.validate.Range(min=1, max=600))
    is_default = ma.fields.Boolean(load_default=False)


class Dhis2ServerUpdateArgs(Dhis2ServerCreateArgs):
    """All optional; a blank ``token``/``password`` keeps the stored secret."""

    name = ma.fields.String(validate=[ma.validate.Length(min=1, max=60), ma.validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", error=_l("Letters, digits, '.', '_' and '-' only."))])
    base_url = ma.fields.String(validate=ma.validate.Length(max=300))
    auth_kind = ma.fields.String(validate=ma.validate.OneOf(AUTH_KINDS))
    verify_tls = ma.fields.Boolean()
    timeout_seconds = ma.fields.Integer(validate=ma.validate.Range(min=1, max=600))
    is_default = ma.fields.Boolean()


class ServerRefArgs(_Input):
    server = ma.fields.String(allow_none=True, load_default=None,
                              metadata={"description": "Server name; default server if absent"})
    dry_run = ma.fields.Boolean(load_default=False)


class ApkPublishArgs(ServerRefArgs):
    take_default = ma.fields.Boolean(load_default=False)


class UserGroupSchema(ma.Schema):
    id = ma.fields.Integer()
    server = ma.fields.Function(lambda g: g.server.name)
    uid = ma.fields.String()
    name = ma.fields.String()
    code = ma.fields.String(allow_none=True)
    present = ma.fields.Boolean()
    imported_at = ma.fields.DateTime()


class SettingsProfileSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String()
    version = ma.fields.Integer()
    encrypt_db = ma.fields.Boolean(allow_none=True)
    allow_screen_capture = ma.fields.Boolean(allow_none=True)
    reserved_values = ma.fields.Integer(allow_none=True)
    data_sync = ma.fields.String(allow_none=True)
    metadata_sync = ma.fields.String(allow_none=True)
    tei_download = ma.fields.Integer(allow_none=True)
    updated_at = ma.fields.DateTime()


class SettingsProfileArgs(_Input):
    """Empty (null) settings leave DHIS2's value alone. Periods are the strings the DHIS2
    Android SDK understands (SettingsEnumMaps.kt)."""

    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=60))
    description = ma.fields.String(allow_none=True)
    encrypt_db = ma.fields.Boolean(allow_none=True)
    allow_screen_capture = ma.fields.Boolean(allow_none=True)
    reserved_values = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(
        min=0, max=MAX_RESERVED_VALUES))
    data_sync = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(DATA_SYNC_PERIODS))
    metadata_sync = ma.fields.String(allow_none=True,
                                     validate=ma.validate.OneOf(METADATA_SYNC_PERIODS))
    tei_download = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(
        min=0, max=MAX_TEI_DOWNLOAD))


class SettingsProfileUpdateArgs(SettingsProfileArgs):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=60))


class PublicationSchema(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.DateTime()
    server = ma.fields.Function(lambda p: p.server.name)
    kind = ma.fields.String()
    namespace = ma.fields.String()
    profile = ma.fields.Function(lambda p: p.profile.name if p.profile else None)
    profile_version = ma.fields.Integer(allow_none=True)
    actor_name = ma.fields.String()
    written = ma.fields.Boolean()
    verified = ma.fields.Boolean()
    diff = ma.fields.Dict()


class ResultSchema(ma.Schema):
    """An import or publication result (the ``to_dict`` of :class:`OrgUnitImport`,
    :class:`UserGroupImport`, :class:`SettingsPublication`, :class:`ApkPublication`)."""

    server = ma.fields.String()
    dry_run = ma.fields.Boolean()
    applied = ma.fields.Boolean()
    summary = ma.fields.Dict()
    unknown_parents = ma.fields.List(ma.fields.String())
    changes = ma.fields.Raw()
    created = ma.fields.Raw()
    updated = ma.fields.Raw()
    missing = ma.fields.Raw()
    profile = ma.fields.String()
    profile_version = ma.fields.Integer()
    written = ma.fields.Boolean()
    verified = ma.fields.Boolean()
    read_back = ma.fields.Dict()
    publication_id = ma.fields.Integer(allow_none=True)
    diff = ma.fields.Dict()
    has_changes = ma.fields.Boolean()
    skipped = ma.fields.List(ma.fields.Dict())

"""JSON API of the DHIS2 connector under /api/v1/dhis2: parse -> operation -> commit -> dump.

Reading needs ``read``; everything that talks to DHIS2 with fleet's credentials or changes
fleet's or DHIS2's data needs ``dhis2:publish`` (admins). Dry runs change nothing and commit
nothing.
"""

from __future__ import annotations

from fleet.apiutil import api_blueprint
from fleet.auth.access import actor, require
from fleet.dhis2 import channels, importing, publishing
from fleet.dhis2 import operations as ops
from fleet.dhis2.schemas import (
    ApkPublishArgs,
    Dhis2ServerCreateArgs,
    Dhis2ServerSchema,
    Dhis2ServerUpdateArgs,
    PublicationSchema,
    ResultSchema,
    ServerRefArgs,
    SettingsProfileArgs,
    SettingsProfileSchema,
    SettingsProfileUpdateArgs,
    UserGroupSchema,
)
from fleet.extensions import db

blp = api_blueprint("dhis2_api", __name__, url_prefix="/api/v1/dhis2",
                    description="DHIS2 connector: servers, imports, publishing")
blueprints = (blp,)


def _finish(result, dry_run: bool) -> dict:
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return result.to_dict()


# ---- servers -------------------------------------------------------------------------------

@blp.get("/servers")
@blp.response(200, Dhis2ServerSchema(many=True))
@require("read")
def list_servers():
    return ops.list_servers()


@blp.post("/servers")
@blp.arguments(Dhis2ServerCreateArgs)
@blp.response(201, Dhis2ServerSchema)
@require("dhis2:publish")
def create_server(args):
    server = ops.create_server(args, actor=actor())
    db.session.commit()
    return server


@blp.patch("/servers/<name>")
@blp.arguments(Dhis2ServerUpdateArgs(partial=True))
@blp.response(200, Dhis2ServerSchema)
@require("dhis2:publish")
def update_server(args, name):
    server = ops.update_server(ops.find_server(name), args, actor=actor())
    db.session.commit()
    return server


@blp.post("/servers/<name>/check")
@blp.response(200, ResultSchema)
@require("dhis2:publish")
def check_server(name):
    server = ops.find_server(name)
    return {"server": server.name, "summary": ops.check_server(server)}


# ---- imports -------------------------------------------------------------------------------

@blp.post("/import/orgunits")
@blp.arguments(ServerRefArgs)
@blp.response(200, ResultSchema)
@require("dhis2:publish")
def import_org_units(args):
    server = ops.find_server(args["server"])
    report = importing.import_org_units(server, actor=actor(), dry_run=args["dry_run"])
    return _finish(report, args["dry_run"])


@blp.post("/import/usergroups")
@blp.arguments(ServerRefArgs)
@blp.response(200, ResultSchema)
@require("dhis2:publish")
def import_user_groups(args):
    server = ops.find_server(args["server"])
    report = importing.import_user_groups(server, actor=actor(), dry_run=args["dry_run"])
    return _finish(report, args["dry_run"])


@blp.get("/usergroups")
@blp.response(200, UserGroupSchema(many=True))
@require("read")
def list_user_groups():
    return importing.user_groups()


# ---- settings profiles ---------------------------------------------------------------------

@blp.get("/settings-profiles")
@blp.response(200, SettingsProfileSchema(many=True))
@require("read")
def list_profiles():
    return ops.list_profiles()


@blp.post("/settings-profiles")
@blp.arguments(SettingsProfileArgs)
@blp.response(201, SettingsProfileSchema)
@require("dhis2:publish")
def create_profile(args):
    row = ops.create_settings_profile(args, actor=actor())
    db.session.commit()
    return row


@blp.get("/settings-profiles/<ref>")
@blp.response(200, SettingsProfileSchema)
@require("read")
def get_profile(ref):
    return ops.find_profile(ref)


@blp.patch("/settings-profiles/<ref>")
@blp.arguments(SettingsProfileUpdateArgs(partial=True))
@blp.response(200, SettingsProfileSchema)
@require("dhis2:publish")
def update_profile(args, ref):
    row = ops.update_settings_profile(ops.find_profile(ref), args, actor=actor())
    db.session.commit()
    return row


@blp.post("/settings-profiles/<ref>/publish")
@blp.arguments(ServerRefArgs)
@blp.response(200, ResultSchema)
@require("dhis2:publish")
def publish_profile(args, ref):
    server = ops.find_server(args["server"])
    result = publishing.publish_settings_profile(server, ops.find_profile(ref), actor=actor(),
                                                 dry_run=args["dry_run"])
    return _finish(result, args["dry_run"])


# ---- APK distribution and history ----------------------------------------------------------

@blp.post("/apk-distribution/publish")
@blp.arguments(ApkPublishArgs)
@blp.response(200, ResultSchema)
@require("dhis2:publish")
def publish_apks(args):
    server = ops.find_server(args["server"])
    built = channels.channel_entries(actor=actor(), dry_run=args["dry_run"])
    result = publishing.publish_apk_distribution(server, built.entries, actor=actor(),
                                                 dry_run=args["dry_run"],
                                                 take_default=args["take_default"])
    return {**_finish(result, args["dry_run"]),
            "skipped": [{"channel": name, "reason": why} for name, why in built.skipped]}


@blp.get("/publications")
@blp.response(200, PublicationSchema(many=True))
@require("read")
def list_publications():
    return publishing.publications()

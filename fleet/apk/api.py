"""JSON API for the APK repository under /api/v1: parse -> operation -> commit -> dump.

``/api/v1/apk/...`` is for staff (session or API token); ``/api/v1/updates/<package>`` is for
phones (download token)."""

from __future__ import annotations

import hashlib

from flask import Response, abort, current_app, request, url_for
from sqlalchemy import select

from fleet.apiutil import PageSchema, api_blueprint, paginate
from fleet.apk import operations as ops
from fleet.apk.downloads import presented_token, record_token_use
from fleet.apk.models import SERVABLE_STATUSES, DownloadToken, HolderGroup, Release, SignerPin
from fleet.apk.schemas import (
    ApkTokenCreateArgs,
    ApkTokenSchema,
    ChannelCreateArgs,
    ChannelSchema,
    ChannelUpdateArgs,
    HistorySchema,
    HolderGroupCreateArgs,
    HolderGroupSchema,
    IssuedTokenSchema,
    NotesArgs,
    PinSchema,
    PointerSchema,
    ReasonArgs,
    ReleaseDetailSchema,
    ReleaseFilterArgs,
    ReleaseSchema,
    ReleaseToChannelArgs,
    RepinArgs,
    RepointResultSchema,
    RollbackArgs,
    RolloutArgs,
    UpdateCheckArgs,
    UpdateSchema,
    UploadQueryArgs,
)
from fleet.apk.uploads import detached_actor, upload_from_request
from fleet.auth.access import actor, require
from fleet.extensions import db, limiter
from fleet.inventory.operations import find_device

releases = api_blueprint("apk_releases_api", __name__, description="APK releases and vetting")
channels = api_blueprint("apk_channels_api", __name__,
                         description="APK channels, rollout, tokens, signer pins")
updates = api_blueprint("apk_updates_api", __name__, description="Update check for phones")
blueprints = (releases, channels, updates)


# ---- releases ------------------------------------------------------------------------------

@releases.get("/apk/releases")
@releases.arguments(ReleaseFilterArgs, location="query")
@releases.response(200, PageSchema)
@require("read")
def list_releases(args):
    stmt = select(Release).order_by(Release.id.desc())
    if args.get("package"):
        stmt = stmt.where(Release.package == args["package"])
    if args.get("status"):
        stmt = stmt.where(Release.status == args["status"])
    page = paginate(stmt, args["page"], args["per_page"])
    return page.dump(ReleaseSchema)


@releases.post("/apk/releases")
@releases.arguments(UploadQueryArgs, location="query")
@releases.response(201, ReleaseDetailSchema)
@releases.alt_response(200, schema=ReleaseDetailSchema, description="duplicate: the existing "
                       "release")
@require("apk:upload")
def upload(args):
    """Upload an APK: multipart/form-data (``file``, ``notes``) or a raw
    ``application/vnd.android.package-archive`` body (``?filename=&notes=``). Streams to disk,
    vets, answers 201 with the report (status vetted or rejected), or 200 with the existing
    release for a duplicate."""
    release, created = upload_from_request(actor=detached_actor(), notes=args["notes"],
                                           file_name=args["filename"])
    db.session.commit()
    return release, (201 if created else 200)


@releases.get("/apk/releases/<int:release_id>")
@releases.response(200, ReleaseDetailSchema)
@require("read")
def get_release(release_id):
    return ops.get_release(release_id)


@releases.patch("/apk/releases/<int:release_id>")
@releases.arguments(NotesArgs)
@releases.response(200, ReleaseDetailSchema)
@require("apk:upload")
def update_release(args, release_id):
    release = ops.update_notes(ops.get_release(release_id), args["release_notes"],
                               actor=actor())
    db.session.commit()
    return release


def _simple(action):
    def view(release_id):
        release = action(ops.get_release(release_id), actor=actor())
        db.session.commit()
        return release
    return view


for _path, _name, _perm, _action in (
    ("testing", "start_testing", "apk:upload", ops.start_testing),
    ("approve", "approve", "apk:approve", ops.approve_release),
    ("revet", "revet", "apk:approve", ops.revet_release),
):
    _view = _simple(_action)
    _view.__name__ = _name
    _view.__doc__ = (_action.__doc__ or "").split("\n")[0]
    releases.post(f"/apk/releases/<int:release_id>/{_path}")(
        releases.response(200, ReleaseDetailSchema)(require(_perm)(_view)))


@releases.post("/apk/releases/<int:release_id>/reject")
@releases.arguments(ReasonArgs)
@releases.response(200, ReleaseDetailSchema)
@require("apk:approve")
def reject(args, release_id):
    release = ops.reject_release(ops.get_release(release_id), args["reason"], actor=actor())
    db.session.commit()
    return release


@releases.post("/apk/releases/<int:release_id>/withdraw")
@releases.arguments(ReasonArgs)
@releases.response(200, ReleaseDetailSchema)
@require("apk:approve")
def withdraw(args, release_id):
    release = ops.withdraw_release(ops.get_release(release_id), args["reason"], actor=actor())
    db.session.commit()
    return release


@releases.post("/apk/releases/<int:release_id>/release")
@releases.arguments(ReleaseToChannelArgs)
@releases.response(200, PointerSchema)
@require("apk:approve")
def release_to_channel(args, release_id):
    pointer = ops.release_to_channel(
        ops.get_release(release_id), ops.find_channel(args["channel"]), actor=actor(),
        rollout_percent=args["rollout_percent"], note=args["note"])
    db.session.commit()
    return pointer


# ---- channels ------------------------------------------------------------------------------

@channels.get("/apk/channels")
@channels.response(200, ChannelSchema(many=True))
@require("read")
def list_channels():
    from fleet.apk.models import Channel

    return db.session.scalars(select(Channel).order_by(Channel.name)).all()


@channels.post("/apk/channels")
@channels.arguments(ChannelCreateArgs)
@channels.response(201, ChannelSchema)
@require("apk:approve")
def create_channel(args):
    channel = ops.create_channel(args, actor=actor())
    db.session.commit()
    return channel


@channels.get("/apk/channels/<ref>")
@channels.response(200, ChannelSchema)
@require("read")
def get_channel(ref):
    return ops.find_channel(ref)


@channels.patch("/apk/channels/<ref>")
@channels.arguments(ChannelUpdateArgs)
@channels.response(200, ChannelSchema)
@require("apk:approve")
def update_channel(args, ref):
    channel = ops.update_channel(ops.find_channel(ref), args, actor=actor())
    db.session.commit()
    return channel


@channels.post("/apk/channels/<ref>/rollback")
@channels.arguments(RollbackArgs)
@channels.response(200, RepointResultSchema)
@require("apk:approve")
def rollback(args, ref):
    """Re-point the channel to an earlier approved release; the answer carries a warning that
    phones only downgrade through provisioning."""
    pointer, warning = ops.rollback_channel(ops.find_channel(ref),
                                            ops.get_release(args["release_id"]), actor=actor(),
                                            note=args["note"])
    db.session.commit()
    pointer.warning = warning
    return pointer


@channels.post("/apk/channels/<ref>/rollout")
@channels.arguments(RolloutArgs)
@channels.response(200, PointerSchema)
@require("apk:approve")
def rollout(args, ref):
    pointer = ops.set_rollout(ops.find_channel(ref), args["package"], args["rollout_percent"],
                              actor=actor())
    db.session.commit()
    return pointer


@channels.get("/apk/channels/<ref>/history")
@channels.response(200, HistorySchema(many=True))
@require("read")
def history(ref):
    return ops.channel_history(ops.find_channel(ref), limit=500)


@channels.get("/apk/channels/<ref>/tokens")
@channels.response(200, ApkTokenSchema(many=True))
@require("apk:approve")
def list_tokens(ref):
    channel = ops.find_channel(ref)
    return db.session.scalars(select(DownloadToken).where(
        DownloadToken.channel_id == channel.id).order_by(DownloadToken.id.desc())).all()


def _issued(token, plain, channel=None):
    token.token = plain  # shown in this answer only, never stored
    token.install_url = (url_for("apk.install", channel=channel.name, token=plain,
                                 _external=True) if channel else None)
    return token


@channels.post("/apk/channels/<ref>/tokens")
@channels.arguments(ApkTokenCreateArgs)
@channels.response(201, IssuedTokenSchema)
@require("apk:approve")
def issue_channel_token(args, ref):
    """Issue a channel download token; the plain token is in this answer only."""
    channel = ops.find_channel(ref)
    token, plain = ops.issue_download_token(channel=channel, label=args["label"],
                                            expires_days=args["expires_days"], actor=actor())
    db.session.commit()
    return _issued(token, plain, channel)


@channels.post("/apk/devices/<ref>/tokens")
@channels.arguments(ApkTokenCreateArgs)
@channels.response(201, IssuedTokenSchema)
@require("apk:approve")
def issue_device_token(args, ref):
    """Issue a per-device token (update checks honour the device's rollout bucket)."""
    token, plain = ops.issue_download_token(device=find_device(ref), label=args["label"],
                                            expires_days=args["expires_days"], actor=actor())
    db.session.commit()
    return _issued(token, plain)


@channels.post("/apk/tokens/<int:token_id>/revoke")
@channels.response(200, ApkTokenSchema)
@require("apk:approve")
def revoke_token(token_id):
    token = db.get_or_404(DownloadToken, token_id)
    ops.revoke_download_token(token, actor=actor())
    db.session.commit()
    return token


@channels.get("/apk/pins")
@channels.response(200, PinSchema(many=True))
@require("read")
def list_pins():
    return db.session.scalars(select(SignerPin).order_by(SignerPin.package)).all()


@channels.put("/apk/pins/<package>")
@channels.arguments(RepinArgs)
@channels.response(200, PinSchema)
@require("apk:repin")
def repin(args, package):
    """Admin: pin another signer for ``package`` (reason required, audited)."""
    pin = ops.repin_signer(package, args["cert_sha256"], args["reason"], actor=actor())
    db.session.commit()
    return pin


@channels.get("/apk/holder-groups")
@channels.response(200, HolderGroupSchema(many=True))
@require("read")
def list_holder_groups():
    return db.session.scalars(select(HolderGroup).order_by(HolderGroup.name)).all()


@channels.post("/apk/holder-groups")
@channels.arguments(HolderGroupCreateArgs)
@channels.response(201, HolderGroupSchema)
@require("apk:approve")
def create_holder_group(args):
    group = ops.create_holder_group(args["name"], args["holder_ids"], actor=actor())
    db.session.commit()
    return group


# ---- update check for phones ---------------------------------------------------------------

def _update_limit() -> str:
    return current_app.config.get("APK_UPDATE_RATE_LIMIT", "60 per minute")


def _update_key() -> str:
    plain = presented_token() or ""
    return hashlib.sha256(plain.encode()).hexdigest()[:16] + "@" + (request.remote_addr or "")


@updates.get("/updates/<package>")
@updates.arguments(UpdateCheckArgs, location="query")
@updates.response(200, UpdateSchema)
@updates.alt_response(204, description="no newer release for this device")
@limiter.limit(_update_limit, key_func=_update_key)
def check_update(args, package):
    """With a device or channel token (``Authorization: Bearer fdl_...`` or ``?token=``):
    the release this device should run when its versionCode is higher than ``versionCode``,
    else 204. A channel token may name the device (``device=`` asset tag or IMEI) so its
    rollout bucket counts; without one, only a fully rolled-out release is offered.
    Rate limited per token and address (config APK_UPDATE_RATE_LIMIT, default 60/minute)."""
    plain = presented_token()
    token = ops.valid_download_token(plain)
    if token is None:
        abort(401)
    channel = ops.token_channel(token)
    device_id = token.device_id
    if device_id is None and args.get("device"):
        device = find_device(args["device"])
        if ops.channel_for_device(device) is channel:
            device_id = device.id
    release = ops.release_for(channel, package, device_id) if channel is not None else None
    answer = None
    if (release is not None and release.status in SERVABLE_STATUSES
            and release.version_code > args["versionCode"]):
        answer = {
            "versionCode": release.version_code,
            "versionName": release.version_name,
            "sha256": release.sha256,
            "size": release.size,
            "downloadURL": url_for("apk_download.download_named", sha256=release.sha256,
                                   name=release.friendly_name[:-4], token=plain,
                                   _external=True),
            "minSdk": release.min_sdk,
            "releaseNotes": release.release_notes or "",
        }
    record_token_use(token)
    return answer if answer is not None else Response(status=204)

"""APK repository operations: upload, vet, lifecycle moves, channels, rollout, signer pins and
download tokens. The only place repository state changes. Each takes the acting user
(``actor``), flushes, writes the audit trail, and never commits (the caller does).

Errors: :class:`fleet.errors.InvalidInput` (422), :class:`Conflict` (409),
:class:`IllegalTransition` (409) for lifecycle moves :data:`RELEASE_TRANSITIONS` refuses,
:class:`PermissionDenied` (403) for four-eyes, :class:`NotFound` (404),
:class:`UploadRefused` (413) for oversized uploads, :class:`VettingUnavailable` (503) when
apksigner cannot run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from fleet.apk.apksigner import ApksignerUnavailable
from fleet.apk.models import (
    POINTABLE_STATUSES,
    RELEASE_TRANSITIONS,
    Channel,
    ChannelPointer,
    DownloadToken,
    HolderGroup,
    PointerHistory,
    Release,
    SignerPin,
)
from fleet.apk.storage import ApkStore, StorageFull, UploadTooLarge
from fleet.audit.operations import record, snapshot
from fleet.crypto import MAX_TOKEN_DAYS, hash_token, new_token
from fleet.errors import (
    Conflict,
    FleetError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from fleet.extensions import db
from fleet.inventory.models import Device, Holder, OrgUnit
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from fleet.apk.vetting import VettingReport

FAIL = "fail"  # fleet.apk.vetting.FAIL


def _vetting():
    """``fleet.apk.vetting``, imported on first use: it pulls in androguard (about 13 MB per
    process), which only uploads and reviews need, never downloads or update checks."""
    from fleet.apk import vetting

    return vetting

#: Devices in these statuses are not counted as "the fleet" for the minSdk report.
GONE_DEVICE_STATUSES = ("retired", "lost", "stolen")
ROLLBACK_WARNING = _l(
    "Rolled back. Phones that already run a newer versionCode will not downgrade: the Capture "
    "app and Android refuse downgrades (INSTALL_FAILED_VERSION_DOWNGRADE), so those phones must "
    "be re-provisioned (uninstall and install over USB) to run this release.")


class UploadRefused(FleetError):
    """The upload is larger than MAX_APK_BYTES. HTTP 413."""

    status = 413
    code = "too_large"


class VettingUnavailable(FleetError):
    """apksigner could not run (missing, timed out): nothing was decided. HTTP 503."""

    status = 503
    code = "vetting_unavailable"


def _name(actor) -> str:
    return getattr(actor, "username", None) or "system"


def apk_store() -> ApkStore:
    """The app's content-addressed APK store (config APK_STORE_DIR)."""
    return ApkStore(current_app.config["APK_STORE_DIR"])


def _move(release: Release, to: str) -> None:
    if to not in RELEASE_TRANSITIONS[release.status]:
        raise IllegalTransition(
            _l("A release in status %(s)s cannot become %(t)s.", s=release.status, t=to),
            fields={"status": _l("Not allowed from %(s)s.", s=release.status)})
    release.status = to


def get_release(release_id: int) -> Release:
    release = db.session.get(Release, release_id)
    if release is None:
        raise NotFound(_l("No release %(i)s.", i=release_id))
    return release


def find_channel(ref: str | int) -> Channel:
    """A channel by id or name (case-insensitive). Raises NotFound."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        channel = db.session.get(Channel, int(ref))
    else:
        channel = db.session.scalar(
            select(Channel).where(func.lower(Channel.name) == str(ref).strip().lower()))
    if channel is None:
        raise NotFound(_l("No channel %(r)s.", r=ref))
    return channel


# ---- upload and vetting --------------------------------------------------------------------

def _safe_file_name(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    return "".join(ch for ch in base if ch.isprintable())[:255]


def upload_apk(source: BinaryIO, *, file_name: str | None, actor, release_notes: str = ""
               ) -> tuple[Release, bool]:
    """Stream ``source`` into the store and vet it. Returns (release, created).

    A duplicate upload (same SHA-256) returns the existing release with ``created=False``
    and changes nothing. Raises UploadRefused (413) past MAX_APK_BYTES, VettingUnavailable
    (503) when apksigner cannot run (nothing is recorded; the stored file is reused by the
    next upload of the same bytes), InvalidInput when the disk is full.
    """
    store = apk_store()
    max_bytes = int(current_app.config["MAX_APK_BYTES"])
    try:
        stored = store.store_stream(source, max_bytes=max_bytes)
    except UploadTooLarge as exc:
        raise UploadRefused(_l("The APK is larger than the limit of %(n)s bytes.",
                               n=exc.max_bytes)) from exc
    except StorageFull as exc:
        raise InvalidInput(_l("The server's disk is full; the upload was not stored.")) from exc
    # The file checks (apksigner: a second or two) run before the first query of this
    # function, so a web request (BEGIN IMMEDIATE on SQLite) does not hold the write lock
    # meanwhile; a duplicate is vetted for nothing, which is rare and harmless.
    report = vet_file(stored.sha256)
    existing = db.session.scalar(select(Release).where(Release.sha256 == stored.sha256))
    if existing is not None:
        return existing, False
    _policy_checks(None, report)
    release = Release(
        sha256=stored.sha256, size=stored.size, file_name=_safe_file_name(file_name),
        status="uploaded", release_notes=release_notes or "",
        uploaded_by=_name(actor), uploaded_by_id=getattr(actor, "id", None), schemes="")
    db.session.add(release)
    db.session.flush()
    record(actor, "apk.upload", release, after=snapshot(release))
    vet_release(release, actor=actor, report=report)
    return release, True


def _highest_approved(package: str, *, excluding: int | None = None) -> int | None:
    stmt = select(func.max(Release.version_code)).where(
        Release.package == package, Release.approved_at.is_not(None))
    if excluding is not None:
        stmt = stmt.where(Release.id != excluding)
    return db.session.scalar(stmt)


def _pinned(package: str) -> SignerPin | None:
    return db.session.scalar(select(SignerPin).where(SignerPin.package == package))


def fleet_api_levels() -> list[tuple[str, int | None]]:
    """(asset tag, API level) of every registered device that is not retired, lost or stolen."""
    return list(db.session.execute(
        select(Device.asset_tag, Device.api_level)
        .where(Device.status.not_in(GONE_DEVICE_STATUSES)).order_by(Device.asset_tag)).all())


def _policy_checks(exclude_release_id: int | None, report: VettingReport) -> None:
    """Add the database-fed checks: signer pin, versionCode (against approved releases other
    than ``exclude_release_id``), minSdk against the fleet."""
    if report.manifest is None:
        return
    package = report.manifest.package
    pin = _pinned(package)
    vetting = _vetting()
    report.add(vetting.check_signer_pin(report, pin.cert_sha256 if pin else None))
    report.add(vetting.check_version_code(report, _highest_approved(
        package, excluding=exclude_release_id)))
    report.add(vetting.devices_below_min_sdk(report, fleet_api_levels()))


def vet_file(sha256: str) -> VettingReport:
    """The checks that need only the stored file ``sha256`` (:func:`vet_apk`); touches no
    database. Raises VettingUnavailable when apksigner cannot run."""
    path = apk_store().path_for(sha256)
    try:
        return _vetting().vet_apk(path, sha256=sha256,
                                  apksigner=current_app.config.get("APKSIGNER", "apksigner"))
    except ApksignerUnavailable as exc:
        raise VettingUnavailable(_l("apksigner could not run: %(e)s", e=str(exc))) from exc


def run_vetting(sha256: str, *, exclude_release_id: int | None = None) -> VettingReport:
    """:func:`vet_file` plus the policy checks fed from the database (signer pin, versionCode
    against approved releases other than ``exclude_release_id``, minSdk against the fleet)."""
    report = vet_file(sha256)
    _policy_checks(exclude_release_id, report)
    return report


def vet_release(release: Release, *, actor, report: VettingReport | None = None) -> Release:
    """Record the vetting report of ``release`` (``uploaded`` or ``rejected``); runs
    :func:`run_vetting` unless ``report`` is given.

    Sets package, versionCode, versionName, minSdk, targetSdk, signer and schemes from the
    report; status becomes ``vetted`` or ``rejected`` (with the reasons in the report).
    Raises VettingUnavailable when apksigner cannot run.
    """
    if release.status not in ("uploaded", "rejected"):
        raise IllegalTransition(_l("Only uploaded or rejected releases are vetted."))
    if report is None:
        report = run_vetting(release.sha256, exclude_release_id=release.id)
    before = snapshot(release)
    m = report.manifest
    if m is not None:
        release.package, release.version_code = m.package, m.version_code
        release.version_name, release.min_sdk, release.target_sdk = (
            m.version_name, m.min_sdk, m.target_sdk)
    signer = report.signer
    release.signer_sha256 = signer.cert_sha256 if signer else None
    release.signer_subject = signer.subject if signer else None
    if report.signature is not None:
        release.schemes = ",".join(sorted(k for k, v in report.signature.schemes.items() if v))
    release.report = report.to_dict()
    release.vetted_at = utcnow()
    _move(release, "vetted" if report.ok else "rejected")
    db.session.flush()
    record(actor, "apk.vet", release, before=before, after=snapshot(release))
    return release


def revet_release(release: Release, *, actor) -> Release:
    """Vet a rejected release again (e.g. after an admin re-pinned the package's signer)."""
    if release.status != "rejected":
        raise IllegalTransition(_l("Only a rejected release can be vetted again."))
    return vet_release(release, actor=actor)


def update_notes(release: Release, notes: str, *, actor) -> Release:
    before = snapshot(release)
    release.release_notes = notes or ""
    db.session.flush()
    record(actor, "apk.notes", release, before=before, after=snapshot(release))
    return release


# ---- lifecycle ----------------------------------------------------------------------------

def start_testing(release: Release, *, actor) -> Release:
    """vetted -> in_testing: the release may now be pointed at test channels."""
    before = snapshot(release)
    _move(release, "in_testing")
    db.session.flush()
    record(actor, "apk.testing", release, before=before, after=snapshot(release))
    return release


def four_eyes_required() -> bool:
    return bool(current_app.config.get("APK_FOUR_EYES", True))


def approve_release(release: Release, *, actor) -> Release:
    """in_testing -> approved, by someone other than the uploader (config APK_FOUR_EYES,
    default on). Checks the signer pin and versionCode again against what was approved since
    vetting, and pins the signer if the package has no pin yet.

    Raises PermissionDenied (four-eyes, or no identified user), InvalidInput (a check now
    fails), IllegalTransition.
    """
    if release.status != "in_testing":
        _move(release, "approved")  # raises IllegalTransition with the right message
    if four_eyes_required():
        if getattr(actor, "id", None) is None:
            raise PermissionDenied(_l("Approval needs an identified fleet user (four-eyes)."))
        if actor.username == release.uploaded_by:
            raise PermissionDenied(
                _l("Four-eyes rule: the uploader cannot approve their own upload."))
    report = _vetting().VettingReport.from_dict(release.report)
    _policy_checks(release.id, report)
    failed = [c for c in (report.get("signer_pin"), report.get("version_code"))
              if c is not None and c.status == FAIL]
    release.report = report.to_dict()
    if failed:
        db.session.flush()
        raise InvalidInput(_l("Cannot approve: %(r)s", r="; ".join(c.reason for c in failed)))
    before = snapshot(release)
    _move(release, "approved")
    release.approved_by, release.approved_by_id = _name(actor), getattr(actor, "id", None)
    release.approved_at = utcnow()
    if _pinned(release.package) is None:
        pin = SignerPin(package=release.package, cert_sha256=release.signer_sha256,
                        release_id=release.id, pinned_by=_name(actor),
                        reason="first approved release")
        db.session.add(pin)
        db.session.flush()
        record(actor, "apk.pin", pin, after=snapshot(pin))
    db.session.flush()
    record(actor, "apk.approve", release, before=before, after=snapshot(release))
    return release


def reject_release(release: Release, reason: str, *, actor) -> Release:
    """A reviewer refuses a vetted or in-testing release; the reason joins the report."""
    if not (reason or "").strip():
        raise InvalidInput(_l("A reason is required."), fields={"reason": _l("Required.")})
    before = snapshot(release)
    _move(release, "rejected")
    vetting = _vetting()
    report = vetting.VettingReport.from_dict(release.report)
    report.add(vetting.CheckResult("review", FAIL, f"rejected by {_name(actor)}: {reason.strip()}"))
    release.report = report.to_dict()
    db.session.flush()
    record(actor, "apk.reject", release, before=before, after=snapshot(release))
    return release


def withdraw_release(release: Release, reason: str, *, actor) -> Release:
    """Withdraw a release: it is never served again. Channels pointing at it fall back to the
    release they served before (their ``previous_release``) or stop serving the package."""
    if not (reason or "").strip():
        raise InvalidInput(_l("A reason is required."), fields={"reason": _l("Required.")})
    before = snapshot(release)
    _move(release, "withdrawn")
    release.withdrawn_at = utcnow()
    pointers = db.session.scalars(select(ChannelPointer).where(or_(
        ChannelPointer.release_id == release.id,
        ChannelPointer.previous_release_id == release.id))).all()
    for pointer in pointers:
        if pointer.previous_release_id == release.id:
            pointer.previous_release_id = None
        if pointer.release_id == release.id:
            fallback = pointer.previous_release
            _history(pointer, "withdraw", actor, note=reason, release=fallback,
                     previous=release)
            if fallback is None:
                db.session.delete(pointer)
                continue
            pointer.release, pointer.previous_release = fallback, None
            pointer.rollout_percent = 100
            pointer.updated_by, pointer.updated_at = _name(actor), utcnow()
            if fallback.status in ("approved", "superseded"):
                _move(fallback, "released")
    db.session.flush()
    record(actor, "apk.withdraw", release, before=before, after=snapshot(release))
    return release


# ---- signer pins ---------------------------------------------------------------------------

def repin_signer(package: str, cert_sha256: str, reason: str, *, actor) -> SignerPin:
    """Admin: pin ``package`` to another signer certificate (SHA-256 hex, colons allowed).

    Phones running the old signer's build will refuse the new one (Android signature check):
    the reason is required and audited."""
    cert = (cert_sha256 or "").strip().lower().replace(":", "")
    if len(cert) != 64 or any(ch not in "0123456789abcdef" for ch in cert):
        raise InvalidInput(_l("Not a SHA-256 certificate digest."),
                           fields={"cert_sha256": _l("64 hex digits.")})
    if not (reason or "").strip():
        raise InvalidInput(_l("A reason is required."), fields={"reason": _l("Required.")})
    pin = _pinned(package)
    before = snapshot(pin) if pin else None
    if pin is None:
        pin = SignerPin(package=package, cert_sha256=cert, pinned_by=_name(actor), reason="")
        db.session.add(pin)
    pin.cert_sha256, pin.reason, pin.pinned_by, pin.pinned_at = (
        cert, reason.strip(), _name(actor), utcnow())
    pin.release_id = None
    db.session.flush()
    record(actor, "apk.repin", pin, before=before, after=snapshot(pin))
    return pin


# ---- holder groups and channels -----------------------------------------------------------

def create_holder_group(name: str, holder_ids: list[int], *, actor) -> HolderGroup:
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_l("A name is required."), fields={"name": _l("Required.")})
    if db.session.scalar(select(HolderGroup.id).where(HolderGroup.name == name)):
        raise Conflict(_l("Holder group %(n)s exists.", n=name), fields={"name": _l("Taken.")})
    group = HolderGroup(name=name)
    group.holders = [_holder(i) for i in holder_ids or []]
    db.session.add(group)
    db.session.flush()
    record(actor, "holder_group.create", group,
           after={"name": name, "holders": sorted(h.id for h in group.holders)})
    return group


def set_holder_group_members(group: HolderGroup, holder_ids: list[int], *,
                             actor) -> HolderGroup:
    """Replace the members of ``group`` with the holders ``holder_ids`` (ids of ``holder``);
    audited with the before and after member ids. Channels scoped to the group serve the new
    members from their next update check.

    Raises InvalidInput naming an unknown holder id."""
    before = sorted(h.id for h in group.holders)
    group.holders = [_holder(i) for i in dict.fromkeys(holder_ids or [])]
    db.session.flush()
    record(actor, "holder_group.members", group, before={"holders": before},
           after={"holders": sorted(h.id for h in group.holders)})
    return group


def _holder(holder_id: int) -> Holder:
    holder = db.session.get(Holder, holder_id)
    if holder is None:
        raise InvalidInput(_l("Unknown holder %(i)s.", i=holder_id))
    return holder


def _channel_state(channel: Channel) -> dict:
    state = snapshot(channel)
    state["org_units"] = sorted(u.id for u in channel.org_units)
    state["holder_groups"] = sorted(g.id for g in channel.holder_groups)
    return state


def _apply_channel(channel: Channel, data: dict) -> None:
    for key in ("name", "description", "is_test", "is_default", "dhis2_user_groups"):
        if key in data and data[key] is not None:
            setattr(channel, key, data[key])
    if "org_unit_ids" in data:
        units = []
        for unit_id in data["org_unit_ids"] or []:
            unit = db.session.get(OrgUnit, unit_id)
            if unit is None:
                raise InvalidInput(_l("Unknown org unit %(i)s.", i=unit_id),
                                   fields={"org_unit_ids": _l("Unknown org unit.")})
            units.append(unit)
        channel.org_units = units
    if "holder_group_ids" in data:
        groups = []
        for group_id in data["holder_group_ids"] or []:
            group = db.session.get(HolderGroup, group_id)
            if group is None:
                raise InvalidInput(_l("Unknown holder group %(i)s.", i=group_id),
                                   fields={"holder_group_ids": _l("Unknown holder group.")})
            groups.append(group)
        channel.holder_groups = groups
    clash = db.session.scalar(select(Channel.id).where(
        func.lower(Channel.name) == channel.name.lower(), Channel.id != (channel.id or 0)))
    if clash:
        raise Conflict(_l("Channel %(n)s exists.", n=channel.name), fields={"name": _l("Taken.")})
    if channel.is_default:
        for other in db.session.scalars(select(Channel).where(
                Channel.is_default.is_(True), Channel.id != (channel.id or 0))):
            other.is_default = False
        db.session.flush()


def create_channel(data: dict, *, actor) -> Channel:
    """Create a channel from ChannelCreateArgs output (name, is_test, is_default,
    description, dhis2_user_groups, org_unit_ids, holder_group_ids). A new default channel
    takes the flag from the old one."""
    channel = Channel(name=(data.get("name") or "").strip(), description="", is_test=False,
                      is_default=False, dhis2_user_groups=[])
    if not channel.name:
        raise InvalidInput(_l("A name is required."), fields={"name": _l("Required.")})
    _apply_channel(channel, {k: v for k, v in data.items() if k != "name"})
    db.session.add(channel)
    db.session.flush()
    record(actor, "apk.channel.create", channel, after=_channel_state(channel))
    return channel


def update_channel(channel: Channel, data: dict, *, actor) -> Channel:
    before = _channel_state(channel)
    _apply_channel(channel, data)
    db.session.flush()
    record(actor, "apk.channel.update", channel, before=before, after=_channel_state(channel))
    return channel


# ---- channel pointers, release, rollback, rollout ------------------------------------------

def _history(pointer: ChannelPointer, action: str, actor, *, note: str = "",
             release: Release | None = None, previous: Release | None = None) -> None:
    db.session.add(PointerHistory(
        channel_id=pointer.channel_id, package=pointer.package, action=action,
        release_id=release.id if release else None,
        previous_release_id=previous.id if previous else None,
        rollout_percent=pointer.rollout_percent, note=note or "", actor_name=_name(actor)))


def _pointer(channel: Channel, package: str) -> ChannelPointer | None:
    return db.session.scalar(
        select(ChannelPointer)
        .options(joinedload(ChannelPointer.release), joinedload(ChannelPointer.previous_release))
        .where(ChannelPointer.channel_id == channel.id, ChannelPointer.package == package))


def _still_pointed(release: Release) -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(ChannelPointer).where(or_(
        ChannelPointer.release_id == release.id,
        ChannelPointer.previous_release_id == release.id))))


def _retire_if_unpointed(release: Release | None, actor) -> None:
    if release is not None and release.status == "released" and not _still_pointed(release):
        before = snapshot(release)
        _move(release, "superseded")
        db.session.flush()
        record(actor, "apk.supersede", release, before=before, after=snapshot(release))


def _check_pointable(release: Release, channel: Channel) -> None:
    if release.status == "in_testing" and channel.is_test:
        pass
    elif release.status not in POINTABLE_STATUSES:
        raise IllegalTransition(_l(
            "A release in status %(s)s cannot be released to %(c)s (approve it first%(t)s).",
            s=release.status, c=channel.name,
            t="" if channel.is_test else _l("; in-testing releases go to test channels only")))
    vetting = _vetting()
    check = vetting.check_debug_cert(vetting.VettingReport.from_dict(release.report),
                                     channel.is_test)
    if check.status == FAIL:
        raise InvalidInput(check.reason, fields={"channel": check.reason})


def _repoint(channel: Channel, release: Release, *, action: str, rollout_percent: int,
             actor, note: str = "") -> ChannelPointer:
    if not 0 <= rollout_percent <= 100:
        raise InvalidInput(_l("Rollout must be between 0 and 100 percent."),
                           fields={"rollout_percent": _l("0 to 100.")})
    pointer = _pointer(channel, release.package)
    old = pointer.release if pointer else None
    before = snapshot(pointer) if pointer else None
    if pointer is None:
        pointer = ChannelPointer(channel=channel, package=release.package, release=release)
        db.session.add(pointer)
    else:
        pointer.release = release
    # Staged rollout: devices outside the percentage keep what the channel served before.
    previous = pointer.previous_release if (old is not None and old.id == release.id) else old
    pointer.previous_release = previous if rollout_percent < 100 else None
    pointer.rollout_percent = rollout_percent
    pointer.updated_by, pointer.updated_at = _name(actor), utcnow()
    if release.status in ("approved", "superseded"):
        rel_before = snapshot(release)
        _move(release, "released")
        release.released_at = release.released_at or utcnow()
        db.session.flush()
        record(actor, "apk.release", release, before=rel_before, after=snapshot(release))
    db.session.flush()
    _history(pointer, action, actor, note=note, release=release, previous=old)
    record(actor, f"apk.channel.{action}", pointer, before=before, after=snapshot(pointer),
           label=f"{channel.name}: {release.audit_label}")
    if old is not None and old.id != release.id:
        _retire_if_unpointed(old, actor)
    return pointer


def release_to_channel(release: Release, channel: Channel, *, actor,
                       rollout_percent: int = 100, note: str = "") -> ChannelPointer:
    """Point ``channel`` at ``release`` for its package (to ``rollout_percent`` of devices).

    Moving to a lower versionCode is a rollback: use :func:`rollback_channel`. Raises
    IllegalTransition (status), InvalidInput (debug certificate outside a test channel,
    lower versionCode, bad percentage).
    """
    _check_pointable(release, channel)
    pointer = _pointer(channel, release.package)
    if pointer is not None and pointer.release.version_code > release.version_code:
        raise InvalidInput(_l("%(c)s serves versionCode %(v)s; releasing a lower one is a "
                              "rollback.", c=channel.name, v=pointer.release.version_code))
    return _repoint(channel, release, action="release", rollout_percent=rollout_percent,
                    actor=actor, note=note)


def rollback_channel(channel: Channel, release: Release, *, actor, note: str = ""
                     ) -> tuple[ChannelPointer, str]:
    """Re-point ``channel`` to an earlier approved ``release`` (all devices).

    Returns (pointer, warning): phones only downgrade through provisioning (the Capture app
    and Android refuse a lower versionCode as an update)."""
    _check_pointable(release, channel)
    pointer = _pointer(channel, release.package)
    if pointer is None or pointer.release.version_code <= release.version_code:
        raise InvalidInput(_l("A rollback goes to a lower versionCode than the channel serves."))
    return (_repoint(channel, release, action="rollback", rollout_percent=100, actor=actor,
                     note=note), str(ROLLBACK_WARNING))


def set_rollout(channel: Channel, package: str, percent: int, *, actor) -> ChannelPointer:
    """Widen (or narrow) the staged rollout of ``package`` on ``channel`` to ``percent``.
    At 100 % the previous release is let go."""
    pointer = _pointer(channel, package)
    if pointer is None:
        raise NotFound(_l("%(c)s serves no release of %(p)s.", c=channel.name, p=package))
    if not 0 <= percent <= 100:
        raise InvalidInput(_l("Rollout must be between 0 and 100 percent."),
                           fields={"rollout_percent": _l("0 to 100.")})
    before = snapshot(pointer)
    previous = pointer.previous_release
    pointer.rollout_percent = percent
    if percent == 100:
        pointer.previous_release = None
    pointer.updated_by, pointer.updated_at = _name(actor), utcnow()
    db.session.flush()
    _history(pointer, "rollout", actor, release=pointer.release, previous=previous)
    record(actor, "apk.channel.rollout", pointer, before=before, after=snapshot(pointer))
    if percent == 100:
        _retire_if_unpointed(previous, actor)
    return pointer


def rollout_bucket(channel_id: int, device_id: int) -> int:
    """The device's rollout bucket on a channel, 0-99: ``sha256("<channel>:<device>") % 100``.

    Deterministic, so widening from 10 % to 30 % keeps the first 10 % and adds more; salted by
    the channel so the same phones are not always first."""
    digest = hashlib.sha256(f"{channel_id}:{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def release_for(channel: Channel, package: str, device_id: int | None) -> Release | None:
    """The release ``channel`` serves to ``device_id`` (honouring the rollout); for no device,
    the release every device of the channel has (the new one only at 100 %)."""
    pointer = _pointer(channel, package)
    if pointer is None:
        return None
    if pointer.rollout_percent >= 100:
        return pointer.release
    if device_id is not None and rollout_bucket(channel.id, device_id) < pointer.rollout_percent:
        return pointer.release
    return pointer.previous_release


def channel_for_device(device: Device) -> Channel | None:
    """The channel a device belongs to: a channel naming one of its holder's groups first,
    then the channel whose org unit is the closest ancestor of the device's (or its holder's)
    org unit, then the default channel; None when no channel fits."""
    holder_id = device.holder_id
    if holder_id is not None:
        from fleet.apk.models import apk_channel_holder_group, holder_group_member

        channel = db.session.scalar(
            select(Channel).join(apk_channel_holder_group,
                                 apk_channel_holder_group.c.channel_id == Channel.id)
            .join(holder_group_member,
                  holder_group_member.c.group_id == apk_channel_holder_group.c.group_id)
            .where(holder_group_member.c.holder_id == holder_id)
            .order_by(Channel.is_test.desc(), Channel.id).limit(1))
        if channel is not None:
            return channel
    unit = device.org_unit or (device.holder.org_unit if device.holder else None)
    if unit is not None:
        from fleet.apk.models import apk_channel_org_unit

        ancestor_ids = [int(p) for p in unit.path.strip("/").split("/") if p]
        rows = db.session.execute(
            select(Channel, OrgUnit.level)
            .join(apk_channel_org_unit, apk_channel_org_unit.c.channel_id == Channel.id)
            .join(OrgUnit, OrgUnit.id == apk_channel_org_unit.c.org_unit_id)
            .where(OrgUnit.id.in_(ancestor_ids or [unit.id]))
            .order_by(OrgUnit.level.desc(), Channel.id).limit(1)).first()
        if rows is not None:
            return rows[0]
    return db.session.scalar(select(Channel).where(Channel.is_default.is_(True)))


def channel_history(channel: Channel, limit: int = 50) -> list[PointerHistory]:
    return list(db.session.scalars(select(PointerHistory).where(
        PointerHistory.channel_id == channel.id).order_by(PointerHistory.id.desc()).limit(limit)))


# ---- download tokens ----------------------------------------------------------------------

TOKEN_PREFIX = "fdl"


def issue_download_token(*, channel: Channel | None = None, device: Device | None = None,
                         label: str = "", expires_days: int | None = None, actor
                         ) -> tuple[DownloadToken, str]:
    """A download/update-check token for one channel or one device. Returns (row, plain);
    the plain token (``fdl_`` + 43 urlsafe characters) is shown once and stored hashed."""
    if (channel is None) == (device is None):
        raise InvalidInput(_l("A token is for one channel or one device."))
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise InvalidInput(_l("Expiry must be from 1 to %(n)s days.", n=MAX_TOKEN_DAYS),
                           fields={"expires_days": _l("From 1 to %(n)s.", n=MAX_TOKEN_DAYS)})
    plain = new_token(TOKEN_PREFIX)
    token = DownloadToken(
        token_hash=hash_token(plain), prefix=plain[:10], label=(label or "").strip()[:100],
        channel=channel, device_id=device.id if device else None, created_by=_name(actor),
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None)
    db.session.add(token)
    db.session.flush()
    record(actor, "apk.token.issue", token, after=snapshot(token))
    return token, plain


def revoke_download_token(token: DownloadToken, *, actor) -> DownloadToken:
    """Revoke a download token (idempotent); it stops working at once."""
    if token.revoked_at is None:
        before = snapshot(token)
        token.revoked_at = utcnow()
        db.session.flush()
        record(actor, "apk.token.revoke", token, before=before, after=snapshot(token))
    return token


def valid_download_token(plain: str | None) -> DownloadToken | None:
    """The live (not revoked, not expired) token for ``plain``, or None. Read-only: the edge
    records use with :func:`token_use_due` / :func:`mark_token_used`."""
    if not plain or not plain.startswith(TOKEN_PREFIX + "_"):
        return None
    token = db.session.scalar(select(DownloadToken).options(joinedload(DownloadToken.channel))
                              .where(DownloadToken.token_hash == hash_token(plain)))
    now = utcnow()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    return token


def token_use_due(token: DownloadToken) -> bool:
    """True when ``last_used_at`` is unset or older than a minute (one write a minute per
    token at most, not one per download)."""
    last = token.last_used_at
    return last is None or utcnow() - last > timedelta(minutes=1)


def mark_token_used(token_id: int) -> None:
    """Set ``last_used_at`` with one UPDATE statement (no audit: it is bookkeeping).

    Call it in a transaction that has not read yet: on SQLite (WAL) a read transaction that
    then writes after another connection's commit fails at once with "database is locked"
    (SQLITE_BUSY_SNAPSHOT) instead of waiting."""
    from sqlalchemy import update

    db.session.execute(update(DownloadToken).where(DownloadToken.id == token_id)
                       .values(last_used_at=utcnow()))


def token_channel(token: DownloadToken) -> Channel | None:
    """The channel a token speaks for: its own, or its device's channel."""
    if token.channel is not None:
        return token.channel
    return channel_for_device(token.device) if token.device is not None else None


def token_may_download(token: DownloadToken, release: Release) -> bool:
    """True when the token's channel serves ``release`` (to some or all of its devices)."""
    channel = token_channel(token)
    if channel is None:
        return False
    pointer = _pointer(channel, release.package)
    if pointer is None:
        return False
    if token.device_id is not None:
        return release_for(channel, release.package, token.device_id) is release
    return release.id in (pointer.release_id, pointer.previous_release_id)


def store_path(release: Release) -> Path:
    return apk_store().path_for(release.sha256)

"""Agreement operations: the only place agreement state changes. Each takes the acting user
(``actor``), flushes, writes the step history and the audit trail, and never commits.

Lifecycle (issue 3, item 2; :data:`fleet.agreements.models.ACTIONS`): draft -> printed ->
signed_by_holder -> signed_stamped_by_council -> filed (district copy kept *and* partner copy
returned, each recorded) -> closed on return of the device, or ended_lost / ended_stolen with
the liability recorded. Illegal moves raise :class:`~fleet.errors.IllegalTransition` (409).

Settings (``app.config``; ``FLEET_*`` environment variables override):
``AGREEMENT_STUCK_DAYS`` (14), ``AGREEMENT_SCAN_MAX_BYTES`` (10 MiB),
``AGREEMENT_ORGANISATION`` and ``AGREEMENT_PARTNER`` (printed on the PDF, default empty).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from datetime import date, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from fleet.agreements import files
from fleet.agreements.models import (
    ACTIONS,
    OPEN_STATUSES,
    OWNERSHIP_VARIANTS,
    Agreement,
    AgreementItem,
    AgreementScan,
    AgreementSignature,
    AgreementStep,
    AgreementTemplate,
)
from fleet.audit.operations import record, snapshot
from fleet.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from fleet.extensions import db
from fleet.inventory import operations as inventory
from fleet.inventory.models import Device, Holder
from fleet.labels.agreement_pdf import (
    AgreementDevice,
    AgreementDoc,
    render_agreement_pdf,
    terms_sha256,
)
from fleet.labels.deviceinfo import district_of, facility_of
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

SETTINGS = {
    "AGREEMENT_STUCK_DAYS": 14,
    "AGREEMENT_SCAN_MAX_BYTES": 10 * 1024 * 1024,
    "AGREEMENT_ORGANISATION": "",
    "AGREEMENT_PARTNER": "",
}
#: Statuses the stuck list watches (filed agreements wait for the device's return by design).
STUCK_STATUSES = ("draft", "printed", "signed_by_holder", "signed_stamped_by_council")
#: Largest signature PNG accepted (same limit as the PDF renderer, fleet.labels.agreement_pdf).
MAX_SIGNATURE_BYTES = 2 * 1024 * 1024
PAGE_SIZES = ("a4", "letter")


def setting(name: str):
    return current_app.config.get(name, SETTINGS[name])


def _name(actor) -> str:
    return getattr(actor, "username", None) or "system"


# ---- templates -----------------------------------------------------------------------------

def current_template(ownership: str) -> AgreementTemplate:
    """The newest version of the terms for ``ownership`` (institution | personal)."""
    if ownership not in OWNERSHIP_VARIANTS:
        raise InvalidInput(_l("Unknown ownership model %(o)s.", o=ownership),
                           fields={"ownership": _l("Choose institution or personal.")})
    tpl = db.session.scalar(select(AgreementTemplate)
                            .where(AgreementTemplate.ownership == ownership)
                            .order_by(AgreementTemplate.version.desc()).limit(1))
    if tpl is None:
        raise NotFound(_l("No agreement template for %(o)s devices.", o=ownership))
    return tpl


def current_templates() -> list[AgreementTemplate]:
    """The newest version of each ownership variant that has one."""
    out = []
    for ownership in OWNERSHIP_VARIANTS:
        try:
            out.append(current_template(ownership))
        except NotFound:
            pass
    return out


def edit_template(ownership: str, text: str, *, actor, name: str | None = None
                  ) -> AgreementTemplate:
    """Save new terms for ``ownership`` as a new version (the old ones stay, so agreements
    keep the exact text they were printed with). Raises InvalidInput for empty text, Conflict
    when the text is unchanged."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput(_l("The terms cannot be empty."), fields={"text": _l("Required.")})
    current = current_template(ownership)
    if text == current.text and (not name or name == current.name):
        raise Conflict(_l("The terms are unchanged; no new version was made."))
    tpl = AgreementTemplate(name=(name or current.name).strip(), ownership=ownership,
                            version=current.version + 1, text=text, created_by=_name(actor))
    db.session.add(tpl)
    db.session.flush()
    record(actor, "agreement_template.version", tpl, after=snapshot(tpl))
    return tpl


# ---- queries -------------------------------------------------------------------------------

def get_agreement(agreement_id: int) -> Agreement:
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound(_l("No agreement %(n)s.", n=agreement_id))
    return agreement


def find_agreement(number: str) -> Agreement:
    """An agreement by its number (exact, then case-insensitive). Raises NotFound."""
    number = (number or "").strip()
    agreement = db.session.scalar(select(Agreement).where(Agreement.number == number)) or \
        db.session.scalar(select(Agreement).where(func.upper(Agreement.number) == number.upper()))
    if agreement is None:
        raise NotFound(_l("No agreement number %(n)s.", n=number))
    return agreement


def agreement_query(*, q=None, status=None, district=None, **_ignored):
    """A ``select(Agreement)`` newest first; ``q`` matches the number, the asset tag or part of
    the holder's name; ``district`` is a district name."""
    stmt = select(Agreement).options(selectinload(Agreement.holder),
                                     selectinload(Agreement.device))
    if status:
        stmt = stmt.where(Agreement.status == status)
    if district:
        stmt = stmt.where(func.lower(Agreement.district_name) == district.strip().lower())
    if q:
        term = q.strip()
        stmt = stmt.where(or_(
            func.upper(Agreement.number) == term.upper(),
            Agreement.device_id.in_(select(Device.id).where(
                func.upper(Device.asset_tag) == term.upper())),
            Agreement.holder_id.in_(select(Holder.id).where(
                func.lower(Holder.name).contains(term.lower(), autoescape=True)))))
    return stmt.order_by(Agreement.id.desc())


def stuck_query(days: int | None = None, *, now=None):
    """Agreements waiting at one of STUCK_STATUSES for more than ``days`` (default config
    AGREEMENT_STUCK_DAYS, 14) days, the longest waiting first: the district office's
    follow-up list."""
    days = int(setting("AGREEMENT_STUCK_DAYS") if days is None else days)
    cutoff = (now or utcnow()) - timedelta(days=days)
    return (select(Agreement).options(selectinload(Agreement.holder),
                                      selectinload(Agreement.device))
            .where(Agreement.status.in_(STUCK_STATUSES), Agreement.status_at < cutoff)
            .order_by(Agreement.status_at))


def devices_awaiting_agreement(limit: int = 200) -> list[Device]:
    """Devices checked out to a holder that have no open agreement (newest custody first):
    the ones a district office still has to draft an agreement for."""
    from fleet.inventory.models import Custody

    stmt = (select(Device).join(Custody, (Custody.device_id == Device.id)
                                & Custody.checked_in_at.is_(None))
            .where(~Device.id.in_(select(Agreement.device_id).where(
                Agreement.status.in_(OPEN_STATUSES))))
            .options(selectinload(Device.holder))
            .order_by(Custody.checked_out_at.desc()).limit(limit))
    return list(db.session.scalars(stmt))


def days_at_step(agreement: Agreement, now=None) -> int:
    return ((now or utcnow()) - agreement.status_at).days


def allowed_actions(agreement: Agreement) -> list[str]:
    """Actions the lifecycle allows from the agreement's current status."""
    out = [a for a, (src, _dst) in ACTIONS.items() if agreement.status in src]
    if agreement.district_copy_kept_at:
        out = [a for a in out if a != "keep_district_copy"]
    if agreement.partner_copy_returned_at:
        out = [a for a in out if a != "return_partner_copy"]
    return out


# ---- lifecycle -----------------------------------------------------------------------------

def _step(agreement: Agreement, action: str, *, actor, note: str = "",
          to_status: str | None = None) -> AgreementStep:
    """Check ``action`` against the lifecycle, move the status, append the step history and
    audit. Raises IllegalTransition with the allowed actions."""
    sources, target = ACTIONS[action]
    if agreement.status not in sources:
        allowed = ", ".join(allowed_actions(agreement)) or _l("none")
        raise IllegalTransition(
            _l("Agreement %(n)s is %(s)s: %(a)s is not allowed now (allowed: %(allowed)s).",
               n=agreement.number, s=agreement.status, a=action, allowed=allowed),
            fields={"status": _l("Not allowed from %(s)s.", s=agreement.status)})
    target = to_status or target or agreement.status
    before = snapshot(agreement)
    step = AgreementStep(agreement=agreement, action=action, from_status=agreement.status,
                         to_status=target, by=_name(actor), note=note or "")
    db.session.add(step)
    if target != agreement.status:
        agreement.status = target
        agreement.status_at = utcnow()
    _flush_or_conflict(agreement)
    record(actor, f"agreement.{action}", agreement, before=before, after=snapshot(agreement))
    return step


def _flush_or_conflict(agreement: Agreement) -> None:
    """Flush; a concurrent change to the same agreement (version counter) becomes Conflict."""
    number = agreement.number  # read before a failed flush expires the object
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise Conflict(_l("Agreement %(n)s was changed by someone else meanwhile; reload the "
                          "page and try again.", n=number)) from exc


def create_agreement(device: Device, *, actor, number: str | None = None,
                     ownership: str | None = None, accessories: list[dict] | None = None,
                     issued_on: date | None = None, expected_return_on: date | None = None,
                     notes: str = "") -> Agreement:
    """Draft an agreement for ``device``, which must be checked out to a holder. Prefilled:
    holder (open custody), SIM (first paired), district and facility (org units above the
    device's, else the holder's), ownership (the device's) and the current terms of that
    ownership variant.

    Args:
        number: defaults to the device's box number, then its asset tag. Unique.
        accessories: ``[{"kind": "Power bank", "device": "PH-000124" | None,
            "description": "...", "serial": "..."}]``; a registered device by asset tag/IMEI,
            or a free-text line.

    Raises: IllegalTransition (not checked out, an open agreement exists), Conflict (number
    taken), InvalidInput (bad accessory or ownership), NotFound (unknown accessory device).
    """
    custody = device.open_custody
    if custody is None:
        raise IllegalTransition(_l("%(t)s is not checked out to a holder; check it out first.",
                                   t=device.asset_tag), fields={"device": _l("Not checked out.")})
    open_one = db.session.scalar(select(Agreement.number).where(
        Agreement.device_id == device.id, Agreement.status.in_(OPEN_STATUSES)))
    if open_one:
        raise IllegalTransition(_l("%(t)s already has an open agreement, number %(n)s.",
                                   t=device.asset_tag, n=open_one))
    number = (number or device.box_number or device.asset_tag).strip()
    if not number or len(number) > 40:
        raise InvalidInput(_l("The agreement number must have 1 to 40 characters."),
                           fields={"number": _l("Invalid.")})
    if db.session.scalar(select(Agreement.id).where(Agreement.number == number)):
        raise Conflict(_l("Agreement number %(n)s is already used.", n=number),
                       fields={"number": _l("Already used.")})
    template = current_template(ownership or device.ownership)
    holder = custody.holder
    unit = device.org_unit or holder.org_unit
    district, facility = district_of(unit), facility_of(unit)
    sims = device.current_sims
    agreement = Agreement(
        number=number, status="draft", status_at=utcnow(), holder=holder, device=device,
        sim=sims[0] if sims else None, org_unit_id=unit.id if unit else None,
        ownership=template.ownership, template=template, terms_text=template.text,
        terms_version=f"{template.name} v{template.version}",
        terms_sha256=terms_sha256(template.text),
        district_name=district.name if district else "",
        facility_name=facility.name if facility else "",
        issued_on=issued_on or date.today(), expected_return_on=expected_return_on,
        notes=notes or "", created_by=_name(actor))
    agreement.items.append(AgreementItem(position=0, kind="Phone", device=device,
                                         description="", serial=device.serial))
    for pos, acc in enumerate(accessories or [], start=1):
        agreement.items.append(_accessory(acc, pos))
    db.session.add(agreement)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(_l("Agreement number %(n)s is already used.", n=number)) from exc
    db.session.add(AgreementStep(agreement=agreement, action="create", from_status=None,
                                 to_status="draft", by=_name(actor), note=""))
    db.session.flush()
    record(actor, "agreement.create", agreement, after=snapshot(agreement))
    return agreement


def _accessory(acc: dict, position: int) -> AgreementItem:
    kind = (acc.get("kind") or "Accessory").strip()[:60]
    ref = (acc.get("device") or "").strip()
    description = (acc.get("description") or "").strip()[:300]
    if ref:
        dev = inventory.find_device(ref)
        return AgreementItem(position=position, kind=kind, device=dev, description=description,
                             serial=dev.serial)
    if not description:
        raise InvalidInput(_l("Describe the accessory or give its asset tag."),
                           fields={"accessories": _l("Description or asset tag required.")})
    return AgreementItem(position=position, kind=kind, description=description,
                         serial=(acc.get("serial") or "").strip()[:64] or None)


def refresh_terms(agreement: Agreement, *, actor) -> Agreement:
    """Re-apply the newest terms of the agreement's ownership variant (after an admin edited
    them). Only before signing; the status goes back to draft, so the new text is reprinted."""
    if agreement.status not in ("draft", "printed"):
        raise IllegalTransition(_l("The terms of agreement %(n)s can no longer change (%(s)s).",
                                   n=agreement.number, s=agreement.status))
    template = current_template(agreement.ownership)
    before = snapshot(agreement)
    agreement.template = template
    agreement.terms_text = template.text
    agreement.terms_version = f"{template.name} v{template.version}"
    agreement.terms_sha256 = terms_sha256(template.text)
    before_status = agreement.status
    step = AgreementStep(agreement=agreement, action="refresh_terms", from_status=before_status,
                         to_status="draft", by=_name(actor), note=agreement.terms_version)
    db.session.add(step)
    agreement.status = "draft"
    agreement.status_at = utcnow()
    db.session.flush()
    record(actor, "agreement.refresh_terms", agreement, before=before,
           after=snapshot(agreement))
    return agreement


def agreement_doc(agreement: Agreement, *, with_signature: bool = False) -> AgreementDoc:
    """The printable view of ``agreement`` (fleet.labels.agreement_pdf.AgreementDoc)."""
    devices = []
    for item in agreement.items:
        dev = item.device
        if dev is not None:
            devices.append(AgreementDevice(asset_tag=dev.asset_tag, kind=item.kind,
                                           manufacturer=dev.manufacturer or None,
                                           model=dev.model or None, imei=dev.imei,
                                           imei2=dev.imei2, serial=dev.serial))
        else:
            devices.append(AgreementDevice(asset_tag="—", kind=item.kind,
                                           model=item.description or None, serial=item.serial))
    signature = agreement.holder_signature if with_signature else None
    png = files.get(signature.png_sha256, "image/png") if signature else None
    sim, holder = agreement.sim, agreement.holder
    return AgreementDoc(
        number=agreement.number, holder_name=holder.name, district=agreement.district_name,
        ownership_model=agreement.ownership, terms_text=agreement.terms_text,
        devices=tuple(devices), holder_role=holder.role.replace("_", " "),
        holder_msisdn=holder.msisdn, facility=agreement.facility_name or None,
        sim_iccid=sim.iccid if sim else None, sim_msisdn=sim.msisdn if sim else None,
        sim_carrier=(sim.carrier or None) if sim else None, issued_on=agreement.issued_on,
        expected_return_on=agreement.expected_return_on, terms_version=agreement.terms_version,
        organisation=setting("AGREEMENT_ORGANISATION") or None,
        partner=setting("AGREEMENT_PARTNER") or None, signature_png=png,
        signed_at=signature.signed_at if signature else None,
        printed_at=agreement.printed_at)


def print_agreement(agreement: Agreement, *, actor, page_size: str = "a4") -> bytes:
    """Render the two-copy PDF (A4 or US Letter) and move draft -> printed (a reprint while
    printed is recorded too). Returns the PDF bytes."""
    if page_size not in PAGE_SIZES:
        raise InvalidInput(_l("Page size must be a4 or letter."),
                           fields={"page_size": _l("Invalid.")})
    _step(agreement, "print", actor=actor, note=page_size)
    agreement.printed_at = utcnow()
    agreement.page_size = page_size
    db.session.flush()
    return render_agreement_pdf(agreement_doc(agreement), page_size=page_size)


def signed_pdf(agreement: Agreement, *, page_size: str | None = None) -> bytes:
    """The PDF with the holder's captured signature in both copies. Raises IllegalTransition
    when no signature was captured."""
    if agreement.holder_signature is None:
        raise IllegalTransition(_l("Agreement %(n)s has no captured signature.",
                                   n=agreement.number))
    size = page_size or agreement.page_size or "a4"
    if size not in PAGE_SIZES:
        raise InvalidInput(_l("Page size must be a4 or letter."))
    return render_agreement_pdf(agreement_doc(agreement, with_signature=True), page_size=size)


def decode_data_url(data_url: str) -> bytes:
    """PNG bytes of a ``data:image/png;base64,...`` URL (what canvas.toDataURL gives).
    Raises InvalidInput for anything else."""
    prefix = "data:image/png;base64,"
    if not isinstance(data_url, str) or not data_url.startswith(prefix):
        raise InvalidInput(_l("The signature must be a PNG data URL."),
                           fields={"signature": _l("Not a PNG data URL.")})
    try:
        return base64.b64decode(data_url[len(prefix):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(_l("The signature is not valid base64."),
                           fields={"signature": _l("Invalid.")}) from exc


def _check_signature_png(png: bytes) -> None:
    """PNG signature bytes, a full decode, at most 2 MiB, and at least some ink."""
    if len(png) > MAX_SIGNATURE_BYTES:
        raise InvalidInput(_l("The signature image is larger than 2 MiB."),
                           fields={"signature": _l("Too large.")})
    if not png.startswith(files.MAGIC[2][0]):
        raise InvalidInput(_l("The signature is not a PNG image."),
                           fields={"signature": _l("Not a PNG.")})
    try:
        with Image.open(io.BytesIO(png)) as im:
            im.load()
            rgba = im.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInput(_l("The signature image cannot be read."),
                           fields={"signature": _l("Unreadable.")}) from exc
    # Ink = pixels that are opaque and not white (a canvas is transparent or white).
    alpha = rgba.getchannel("A").point(lambda a: 255 if a > 32 else 0)
    dark = ImageOps.invert(rgba.convert("L")).point(lambda v: 255 if v > 40 else 0)
    ink = ImageChops.multiply(alpha, dark)
    if ink.getbbox() is None or sum(ink.histogram()[255:]) < 30:
        raise InvalidInput(_l("The signature is blank; please sign in the box."),
                           fields={"signature": _l("Blank.")})


def sign_holder(agreement: Agreement, *, png: bytes, shown_text_sha256: str, actor,
                signer_name: str | None = None) -> AgreementSignature:
    """Record the holder's signature captured in person (printed -> signed_by_holder).

    Args:
        png: the canvas as PNG bytes (checked: PNG, decodable, <= 2 MiB, not blank).
        shown_text_sha256: SHA-256 of the terms text the signing page showed; refused with
            Conflict when the agreement's text has changed since (the holder must see and
            sign the current text).

    The PNG is stored in the file store under DATA_DIR named by its SHA-256."""
    if agreement.status not in ACTIONS["sign_holder"][0]:
        _step(agreement, "sign_holder", actor=actor)  # raises with the allowed actions
    if (shown_text_sha256 or "").lower() != agreement.terms_sha256:
        raise Conflict(_l("The agreement text changed after the page was shown; reload the "
                          "page, read the new text and sign again."),
                       fields={"text_sha256": _l("Stale text.")})
    _check_signature_png(png)
    digest = files.put(png, "image/png")
    signature = AgreementSignature(agreement=agreement,
                                   signer_name=signer_name or agreement.holder.name,
                                   png_sha256=digest, png_size=len(png),
                                   text_sha256=agreement.terms_sha256, by=_name(actor))
    db.session.add(signature)
    db.session.flush()
    record(actor, "agreement.signature", signature, after=snapshot(signature))
    _step(agreement, "sign_holder", actor=actor,
          note=f"captured in person, text SHA-256 {agreement.terms_sha256}")
    return signature


def sign_holder_on_paper(agreement: Agreement, *, actor, note: str = "") -> Agreement:
    """Record that the holder signed the printed copies by hand (printed -> signed_by_holder)."""
    _step(agreement, "sign_holder", actor=actor, note=note or "signed on paper")
    return agreement


def sign_council(agreement: Agreement, *, actor, note: str = "") -> Agreement:
    """The council signed and stamped both copies (signed_by_holder ->
    signed_stamped_by_council)."""
    _step(agreement, "sign_council", actor=actor, note=note)
    return agreement


def record_copy(agreement: Agreement, copy: str, *, actor, note: str = "") -> Agreement:
    """Record the district copy kept (``copy="district"``) or the partner copy returned
    (``"partner"``). When both are recorded the agreement is filed."""
    if copy not in ("district", "partner"):
        raise InvalidInput(_l("Copy must be district or partner."), fields={"copy": _l("Invalid.")})
    action = "keep_district_copy" if copy == "district" else "return_partner_copy"
    done = agreement.district_copy_kept_at if copy == "district" \
        else agreement.partner_copy_returned_at
    if done is not None:
        raise IllegalTransition(_l("The %(c)s copy of agreement %(n)s is already recorded.",
                                   c=copy, n=agreement.number))
    other_done = agreement.partner_copy_returned_at if copy == "district" \
        else agreement.district_copy_kept_at
    _step(agreement, action, actor=actor, note=note,
          to_status="filed" if other_done is not None else None)
    now = utcnow()
    if copy == "district":
        agreement.district_copy_kept_at, agreement.district_copy_kept_by = now, _name(actor)
    else:
        agreement.partner_copy_returned_at, agreement.partner_copy_returned_by = now, _name(actor)
    db.session.flush()
    return agreement


def close_agreement(agreement: Agreement, *, actor, condition: str | None = None) -> Agreement:
    """The device came back: filed -> closed. Checks the device in (inventory) when it is
    still checked out to this agreement's holder."""
    _step(agreement, "close", actor=actor, note=condition or "")
    custody = agreement.device.open_custody
    if custody is not None and custody.holder_id == agreement.holder_id:
        inventory.checkin(agreement.device, actor=actor, condition=condition)
    return agreement


def end_agreement(agreement: Agreement, *, kind: str, liability: str, on: date, report: str,
                  actor) -> Agreement:
    """End as lost or stolen (``kind``), recording who is liable (``liability`` text); marks the
    device lost/stolen in the inventory (closing its custody) unless it already is."""
    if kind not in ("lost", "stolen"):
        raise InvalidInput(_l("Kind must be lost or stolen."), fields={"kind": _l("Invalid.")})
    liability = (liability or "").strip()
    if not liability:
        raise InvalidInput(_l("Record who is liable for the loss."),
                           fields={"liability": _l("Required.")})
    if not (report or "").strip():
        raise InvalidInput(_l("Describe what happened."), fields={"report": _l("Required.")})
    _step(agreement, f"end_{kind}", actor=actor, note=liability)
    agreement.liability = liability
    db.session.flush()
    if agreement.device.status not in ("lost", "stolen"):
        inventory.report_loss(agreement.device, kind=kind, on=on, report=report, actor=actor)
    return agreement


def upload_scan(agreement: Agreement, data: bytes, *, filename: str = "", copy: str = "district",
                actor) -> AgreementScan:
    """Keep a scan of the signed and stamped paper copy (PDF, JPEG or PNG; the type is read
    from the bytes; at most AGREEMENT_SCAN_MAX_BYTES). Anything else is refused and nothing is
    stored. Allowed once the agreement is printed."""
    if agreement.status == "draft":
        raise IllegalTransition(_l("Print agreement %(n)s before uploading its scan.",
                                   n=agreement.number))
    if copy not in ("district", "partner"):
        raise InvalidInput(_l("Copy must be district or partner."), fields={"copy": _l("Invalid.")})
    limit = int(setting("AGREEMENT_SCAN_MAX_BYTES"))
    if not data:
        raise InvalidInput(_l("The file is empty."), fields={"file": _l("Empty.")})
    if len(data) > limit:
        raise InvalidInput(_l("The file is %(s)s bytes; the limit is %(l)s bytes.", s=len(data),
                              l=limit), fields={"file": _l("Too large.")})
    ctype = files.sniff(data)
    if ctype is None:
        raise InvalidInput(
            _l("%(f)s is not a PDF, JPEG or PNG file (checked from its content, not its name); "
               "nothing was stored.", f=filename or _l("The file")),
            fields={"file": _l("Not a PDF, JPEG or PNG.")})
    if ctype != "application/pdf":
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise InvalidInput(_l("%(f)s looks like an image but cannot be read; nothing was "
                                  "stored.", f=filename or _l("The file")),
                               fields={"file": _l("Unreadable image.")}) from exc
    elif b"%%EOF" not in data[-2048:]:
        raise InvalidInput(_l("%(f)s is not a complete PDF (no end-of-file marker); nothing "
                              "was stored.", f=filename or _l("The file")),
                           fields={"file": _l("Truncated PDF.")})
    digest = files.put(data, ctype)
    scan = AgreementScan(agreement=agreement, sha256=digest, content_type=ctype, size=len(data),
                         original_name=_display_name(filename), copy=copy, by=_name(actor))
    db.session.add(scan)
    db.session.flush()
    record(actor, "agreement.scan", scan, after=snapshot(scan))
    return scan


def _display_name(filename: str) -> str:
    """The last path component of an uploaded file name, printable characters only."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:200]


def scan_bytes(scan: AgreementScan) -> bytes:
    return files.get(scan.sha256, scan.content_type)


def signature_bytes(signature: AgreementSignature) -> bytes:
    return files.get(signature.png_sha256, "image/png")

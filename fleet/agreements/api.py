"""JSON API for agreements under /api/v1: parse -> operation -> commit -> dump."""

from __future__ import annotations

from datetime import date

from flask import Response, request

from fleet.agreements import operations as ops
from fleet.agreements.schemas import (
    STEP_ACTIONS,
    AgreementCreateArgs,
    AgreementFilterArgs,
    AgreementListSchema,
    AgreementSchema,
    PrintArgs,
    ScanSchema,
    SignatureArgs,
    SignatureSchema,
    StepArgs,
    StuckArgs,
    TemplateEditArgs,
    TemplateSchema,
)
from fleet.apiutil import api_blueprint, paginate
from fleet.auth.access import actor, require
from fleet.errors import InvalidInput, NotFound
from fleet.extensions import db
from fleet.inventory.operations import find_device

blp = api_blueprint("agreements_api", __name__, description="Ownership agreements")


@blp.get("/agreements")
@blp.arguments(AgreementFilterArgs, location="query")
@blp.response(200, AgreementListSchema)
@require("read")
def list_agreements(args):
    page, per_page = args.pop("page"), args.pop("per_page")
    return paginate(ops.agreement_query(**args), page, per_page).dump()


@blp.get("/agreements/stuck")
@blp.arguments(StuckArgs, location="query")
@blp.response(200, AgreementListSchema)
@require("read")
def stuck(args):
    return paginate(ops.stuck_query(args.get("days")), 1, 500).dump()


@blp.post("/agreements")
@blp.arguments(AgreementCreateArgs)
@blp.response(201, AgreementSchema)
@require("agreements:write")
def create(args):
    device = find_device(args.pop("device"))
    agreement = ops.create_agreement(device, actor=actor(), **{
        k: v for k, v in args.items() if v is not None})
    db.session.commit()
    return agreement


@blp.get("/agreements/<int:agreement_id>")
@blp.response(200, AgreementSchema)
@require("read")
def get(agreement_id):
    return ops.get_agreement(agreement_id)


@blp.post("/agreements/<int:agreement_id>/print")
@blp.arguments(PrintArgs, location="query")
@blp.response(200, content_type="application/pdf")
@require("agreements:write")
def print_pdf(args, agreement_id):
    agreement = ops.get_agreement(agreement_id)
    pdf = ops.print_agreement(agreement, actor=actor(), page_size=args["page_size"])
    db.session.commit()
    return _pdf(pdf, f"agreement-{agreement.id}.pdf")


@blp.get("/agreements/<int:agreement_id>/signed.pdf")
@blp.response(200, content_type="application/pdf")
@require("read")
def signed_pdf(agreement_id):
    agreement = ops.get_agreement(agreement_id)
    return _pdf(ops.signed_pdf(agreement), f"agreement-{agreement.id}-signed.pdf")


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blp.post("/agreements/<int:agreement_id>/signature")
@blp.arguments(SignatureArgs)
@blp.response(201, SignatureSchema)
@require("agreements:write")
def sign(args, agreement_id):
    agreement = ops.get_agreement(agreement_id)
    signature = ops.sign_holder(agreement, png=ops.decode_data_url(args["signature"]),
                                shown_text_sha256=args["text_sha256"], actor=actor(),
                                signer_name=args.get("signer_name"))
    db.session.commit()
    return signature


@blp.post("/agreements/<int:agreement_id>/actions/<action>")
@blp.arguments(StepArgs)
@blp.response(200, AgreementSchema)
@require("agreements:write")
def step(args, agreement_id, action):
    if action not in STEP_ACTIONS:
        raise NotFound(f"Unknown action {action}; known: {', '.join(STEP_ACTIONS)}.")
    agreement = ops.get_agreement(agreement_id)
    run_step(agreement, action, args)
    db.session.commit()
    return agreement


def run_step(agreement, action: str, args: dict):
    """Dispatch one lifecycle action (shared with the HTML views)."""
    who, note = actor(), args.get("note") or ""
    if action == "sign_holder_paper":
        return ops.sign_holder_on_paper(agreement, actor=who, note=note)
    if action == "sign_council":
        return ops.sign_council(agreement, actor=who, note=note)
    if action in ("keep_district_copy", "return_partner_copy"):
        copy = "district" if action == "keep_district_copy" else "partner"
        return ops.record_copy(agreement, copy, actor=who, note=note)
    if action == "close":
        return ops.close_agreement(agreement, actor=who, condition=args.get("condition"))
    if action == "refresh_terms":
        return ops.refresh_terms(agreement, actor=who)
    if action in ("end_lost", "end_stolen"):
        return ops.end_agreement(agreement, kind=action[4:], liability=args.get("liability"),
                                 on=args.get("date") or date.today(),
                                 report=args.get("report") or "", actor=who)
    raise InvalidInput(f"Unknown action {action}.")


@blp.post("/agreements/<int:agreement_id>/scans")
@blp.response(201, ScanSchema)
@require("agreements:write")
def upload_scan(agreement_id):
    """Multipart upload: ``file`` (PDF, JPEG or PNG), ``copy`` (district | partner)."""
    agreement = ops.get_agreement(agreement_id)
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("Send the scan as the multipart field 'file'.",
                           fields={"file": "Required."})
    scan = ops.upload_scan(agreement, upload.read(), filename=upload.filename or "",
                           copy=request.form.get("copy", "district"), actor=actor())
    db.session.commit()
    return scan


@blp.get("/agreement-templates")
@blp.response(200, TemplateSchema(many=True))
@require("read")
def templates():
    return ops.current_templates()


@blp.post("/agreement-templates")
@blp.arguments(TemplateEditArgs)
@blp.response(201, TemplateSchema)
@require("agreements:templates")
def edit_template(args):
    tpl = ops.edit_template(args["ownership"], args["text"], actor=actor(), name=args.get("name"))
    db.session.commit()
    return tpl

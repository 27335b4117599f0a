"""JSON API of provisioning under /api/v1/provisioning: profiles, stations, runs.

Reading needs ``read``; changing profiles and stations, starting or stopping runs and reading
handover slips (they carry random PINs) needs ``provision``. ``GET /runs/<id>`` is what the run
page polls for live progress.
"""

from __future__ import annotations

from flask import Response, abort, current_app
from sqlalchemy import select

from fleet.apiutil import api_blueprint
from fleet.auth.access import actor, require
from fleet.extensions import db
from fleet.provisioning import background
from fleet.provisioning import operations as ops
from fleet.provisioning.models import Run
from fleet.provisioning.runs import resume_run, run_summary, start_run
from fleet.provisioning.schemas import (
    ProvProfileArgs,
    ProvProfileSchema,
    ProvProfileUpdateArgs,
    ProvRunResumeArgs,
    ProvRunSchema,
    ProvRunStartArgs,
    ProvStationArgs,
    ProvStationSchema,
)
from fleet.provisioning.slips import write_slips

blp = api_blueprint("provisioning_api", __name__, url_prefix="/api/v1/provisioning",
                    description="Provisioning: profiles, stations, runs over ADB")
blueprints = (blp,)


@blp.get("/profiles")
@blp.response(200, ProvProfileSchema(many=True))
@require("read")
def list_profiles():
    return ops.list_profiles()


@blp.post("/profiles")
@blp.arguments(ProvProfileArgs)
@blp.response(201, ProvProfileSchema)
@require("provision")
def create_profile(args):
    name = args.pop("name")
    profile = ops.create_profile(name, args, actor=actor())
    db.session.commit()
    return profile


@blp.patch("/profiles/<name>")
@blp.arguments(ProvProfileUpdateArgs)
@blp.response(200, ProvProfileSchema)
@require("provision")
def update_profile(args, name):
    args.pop("name", None)
    profile = ops.update_profile(ops.find_profile(name), args, actor=actor())
    db.session.commit()
    return profile


@blp.get("/stations")
@blp.response(200, ProvStationSchema(many=True))
@require("read")
def list_stations():
    return ops.list_stations()


@blp.post("/stations")
@blp.arguments(ProvStationArgs)
@blp.response(201, ProvStationSchema)
@require("provision")
def create_station(args):
    name = args.pop("name")
    station = ops.create_station(name, args, actor=actor())
    db.session.commit()
    return station


def _dump(run: Run) -> dict:
    data = run_summary(run)
    data["active"] = background.is_active(current_app._get_current_object(), run.id) or \
        run.status == "running"
    return data


@blp.get("/runs")
@blp.response(200, ProvRunSchema(many=True))
@require("read")
def list_runs():
    background.settle_stale_runs(actor())
    runs = db.session.scalars(select(Run).order_by(Run.id.desc()).limit(50))
    return [_dump(r) for r in runs]


@blp.post("/runs")
@blp.arguments(ProvRunStartArgs)
@blp.response(202, ProvRunSchema)
@require("provision")
def start(args):
    """Start a run in the background; poll ``GET /runs/<id>`` for progress."""
    if not args["serials"] and not args["all"]:
        from fleet.errors import InvalidInput

        raise InvalidInput("Name phones in serials, or set all.",
                           fields={"serials": "Name phones or set all."})
    profile = ops.find_profile(args["profile"])
    station = ops.find_station(args["station"]) if args["station"] else None
    who = actor()
    run = start_run(profile, station, actor=who)
    db.session.commit()
    _launch(run, args, who)
    return _dump(run)


def _launch(run: Run, args: dict, who) -> None:
    background.launch(current_app._get_current_object(), run.id,
                      actor_id=getattr(who, "id", None), serials=args["serials"] or None,
                      watch=args["watch"], timeout=args["timeout"],
                      concurrency=args["concurrency"])


@blp.post("/runs/<int:run_id>/resume")
@blp.arguments(ProvRunResumeArgs)
@blp.response(202, ProvRunSchema)
@require("provision")
def resume(args, run_id):
    """Continue an interrupted or finished run in the background (``fleet provision --resume``):
    finished phones are skipped, the others start at their resume step. 409 while the run is
    live in some process."""
    run = db.get_or_404(Run, run_id)
    who = actor()
    resume_run(run, actor=who)
    db.session.commit()
    _launch(run, args, who)
    return _dump(run)


@blp.get("/runs/<int:run_id>")
@blp.response(200, ProvRunSchema)
@require("read")
def get_run(run_id):
    background.settle_stale_runs(actor())
    return _dump(db.get_or_404(Run, run_id))


@blp.post("/runs/<int:run_id>/stop")
@blp.response(200, ProvRunSchema)
@require("provision")
def stop_run(run_id):
    run = db.get_or_404(Run, run_id)
    background.stop(current_app._get_current_object(), run.id)
    return _dump(run)


@blp.get("/runs/<int:run_id>/slips.pdf")
@require("provision")
def slips(run_id):
    """The run summary and handover slips (random PINs included) as a PDF."""
    run = db.get_or_404(Run, run_id)
    if not any(i.status == "done" for i in run.items):
        abort(404)
    return Response(write_slips(run), mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="run-{run.id}-slips.pdf"',
        "Cache-Control": "no-store"})

"""Provisioning pages: runs, profiles and stations at a glance, and a live run page (the
browser polls ``GET /api/v1/provisioning/runs/<id>`` from ``static/js/provisioning.js``)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from fleet.auth.access import actor, require
from fleet.extensions import db
from fleet.provisioning import background
from fleet.provisioning import operations as ops
from fleet.provisioning.models import Run
from fleet.provisioning.runs import run_summary

bp = Blueprint("provisioning", __name__, url_prefix="/provisioning")


@bp.get("/")
@require("read")
def index():
    background.settle_stale_runs(actor())
    runs = list(db.session.scalars(select(Run).order_by(Run.id.desc()).limit(50)))
    return render_template("provisioning/index.html", runs=runs,
                           profiles=ops.list_profiles(), stations=ops.list_stations())


@bp.get("/runs/<int:run_id>")
@require("read")
def run_page(run_id):
    background.settle_stale_runs(actor())
    run = db.get_or_404(Run, run_id)
    return render_template("provisioning/run.html", run=run, summary=run_summary(run))

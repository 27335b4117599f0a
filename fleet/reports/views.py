"""Health pages: the fleet dashboard, a device's history charts, exports, the scheduled jobs
admin page and compliance thresholds."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fleet.auth.access import actor, require
from fleet.errors import FleetError
from fleet.extensions import db
from fleet.jobs import JOBS, interval_of, last_runs
from fleet.reports import charts, compliance, exports, queries
from fleet.reports import operations as ops
from fleet.reports.models import DeviceHealth

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("/")
@require("read")
def dashboard():
    district = request.args.get("district", "").strip() or None
    all_rows = queries.fleet_rows()
    districts = sorted({r["district"] for r in all_rows})
    rows = [r for r in all_rows if r["district"] == district] if district else all_rows
    summary = queries.summary(rows)
    return render_template("reports/dashboard.html", s=summary, rules=compliance.RULES,
                           district=district, districts=districts)


@bp.get("/devices/<asset_tag>")
@require("read")
def device(asset_tag):
    dev = ops.device_by_asset_tag(asset_tag)
    reports = ops.history(dev)
    state = db.session.get(DeviceHealth, dev.id)
    findings = compliance.evaluate(dev)
    return render_template("reports/device.html", device=dev, reports=reports[-20:][::-1],
                           charts=charts.device_charts(reports), state=state,
                           findings=findings, rules=compliance.RULES)


@bp.get("/devices/<asset_tag>/reports/<int:report_id>/raw")
@require("read")
def raw(asset_tag, report_id):
    """The raw command outputs kept with a report, as plain text."""
    dev = ops.device_by_asset_tag(asset_tag)
    report = next((r for r in ops.history(dev, 10000) if r.id == report_id), None)
    if report is None:
        abort(404)
    text = "".join(f"$ {k}\n{v}\n" for k, v in (report.raw or {}).items())
    return Response(text, mimetype="text/plain; charset=utf-8")


@bp.get("/export.<fmt>")
@require("read")
def export(fmt):
    district = request.args.get("district", "").strip() or None
    rows = queries.fleet_rows(district=district)
    if fmt in ("csv", "xlsx"):
        mime = ("text/csv; charset=utf-8" if fmt == "csv" else
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        data = exports.export(rows, fmt)
    elif fmt == "pdf":
        mime, data = "application/pdf", exports.summary_pdf(
            queries.summary(rows), title=_("Fleet health summary") + (
                f" · {district}" if district else ""))
    else:
        abort(404)
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="fleet-health.{fmt}"'})


@bp.get("/jobs")
@require("users:manage")
def jobs():
    from flask import current_app

    runs = last_runs()
    rows = [{"job": JOBS[j], "interval": interval_of(current_app, j), "run": runs[j]}
            for j in JOBS]
    return render_template("reports/jobs.html", rows=rows)


@bp.route("/settings", methods=["GET", "POST"])
@require("users:manage")
def settings():
    errors = {}
    if request.method == "POST":
        try:
            for key in compliance.DEFAULTS:
                raw_value = request.form.get(key, "").strip()
                if raw_value == "":
                    continue
                try:
                    value = float(raw_value)
                except ValueError:
                    errors[key] = [_("Enter a number.")]
                    continue
                ops.set_threshold(key, value, actor=actor())
            if errors:
                db.session.rollback()
            else:
                ops.refresh_all()
                db.session.commit()
                flash(_("Thresholds saved; compliance re-checked."), "success")
                return redirect(url_for("health.settings"))
        except FleetError as exc:
            db.session.rollback()
            errors = {k: [str(v)] for k, v in exc.fields.items()}
    return render_template("reports/settings.html", values=compliance.settings(),
                           labels=compliance.SETTING_LABELS, defaults=compliance.DEFAULTS,
                           errors=errors)

"""``/metrics`` in the Prometheus text exposition format 0.0.4 (prometheus.io/docs/instrumenting/
exposition_formats), written here without a client library, and the request hooks that count
HTTP requests.

Protected by config METRICS_TOKEN (``Authorization: Bearer <token>``); with no token configured
the endpoint answers 404 (metrics off). HTTP counters are per process (each gunicorn worker
counts its own requests, as prometheus_client does without multiprocess mode); fleet gauges
and job outcomes are read from the database at scrape time, so every process answers alike.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import defaultdict

from flask import Blueprint, Response, abort, current_app, g, request
from sqlalchemy import func, select

from fleet.extensions import csrf, db
from fleet.inventory.models import Device
from fleet.jobs import JOBS
from fleet.reports import queries
from fleet.reports.models import JOB_OUTCOMES, JobRun

bp = Blueprint("metrics", __name__)
csrf.exempt(bp)

#: Request duration histogram buckets, seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Report age histogram buckets, seconds (1 h, 6 h, 1 d, 3 d, 7 d, 30 d).
AGE_BUCKETS = (3600, 21600, 86400, 259200, 604800, 2592000)

_lock = threading.Lock()
_requests: dict[tuple[str, str, str], int] = defaultdict(int)
_durations: dict[tuple[str, str], list[float]] = {}


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _start_timer():
    g._metrics_start = time.perf_counter()


def _count(response):
    start = g.pop("_metrics_start", None)
    if start is None:
        return response
    endpoint = request.endpoint or "unmatched"
    elapsed = time.perf_counter() - start
    with _lock:
        _requests[(request.method, endpoint, str(response.status_code))] += 1
        hist = _durations.setdefault((request.method, endpoint), [0.0] * (len(BUCKETS) + 2))
        for i, le in enumerate(BUCKETS):
            if elapsed <= le:
                hist[i] += 1
        hist[len(BUCKETS)] += 1  # count (+Inf)
        hist[len(BUCKETS) + 1] += elapsed  # sum
    return response


def init_app(app) -> None:
    """Install the request hooks that feed the HTTP metrics."""
    app.before_request(_start_timer)
    app.after_request(_count)


def _histogram(lines, name, labels, counts_le, count, total, buckets):
    for le, n in zip(buckets, counts_le, strict=True):
        lines.append(f"{name}_bucket{_labels(**labels, le=f'{le:g}')} {n:g}")
    lines.append(f"{name}_bucket{_labels(**labels, le='+Inf')} {count:g}")
    lines.append(f"{name}_count{_labels(**labels)} {count:g}")
    lines.append(f"{name}_sum{_labels(**labels)} {total:g}")


def render() -> str:
    """The exposition text."""
    lines: list[str] = []
    lines += ["# HELP fleet_devices Devices by inventory status.", "# TYPE fleet_devices gauge"]
    for status, n in db.session.execute(select(Device.status, func.count())
                                        .group_by(Device.status).order_by(Device.status)):
        lines.append(f"fleet_devices{_labels(status=status)} {n}")
    lines += ["# HELP fleet_devices_compliance Devices (not retired) by compliance state.",
              "# TYPE fleet_devices_compliance gauge"]
    for state, n in queries.compliance_counts().items():
        lines.append(f"fleet_devices_compliance{_labels(state=state)} {n}")
    ages = queries.report_ages()
    lines += ["# HELP fleet_report_age_seconds Age of each device's latest health report.",
              "# TYPE fleet_report_age_seconds histogram"]
    _histogram(lines, "fleet_report_age_seconds", {},
               [sum(1 for a in ages if a <= le) for le in AGE_BUCKETS], len(ages), sum(ages),
               AGE_BUCKETS)
    lines += ["# HELP fleet_job_runs_total Scheduled job runs by outcome.",
              "# TYPE fleet_job_runs_total counter"]
    counts = {(j, o): n for j, o, n in db.session.execute(
        select(JobRun.job_id, JobRun.outcome, func.count()).group_by(JobRun.job_id,
                                                                     JobRun.outcome))}
    for job_id in JOBS:
        for outcome in JOB_OUTCOMES:
            lines.append(f"fleet_job_runs_total{_labels(job=job_id, outcome=outcome)} "
                         f"{counts.get((job_id, outcome), 0)}")
    lines += ["# HELP fleet_job_last_success_timestamp_seconds End of the last successful run.",
              "# TYPE fleet_job_last_success_timestamp_seconds gauge"]
    for job_id, finished in db.session.execute(
            select(JobRun.job_id, func.max(JobRun.finished_at))
            .where(JobRun.outcome == "success").group_by(JobRun.job_id)):
        lines.append(f"fleet_job_last_success_timestamp_seconds{_labels(job=job_id)} "
                     f"{finished.timestamp():.3f}")
    with _lock:
        requests = dict(_requests)
        durations = {k: list(v) for k, v in _durations.items()}
    lines += ["# HELP fleet_http_requests_total HTTP requests handled by this process.",
              "# TYPE fleet_http_requests_total counter"]
    for (method, endpoint, status), n in sorted(requests.items()):
        lines.append(f"fleet_http_requests_total"
                     f"{_labels(method=method, endpoint=endpoint, status=status)} {n}")
    lines += ["# HELP fleet_http_request_duration_seconds Request handling time, this process.",
              "# TYPE fleet_http_request_duration_seconds histogram"]
    for (method, endpoint), hist in sorted(durations.items()):
        _histogram(lines, "fleet_http_request_duration_seconds",
                   {"method": method, "endpoint": endpoint}, hist[:len(BUCKETS)],
                   hist[len(BUCKETS)], hist[len(BUCKETS) + 1], BUCKETS)
    return "\n".join(lines) + "\n"


@bp.get("/metrics")
def metrics():
    """Prometheus scrape endpoint (token in config METRICS_TOKEN)."""
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if not expected:
        abort(404)
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.startswith("Bearer ") else ""
    if not hmac.compare_digest(given.encode(), str(expected).encode()):
        abort(401)
    return Response(render(), mimetype="text/plain; version=0.0.4; charset=utf-8")

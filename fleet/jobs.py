"""The one registry of periodic jobs, the wrapper every run goes through, and the scheduler.

Jobs have stable ids (:data:`JOBS`) and are added with ``replace_existing=True``. Each run goes
through :func:`run_job`, which pushes an app context, claims the run's *slot* (the job's
interval number since the epoch) by inserting a ``job_run`` row under the unique
``(job_id, slot)`` constraint, runs the job, commits (or rolls back) and records the outcome.
Two processes that both run a scheduler (two web workers by mistake, or a scheduler started
twice) fire at the same aligned instants and compute the same slot: only the first insert
wins, so each job runs once per interval on SQLite and on PostgreSQL alike.

Where the scheduler runs (DESIGN.md "Jobs"): its own process, ``fleet scheduler``, or on the
embedded default the single server process (:func:`start_scheduler`), never once per worker.
Intervals: config ``JOB_INTERVALS`` ``{job_id: seconds}`` over :data:`JOBS` defaults.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from fleet.agreements import jobs as agreement_jobs
from fleet.apk import jobs as apk_jobs
from fleet.backup import jobs as backup_jobs
from fleet.dhis2 import jobs as dhis2_jobs
from fleet.extensions import db
from fleet.reports import jobs as report_jobs
from fleet.reports.models import JobRun
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What one run did (a plain copy of its ``job_run`` row, usable after the session ends)."""

    job_id: str
    slot: int
    outcome: str
    message: str


@dataclass(frozen=True)
class JobDef:
    """A periodic job: stable ``id``, the function (returns a message), default interval in
    seconds and a description for the admin page."""

    id: str
    func: Callable[[], str]
    default_seconds: int
    description: str
    #: Config key giving the interval in hours (over default_seconds; JOB_INTERVALS wins).
    hours_setting: str = ""


JOBS: dict[str, JobDef] = {j.id: j for j in (
    JobDef("health_pull", report_jobs.health_pull, 6 * 3600,
           "Pull health reports from the phones of every station"),
    JobDef("stale_devices", report_jobs.stale_devices, 3600,
           "Re-check compliance; count devices without a recent report"),
    JobDef("sim_bundles_expiring", report_jobs.sim_bundles_expiring, 24 * 3600,
           "SIM data bundles expiring soon"),
    JobDef("agreements_stuck", report_jobs.agreements_stuck, 24 * 3600,
           "Agreements stuck at a step"),
    JobDef("dhis2_publish_apks", dhis2_jobs.publish_apks_after_repoint, 300,
           "Publish APK_DISTRIBUTION to DHIS2 servers listed in DHIS2_AUTO_PUBLISH_APKS "
           "after a channel is re-pointed"),
    JobDef("backup", backup_jobs.scheduled_backup, 24 * 3600,
           "Back up the database and files into BACKUP_DIR, keep BACKUP_KEEP",
           hours_setting="BACKUP_INTERVAL_HOURS"),
    JobDef("apk_upload_parts_sweep", apk_jobs.sweep_upload_parts, 3600,
           "Delete APK uploads a crash interrupted (parts older than FILE_SWEEP_MIN_AGE_S)"),
    JobDef("agreement_files_sweep", agreement_jobs.sweep_orphan_files, 3600,
           "Delete agreement files no row refers to (older than FILE_SWEEP_MIN_AGE_S)"),
)}


def interval_of(app: Flask, job_id: str) -> int:
    """The job's interval in seconds (config JOB_INTERVALS, else the job's hours setting,
    else the default), at least 1."""
    job = JOBS[job_id]
    default = job.default_seconds
    if job.hours_setting and app.config.get(job.hours_setting) is not None:
        default = float(app.config[job.hours_setting]) * 3600
    return max(1, int((app.config.get("JOB_INTERVALS") or {}).get(job_id, default)))


def slot_for(interval: int, at: float | None = None) -> int:
    """The interval number a run fired at ``at`` (epoch seconds) belongs to. Runs fire at
    multiples of the interval, so rounding absorbs the firing delay (< interval / 2)."""
    return int(round((time.time() if at is None else at) / interval))


def run_job(app: Flask, job_id: str, *, slot: int | None = None) -> RunResult | None:
    """Run job ``job_id`` once for ``slot`` (default: the current one) inside an app context.

    Returns a :class:`RunResult` (outcome success or failure), or None when another process
    already claimed this slot. The job's own work is committed on success, rolled back on
    error."""
    job = JOBS[job_id]
    with app.app_context():
        interval = interval_of(app, job_id)
        slot = slot_for(interval) if slot is None else slot
        run_id = _claim(job_id, slot)
        if run_id is None:
            log.info("job %s slot %s already claimed elsewhere", job_id, slot)
            return None
        try:
            message = job.func() or ""
            db.session.commit()
            outcome = "success"
        except Exception as exc:  # noqa: BLE001 - recorded as the run's outcome
            db.session.rollback()
            log.exception("job %s failed", job_id)
            message, outcome = f"{type(exc).__name__}: {exc}", "failure"
        _finish(run_id, outcome, message[:4000])
        log.info("job %s: %s (%s)", job_id, outcome, message[:200])
        return RunResult(job_id, slot, outcome, message[:4000])


def _claim(job_id: str, slot: int, attempts: int = 5) -> int | None:
    """Insert the run row for (job_id, slot); None when the slot is taken. A locked database
    (another process writing) is retried."""
    for attempt in range(attempts):
        run = JobRun(job_id=job_id, slot=slot, host=f"{socket.gethostname()}:{_pid()}",
                     outcome="running", message="")
        db.session.add(run)
        try:
            db.session.commit()
            return run.id
        except IntegrityError:
            db.session.rollback()
            return None
        except OperationalError:
            db.session.rollback()
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None


def _finish(run_id: int, outcome: str, message: str, attempts: int = 5) -> None:
    """Record the outcome; retried because SQLite refuses a write whose read snapshot is stale
    (SQLITE_BUSY_SNAPSHOT, no busy wait) when another process wrote meanwhile."""
    for attempt in range(attempts):
        try:
            db.session.execute(update(JobRun).where(JobRun.id == run_id).values(
                outcome=outcome, message=message, finished_at=utcnow()))
            db.session.commit()
            return
        except OperationalError:
            db.session.rollback()
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _pid() -> int:
    import os

    return os.getpid()


def build_scheduler(app: Flask, job_ids=None):
    """An APScheduler BackgroundScheduler with every job (or ``job_ids``), each on an interval
    trigger aligned to multiples of its interval since the epoch (so separate processes fire
    at the same instants and compute the same slot)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    # One worker thread: a process runs its jobs one after another (no SQLite write contention
    # between its own jobs; a long pull delays the others, it does not overlap them).
    scheduler = BackgroundScheduler(timezone=UTC,
                                    executors={"default": ThreadPoolExecutor(max_workers=1)})
    for job_id in job_ids or JOBS:
        interval = interval_of(app, job_id)
        start = datetime.fromtimestamp((time.time() // interval + 1) * interval, UTC)
        scheduler.add_job(_fire, IntervalTrigger(seconds=interval, start_date=start),
                          args=(app, job_id, interval), id=job_id, name=JOBS[job_id].description,
                          replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=max(1, interval // 2))
    return scheduler


def _fire(app: Flask, job_id: str, interval: int) -> None:
    run_job(app, job_id, slot=slot_for(interval))


def start_scheduler(app: Flask):
    """Start the scheduler in this process (the embedded server's single process); returns it.
    Call once per deployment, never per web worker."""
    scheduler = build_scheduler(app)
    scheduler.start()
    log.info("scheduler started with jobs %s", ", ".join(JOBS))
    return scheduler


def last_runs() -> dict[str, JobRun | None]:
    """The latest run of every registered job (None when it never ran)."""
    out: dict[str, JobRun | None] = {}
    for job_id in JOBS:
        out[job_id] = db.session.scalar(select(JobRun).where(JobRun.job_id == job_id)
                                        .order_by(JobRun.started_at.desc(), JobRun.id.desc())
                                        .limit(1))
    return out


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run every job once now and exit.")
@click.option("--job", "job_ids", multiple=True, type=click.Choice(sorted(JOBS)),
              help="Only these jobs (repeatable).")
@click.option("--run-for", type=float, default=None,
              help="Stop after this many seconds (default: until SIGTERM/Ctrl-C).")
@with_appcontext
def scheduler_command(once: bool, job_ids: tuple[str, ...], run_for: float | None) -> None:
    """Run the periodic jobs in this process (one scheduler per deployment)."""
    app = current_app._get_current_object()
    if once:
        for job_id in job_ids or JOBS:
            run = run_job(app, job_id)
            click.echo(f"{job_id}: {run.outcome if run else 'already run'}"
                       f"{' - ' + run.message if run and run.message else ''}")
        return
    scheduler = build_scheduler(app, job_ids or None)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.start()
    click.echo(f"scheduler running: {', '.join(job_ids or JOBS)}")
    stop.wait(run_for)
    scheduler.shutdown(wait=True)
    click.echo("scheduler stopped")


commands = (scheduler_command,)

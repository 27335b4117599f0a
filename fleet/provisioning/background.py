"""Runs started from the web API: each in its own thread with its own app context (so its own
database session), registered in ``app.extensions["fleet_provisioning_runs"]`` so the API can
tell whether a run is live and stop it. One web process runs the runs it started; the CLI runs
its own in the foreground. Either way every step is committed as it happens, so the run page
(polling ``GET /api/v1/provisioning/runs/<id>``) shows the same progress.

A run started here dies with this process (SIGKILL, a restart, a worker recycled): its
heartbeat stops, and the pages and API that show runs mark it interrupted
(:func:`settle_stale_runs`); ``POST /api/v1/provisioning/runs/<id>/resume`` (or
``fleet provision --resume``) continues it.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from sqlalchemy.exc import OperationalError

from fleet.extensions import db
from fleet.provisioning.runs import interrupt_stale_runs

log = logging.getLogger(__name__)

KEY = "fleet_provisioning_runs"


def launch(app: Flask, run_id: int, *, actor_id: int | None, serials: list[str] | None,
           watch: bool, timeout: float | None, concurrency: int) -> None:
    """Start run ``run_id`` (committed, status running) in a background thread."""
    registry = app.extensions.setdefault(KEY, {})
    stop = threading.Event()

    def target() -> None:
        from fleet.auth.models import User
        from fleet.provisioning.models import Run
        from fleet.provisioning.runs import Provisioner
        from fleet.provisioning.stations import StationSpec, open_station

        with app.app_context():
            try:
                run = db.session.get(Run, run_id)
                actor = db.session.get(User, actor_id) if actor_id else None
                spec = run.station or StationSpec(
                    name="local", adb_port=int(app.config.get("ADB_SERVER_PORT", 5037)))
                with open_station(spec) as client:
                    Provisioner(run, client, actor=actor, serials=serials, watch=watch,
                                timeout=timeout, concurrency=concurrency,
                                commit=db.session.commit, stop=stop).run()
            except Exception as exc:
                log.exception("provisioning run %s stopped", run_id)
                db.session.rollback()
                run = db.session.get(Run, run_id)
                if run is not None and run.status == "running":
                    run.status = "interrupted"
                    run.note = f"{type(exc).__name__}: {exc}"[:500]
                    db.session.commit()
            finally:
                db.session.remove()
                registry.pop(run_id, None)

    thread = threading.Thread(target=target, name=f"provision-run-{run_id}", daemon=True)
    registry[run_id] = (thread, stop)
    thread.start()


def is_active(app: Flask, run_id: int) -> bool:
    entry = app.extensions.get(KEY, {}).get(run_id)
    return entry is not None and entry[0].is_alive()


def stop(app: Flask, run_id: int) -> bool:
    """Ask a live run to stop after the phones in progress; False if it is not live here."""
    entry = app.extensions.get(KEY, {}).get(run_id)
    if entry is None:
        return False
    entry[1].set()
    return True


def settle_stale_runs(actor) -> None:
    """For web requests that show runs: runs whose process died (killed, restarted: a run
    started here lives in a web worker) are marked interrupted and committed before they are
    shown (:func:`fleet.provisioning.runs.interrupt_stale_runs`; a no-op read when none did).
    A busy SQLite database only postpones it to the next read."""
    try:
        if interrupt_stale_runs(actor=actor):
            db.session.commit()
    except OperationalError:
        db.session.rollback()

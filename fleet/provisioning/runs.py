"""A provisioning run: detect phones at a station, match them to the inventory, run each
phone's pipeline (:mod:`fleet.provisioning.pipeline`) in a bounded thread pool, record every
step, and change the inventory only when a phone's verify step passed.

Threads: worker threads only talk ADB. The coordinator (the thread that calls
:meth:`Provisioner.run`) owns the database session: it turns worker events into
:class:`~fleet.provisioning.models.StepRecord` rows and commits through the ``commit`` callable
it was given (the CLI passes ``db.session.commit``), so a crash loses at most the step in flight.

Resuming: an item that failed or whose phone went away keeps ``resume_step``; when the phone is
seen again (plugged back in a ``watch`` run, or in ``fleet provision --resume RUN``) its
pipeline starts there (pre-flight always runs again, it only reads the phone).

Liveness: the coordinator writes the run's ``heartbeat_at`` (and ``owner``, ``host pid N``)
several times per PROVISIONING_RUN_STALE_S. A process killed mid-run (SIGKILL, a server
restart: runs started from the API live in a web worker) stops writing it;
:func:`interrupt_stale_runs` then marks the run ``interrupted`` and its phones in progress
``gone`` at the step they were in, so the run can be resumed. Nothing of a phone reaches the
inventory before its record step (one transaction, after verify passed), so a killed run never
leaves a phone ``provisioned`` unverified.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from fleet.audit.operations import record, snapshot
from fleet.errors import Conflict, InvalidInput
from fleet.extensions import db
from fleet.provisioning.adb import AdbUnavailable, Phone, PhoneGone, list_devices
from fleet.provisioning.models import (
    STEPS,
    InstalledPackage,
    Profile,
    Run,
    RunItem,
    Station,
    StepRecord,
)
from fleet.provisioning.pipeline import WORKER_STEPS, Plan, StepEvent, probe, run_pipeline
from fleet.provisioning.planning import build_plan, match_device
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

#: Seconds between two looks at the adb server's device list.
POLL_S = 0.5
#: Seconds before a watch run retries a phone that went away but is still listed.
RETRY_GONE_S = 5.0
#: Statuses from which a verified phone becomes ``provisioned`` (inventory lifecycle).
PROVISIONABLE_FROM = ("in_stock", "returned", "provisioned")
#: Default seconds without a heartbeat after which a running run counts as interrupted
#: (config PROVISIONING_RUN_STALE_S); the coordinator beats four times per period.
RUN_STALE_S = 60.0


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "locked" in text or "busy" in text


def _name(actor) -> str:
    return getattr(actor, "username", None) or "system"


def stale_after() -> float:
    """Seconds without a heartbeat after which a running run counts as interrupted (config
    PROVISIONING_RUN_STALE_S, default :data:`RUN_STALE_S`)."""
    return float(current_app.config.get("PROVISIONING_RUN_STALE_S") or RUN_STALE_S)


def this_process() -> str:
    """``host pid N``: the owner written on a run this process drives."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def start_run(profile: Profile, station: Station | None, *, actor) -> Run:
    """A new run of ``profile`` (its current version) at ``station`` (None: the local adb
    server of the app's config). Flushes and audits; the caller commits."""
    now = utcnow()
    run = Run(profile=profile, profile_version=profile.version, station=station,
              status="running", started_by=_name(actor), started_at=now, note="",
              owner=this_process(), heartbeat_at=now)
    db.session.add(run)
    db.session.flush()
    record(actor, "provisioning.run.start", run, after=snapshot(run))
    return run


@dataclass
class PhoneLine:
    """What the live display shows for one phone."""

    adb_serial: str
    serial: str | None = None
    asset_tag: str | None = None
    status: str = "pending"
    step: str | None = None
    message: str = ""
    steps_done: list[str] = field(default_factory=list)

    def text(self) -> str:
        who = self.asset_tag or self.serial or self.adb_serial
        done = " ".join(self.steps_done)
        tail = f" {self.message}" if self.message else ""
        return f"{who:<16} {self.status:<8} {self.step or '':<12} [{done}]{tail}"


class Provisioner:
    """Runs one :class:`Run` against an ``adbutils.AdbClient``.

    Args:
        run: the run (new, or resumed: its items keep their progress).
        client: adb client of the station (from ``stations.open_station``).
        actor: who runs it (audit).
        serials: only these phones (ro.serialno or adb serial); None: every phone.
        watch: keep watching for phones until ``stop`` is set or ``timeout`` seconds pass (or,
            with ``serials``, until all of them are done); without it, end when no phone is
            in progress.
        concurrency: phones provisioned at once (worker threads).
        commit: called after each recorded event (``db.session.commit`` at the CLI).
        on_update: called with the list of :class:`PhoneLine` after each change.
    """

    def __init__(self, run: Run, client, *, actor, serials: list[str] | None = None,
                 watch: bool = False, concurrency: int = 8, timeout: float | None = None,
                 commit: Callable[[], None] | None = None,
                 on_update: Callable[[list[PhoneLine]], None] | None = None,
                 stop: threading.Event | None = None):
        self.run_row = run
        self.client = client
        self.actor = actor
        self.serials = set(serials) if serials else None
        self.watch = watch
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.commit = commit or db.session.flush
        self.on_update = on_update
        self.stop = stop or threading.Event()
        self.events: queue.Queue = queue.Queue()
        self.lines: dict[str, PhoneLine] = {}
        self.busy: set[str] = set()          # adb serials with a probe or pipeline in flight
        self.settled: set[str] = set()       # adb serials finished for now (done/failed here)
        self.plans: dict[str, Plan] = {}
        self.items: dict[str, int] = {}      # adb serial -> RunItem id
        self.station_down = False
        self.retry_at: dict[str, float] = {}  # adb serial -> when a gone phone is retried
        self.beat_every = stale_after() / 4
        self.beat_at = 0.0                    # monotonic time of the last heartbeat

    # ---- helpers ----------------------------------------------------------------------------
    def _item(self, adb_serial: str) -> RunItem | None:
        item_id = self.items.get(adb_serial)
        return db.session.get(RunItem, item_id) if item_id else None

    def _line(self, adb_serial: str) -> PhoneLine:
        if adb_serial not in self.lines:
            self.lines[adb_serial] = PhoneLine(adb_serial)
        return self.lines[adb_serial]

    def _updated(self) -> None:
        if self.on_update is not None:
            self.on_update(sorted(self.lines.values(), key=lambda ln: ln.adb_serial))

    def _wanted(self, facts: dict, adb_serial: str) -> bool:
        if self.serials is None:
            return True
        return bool({facts.get("serial"), adb_serial, facts.get("imei")} & self.serials)

    def _existing_item(self, serial: str | None, adb_serial: str) -> RunItem | None:
        """The run's item for this phone: by its own serial, else by adb serial (an item
        recorded while the phone was unauthorized has no serial yet)."""
        run_id = self.run_row.id
        if serial:
            item = db.session.scalar(select(RunItem).where(RunItem.run_id == run_id,
                                                           RunItem.serial == serial))
            if item is not None:
                return item
        return db.session.scalar(select(RunItem).where(
            RunItem.run_id == run_id, RunItem.adb_serial == adb_serial,
            RunItem.serial.is_(None)))

    # ---- phone discovery --------------------------------------------------------------------
    def _note_unready(self, adb_serial: str, state: str) -> None:
        line = self._line(adb_serial)
        message = {
            "unauthorized": "unauthorized: tap 'Allow USB debugging' on the phone",
            "offline": "offline: unplug and plug it back, or reboot the phone",
        }.get(state, f"{state}: not ready")
        if line.status == "unready" and line.message == message:
            return
        item = db.session.scalar(select(RunItem).where(RunItem.run_id == self.run_row.id,
                                                       RunItem.adb_serial == adb_serial))
        if item is None:
            item = RunItem(run_id=self.run_row.id, adb_serial=adb_serial, status="unready",
                           message=message, facts={}, started_at=utcnow())
            db.session.add(item)
        elif item.status not in ("done",):
            item.status = "unready"
            item.message = message
        db.session.flush()
        self.commit()
        line.status, line.step, line.message = "unready", None, message
        self._updated()

    def _probe(self, adb_serial: str) -> None:
        try:
            facts = probe(Phone(self.client, adb_serial))
            self.events.put(StepEvent("facts", adb_serial, facts=facts))
        except (PhoneGone, AdbUnavailable) as exc:
            self.events.put(StepEvent("end", adb_serial, "preflight", "gone", error=str(exc)))
        except Exception as exc:
            log.exception("probe of %s failed", adb_serial)
            self.events.put(StepEvent("end", adb_serial, "preflight", "failed",
                                      error=f"{type(exc).__name__}: {exc}"))

    def _start_pipeline(self, pool: ThreadPoolExecutor, adb_serial: str, facts: dict) -> None:
        """Match the phone, create or resume its item, and submit its pipeline."""
        line = self._line(adb_serial)
        if not self._wanted(facts, adb_serial):
            self.busy.discard(adb_serial)
            self.settled.add(adb_serial)
            self.lines.pop(adb_serial, None)
            return
        item = self._existing_item(facts.get("serial"), adb_serial)
        if item is not None and item.status == "done":
            self.busy.discard(adb_serial)
            self.settled.add(adb_serial)
            self.items[adb_serial] = item.id
            line.serial, line.status, line.step = item.serial, "done", None
            line.asset_tag = item.device.asset_tag if item.device else None
            line.message = "already provisioned in this run"
            self._updated()
            return
        device = match_device(facts)
        if item is None:
            item = RunItem(run_id=self.run_row.id, adb_serial=adb_serial, facts={},
                           started_at=utcnow(), message="")
            db.session.add(item)
        item.adb_serial = adb_serial
        item.serial = facts.get("serial")
        item.imei = facts.get("imei")
        item.facts = {k: v for k, v in facts.items() if k != "packages"}
        item.device_id = device.id if device is not None else None
        item.status, item.message, item.finished_at = "running", "", None
        try:
            plan = build_plan(self.run_row.profile, item, device, facts)
        except InvalidInput as exc:
            item.status, item.step, item.resume_step = "failed", "preflight", "preflight"
            item.message = str(exc)
            db.session.flush()
            self.commit()
            self.busy.discard(adb_serial)
            self.settled.add(adb_serial)
            line.status, line.step, line.message = "failed", "preflight", str(exc)
            self._updated()
            return
        db.session.flush()
        self.commit()
        self.items[adb_serial] = item.id
        self.plans[adb_serial] = plan
        line.serial = item.serial
        line.asset_tag = device.asset_tag if device is not None else None
        line.status, line.step, line.message = "running", item.resume_step or "preflight", ""
        line.steps_done = []
        self._updated()
        pool.submit(run_pipeline, self.client, adb_serial, plan, item.resume_step,
                    self.events.put)

    # ---- recording --------------------------------------------------------------------------
    def _on_step(self, ev: StepEvent) -> None:
        item = self._item(ev.adb_serial)
        if item is None:
            return
        db.session.add(StepRecord(item_id=item.id, step=ev.step, status=ev.status,
                                  output=ev.output[:20000], error=ev.error,
                                  duration_s=round(ev.duration_s, 3), started_at=utcnow()))
        item.step = ev.step
        if ev.facts:
            item.facts = {k: v for k, v in ev.facts.items() if k != "packages"}
        db.session.flush()
        self.commit()
        line = self._line(ev.adb_serial)
        mark = {"ok": "", "warn": "!", "skipped": "-", "failed": "x", "gone": "?"}[ev.status]
        line.steps_done.append(ev.step + mark)
        # show the step now running (the next one), or the one that stopped the phone
        order = list(STEPS)
        if ev.status in ("ok", "warn", "skipped") and ev.step in order[:-1]:
            line.step = order[order.index(ev.step) + 1]
        else:
            line.step = ev.step
        self._updated()

    def _on_end(self, ev: StepEvent) -> None:
        self.busy.discard(ev.adb_serial)
        line = self._line(ev.adb_serial)
        item = self._item(ev.adb_serial)
        if ev.status == "done" and item is not None:
            self._record(item, ev)
        elif item is not None:
            item.status = "gone" if ev.status == "gone" else "failed"
            item.resume_step = ev.step
            item.message = ev.error or ""
            item.finished_at = utcnow()
            db.session.flush()
            self.commit()
        if item is None:
            line.status = "gone" if ev.status == "gone" else "failed"
        else:
            line.status = item.status
        line.message = item.message if item is not None else (ev.error or "")
        line.step = None if line.status == "done" else ev.step
        if ev.status == "gone":
            self.retry_at[ev.adb_serial] = time.monotonic() + RETRY_GONE_S
            if "station lost" in (ev.error or ""):
                self.station_down = True
        if line.status in ("done", "failed"):
            self.settled.add(ev.adb_serial)
        self._updated()

    def _record(self, item: RunItem, ev: StepEvent) -> None:
        """Verify passed: one transaction registers or updates the device, marks it
        provisioned, records installed packages and closes the item."""
        from fleet.inventory.operations import change_status, register_device

        t0 = time.monotonic()
        facts = item.facts or {}
        try:
            device = item.device or match_device(facts)
            if device is None:
                storage_gb = None
                device = register_device({
                    "serial": facts.get("serial"), "imei": facts.get("imei"),
                    "manufacturer": facts.get("manufacturer") or "",
                    "model": facts.get("model") or "",
                    "android_version": facts.get("android_version") or None,
                    "api_level": facts.get("api_level"), "ram_mb": facts.get("ram_mb"),
                    "storage_gb": storage_gb,
                    "notes": f"registered by provisioning run {self.run_row.id}",
                }, actor=self.actor)
            else:
                before = snapshot(device)
                for key in ("serial", "android_version", "api_level"):
                    if facts.get(key) and getattr(device, key) != facts[key]:
                        setattr(device, key, facts[key])
                if device.ram_mb is None and facts.get("ram_mb"):
                    device.ram_mb = facts["ram_mb"]
                db.session.flush()
                if snapshot(device) != before:
                    record(self.actor, "device.update", device, before=before,
                           after=snapshot(device))
            if device.status in ("in_stock", "returned"):
                change_status(device, "provisioned", actor=self.actor,
                              note=f"provisioning run {self.run_row.id}")
            for pkg in ev.installed or []:
                row = db.session.scalar(select(InstalledPackage).where(
                    InstalledPackage.device_id == device.id,
                    InstalledPackage.package == pkg["package"]))
                if row is None:
                    row = InstalledPackage(device_id=device.id, package=pkg["package"])
                    db.session.add(row)
                row.version_code = pkg["version_code"]
                row.version_name = pkg["version_name"]
                row.signer_sha256 = pkg["signer_sha256"]
                row.item_id = item.id
                row.recorded_at = utcnow()
            item.device_id = device.id
            item.status, item.step, item.resume_step = "done", "record", None
            item.message = ""
            item.finished_at = utcnow()
            db.session.add(StepRecord(
                item_id=item.id, step="record", status="ok",
                output=f"{device.asset_tag}: status {device.status}; " + ", ".join(
                    f"{p['package']} {p['version_code']}" for p in ev.installed or []),
                duration_s=round(time.monotonic() - t0, 3), started_at=utcnow()))
            db.session.flush()
            record(self.actor, "device.provision", device, after={
                "run": self.run_row.id, "profile": self.run_row.profile.name,
                "profile_version": self.run_row.profile_version,
                "packages": {p["package"]: p["version_code"] for p in ev.installed or []}})
            self.commit()
            line = self._line(item.adb_serial)
            line.asset_tag = device.asset_tag
            line.steps_done.append("record")
        except Exception as exc:
            if isinstance(exc, OperationalError) and _is_locked(exc):
                raise  # retried whole by _retrying
            db.session.rollback()
            log.exception("recording phone %s failed", item.serial)
            item = db.session.get(RunItem, item.id)
            item.status, item.resume_step = "failed", "verify"
            item.message = f"record failed: {exc}"
            db.session.add(StepRecord(item_id=item.id, step="record", status="failed",
                                      error=str(exc)[:2000], started_at=utcnow(),
                                      duration_s=round(time.monotonic() - t0, 3)))
            db.session.flush()
            self.commit()

    def _heartbeat(self) -> None:
        """Write the run's sign of life (at most every ``beat_every`` seconds)."""
        if time.monotonic() - self.beat_at < self.beat_every:
            return
        run = db.session.get(Run, self.run_row.id)
        run.owner, run.heartbeat_at = this_process(), utcnow()
        db.session.flush()
        self.commit()
        self.beat_at = time.monotonic()

    # ---- the loop ---------------------------------------------------------------------------
    def _finished(self) -> bool:
        if self.busy:
            return False
        if self.stop.is_set():
            return True
        if self.serials is not None and self.watch:
            done = {ln.serial for ln in self.lines.values() if ln.status == "done"}
            done |= {ln.adb_serial for ln in self.lines.values() if ln.status == "done"}
            return self.serials <= done
        return not self.watch

    def run(self) -> Run:
        """Provision until done (see the class docs); returns the run, its status
        ``finished`` or ``interrupted`` (station lost, or phones left unfinished)."""
        deadline = time.monotonic() + self.timeout if self.timeout else None
        seen: dict[str, str] = {}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="provision") as pool:
            first = True
            while True:
                self._retrying(self._heartbeat)
                try:
                    entries = list_devices(self.client)
                    self.station_down = False
                except AdbUnavailable as exc:
                    entries = None
                    if not self.station_down:
                        log.warning("station lost: %s", exc)
                    self.station_down = True
                    seen.clear()
                if entries is not None:
                    present = {e.adb_serial: e.state for e in entries}
                    for adb_serial in list(self.settled):
                        if adb_serial not in present:  # unplugged: may come back and resume
                            self.settled.discard(adb_serial)
                    for adb_serial, state in present.items():
                        if adb_serial in self.busy or adb_serial in self.settled:
                            continue
                        if state == "device":
                            line = self.lines.get(adb_serial)
                            if line is not None and line.status == "gone" and \
                                    seen.get(adb_serial) == "device" and (
                                    not self.watch or time.monotonic() < self.retry_at.get(
                                        adb_serial, 0)):
                                continue  # still listed after going away: retry later
                            self.busy.add(adb_serial)
                            pool.submit(self._probe, adb_serial)
                        elif state in ("unauthorized", "offline") and (
                                self.serials is None or adb_serial in self.serials):
                            self._retrying(self._note_unready, adb_serial, state)
                    for adb_serial in list(seen):
                        if adb_serial not in present:
                            seen.pop(adb_serial)
                    seen.update(present)
                first = False
                self._drain(pool, POLL_S)
                if not self.busy:
                    if self.station_down and not self.watch:
                        break
                    if not first and self._finished():
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        break
                elif self.stop.is_set() or (deadline is not None
                                            and time.monotonic() > deadline + 120):
                    break
        self._drain(None, 0)
        return self._retrying(self.finish)

    def _drain(self, pool: ThreadPoolExecutor | None, wait: float) -> None:
        end = time.monotonic() + wait
        while True:
            remaining = end - time.monotonic()
            try:
                ev = self.events.get(timeout=max(remaining, 0.01)) if remaining > 0 \
                    else self.events.get_nowait()
            except queue.Empty:
                return
            if ev.kind == "facts":
                if pool is not None:
                    self._retrying(self._start_pipeline, pool, ev.adb_serial, ev.facts)
                else:
                    self.busy.discard(ev.adb_serial)
            elif ev.kind == "step":
                self._retrying(self._on_step, ev)
            elif ev.kind == "end":
                self._retrying(self._on_end, ev)

    def _retrying(self, fn, *args):
        """Run one unit of recording work; on SQLite's "database is locked" (a concurrent
        writer committed after this transaction's snapshot: SQLITE_BUSY_SNAPSHOT, which the
        busy timeout does not wait out) roll back and run it again."""
        for attempt in range(30):
            try:
                return fn(*args)
            except OperationalError as exc:
                if not _is_locked(exc):
                    raise
                db.session.rollback()
                time.sleep(min(0.02 * (attempt + 1), 0.5))
        return fn(*args)

    def finish(self) -> Run:
        run = db.session.get(Run, self.run_row.id)
        items = list(db.session.scalars(select(RunItem).where(RunItem.run_id == run.id)))
        unfinished = [i for i in items if i.status != "done"]
        run.status = "interrupted" if (self.station_down or unfinished) else "finished"
        run.finished_at = utcnow()
        db.session.flush()
        record(self.actor, "provisioning.run.end", run,
               after={"status": run.status, "done": len(items) - len(unfinished),
                      "unfinished": len(unfinished)})
        self.commit()
        return run


def is_stale(run: Run, *, now=None) -> bool:
    """True when ``run`` is ``running`` but its process gave no sign of life for
    :func:`stale_after` seconds (heartbeat, else start time)."""
    if run.status != "running":
        return False
    last = run.heartbeat_at or run.started_at
    return ((now or utcnow()) - last).total_seconds() > stale_after()


def _in_flight_step(item: RunItem) -> str | None:
    """The worker step a phone was in when its run's process died: the step after the last
    one that completed (never past verify: a phone is recorded only by the attempt that
    verified it), the last one when it failed or went away, None before any step."""
    last = item.steps[-1] if item.steps else None
    if last is None or last.step not in WORKER_STEPS:
        return None if last is None else "verify"
    if last.status in ("ok", "warn", "skipped") and last.step != "verify":
        return WORKER_STEPS[WORKER_STEPS.index(last.step) + 1]
    return last.step


def interrupt_stale_runs(*, actor=None, now=None) -> list[Run]:
    """Mark every stale running run (:func:`is_stale`) ``interrupted``: its phones in progress
    become ``gone`` with ``resume_step`` at the step they were in, and the run's note says
    when its process was last seen. Flushes and audits (``provisioning.run.interrupt``); the
    caller commits. Returns the runs changed (usually none)."""
    now = now or utcnow()
    changed = []
    for run in db.session.scalars(select(Run).where(Run.status == "running")):
        if not is_stale(run, now=now):
            continue
        before = snapshot(run)
        seen = run.heartbeat_at or run.started_at
        run.status = "interrupted"
        run.finished_at = now
        run.note = (f"the process running it ({run.owner or 'unknown'}) stopped: no sign of "
                    f"life since {seen.isoformat(timespec='seconds')} (server killed or "
                    f"restarted); resume the run")[:500]
        for item in run.items:
            if item.status in ("pending", "running"):
                item.resume_step = _in_flight_step(item)
                item.status = "gone"
                item.message = (f"interrupted during {item.resume_step or 'preflight'}: the "
                                f"process running the run stopped")
                item.finished_at = now
        db.session.flush()
        record(actor, "provisioning.run.interrupt", run, before=before, after=snapshot(run))
        log.warning("provisioning run %s interrupted: %s", run.id, run.note)
        changed.append(run)
    return changed


def resume_run(run: Run, *, actor) -> Run:
    """Reopen ``run``: back to ``running`` with the profile's current version (a profile fixed
    after a failure, e.g. a release with a lower minSdk, applies to the remaining phones).

    A run whose process died is first marked interrupted (:func:`interrupt_stale_runs`).
    Raises Conflict when the run is still live in some process (a recent heartbeat): two
    processes driving the same phones would both act on them."""
    interrupt_stale_runs(actor=actor)
    if run.status == "running":
        raise Conflict(_l("Run %(id)s is still running in %(owner)s; stop it there first, or "
                          "wait %(s)s s after that process died.", id=run.id,
                          owner=run.owner or _l("another process"), s=int(stale_after())))
    before = snapshot(run)
    now = utcnow()
    run.status = "running"
    run.finished_at = None
    run.owner, run.heartbeat_at = this_process(), now
    run.profile_version = run.profile.version
    db.session.flush()
    record(actor, "provisioning.run.resume", run, before=before, after=snapshot(run))
    return run


def run_summary(run: Run) -> dict:
    """JSON-ready view of a run: counts by item status and each phone with its steps
    (no PIN: slips carry it)."""
    items = []
    counts: dict[str, int] = {}
    for it in run.items:
        counts[it.status] = counts.get(it.status, 0) + 1
        items.append({
            "id": it.id, "adb_serial": it.adb_serial, "serial": it.serial, "imei": it.imei,
            "asset_tag": it.device.asset_tag if it.device else None,
            "status": it.status, "step": it.step, "resume_step": it.resume_step,
            "message": it.message,
            "model": (it.facts or {}).get("model"),
            "steps": [{"step": s.step, "status": s.status, "duration_s": s.duration_s,
                       "error": s.error, "output": s.output} for s in it.steps],
        })
    return {"id": run.id, "profile": run.profile.name, "profile_version": run.profile_version,
            "station": run.station.name if run.station else None, "status": run.status,
            "note": run.note or "", "started_by": run.started_by,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "counts": counts, "items": items}

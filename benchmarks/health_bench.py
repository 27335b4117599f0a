"""Health benchmarks (issue 8). Prints figures; asserts nothing.

1. Pulls: health reports pulled per second from 50 simulated phones (fleet devsim) attached to
   one station (a real Debian adb server on loopback), end to end: adb commands, parsing,
   storing, compliance. Per-phone collect latency p50/p95. Baseline in the same run: one
   ``getprop ro.serialno`` per phone through the same adb server (the floor of an ADB round
   trip), and the pull with 1 worker vs HEALTH_PULL_WORKERS.
2. Pushes: accepted ``POST /api/v1/devices/<tag>/health`` reports per second with 10,000
   devices registered (each with a push token), through gunicorn (--workers sync workers,
   default 2, plain HTTP on loopback), N concurrent clients; p50/p95/p99 latency. Baseline in
   the same run: ``GET /healthz`` (one SELECT 1) with the same clients.

Usage: python benchmarks/health_bench.py [--phones 50] [--devices 10000] [--pushes 3000]
       [--clients 16] [--skip-pull] [--skip-push]
       FLEET_BENCH_DATABASE_URL=postgresql://... to run on PostgreSQL (the database is wiped).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "provisioning"))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def ms(v: float) -> str:
    return f"{v * 1000:.1f} ms"


def make_app(workdir: Path, url: str | None):
    from fleet_testing import make_test_app
    from sqlalchemy import text

    from fleet.cli import upgrade_database
    from fleet.extensions import db

    url = url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    app = make_test_app(workdir, url)
    with app.app_context():
        if url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade_database()
    return app, url


# ---- 1. pulls ---------------------------------------------------------------------------------

def bench_pull(phones: int, workdir: Path, url: str | None) -> None:
    from devsim_fixtures import AdbServer, debian_adb

    from fleet.extensions import db
    from fleet.inventory.operations import register_device
    from fleet.provisioning.adb import Phone, list_devices
    from fleet.provisioning.devsim import Package, Simulator, catalogue_profiles
    from fleet.reports import jobs, pull
    from fleet.reports.models import HealthReport

    app, _url = make_app(workdir / "pull", url)
    home = workdir / "adbhome"
    home.mkdir()
    server = AdbServer(debian_adb(), home).start()
    profiles = catalogue_profiles(phones, seed=21)
    for p in profiles:
        p.packages = [Package("com.dhis2", 2700, "2.10.0", min_sdk=23, target_sdk=34)]
        p.app_memory_kb = {"com.dhis2": 185_000}
    sim = Simulator(profiles, adb_port=server.port, workdir=workdir / "sim").start()
    try:
        for serial in sim.serials:
            sim.connect(serial)
        client = server.client()
        deadline = time.time() + 60
        while sum(e.state == "device" for e in list_devices(client)) < phones:
            if time.time() > deadline:
                raise SystemExit("phones did not come up")
            time.sleep(0.2)
        with app.app_context():
            for p in profiles:
                register_device({"serial": p.serial, "imei": p.imei, "model": p.model,
                                 "manufacturer": p.manufacturer, "ram_mb": p.ram_mb}, actor=None)
            db.session.commit()
        entries = [e for e in list_devices(client) if e.state == "device"]

        t0 = time.perf_counter()
        for e in entries:
            Phone(client, e.adb_serial).shell("getprop ro.serialno")
        base = time.perf_counter() - t0

        lat: list[float] = []

        def timed_collect(e):
            s = time.perf_counter()
            pull.collect(Phone(client, e.adb_serial))
            lat.append(time.perf_counter() - s)

        t0 = time.perf_counter()
        for e in entries:
            timed_collect(e)
        collect_seq = time.perf_counter() - t0

        results = {}
        for workers in (1, 8):
            with app.app_context():
                t0 = time.perf_counter()
                out = pull.pull_client(client, station="bench", store=jobs.store_pulled,
                                       workers=workers)
                db.session.commit()
                results[workers] = (time.perf_counter() - t0, len(out.stored), len(out.skipped))
        with app.app_context():
            stored = db.session.query(HealthReport).count()
    finally:
        sim.stop()
        server.stop()
    print(f"== pulls: {phones} simulated phones, one station (adb "
          f"{subprocess.run([debian_adb(), 'version'], capture_output=True, text=True).stdout.splitlines()[0]})")  # noqa: E501
    print(f"  baseline getprop ro.serialno x{len(entries)} sequential: {base:.2f} s "
          f"({len(entries) / base:.1f} phones/s)")
    print(f"  collect only (11-13 adb commands/phone), sequential: {collect_seq:.2f} s "
          f"({len(entries) / collect_seq:.1f} phones/s); per phone p50 {ms(pct(lat, 50))} "
          f"p95 {ms(pct(lat, 95))}")
    for workers, (secs, n, skipped) in results.items():
        print(f"  full pull (collect + parse + store + compliance), {workers} worker(s): "
              f"{secs:.2f} s, {n} stored, {skipped} skipped -> {n / secs:.1f} pulls/s")
    print(f"  reports in database: {stored}")


# ---- 2. pushes --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_push(devices: int, pushes: int, clients: int, workdir: Path, url: str | None,
               workers: int = 2) -> None:
    import requests
    from sqlalchemy import insert

    from fleet.crypto import hash_token, new_token
    from fleet.extensions import db
    from fleet.inventory.operations import register_devices_bulk
    from fleet.reports.models import HealthReport, HealthToken

    app, url = make_app(workdir / "push", url)
    t0 = time.perf_counter()
    with app.app_context():
        register_devices_bulk([{"manufacturer": "samsung", "model": "SM-A107F", "ram_mb": 2048,
                                "api_level": 29} for _ in range(devices)], actor=None)
        db.session.commit()
        from sqlalchemy import select

        from fleet.inventory.models import Device

        rows = db.session.execute(select(Device.id, Device.asset_tag)).all()
        tokens = {}
        values = []
        for dev_id, tag in rows:
            plain = new_token("fdh")
            tokens[tag] = plain
            values.append({"device_id": dev_id, "token_hash": hash_token(plain),
                           "prefix": plain[:10], "created_by": "bench"})
        db.session.execute(insert(HealthToken.__table__), values)
        db.session.commit()
    setup = time.perf_counter() - t0
    port = free_port()
    env = dict(os.environ, FLEET_DATA_DIR=str(workdir / "push"), FLEET_DATABASE_URL=url,
               FLEET_SECRET_KEY="bench", FLEET_HEALTH_PUSH_RATE_LIMIT="1000 per minute",
               FLEET_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(workers), "-b",
                             f"127.0.0.1:{port}", "--log-level", "warning",
                             "fleet:create_app()"], env=env, cwd=str(ROOT))
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(f"{base_url}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)
        tags = list(tokens)
        local = __import__("threading").local()

        def session():
            if not hasattr(local, "s"):
                local.s = requests.Session()
            return local.s

        def healthz(_i):
            s = time.perf_counter()
            r = session().get(f"{base_url}/healthz", timeout=30)
            return time.perf_counter() - s, r.status_code

        def push(i):
            tag = tags[i % len(tags)]
            body = {"report_id": uuid.uuid4().hex, "battery_level": 50 + i % 50,
                    "battery_health": "good", "storage_total_mb": 24000,
                    "storage_free_mb": 5000 + i % 4000, "ram_total_mb": 1880,
                    "ram_available_mb": 700, "api_level": 29, "android_version": "10",
                    "crypto_state": "encrypted", "screen_lock_set": True,
                    "packages": {"com.dhis2": {"version_code": 2700, "version_name": "2.10.0"}},
                    "app_pss_mb": 180.5}
            s = time.perf_counter()
            r = session().post(f"{base_url}/api/v1/devices/{tag}/health", data=json.dumps(body),
                               headers={"Authorization": f"Bearer {tokens[tag]}",
                                        "Content-Type": "application/json"}, timeout=30)
            return time.perf_counter() - s, r.status_code

        def run(fn, n):
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(fn, range(min(n, 50))))  # warm-up
                t = time.perf_counter()
                res = list(pool.map(fn, range(n)))
                return time.perf_counter() - t, res

        base_secs, base_res = run(healthz, pushes)
        push_secs, push_res = run(push, pushes)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with app.app_context():
        stored = db.session.query(HealthReport).count()
    ok = [t for t, code in push_res if code == 201]
    errors = {code for _t, code in push_res if code != 201}
    b = [t for t, _c in base_res]
    db_kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"== pushes: {devices} devices registered ({db_kind}; setup {setup:.1f} s), gunicorn "
          f"{workers} sync worker(s), {clients} clients, {pushes} requests each")
    print(f"  baseline GET /healthz: {pushes / base_secs:.0f} req/s; p50 {ms(pct(b, 50))} "
          f"p95 {ms(pct(b, 95))} p99 {ms(pct(b, 99))}")
    print(f"  POST health reports accepted: {len(ok)} of {pushes} ({len(ok) / push_secs:.0f} "
          f"reports/s); p50 {ms(pct(ok, 50))} p95 {ms(pct(ok, 95))} p99 {ms(pct(ok, 99))}; "
          f"errors {sorted(errors) or 'none'}; reports in database {stored} "
          f"(warm-up included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--pushes", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--skip-pull", action="store_true")
    parser.add_argument("--skip-push", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("FLEET_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="fleet-health-bench-") as tmp:
        work = Path(tmp)
        print(f"CPU: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
        if not args.skip_pull:
            bench_pull(args.phones, work, url)
        if not args.skip_push:
            bench_push(args.devices, args.pushes, args.clients, work, url, args.workers)


if __name__ == "__main__":
    main()

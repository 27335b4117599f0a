"""Capacity report benchmark (issue 5). Prints figures; asserts nothing.

A fleet of N devices (default 10,000), each checked out to a holder with a recorded workload
spread over 50 districts, is judged by ``fleet_report()``; compared in the same run with a bare
SQLAlchemy load of the same device+holder rows (the floor any report pays), then the CSV and
XLSX exports, the report page and the API through the full Flask stack, and
``device_verdict`` per call (what provisioning pre-flight and compliance pay per phone).

Usage: python benchmarks/capacity_bench.py [--devices 10000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import contains_eager  # noqa: E402

from fleet import create_app  # noqa: E402
from fleet.extensions import db  # noqa: E402
from fleet.inventory.models import Device, Holder, OrgUnit  # noqa: E402


def seed(count: int) -> None:
    rng = random.Random(5)
    units = [{"id": 1, "name": "Country", "level": 1, "parent_id": None, "path": "/1/"}]
    next_id = 2
    facilities = []
    for r in range(5):
        region = next_id
        units.append({"id": region, "name": f"Region {r}", "level": 2, "parent_id": 1,
                      "path": f"/1/{region}/"})
        next_id += 1
        for d in range(10):
            district = next_id
            units.append({"id": district, "name": f"District {r}-{d}", "level": 3,
                          "parent_id": region, "path": f"/1/{region}/{district}/"})
            next_id += 1
            for f in range(10):
                units.append({"id": next_id, "name": f"Facility {r}-{d}-{f}", "level": 4,
                              "parent_id": district, "path": f"/1/{region}/{district}/{next_id}/"})
                facilities.append(next_id)
                next_id += 1
    db.session.execute(insert(OrgUnit), units)
    holders, devices = [], []
    for i in range(1, count + 1):
        unit = rng.choice(facilities)
        holders.append({
            "id": i, "name": f"Worker {i}", "role": "campaign_worker", "org_unit_id": unit,
            "active": True, "notes": "", "expected_teis": rng.choice([300, 800, 1500, 4000, 9000]),
            "events_per_tei": rng.choice([1, 3, 6]), "attributes_per_tei": 12,
            "capture_org_units": rng.choice([1, 5, 12]), "search_org_units": rng.choice([1, 6]),
            "programs": 2, "program_rules": rng.choice([20, 60]), "largest_option_set": 300,
            "reserved_values": 100})
        devices.append({
            "id": i, "asset_tag": f"PH-{i:07d}", "manufacturer": "Samsung", "model": "SM-A125F",
            "api_level": rng.choice([24, 29, 30, 33]), "status": "assigned",
            "ram_mb": rng.choice([1024, 2048, 3072, 4096, None]), "storage_gb": 32,
            "ownership": "institution", "org_unit_id": unit, "holder_id": i, "notes": ""})
    db.session.execute(insert(Holder), holders)
    db.session.execute(insert(Device), devices)
    db.session.commit()


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        db.session.expunge_all()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "DATA_DIR": tmp, "SECRET_KEY": "bench",
                          "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                          "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                          "SESSION_COOKIE_SECURE": False})
        with app.app_context():
            from fleet.auth.operations import create_user
            from fleet.capacity.operations import device_verdict
            from fleet.capacity.report import export_report, fleet_report
            from fleet.cli import upgrade_database

            upgrade_database()
            create_user("bench", "bench-password-123", "viewer", actor=None)
            seed(args.devices)
            print(f"capacity report, {args.devices:,} devices with holders and workloads, "
                  "50 districts, SQLite")

            def bare():
                stmt = (select(Device).join(Holder, Device.holder_id == Holder.id)
                        .where(Holder.expected_teis.is_not(None))
                        .options(contains_eager(Device.holder)))
                rows = db.session.scalars(stmt).all()
                units = db.session.scalars(select(OrgUnit)).all()
                return len(rows) + len(units)

            t_bare, _ = timed(bare)
            t_report, report = timed(fleet_report)
            print(f"  bare load of the same rows:   {t_bare * 1000:8.1f} ms")
            print(f"  fleet_report():               {t_report * 1000:8.1f} ms "
                  f"({t_report / t_bare:.1f}x the bare load; "
                  f"{t_report / args.devices * 1e6:.0f} us a device)")
            print(f"    verdicts: {report.counts}, at risk {report.at_risk}, "
                  f"procurement {report.procurement}")
            t_csv, body = timed(lambda: export_report(fleet_report(), "csv"), 1)
            print(f"  report + CSV export:          {t_csv * 1000:8.1f} ms ({len(body):,} bytes)")
            t_xlsx, body = timed(lambda: export_report(fleet_report(), "xlsx"), 1)
            print(f"  report + XLSX export:         {t_xlsx * 1000:8.1f} ms ({len(body):,} bytes)")

            sample = db.session.scalars(select(Device).limit(2000)).all()
            pairs = [(d, d.holder) for d in sample]
            start = time.perf_counter()
            for d, h in pairs:
                device_verdict(d, h)
            per = (time.perf_counter() - start) / len(pairs)
            print(f"  device_verdict per call:      {per * 1e6:8.1f} us (2,000 calls, warm cache)")

        client = app.test_client()
        client.post("/auth/login", data={"username": "bench", "password": "bench-password-123"})
        for name, url in (("API /api/v1/capacity/report", "/api/v1/capacity/report"),
                          ("page /capacity/report", "/capacity/report"),
                          ("page, one district", "/capacity/report?district=District+2-3")):
            times = []
            for _ in range(5):
                start = time.perf_counter()
                resp = client.get(url)
                times.append(time.perf_counter() - start)
                assert resp.status_code == 200, resp.status_code
            print(f"  {name:<29} median {statistics.median(times) * 1000:8.1f} ms "
                  f"({len(resp.data):,} bytes)")
        times = []
        body = {"ram_mb": 2048, "api_level": 29, "teis": 5000, "capture_org_units": 195}
        for _ in range(50):
            start = time.perf_counter()
            client.post("/api/v1/capacity/estimate", json=body)
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"  POST /api/v1/capacity/estimate p50 {times[24] * 1000:.1f} ms, "
              f"p95 {times[47] * 1000:.1f} ms")


if __name__ == "__main__":
    main()

"""Inventory benchmarks (issue 2). Prints figures; asserts nothing.

1. Import a 10,000-device procurement CSV end to end (parse, validate every row, check
   duplicates against the file and the database, insert devices and audit entries, commit),
   as a ratio to a bare SQLAlchemy Core bulk insert of the same rows in the same run.
   Target: at most 3x.
2. List and search pages with 50,000 devices registered: p50/p95 per page through the full
   Flask stack (JSON API and HTML page). Target: p95 under 100 ms.

Usage: python benchmarks/inventory_bench.py [--devices 50000] [--import-rows 10000]
       FLEET_BENCH_DATABASE_URL=postgresql://... to run on PostgreSQL (database is wiped).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, func, insert, select, text  # noqa: E402
from stdnum import luhn  # noqa: E402

from fleet import create_app  # noqa: E402
from fleet.audit.models import AuditEntry  # noqa: E402
from fleet.extensions import db  # noqa: E402
from fleet.inventory.models import Device  # noqa: E402


def imei(n: int) -> str:
    body = f"35{n:012d}"
    return body + luhn.calc_check_digit(body)


def make_rows(count: int, start: int) -> list[dict]:
    rng = random.Random(start)
    models = [("Samsung", "SM-A125F"), ("Samsung", "SM-X200"), ("Tecno", "KG5"), ("Nokia", "C21")]
    rows = []
    for i in range(start, start + count):
        brand, model = rng.choice(models)
        rows.append(
            {
                "asset_tag": f"PH-{i:07d}",
                "box_number": f"B{i // 10}",
                "serial": f"R58N{i:08d}",
                "imei": imei(i),
                "imei2": imei(i + 10_000_000),
                "manufacturer": brand,
                "model": model,
                "ram_mb": rng.choice([2048, 3072, 4096]),
                "storage_gb": 32,
                "org_unit": "District 1",
            }
        )
    return rows


def to_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    headers = [
        "Asset No",
        "Box No.",
        "Serial No.",
        "IMEI 1",
        "IMEI 2",
        "Brand",
        "Model",
        "RAM",
        "Storage",
        "District",
    ]
    writer = csv.writer(buf)
    writer.writerow(headers)
    for r in rows:
        writer.writerow(
            [
                r["asset_tag"],
                r["box_number"],
                r["serial"],
                r["imei"],
                r["imei2"],
                r["manufacturer"],
                r["model"],
                r["ram_mb"],
                r["storage_gb"],
                r["org_unit"],
            ]
        )
    return buf.getvalue().encode()


def setup_app(tmp: Path):
    url = os.environ.get("FLEET_BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = create_app(
        {
            "DATA_DIR": str(tmp),
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
        }
    )
    from fleet.cli import upgrade_database

    with app.app_context():
        if url.startswith("postgres"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade_database()
        from fleet.inventory.operations import create_org_unit

        country = create_org_unit({"name": "Country"}, actor=None)
        region = create_org_unit({"name": "Region", "parent_id": country.id}, actor=None)
        create_org_unit({"name": "District 1", "parent_id": region.id}, actor=None)
        db.session.commit()
    return app


def bench_import(app, count: int) -> dict:
    from fleet.inventory.imports import import_table

    rows = make_rows(count, 1_000_000)
    data = to_csv(rows)
    with app.app_context():
        district_id = db.session.scalar(text("SELECT id FROM org_unit WHERE name='District 1'"))
        # Baseline: bare Core bulk insert of the same rows (already parsed).
        core_rows = [
            {k: v for k, v in r.items() if k != "org_unit"}
            | {
                "org_unit_id": district_id,
                "ownership": "institution",
                "status": "in_stock",
                "notes": "",
            }
            for r in rows
        ]
        t0 = time.perf_counter()
        db.session.execute(insert(Device.__table__), core_rows)
        db.session.commit()
        core_s = time.perf_counter() - t0
        db.session.execute(delete(Device))
        db.session.commit()
        # fleet: the whole import, end to end from the file's bytes.
        t0 = time.perf_counter()
        report = import_table("devices", "procurement.csv", data, actor=None)
        db.session.commit()
        fleet_s = time.perf_counter() - t0
        assert report.imported == count and not report.errors, report.to_dict()["errors"][:3]
        audits = db.session.scalar(select(func.count()).select_from(AuditEntry))
        # Dry run alone (validation only) for the breakdown.
        t0 = time.perf_counter()
        import_table(
            "devices",
            "procurement.csv",
            to_csv(make_rows(count, 3_000_000)),
            actor=None,
            dry_run=True,
        )
        dry_s = time.perf_counter() - t0
    return {
        "rows": count,
        "core_s": core_s,
        "fleet_s": fleet_s,
        "dry_run_s": dry_s,
        "ratio": fleet_s / core_s,
        "audit_rows": audits,
    }


def bench_search(app, total: int, samples: int = 60) -> dict:
    from fleet.auth.operations import create_user, issue_token

    with app.app_context():
        have = db.session.scalar(select(func.count()).select_from(Device))
        if have < total:
            from fleet.inventory.operations import register_devices_bulk

            district_id = db.session.scalar(text("SELECT id FROM org_unit WHERE name='District 1'"))
            extra = make_rows(total - have, 5_000_000)
            for r in extra:
                r.pop("org_unit")
                r["org_unit_id"] = district_id if random.random() < 0.3 else None
            for i in range(0, len(extra), 10_000):
                register_devices_bulk(extra[i : i + 10_000], actor=None)
            db.session.commit()
        user = create_user("bench", "bench-password-1", "admin", actor=None)
        _tok, token = issue_token(user, "bench", actor=None)
        db.session.commit()
        total = db.session.scalar(select(func.count()).select_from(Device))
        sample_tag = db.session.scalar(select(Device.asset_tag).order_by(Device.id.desc()).limit(1))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    client.post("/auth/login", data={"username": "bench", "password": "bench-password-1"})
    cases = {
        "API list page 1": "/api/v1/devices",
        "API list page 500": "/api/v1/devices?page=500",
        "API status filter": "/api/v1/devices?status=in_stock&page=3",
        "API district subtree": "/api/v1/devices?district=District%201",
        "API q=asset tag prefix": f"/api/v1/devices?q={sample_tag[:-2]}",
        "API q=IMEI": f"/api/v1/devices?q={imei(5_000_123)}",
        "API model filter": "/api/v1/devices?model=SM-X200",
        "HTML list page": "/devices?page=7",
        "HTML search": f"/devices?q={sample_tag}",
    }
    out = {"devices": total}
    for name, url in cases.items():
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            resp = client.get(url, headers=headers if url.startswith("/api") else None)
            times.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200, (url, resp.status_code)
        times.sort()
        out[name] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=50_000)
    ap.add_argument("--import-rows", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = setup_app(Path(tmp))
        dialect = "postgresql" if os.environ.get("FLEET_BENCH_DATABASE_URL") else "sqlite"
        print(f"inventory benchmark on {dialect}, {os.cpu_count()} CPUs")
        imp = bench_import(app, args.import_rows)
        print(
            f"import {imp['rows']:,} devices end to end: {imp['fleet_s']:.2f} s "
            f"(validation-only dry run {imp['dry_run_s']:.2f} s; {imp['audit_rows']:,} audit rows)"
        )
        print(f"bare Core bulk insert of the same rows: {imp['core_s']:.2f} s")
        print(f"ratio fleet / Core insert: {imp['ratio']:.1f}x (target <= 3x)")
        res = bench_search(app, args.devices)
        print(f"list/search with {res.pop('devices'):,} devices (ms, p50 / p95; target p95 < 100):")
        for name, (p50, p95) in res.items():
            print(f"  {name:26} {p50:7.1f} / {p95:7.1f}")


if __name__ == "__main__":
    main()

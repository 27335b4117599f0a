"""Benchmark: importing a DHIS2 org unit hierarchy into fleet, end to end.

Starts the DHIS2 test server (``tests/dhis2/fake_dhis2.py``) with a larger tree (default
10 regions x 10 districts x 50 facilities = 5,111 org units), then times in one run:

- baseline: fetching the units alone through :class:`fleet.dhis2.client.Dhis2Client` (paged);
- the first import (all created), a re-import (nothing changes), and an import after one
  district moved (its subtree paths recomputed), each committed, on a fresh SQLite database.

Usage: ``python benchmarks/dhis2_orgunit_import.py [--regions 10 --districts 10
--facilities 50]``. Prints seconds and the ratio to the fetch baseline.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "dhis2")]

from dhis2_fixtures import Dhis2ServerProcess  # noqa: E402

from fleet import create_app  # noqa: E402
from fleet.cli import upgrade_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=10)
    parser.add_argument("--districts", type=int, default=10)
    parser.add_argument("--facilities", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-dhis2-"))
    server = Dhis2ServerProcess(work, regions=args.regions, districts=args.districts,
                                facilities=args.facilities)
    app = create_app({"TESTING": True, "DATA_DIR": str(work),
                      "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}", "SECRET_KEY": "b"})
    try:
        with app.app_context():
            upgrade_database()
            logging.getLogger().setLevel(logging.WARNING)
            from fleet.dhis2.importing import import_org_units
            from fleet.dhis2.operations import create_server
            from fleet.extensions import db

            target = create_server({"name": "bench", "base_url": server.url,
                                    "token": server.token}, actor=None)
            db.session.commit()
            start = time.perf_counter()
            units = list(server.client().iter_org_units())
            fetch = time.perf_counter() - start
            print(f"org units: {len(units)}")
            print(f"fetch only (baseline): {fetch:.2f} s")

            def timed(label: str) -> None:
                start = time.perf_counter()
                report = import_org_units(target, actor=None)
                db.session.commit()
                took = time.perf_counter() - start
                print(f"{label}: {took:.2f} s ({took / fetch:.1f}x fetch) {report.summary()}")

            timed("first import")
            timed("re-import")
            regions = [u for u in units if u["level"] == 2]
            district = next(u for u in units
                            if u["level"] == 3 and u["parent"]["id"] == regions[0]["id"])
            server.patch_org_unit(district["id"], parent=regions[1]["id"])
            timed("import after a district moved")
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""Benchmark: printing labels from the inventory (the path behind ``fleet labels print`` and the
Labels page) against rendering the same labels from ready-made specs.

Run: ``python benchmarks/labels_print_bench.py [--devices 1000] [--repeat 3]``

Setup: a fresh SQLite instance in a temporary folder (migrations applied), one district with
``--devices`` phones, each with a holder, a paired SIM and an open custody.

What is timed (wall clock, best of ``--repeat``, the two sides interleaved):

- baseline: ``render_labels(specs, "a4-l7160")`` of the phone stickers, the specs built
  beforehand (what ``benchmarks/labels_bench.py`` measures);
- from the inventory: ``select_devices(district=...)`` + ``print_labels(..., kinds="phone")``:
  the query with its eager loads, the agreement numbers, district look-ups, device URLs,
  payload building, then the same rendering.

Also printed: the number of SQL statements the inventory path runs (it must not grow with one
query per device).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from fleet_testing import make_iccid, make_imei, make_test_app

    from fleet.cli import upgrade_database
    from fleet.extensions import db
    from fleet.inventory import operations as inv
    from fleet.labels.render import render_labels
    from fleet.labels.scanning import iter_labels, print_labels, select_devices

    root = Path(tempfile.mkdtemp(prefix="fleet-labels-bench-"))
    app = make_test_app(root, f"sqlite:///{root / 'bench.sqlite3'}")
    with app.app_context():
        upgrade_database()
        country = inv.create_org_unit({"name": "Nigeria"}, actor=None)
        region = inv.create_org_unit({"name": "Kano State", "parent_id": country.id}, actor=None)
        district = inv.create_org_unit({"name": "Kano Municipal", "parent_id": region.id},
                                       actor=None)
        facilities = [inv.create_org_unit({"name": f"PHC {i}", "parent_id": district.id},
                                          actor=None) for i in range(20)]
        t0 = time.perf_counter()
        for i in range(args.devices):
            unit = facilities[i % len(facilities)]
            holder = inv.create_holder({"name": f"Ngozi Ọkafọ̀ {i}", "org_unit_id": unit.id,
                                        "msisdn": f"+23480{i:08d}"}, actor=None)
            device = inv.register_device({"imei": make_imei(i), "model": "Galaxy A12",
                                          "box_number": f"B-{i:05d}", "org_unit_id": unit.id},
                                         actor=None)
            sim = inv.register_sim({"iccid": make_iccid(i), "msisdn": f"+23481{i:08d}"},
                                   actor=None)
            inv.pair_sim(device, sim, actor=None)
            inv.checkout(device, holder, actor=None)
        db.session.commit()
        print(f"setup: {args.devices} devices in {time.perf_counter() - t0:.1f} s")

        statements = [0]

        @event.listens_for(db.engine, "before_cursor_execute")
        def _count(*_a, **_k):
            statements[0] += 1

        with app.test_request_context(base_url="https://fleet.example.org"):
            devices = select_devices(district="Kano Municipal")
            specs = list(iter_labels(devices, ("phone",)))
            db.session.rollback()
            base_times, full_times = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                render_labels(specs, "a4-l7160")
                base_times.append(time.perf_counter() - t)
                db.session.expunge_all()
                statements[0] = 0
                t = time.perf_counter()
                devices = select_devices(district="Kano Municipal")
                pdf = print_labels(devices, "a4-l7160", kinds="phone")
                full_times.append(time.perf_counter() - t)
                db.session.rollback()
        base, full = min(base_times), min(full_times)
        print(f"render only (specs ready):   {base:.3f} s  (median "
              f"{statistics.median(base_times):.3f})")
        print(f"from the inventory (query + build + render): {full:.3f} s  (median "
              f"{statistics.median(full_times):.3f})")
        print(f"ratio: {full / base:.2f}x; SQL statements per print run: {statements[0]}; "
              f"PDF {len(pdf) / 1024:.0f} KiB for {len(devices)} labels")


if __name__ == "__main__":
    main()
